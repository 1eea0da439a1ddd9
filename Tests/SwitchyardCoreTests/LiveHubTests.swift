import Synchronization
import SwitchyardCore
import Testing

/// The live view's hub as values and buffers, no I/O (SPEC §6 "Live view").
@Suite("Live hub")
struct LiveHubTests {
    static func item(_ name: String, source: String = "website", user: String = "u1", destination: String? = nil, kind: LiveItem.Kind = .ingest) -> LiveItem {
        LiveItem(
            kind: kind, data: Array(#"{"messageId":"\#(name)"}"#.utf8),
            facts: LiveFacts(sources: [source], destination: destination, types: [.track], eventNames: [name], users: [user]))
    }

    static func name(_ item: LiveItem) -> String {
        String(decoding: item.data, as: UTF8.self)
    }

    @Test func withoutSubscribersNothingIsBuilt() {
        let hub = LiveHub()
        var built = 0
        for _ in 0..<1000 {
            hub.publish {
                built += 1
                return Self.item("x")
            }
        }
        #expect(built == 0)
        #expect(!hub.isObserved)
    }

    @Test func aStalledSubscriberLosesItemsIntoOneGapAndStaysBounded() async {
        let hub = LiveHub(replayCapacity: 1000, subscriberCapacity: 100)
        let stalled = hub.subscribe(filter: LiveFilter())
        let reader = hub.subscribe(filter: LiveFilter())
        for index in 0..<20_000 { hub.publish(Self.item("e\(index)")) }
        #expect(stalled.droppedCount == 19_900)
        #expect(stalled.bufferedCount <= 101, "the buffer holds its capacity and one gap")
        var received: [LiveItem] = []
        while let item = await stalled.nextIfReady() { received.append(item) }
        #expect(received.count == 101)
        #expect(received.prefix(100).allSatisfy { $0.kind == .ingest })
        let gap = received.last
        #expect(gap?.kind == .gap)
        #expect(gap.map { String(decoding: $0.data, as: UTF8.self) } == #"{"missed":19900}"#)
        #expect(gap?.id == 20_000, "the gap carries the id of the last item it stands for")
        // The other subscriber is unaffected by the stalled one (it lost items too: it never read).
        #expect(reader.droppedCount == 19_900)
        stalled.cancel()
        reader.cancel()
    }

    @Test func resumeGivesWhatWasMissedThenAGapForWhatFellOut() async {
        let hub = LiveHub(replayCapacity: 10)
        let first = hub.subscribe(filter: LiveFilter())
        for index in 1...5 { hub.publish(Self.item("e\(index)")) }
        first.cancel()
        for index in 6...8 { hub.publish(Self.item("e\(index)")) }
        let resumed = hub.subscribe(filter: LiveFilter(), lastEventId: 5)
        var names: [String] = []
        while let item = await resumed.nextIfReady() { names.append(Self.name(item)) }
        #expect(names == [#"{"messageId":"e6"}"#, #"{"messageId":"e7"}"#, #"{"messageId":"e8"}"#])
        resumed.cancel()

        for index in 9...30 { hub.publish(Self.item("e\(index)")) }
        let late = hub.subscribe(filter: LiveFilter(), lastEventId: 5)
        var items: [LiveItem] = []
        while let item = await late.nextIfReady() { items.append(item) }
        #expect(items.first?.kind == .gap)
        #expect(items.first.map { String(decoding: $0.data, as: UTF8.self) } == #"{"missed":15}"#)
        #expect(items.count == 11)
        late.cancel()
    }

    @Test func anIdFromAnotherProcessReplaysTheBuffer() async {
        let hub = LiveHub(replayCapacity: 10)
        let watcher = hub.subscribe(filter: LiveFilter())
        for index in 1...3 { hub.publish(Self.item("e\(index)")) }
        let restarted = hub.subscribe(filter: LiveFilter(), lastEventId: 5_000)
        var count = 0
        while await restarted.nextIfReady() != nil { count += 1 }
        #expect(count == 3)
        watcher.cancel()
        restarted.cancel()
    }

    @Test func stopsRecordingAfterTheLingerAndSaysSoOnResume() async throws {
        let hub = LiveHub(linger: .milliseconds(1))
        let first = hub.subscribe(filter: LiveFilter())
        hub.publish(Self.item("e1"))
        first.cancel()
        try await Task.sleep(for: .milliseconds(20))
        hub.publish(Self.item("dropped"))  // notices nobody came back
        #expect(!hub.isObserved)
        var built = false
        hub.publish {
            built = true
            return Self.item("x")
        }
        #expect(!built)
        let resumed = hub.subscribe(filter: LiveFilter(), lastEventId: 1)
        let gap = await resumed.nextIfReady()
        #expect(gap?.kind == .gap)
        resumed.cancel()
    }

    @Test func closingEndsEverySubscription() async {
        let hub = LiveHub()
        let subscription = hub.subscribe(filter: LiveFilter())
        let waiting = Task { await subscription.next() }
        hub.close()
        #expect(await waiting.value == nil)
        let after = hub.subscribe(filter: LiveFilter())
        #expect(await after.next() == nil)
    }

    @Test func anIdleWaitEndsWithoutEndingTheSubscription() async {
        let hub = LiveHub()
        let subscription = hub.subscribe(filter: LiveFilter())
        guard case .idle = await subscription.next(waitingAtMost: .milliseconds(10)) else {
            Issue.record("expected an idle wake")
            return
        }
        hub.publish(Self.item("later"))
        guard case .item = await subscription.next(waitingAtMost: .seconds(10)) else {
            Issue.record("expected the item")
            return
        }
        subscription.cancel()
    }

    @Test(arguments: [
        (LiveFilter(source: "backend"), [false, true, true, true]),
        (LiveFilter(destination: "hook"), [true, true, false, true]),
        (LiveFilter(user: "u2"), [false, false, false, true]),
        (LiveFilter(event: Glob("Sign*")), [false, true, false, true]),
    ])
    func filtersMatchTheirItems(filter: LiveFilter, expected: [Bool]) {
        let items = [
            LiveItem(kind: .ingest, data: [], facts: LiveFacts(sources: ["website"], types: [.track], eventNames: ["Paid"], users: ["u1"])),
            LiveItem(kind: .ingest, data: [], facts: LiveFacts(sources: ["backend"], types: [.track], eventNames: ["Signed Up"], users: ["u1"])),
            LiveItem(kind: .route, data: [], facts: LiveFacts(sources: ["backend"], destination: "other", types: [.track], eventNames: ["Paid"], users: ["u1"])),
            // Gaps always pass.
            LiveItem(kind: .gap, data: []),
        ]
        #expect(items.map(filter.matches) == expected)
    }

    @Test func identityItemsAreFilteredByUserOnly() {
        let entry = LiveItem(kind: .identity, data: [], facts: LiveFacts(users: ["anon-1", "u1"]))
        #expect(LiveFilter(source: "backend", type: .page).matches(entry))
        #expect(LiveFilter(user: "anon-1").matches(entry))
        #expect(!LiveFilter(user: "u2").matches(entry))
    }
}

/// Runs: items published together, made when read.
@Suite("Live hub runs")
struct LiveHubRunTests {
    /// `count` items named `prefix0`, `prefix1`…; counts the items made.
    final class NamedRun: LiveItemRun {
        let names: [String]
        let made = Atomic<Int>(0)
        init(_ prefix: String, count: Int) { names = (0..<count).map { "\(prefix)\($0)" } }
        init(names: [String]) { self.names = names }
        var kind: LiveItem.Kind { .ingest }
        var count: Int { names.count }
        func item(at index: Int) -> LiveItem {
            made.add(1, ordering: .relaxed)
            return LiveHubTests.item(names[index], user: index.isMultiple(of: 2) ? "even" : "odd")
        }
        func compacted(_ range: Range<Int>) -> any LiveItemRun { NamedRun(names: Array(names[range])) }
    }

