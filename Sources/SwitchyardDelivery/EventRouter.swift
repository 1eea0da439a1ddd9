import SwitchyardConfig
import SwitchyardCore
import SwitchyardStore

/// What one destination does with one stored event, and the exact event it then gets (SPEC §4).
///
/// The identity on the wire is decided once per (destination, event) from facts that never change, so
/// every later send of the event — retry, crash recovery, dead-letter replay, time-range replay — carries
/// the same ids and idempotency key and the vendor's dedupe sees one event ("Stable wire identity"):
/// - an event read from the log goes out with the identity it had when stored
///   (``StoredEvent/storedUserId``: its own user id, or the person a late event's anonymous id had merged
///   into); a merge afterwards does not rewrite it;
/// - a held event goes out under the person its anonymous id merged into, with `heldFor`;
/// - a replayed copy (dead letters and time-range replays go through the replay queue) goes out as the
///   copy says, which is what was sent — except that an event stored anonymously, replayed to a `hold`
///   destination, is held again unless its anonymous id has merged (then it goes out as a release would).
///
/// Merges reach every destination that records them once, whatever its filter: an event the filter
/// leaves out but whose arrival merged an anonymous id goes out `mergeOnly`.
struct EventRouter: Sendable {
    var destination: String
    var type: String
    var filter: EventFilter
    var anonymous: AnonymousPolicy
    /// ``Destination/recordsMerges``.
    var recordsMerges: Bool

    enum Origin: Sendable, Equatable {
        /// Read from the log, in order.
        case log
        /// From the replay queue (a re-queued dead letter or a time-range replay), at `now`.
        case replay(now: Timestamp)
        /// A held event released because its anonymous id merged into `userId` on a message received at
        /// `mergedAt`.
        case release(userId: String, mergedAt: Timestamp)
    }

    enum Routing: Sendable, Equatable {
        /// Send this; `source` is the stored event as the dead-letter copy must keep it (with the identity
        /// that was sent).
        case deliver(DeliveryEvent, source: StoredEvent)
        /// The filter or `integrations` leave the event out.
        case skip(EventFilter.Decision)
        case hold
        case drop
    }

    func route(_ stored: StoredEvent, origin: Origin = .log) -> Routing {
        let event = stored.event
        var source = stored
        var wireUserId = stored.storedUserId
        var heldFor: Duration?
        switch origin {
        case .log:
            break
        case .release(let userId, let mergedAt):
            wireUserId = userId
            heldFor = max(mergedAt - event.receivedAt, .zero)
        case .replay(let now):
            // A copy of an event stored anonymously: a `hold` destination got it released under the person
            // (the copy of a dead letter says whom in `resolvedUserId`), or it is held again.
            if wireUserId == nil, anonymous == .hold, let resolved = stored.resolvedUserId {
                wireUserId = resolved
                heldFor = max(now - event.receivedAt, .zero)
            }
        }
        source.resolvedUserId = wireUserId
        let facts = RoutingFacts(
            type: event.type, eventName: event.eventName, identified: wireUserId != nil, body: event.body)
        let decision = filter.decision(facts, destination: destination, type: type)
        // The person a merge joined is the trigger's own (canonical) user id as stored.
        let merge = stored.mergedAnonymousId.flatMap { anonymousId in
            (stored.storedUserId ?? stored.resolvedUserId).map {
                IdentityMerge(anonymousId: anonymousId, userId: $0, mergedAt: event.receivedAt, messageId: event.messageId)
            }
        }
        guard decision == .accepted else {
            guard recordsMerges, let merge else { return .skip(decision) }
            return .deliver(
                DeliveryEvent(
                    sequence: stored.sequence, source: event.source, messageId: event.messageId, type: event.type,
                    receivedAt: event.receivedAt, timestamp: event.timestamp, resolvedUserId: wireUserId,
                    body: event.body, identityMerge: merge, mergeOnly: true,
                    anonymousIdUnlinked: stored.anonymousIdUnlinked),
                source: source)
        }
        if wireUserId == nil {
            switch anonymous {
            case .forward: break
            case .hold: return .hold
            case .drop: return .drop
            }
        }
        var body = event.body
        if event.userId == nil, let wireUserId { body = MessageRewrite.settingUserId(body, wireUserId) }
        if let heldFor { body = MessageRewrite.settingHeldFor(body, heldFor) }
        return .deliver(
            DeliveryEvent(
                sequence: stored.sequence, source: event.source, messageId: event.messageId, type: event.type,
                receivedAt: event.receivedAt, timestamp: event.timestamp, resolvedUserId: wireUserId, body: body,
                identityMerge: merge, heldFor: heldFor, anonymousIdUnlinked: stored.anonymousIdUnlinked),
            source: source)
    }
}

extension EventRouter.Routing {
    /// The decision and its reason as the live view and the preview show them.
    var shown: (decision: String, reason: String?) { shownRoute.shown }

    /// The decision alone, without the event: what a `route` item keeps until it is read.
    var shownRoute: ShownRoute {
        switch self {
        case .deliver(let event, _) where event.mergeOnly: .mergeOnly
        case .deliver: .queued
        case .skip(.switchedOff(let why)): .switchedOff(why)
        case .skip(.filtered(let why)): .filtered(why)
        case .skip(.accepted): .filtered(nil)
        case .hold: .held
        case .drop: .dropped
        }
    }
}

/// A destination's decision for one event, as a `route` item shows it.
enum ShownRoute: Sendable {
    case queued, mergeOnly, held, dropped
    case switchedOff(String)
    case filtered(String?)

    var shown: (decision: String, reason: String?) {
        switch self {
        case .mergeOnly: ("queued", "only the merge it carries: the filter leaves the event out")
        case .queued: ("queued", nil)
        case .switchedOff(let why): ("switched_off", why)
        case .filtered(let why): ("filtered", why)
        case .held: ("held", "anonymous: hold, and the person is not known yet")
        case .dropped: ("dropped", "anonymous: drop, and the person is not known yet")
        }
    }
}
