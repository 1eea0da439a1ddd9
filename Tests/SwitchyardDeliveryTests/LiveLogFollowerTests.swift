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
