import SwitchyardCore
import SwitchyardStore

/// A person's page (`/people/{userId}`): ids, traits, merged history, and the erase button.
struct PersonPageView: Sendable {
    /// One trait: strings as written, anything else as JSON.
    struct Trait: Sendable {
        var key: String
        var value: String
        var json: Bool
    }

    var chrome: UIChrome
    var userId: String
    /// Set when the id asked for was merged into this person (a person merge kept the older id).
    var requestedId: String?
    var anonymousIds: [UILink]
    var firstSeen: String
    var lastSeen: String
    var traits: [Trait]
    var eraseHref: String
    var history: ActivityTableView

    init(chrome: UIChrome, requested: String, person: Person, history: ActivityPage, cursor: ActivityCursor?) {
        self.chrome = chrome
        userId = person.userId
        requestedId = requested == person.userId ? nil : requested
        anonymousIds = person.anonymousIds.map(UILink.anonymous)
        firstSeen = person.firstSeen.iso8601
        lastSeen = person.lastSeen.iso8601
        traits = person.traits.members.map { key, value in
            if let text = value.stringValue { return Trait(key: key, value: text, json: false) }
            return Trait(key: key, value: value.text, json: true)
        }
        eraseHref = UIPath.erase(person.userId)
        let here = UIPath.person(requested)
        self.history = ActivityTableView(
            rows: history.items.map(ActivityRowView.init), showPerson: false,
            pager: UIPager(
                newestHref: cursor == nil ? nil : here,
                olderHref: history.nextCursor.map { UIPath.with(here, query: [("cursor", $0.description)]) }),
            emptyText: "No stored activity for this person.")
    }
}

/// An anonymous visitor's page (`/anonymous/{anonymousId}`): its history, and who it became.
struct AnonymousPageView: Sendable {
    var chrome: UIChrome
    var anonymousId: String
    /// The person the id merged into, when the history shows one.
    var knownAs: UILink?
    var history: ActivityTableView

    init(chrome: UIChrome, anonymousId: String, history: ActivityPage, cursor: ActivityCursor?) {
        self.chrome = chrome
        self.anonymousId = anonymousId
        knownAs = history.items.lazy.compactMap { item -> String? in
            switch item {
            case .event(let stored): stored.resolvedUserId
            case .entry(let entry): entry.kind == .anonymousMerge ? entry.userId : nil
            }
        }.first.map(UILink.person)
        let here = UIPath.anonymous(anonymousId)
        self.history = ActivityTableView(
            rows: history.items.map(ActivityRowView.init), showPerson: true,
            pager: UIPager(
                newestHref: cursor == nil ? nil : here,
                olderHref: history.nextCursor.map { UIPath.with(here, query: [("cursor", $0.description)]) }),
            emptyText: "No stored activity for this anonymous id on this page.")
    }
}

/// The erase confirmation (`POST /people/{userId}/erase` without `confirm`) and its result.
struct ErasePageView: Sendable {
    var chrome: UIChrome
    var userId: String
    var personHref: String
    var eraseHref: String
    /// Whether a person is stored under the id (an unknown id is still suppressed).
    var known: Bool
    var anonymousIdCount: String
    /// After erasing: what was deleted.
    var done: Bool
    var deletedText: String
}
