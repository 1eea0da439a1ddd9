import SwitchyardConfig
import SwitchyardCore
import SwitchyardStore
import Testing

@testable import SwitchyardDelivery

/// The identity each destination gets for an event is decided from facts that never change (SPEC §4
/// "Stable wire identity"), and merges reach destinations that record them whatever their filter.
@Suite struct EventRouterTests {
    static let t0 = Timestamp(milliseconds: 1_800_000_000_000)

    static func stored(
        _ id: String, _ type: EventType = .track, userId: String? = nil, anonymousId: String? = "anon",
        storedUserId: String? = nil, resolvedUserId: String? = nil, mergedAnonymousId: String? = nil, at offset: Int = 0
    ) -> StoredEvent {
        var members = [#""type":"\#(type.rawValue)""#, #""messageId":"\#(id)""#]
        if let anonymousId { members.append(#""anonymousId":"\#(anonymousId)""#) }
        if let userId { members.append(#""userId":"\#(userId)""#) }
        if type == .track { members.append(#""event":"Clicked""#) }
        let time = t0 + .seconds(offset)
        let event = NewEvent(
            source: "web", messageId: id, type: type, userId: userId, anonymousId: anonymousId,
            eventName: type == .track ? "Clicked" : nil, timestamp: time, receivedAt: time,
            body: Array("{\(members.joined(separator: ","))}".utf8))
        return StoredEvent(
            sequence: 1, event: event, resolvedUserId: resolvedUserId, mergedAnonymousId: mergedAnonymousId,
            storedUserId: storedUserId)
    }

    static func router(
        _ anonymous: AnonymousPolicy = .forward, filter: EventFilter = EventFilter(), recordsMerges: Bool = true
    ) -> EventRouter {
        EventRouter(destination: "dest", type: "webhook", filter: filter, anonymous: anonymous, recordsMerges: recordsMerges)
    }

    static func delivered(_ routing: EventRouter.Routing) throws -> (event: DeliveryEvent, body: JSONValue, source: StoredEvent) {
        guard case .deliver(let event, let source) = routing else {
            Issue.record("expected a delivery, got \(routing)")
            throw CancellationError()
        }
        return (event, try JSONValue.parse(event.body), source)
    }

    @Test func aForwardDestinationGetsTheIdentityAsStoredEvenAfterAMerge() throws {
        // Stored anonymously, resolved since: still sent anonymously, on every send.
        let merged = Self.stored("m1", storedUserId: nil, resolvedUserId: "ann")
        let (event, body, source) = try Self.delivered(Self.router().route(merged))
        #expect(event.resolvedUserId == nil)
        #expect(body["userId"] == nil)
        #expect(source.resolvedUserId == nil, "the dead-letter copy keeps what was sent")
        // A late event resolved when stored goes out under the person.
        let late = Self.stored("m2", storedUserId: "ann", resolvedUserId: "ann")
        let (lateEvent, lateBody, _) = try Self.delivered(Self.router().route(late))
        #expect(lateEvent.resolvedUserId == "ann")
        #expect(lateBody["userId"] == "ann")
        #expect(lateBody["context"] == nil, "not a held event")
    }

    @Test func aHoldDestinationHoldsWhatWasStoredAnonymouslyUntilTheRelease() throws {
        let event = Self.stored("h1", storedUserId: nil, resolvedUserId: "ann")
        #expect(Self.router(.hold).route(event) == .hold, "the merge is released where the log reaches it, not before")
        #expect(Self.router(.drop).route(event) == .drop)

        let released = Self.router(.hold).route(event, origin: .release(userId: "ann", mergedAt: Self.t0 + .milliseconds(90_500)))
        let (delivery, body, source) = try Self.delivered(released)
        #expect(delivery.heldFor == .milliseconds(90_500))
        #expect(body["userId"] == "ann" && body["anonymousId"] == "anon")
        #expect(body["context"]?["switchyard"]?["heldFor"] == .number("90.500"))
        #expect(source.resolvedUserId == "ann")
    }

    @Test func replaysFollowTheDestinationsAnonymousPolicy() throws {
        let now = Self.t0 + .seconds(30)
        let merged = Self.stored("r1", storedUserId: nil, resolvedUserId: "ann")
        let never = Self.stored("r2", storedUserId: nil, resolvedUserId: nil)
        // hold: a merged copy goes out as its release did; a never-merged one is parked again.
        let (released, body, _) = try Self.delivered(Self.router(.hold).route(merged, origin: .replay(now: now)))
        #expect(released.resolvedUserId == "ann" && released.heldFor == .seconds(30))
        #expect(body["userId"] == "ann")
        #expect(Self.router(.hold).route(never, origin: .replay(now: now)) == .hold)
        // forward: as it was first sent, anonymously.
        let (forwarded, forwardedBody, _) = try Self.delivered(Self.router().route(merged, origin: .replay(now: now)))
        #expect(forwarded.resolvedUserId == nil && forwardedBody["userId"] == nil)
        #expect(Self.router(.drop).route(never, origin: .replay(now: now)) == .drop)
    }

    @Test func aFilteredOutMergeStillReachesDestinationsThatRecordMerges() throws {
        let identify = Self.stored(
            "i1", .identify, userId: "ann", storedUserId: "ann", resolvedUserId: "bea", mergedAnonymousId: "anon")
        let tracksOnly = EventFilter(types: [.track])
        let (event, _, _) = try Self.delivered(Self.router(filter: tracksOnly).route(identify))
        #expect(event.mergeOnly)
        #expect(
            event.identityMerge == IdentityMerge(anonymousId: "anon", userId: "ann", mergedAt: Self.t0, messageId: "i1"),
            "the merge names the person as stored, not a later person merge")
        // A destination that does not record merges (a webhook) skips it.
        guard case .skip = Self.router(filter: tracksOnly, recordsMerges: false).route(identify) else {
            Issue.record("a webhook filtered to tracks takes no identify")
            return
        }
        // Accepted by the filter: the whole event, with its merge, not merge-only.
        let (whole, _, _) = try Self.delivered(Self.router().route(identify))
        #expect(!whole.mergeOnly && whole.identityMerge != nil)
        // An event that merged nothing and is filtered out is skipped.
        guard case .skip = Self.router(filter: tracksOnly).route(Self.stored("p", .page)) else {
            Issue.record("a page is filtered out")
            return
        }
    }

    @Test func theIdentifiedFilterLooksAtTheIdentityAsSent() throws {
        let identifiedOnly = EventFilter(identified: true)
        let merged = Self.stored("m", storedUserId: nil, resolvedUserId: "ann")
        guard case .skip = Self.router(filter: identifiedOnly).route(merged) else {
            Issue.record("sent anonymously, so not identified for this destination")
            return
        }
        let late = Self.stored("l", storedUserId: "ann", resolvedUserId: "ann")
        _ = try Self.delivered(Self.router(filter: identifiedOnly).route(late))
    }

    @Test func refusedPairsAreMarkedForTheMappings() throws {
        var shared = Self.stored("t", userId: "bob", storedUserId: "bob", resolvedUserId: "bob")
        shared.anonymousIdUnlinked = true
        let (event, _, _) = try Self.delivered(Self.router().route(shared))
        #expect(event.anonymousIdUnlinked)
        #expect(event.identityMerge == nil)
    }
}
