import SwitchyardCore
import SwitchyardDestinations
import SwitchyardTesting
import Testing

/// An adapter that sends `requestSizes` requests (consecutive batch positions) and reads each answer's
/// body as the outcome to report: `{"throttle":[…],"after":S}` → `.retrySome`, `{"dead":[…]}` →
/// `.deadLetter`, a 503 → `.retry`, anything else → `.delivered`. Indexes in answers are batch positions.
struct ScriptedOutcomeAdapter: HTTPDestinationAdapter {
    let url: String
    let requestSizes: [Int]

    func requests(for batch: DeliveryBatch, now: Timestamp) throws -> [OutgoingRequest] {
        var next = 0
        return requestSizes.map { size in
            defer { next += size }
            return OutgoingRequest(
                url: url + "/r", headers: [], body: Array("\(next)".utf8), eventIndexes: Array(next..<next + size))
        }
    }

    func classify(_ response: HTTPResult, for request: OutgoingRequest) -> DeliveryOutcome {
        if response.status == 503 { return .retry(after: .seconds(2), reason: "down", status: 503) }
        let body = (try? JSONValue.parse(response.body)) ?? .null
        func indexes(_ key: String) -> [Int] {
            (body[key]?.arrayValue ?? []).compactMap { $0.doubleValue.flatMap { Int(exactly: $0) } }
        }
        if body["throttle"] != nil {
            let after = body["after"]?.doubleValue.map { Duration.seconds($0) }
            return .retrySome(indexes: indexes("throttle"), after: after, reason: "throttled", status: 429)
        }
        if body["dead"] != nil { return .deadLetter(indexes: indexes("dead"), reason: "refused", status: 400) }
        return .delivered
    }
}

/// How ``HTTPDestination`` combines the outcomes of the requests of one batch.
@Suite struct HTTPDestinationCombinationTests {
    func deliver(_ replies: [ScriptedHTTPServer.Reply], sizes: [Int]) async throws -> (DeliveryOutcome, Int) {
        let server = try await ScriptedHTTPServer.start(script: replies)
        let destination = HTTPDestination(
            adapter: ScriptedOutcomeAdapter(url: server.url, requestSizes: sizes),
            context: testContext(clock: ManualWallClock(identityStart)))
        let events = (0..<sizes.reduce(0, +)).map { vendorEvent(.track, "m-\($0)", #""userId":"u","event":"E""#) }
        let outcome = await destination.deliver(DeliveryBatch(events: events))
        let sent = server.requests.count
        await server.stop()
        return (outcome, sent)
    }

    @Test func aThrottledRequestDoesNotStopTheNextOnes() async throws {
        let (outcome, sent) = try await deliver(
            [.ok, .init(429, body: #"{"throttle":[3],"after":30}"#), .ok], sizes: [2, 2, 2])
        #expect(outcome == .retrySome(indexes: [3], after: .seconds(30), reason: "throttled", status: 429))
        #expect(sent == 3, "the requests after the throttled one were still sent")
    }

    @Test func throttledRequestsCombineWithTheLongestPause() async throws {
        let (outcome, _) = try await deliver(
            [
                .init(429, body: #"{"throttle":[0],"after":15}"#), .ok,
                .init(429, body: #"{"throttle":[4,5],"after":30}"#),
            ],
            sizes: [2, 2, 2])
        #expect(outcome == .retrySome(indexes: [0, 4, 5], after: .seconds(30), reason: "throttled", status: 429))
    }

    @Test func deadLettersAndThrottledEventsInOneBatchWaitTogether() async throws {
        let (outcome, _) = try await deliver(
            [.init(400, body: #"{"dead":[1]}"#), .init(429, body: #"{"throttle":[2],"after":30}"#), .ok],
            sizes: [2, 2, 2])
        guard case .retrySome(let indexes, .some(.seconds(30)), let reason, 429) = outcome else {
            Issue.record("got \(outcome)")
            return
        }
        #expect(indexes == [1, 2], "no index lost: the refused event is sent again and dead-lettered then")
        #expect(reason.contains("1 refused") && reason.contains("refused"))
    }

    @Test func deadLettersAloneStayDeadLetters() async throws {
        let (outcome, _) = try await deliver([.ok, .init(400, body: #"{"dead":[3]}"#)], sizes: [2, 2])
        #expect(outcome == .deadLetter(indexes: [3], reason: "refused", status: 400))
    }

    @Test func aRetryAfterAThrottleWaitsAtLeastThePause() async throws {
        let (outcome, sent) = try await deliver(
            [.init(429, body: #"{"throttle":[0],"after":30}"#), .init(503), .ok], sizes: [1, 1, 1])
        #expect(outcome == .retry(after: .seconds(30), reason: "down", status: 503))
        #expect(sent == 2, "a retry decides the whole batch at once")
    }

    @Test func aThrottleNeverNamesEventsOfAnotherRequest() async throws {
        let (outcome, _) = try await deliver([.init(429, body: #"{"throttle":[0,3],"after":5}"#), .ok], sizes: [2, 2])
        #expect(outcome == .retrySome(indexes: [0], after: .seconds(5), reason: "throttled", status: 429))
    }
}