    static func drain(_ subscription: LiveSubscription) async -> [LiveItem] {
        var items: [LiveItem] = []
        while let item = await subscription.nextIfReady() { items.append(item) }
        return items
    }

    static func names(_ items: some Sequence<LiveItem>) -> [String] {
        items.map { String(decoding: $0.data, as: UTF8.self) }
    }

    @Test func aRunTooLongForTheBufferIsCutAndTheRestIsOneGap() async {
        let hub = LiveHub(replayCapacity: 100, subscriberCapacity: 10)
        let subscription = hub.subscribe(filter: LiveFilter())
        hub.publish(run: NamedRun("a", count: 4))
        hub.publish(run: NamedRun("b", count: 25))
        hub.publish(run: NamedRun("c", count: 3))
        #expect(subscription.droppedCount == 22)
        #expect(subscription.bufferedCount == 11)
        let items = await Self.drain(subscription)
        #expect(items.map(\.id) == Array(1...10) + [32])
        #expect(Self.names(items.prefix(10)) == (0..<4).map { #"{"messageId":"a\#($0)"}"# } + (0..<6).map { #"{"messageId":"b\#($0)"}"# })
        #expect(Self.names([items[10]]) == [#"{"missed":22}"#])
        // Room again: the next run is buffered whole.
        hub.publish(run: NamedRun("d", count: 2))
        #expect(await Self.drain(subscription).map(\.id) == [33, 34])
        subscription.cancel()
    }

