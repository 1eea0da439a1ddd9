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

extension LiveSubscription {
    /// The next buffered item, or nil when none is buffered (tests read what is there without waiting).
    func nextIfReady() async -> LiveItem? {
        guard bufferedCount > 0 else { return nil }
        return await next()
    }
}
