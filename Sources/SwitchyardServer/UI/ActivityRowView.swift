import Foundation
import SwitchyardCore
import SwitchyardStore

/// An id as the UI shows it: monospace, and a link to its page when it has one.
struct UILink: Sendable {
    var text: String
    var href: String
    /// False for an id whose page is gone (an erased person): shown, not linked.
    var linked: Bool

    init(_ text: String, href: String?) {
        self.text = text
        self.href = href ?? ""
        linked = href != nil
    }

    static func person(_ userId: String) -> UILink { UILink(userId, href: UIPath.person(userId)) }
    static func anonymous(_ anonymousId: String) -> UILink { UILink(anonymousId, href: UIPath.anonymous(anonymousId)) }
}

/// One row of an activity table: an event, or a merge, refusal, person merge or erasure entry.
///
/// Built from the same `ActivityItem` the JSON API serializes; the meaning of each field (which id is the
/// person's, what `wasAnonymous` says, a refusal's explanation) comes from the store's types, so the UI
/// and `/api/activity` cannot disagree. Properties are stored, not computed: mustache reads them by
/// reflection.
struct ActivityRowView: Sendable {
    var at: String
    /// CSS modifier of the row: `event`, `merge`, `refused`, `person-merge`, `erasure`.
    var kindClass: String
    /// The badge: the event type, or the entry kind in words.
    var label: String
    /// What the type filter compares: the event type or the entry kind, as the API spells them.
    var filterKey: String
    var eventName: String?
    var user: UILink?
    var anonymous: UILink?
    /// For a person merge, or a refused alias of two users: the other user id.
    var otherUser: UILink?
    var messageId: String?
    /// An identified entry that was anonymous before a merge.
    var wasAnonymous: Bool
    /// The event whose arrival merged its anonymous id into the person.
    var mergeTrigger: Bool
    var reason: String?
    var note: String?

    init(_ item: ActivityItem) {
        switch item {
        case .event(let stored):
            let event = stored.event
            at = event.receivedAt.iso8601
            kindClass = "event"
            label = event.type.rawValue
            filterKey = event.type.rawValue
            eventName = event.eventName
            user = (stored.resolvedUserId ?? event.userId).map(UILink.person)
            anonymous = event.anonymousId.map(UILink.anonymous)
            messageId = event.messageId
            wasAnonymous = stored.wasAnonymous
            mergeTrigger = stored.mergedAnonymousId != nil
        case .entry(let entry):
            at = entry.at.iso8601
            filterKey = entry.kind.rawValue
            user = entry.userId.map(UILink.person)
            anonymous = entry.anonymousId.map(UILink.anonymous)
            otherUser = entry.mergedUserId.map(UILink.person)
            messageId = entry.messageId
            wasAnonymous = false
            mergeTrigger = false
            switch entry.kind {
            case .anonymousMerge:
                kindClass = "merge"
                label = "anonymous merge"
                note = Self.count(entry.eventsMerged, "event") + " merged into the person"
            case .personMerge:
                kindClass = "person-merge"
                label = "person merge"
                note = Self.count(entry.eventsMerged, "event") + " moved to the person kept"
            case .mergeRefused:
                kindClass = "refused"
                label = "merge refused"
                reason = entry.reason?.rawValue
                note = entry.reason?.explanation
            case .erasure:
                kindClass = "erasure"
                label = "erasure"
                // The person is gone: a link would only lead to a 404.
                user = entry.userId.map { UILink($0, href: nil) }
                note = Self.count(entry.eventsMerged, "event") + " deleted; later events of this user id are suppressed"
            }
        }
    }

    /// Whether the row passes the activity page's filter: `type` is an event type or an entry kind, `name`
    /// a case-insensitive part of the event name (entries have none, so a name filter hides them).
    func matches(type: String?, name: String?) -> Bool {
        if let type, !type.isEmpty, filterKey != type { return false }
        if let name, !name.isEmpty {
            guard let eventName, eventName.localizedCaseInsensitiveContains(name) else { return false }
        }
        return true
    }

    /// `1 event`, `3 events`; `plural` where adding an s is wrong.
    static func count(_ number: Int, _ noun: String, plural: String? = nil) -> String {
        "\(number) \(number == 1 ? noun : plural ?? noun + "s")"
    }
}

/// A table of activity rows and the links to page through it.
struct ActivityTableView: Sendable {
    var rows: [ActivityRowView]
    var hasRows: Bool
    /// Shows whose activity it is; the person column is redundant on a person's own page.
    var showPerson: Bool
    var pager: UIPager
    /// Said when there are no rows.
    var emptyText: String

    init(rows: [ActivityRowView], showPerson: Bool, pager: UIPager, emptyText: String) {
        self.rows = rows
        hasRows = !rows.isEmpty
        self.showPerson = showPerson
        self.pager = pager
        self.emptyText = emptyText
    }
}

/// Links to the newest page and the next older page of a cursor-paged list.
struct UIPager: Sendable {
    var newestHref: String?
    var olderHref: String?
    var any: Bool

    init(newestHref: String?, olderHref: String?) {
        self.newestHref = newestHref
        self.olderHref = olderHref
        any = newestHref != nil || olderHref != nil
    }
}