    @Test func aStalledSubscriberNeverMakesTheItemsItDrops() {
        let hub = LiveHub(replayCapacity: 1_000, subscriberCapacity: 50)
        let stalled = hub.subscribe(filter: LiveFilter())
        let runs = (0..<100).map { NamedRun("r\($0)-", count: 100) }
        for run in runs { hub.publish(run: run) }
        #expect(stalled.droppedCount == 9_950)
        #expect(runs.map { $0.made.load(ordering: .relaxed) }.reduce(0, +) == 0)
        stalled.cancel()
    }

    @Test func resumeStartsInsideARunAndTheBufferDropsPartsOfRuns() async {
        let hub = LiveHub(replayCapacity: 10)
        let watcher = hub.subscribe(filter: LiveFilter())
        hub.publish(run: NamedRun("a", count: 8))  // ids 1–8
        hub.publish(run: NamedRun("b", count: 8))  // ids 9–16; the buffer keeps 7–16
        let inside = hub.subscribe(filter: LiveFilter(), lastEventId: 11)
        let fromInside = await Self.drain(inside)
        #expect(fromInside.map(\.id) == Array(12...16))
        #expect(Self.names(fromInside).first == #"{"messageId":"b3"}"#)
        let early = hub.subscribe(filter: LiveFilter(), lastEventId: 3)
        let fromEarly = await Self.drain(early)
        #expect(fromEarly.map(\.kind) == [.gap] + Array(repeating: .ingest, count: 10))
        #expect(Self.names([fromEarly[0]]) == [#"{"missed":3}"#])
        #expect(fromEarly.dropFirst().map(\.id) == Array(7...16))
        #expect(Self.names([fromEarly[1]]) == [#"{"messageId":"a6"}"#])
        for subscription in [watcher, inside, early] { subscription.cancel() }
    }

    @Test func aFilteredSubscriberGetsOnlyTheMatchingItemsOfARun() async {
        let hub = LiveHub(subscriberCapacity: 3)
        let odd = hub.subscribe(filter: LiveFilter(user: "odd"))
        hub.publish(run: NamedRun("a", count: 10))  // odd ones: a1, a3, a5, a7, a9
        let items = await LiveHubRunTests.drain(odd)
        #expect(Self.names(items) == [#"{"messageId":"a1"}"#, #"{"messageId":"a3"}"#, #"{"messageId":"a5"}"#, #"{"missed":2}"#])
        #expect(items.map(\.id) == [2, 4, 6, 10], "ids are the run's, the gap names the last odd one")
        odd.cancel()
    }

    @Test func aFewItemsKeptOfALongRunDoNotKeepTheRunAlive() async {
        let hub = LiveHub(replayCapacity: 1, subscriberCapacity: 5)
        let subscription = hub.subscribe(filter: LiveFilter())
        weak var long: NamedRun?
        do {
            let run = NamedRun("a", count: 1_000)
            long = run
            hub.publish(run: run)
        }
        hub.publish(run: NamedRun("b", count: 1))  // pushes the long run out of the replay buffer
        #expect(long == nil, "the subscriber keeps a copy of its 5 items, not the run")
        let items = await Self.drain(subscription)
        #expect(Self.names(items.prefix(5)) == (0..<5).map { #"{"messageId":"a\#($0)"}"# })
        #expect(items.prefix(5).map(\.id) == Array(1...5))
        subscription.cancel()
    }

    @Test func publishIngestStartsAfterWhatWasPublished() async {
        let hub = LiveHub()
        let subscription = hub.subscribe(filter: LiveFilter())
        let sequences: [Int64] = [3, 4, 7, 9, 12]
        let run: ([Int64], Range<Int>) -> any LiveItemRun = { events, range in
            NamedRun(names: events[range].map { "s\($0)" })
        }
        hub.publishIngest(Array(sequences.prefix(3)), sequence: { $0 }, run: run)
        hub.publishIngest(sequences, sequence: { $0 }, run: run)  // 3, 4 and 7 again: only 9 and 12
        hub.publishIngest([4, 7], sequence: { $0 }, run: run)  // nothing new
        let items = await Self.drain(subscription)
        #expect(Self.names(items) == ["s3", "s4", "s7", "s9", "s12"].map { #"{"messageId":"\#($0)"}"# })
        subscription.cancel()
    }
}

extension LiveSubscription {
    /// The next buffered item, or nil when none is buffered (tests read what is there without waiting).
    func nextIfReady() async -> LiveItem? {
        guard bufferedCount > 0 else { return nil }
        return await next()
    }
}
