import SwitchyardCore
import SwitchyardStore
import Testing

@testable import SwitchyardDelivery

/// When the live view's log follower reads the log for `ingest` items itself instead of leaving them to the
/// destination workers, which read it anyway.
@Suite("Live log follower")
struct LiveLogFollowerTests {
    @Test func readsWhenNoWorkerPublished() {
        // No worker ever published (no destination, none holds a lease here).
        #expect(LiveLogFollower.readsItself(publishedBefore: nil, publishedAfter: nil, behindFor: .milliseconds(100), farBehind: .seconds(5)))
        // Workers published before but nothing during the delay (paused, disabled, stuck).
        #expect(LiveLogFollower.readsItself(publishedBefore: 5, publishedAfter: 5, behindFor: .milliseconds(100), farBehind: .seconds(5)))
    }

    @Test func leavesTheItemsToWorkersThatAreReading() {
        #expect(!LiveLogFollower.readsItself(publishedBefore: nil, publishedAfter: 4, behindFor: .milliseconds(100), farBehind: .seconds(5)))
        #expect(!LiveLogFollower.readsItself(publishedBefore: 5, publishedAfter: 8, behindFor: .milliseconds(100), farBehind: .seconds(5)))
        #expect(!LiveLogFollower.readsItself(publishedBefore: 5, publishedAfter: 8, behindFor: .seconds(5), farBehind: .seconds(5)))
    }

    @Test func readsWhenTheWorkersAreFarBehind() {
        // A backlog: the workers move, but new arrivals would wait for them.
        #expect(LiveLogFollower.readsItself(publishedBefore: 5, publishedAfter: 8, behindFor: .seconds(6), farBehind: .seconds(5)))
    }
}

/// The runs the delivery side publishes: each item made from its own event, also after compaction.
@Suite("Live item runs")
struct LiveItemRunTests {
    static let events = (0..<10).map { index in
        StoredEvent(
            sequence: Int64(index + 1),
            event: RoundPlannerTests.event("m\(index)", userId: "u\(index)", anonymousId: nil, at: index),
            resolvedUserId: "u\(index)")
    }

    static func messageIds(_ run: any LiveItemRun) -> [String?] {
        (0..<run.count).map { index in
            (try? JSONValue.parse(run.item(at: index).data))?["messageId"]?.stringValue
        }
    }

    @Test func ingestRunsShowTheirRangeAndCompactToPartOfIt() {
        let run = LiveItems.ingest(Self.events, 2..<7)
        #expect(run.kind == .ingest)
        #expect(Self.messageIds(run) == ["m2", "m3", "m4", "m5", "m6"])
        let part = run.compacted(1..<3)
        #expect(Self.messageIds(part) == ["m3", "m4"])
        #expect(part.item(at: 1).facts.users == ["u4"])
    }

    @Test func routeRunsPairEachEventWithItsDecision() {
        let decisions: [ShownRoute] = [.queued, .held, .filtered("filter.types does not include track"), .dropped]
        let run = LiveItems.RouteRun(
            events: Self.events.liveKept(3..<7), decisions: decisions.liveKept(0..<4), destination: "hook",
            at: RoundPlannerTests.t0)
        let shown = (0..<run.count).compactMap { try? JSONValue.parse(run.item(at: $0).data) }
        #expect(shown.map { $0["messageId"]?.stringValue } == ["m3", "m4", "m5", "m6"])
        #expect(shown.map { $0["decision"]?.stringValue } == ["queued", "held", "filtered", "dropped"])
        #expect(shown[2]["reason"]?.stringValue == "filter.types does not include track")
        let part = run.compacted(2..<4)
        #expect(Self.messageIds(part) == ["m5", "m6"])
        #expect(part.item(at: 0).facts.destination == "hook")
    }
}
