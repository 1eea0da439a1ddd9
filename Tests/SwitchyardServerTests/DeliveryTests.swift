import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Testing

/// Delivery through the whole gateway: real ingest over HTTP, real webhook receivers on loopback.
@Suite("Delivery to webhooks")
struct DeliveryTests {
    static func yaml(_ directory: URL, destinations: String) -> String {
        TestGateway.config(directory, destinations: destinations)
    }

    /// `timeout` is generous by default: a loaded CI machine answered a retry's success after the 2 s this
    /// once was, so the attempt failed and was sent a fifth time. Tests of timeouts pass their own.
    static func webhook(_ name: String, _ url: String, batch: Int = 1, timeout: String = "10s", extra: String = "") -> String {
        """
          - name: \(name)
            type: webhook
            url: \(url)/hooks/in
            secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
            batch: { max_events: \(batch), max_wait: 50ms }
            retry: { initial_backoff: 20ms, max_backoff: 100ms }
            timeout: \(timeout)
        \(extra)
        """
    }

    func track(_ gateway: TestGateway, _ id: String) async throws {
        let response = try await gateway.post("/v1/track", #"{"userId":"u1","event":"Paid","messageId":"\#(id)"}"#)
        #expect(response.status == 200)
    }

    @Test func retriesServerErrorsUntilDeliveredWithTheSameIdempotencyKey() async throws {
        let receiver = try await ScriptedHTTPServer.start(script: [.init(500), .init(500), .init(500)])
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: { Self.yaml($0, destinations: Self.webhook("hook", receiver.url)) }) { (gateway) async throws in
            try await track(gateway, "m-1")
            let requests = await receiver.waitForRequests(4)
            #expect(requests.count == 4)
            #expect(Set(requests.map { $0.headers["webhook-id"] ?? "" }).count == 1, "a retry keeps its webhook-id")
            #expect(requests.allSatisfy { messageIds($0) == ["m-1"] })
            #expect(requests[0].headers["webhook-signature"]?.hasPrefix("v1,") == true)
            // Delivered exactly once: no fifth request, and the status says so.
            try await waitUntil { try await gateway.status("hook")?["delivered"] == 1 }
            let status = try #require(try await gateway.status("hook"))
            #expect(status["failed"] == 3)
            #expect(status["dead_lettered"] == 0)
            #expect(receiver.requests.count == 4)
            let metrics = try await gateway.admin("/metrics").text
            #expect(metrics.contains(#"switchyard_delivery_events_total{destination="hook",outcome="delivered"} 1"#))
            #expect(metrics.contains(#"switchyard_delivery_failed_attempts_total{destination="hook"} 3"#))
            #expect(metrics.contains(#"switchyard_delivery_lag_events{destination="hook"}"#))
        }
    }

    /// SPEC §3: an erasure drops the person's pending deliveries, in-flight retries included. The batch
    /// waiting out a Retry-After is checked before it is sent again; the next event then goes first.
    @Test func anErasureDropsABatchWaitingForItsRetry() async throws {
        let receiver = try await ScriptedHTTPServer.start(script: [.init(503, headers: [("Retry-After", "2")])])
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: { Self.yaml($0, destinations: Self.webhook("hook", receiver.url)) }) { (gateway) async throws in
            let first = try await gateway.post("/v1/track", #"{"userId":"leaver","event":"Paid","messageId":"m-leaver"}"#)
            #expect(first.status == 200)
            _ = await receiver.waitForRequests(1)
            #expect(try await gateway.admin("/api/people/leaver", method: .DELETE).json?["erased"] == true)
            try await track(gateway, "m-next")
            let requests = await receiver.waitForRequests(2)
            #expect(requests.map(messageIds) == [["m-leaver"], ["m-next"]], "the erased event is not sent again")
        }
    }

    @Test func honoursRetryAfter() async throws {
        let receiver = try await ScriptedHTTPServer.start(script: [.init(429, headers: [("Retry-After", "2")])])
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: { Self.yaml($0, destinations: Self.webhook("hook", receiver.url)) }) { (gateway) async throws in
            try await track(gateway, "m-1")
            let requests = await receiver.waitForRequests(2)
            #expect(requests.count == 2)
            #expect(requests[1].at - requests[0].at >= .seconds(2), "no retry before Retry-After")
        }
    }

    @Test func aClientErrorDeadLettersAtOnceAndReplaysAfterTheFix() async throws {
        let receiver = try await ScriptedHTTPServer.start(then: .init(400, body: #"{"error":"bad field"}"#))
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: { Self.yaml($0, destinations: Self.webhook("hook", receiver.url)) }) { (gateway) async throws in
            try await track(gateway, "m-1")
            try await track(gateway, "m-2")
            await receiver.waitForRequests(2)
            try await waitUntil { try await gateway.status("hook")?["dead_lettered"] == 2 }
            #expect(receiver.requests.count == 2, "a 400 is not retried")

            let list = try await gateway.admin("/api/destinations/hook/dead-letters")
            #expect(list.status == 200)
            let letters = try #require(list.json?["dead_letters"]?.arrayValue)
            #expect(letters.map { $0["messageId"] } == ["m-1", "m-2"])
            #expect(letters.first?["last_status"] == 400)
            #expect(letters.first?["last_error"]?.stringValue?.contains("bad field") == true)
            #expect(letters.first?["event"]?["event"] == "Paid")
            #expect(letters.first?["attempts"] == 1)

            receiver.program([], then: .ok)
            let replay = try await gateway.admin("/api/destinations/hook/replay", method: .POST, body: "{}")
            #expect(replay.json == ["replayed": 2])
            let requests = await receiver.waitForRequests(4)
            #expect(requests.suffix(2).flatMap(messageIds) == ["m-1", "m-2"])
            #expect(requests[2].headers["webhook-id"] == requests[0].headers["webhook-id"], "a replay keeps the idempotency key")
            try await waitUntil { try await gateway.status("hook")?["delivered"] == 2 }
            let after = try await gateway.admin("/api/destinations/hook/dead-letters")
            #expect(after.json?["dead_letters"] == [])
        }
    }

    @Test func aHangingDestinationDoesNotSlowIngestOrTheOthers() async throws {
        let hanging = try await ScriptedHTTPServer.start(then: .hangs)
        let healthy = try await ScriptedHTTPServer.start()
        defer { Task { await hanging.stop(); await healthy.stop() } }
        // Each attempt at the stuck one takes its 2 s timeout: ingest waiting on it would take that long.
        let destinations = Self.webhook("stuck", hanging.url, timeout: "2s") + "\n" + Self.webhook("fine", healthy.url, batch: 10)
        try await TestGateway.with(yaml: { Self.yaml($0, destinations: destinations) }) { (gateway) async throws in
            var latencies: [Duration] = []
            for index in 0..<40 {
                let start = ContinuousClock.now
                try await track(gateway, "m-\(index)")
                latencies.append(.now - start)
            }
            try await waitUntil { Set(healthy.requests.flatMap(messageIds)).count == 40 }
            // The stuck one keeps timing out and retrying the same first event.
            let stuck = await hanging.waitForRequests(3)
            #expect(stuck.count >= 3)
            #expect(stuck.allSatisfy { messageIds($0) == ["m-0"] })
            try await waitUntil { (try await gateway.status("stuck")?["failed"]?.doubleValue ?? 0) >= 2 }
            // Far below the stuck destination's 2 s timeout, with room for a loaded CI machine.
            let median = latencies.sorted()[latencies.count / 2]
            #expect(median < .seconds(1), "ingest median \(median) while a destination hangs")
        }
    }

    @Test func aDestinationRateLimitSpacesRequests() async throws {
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        let destination = Self.webhook("hook", receiver.url, extra: "    rate_limit: 1")
        try await TestGateway.with(yaml: { Self.yaml($0, destinations: destination) }) { (gateway) async throws in
            let batch = (1...3).map { #"{"type":"track","userId":"u","event":"e","messageId":"r\#($0)"}"# }.joined(separator: ",")
            #expect(try await gateway.post("/v1/batch", #"{"batch":[\#(batch)]}"#).status == 200)
            let requests = await receiver.waitForRequests(3)
            #expect(requests.flatMap(messageIds) == ["r1", "r2", "r3"])
            // One event a second: the bucket holds one, the next two come a second apart each (2 s in all).
            // The margin is half a second: a loaded machine can deliver the first request late, never the
            // third early.
            #expect(requests[2].at - requests[0].at >= .milliseconds(1500), "rate_limit: 1 spaces the events")
        }
    }

    @Test func a413SplitsTheBatch() async throws {
        let receiver = try await ScriptedHTTPServer.start(script: [.init(413)])
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: { Self.yaml($0, destinations: Self.webhook("hook", receiver.url, batch: 4)) }) { (gateway) async throws in
            let batch = (1...4).map { #"{"type":"track","userId":"u","event":"e","messageId":"m\#($0)"}"# }.joined(separator: ",")
            #expect(try await gateway.post("/v1/batch", #"{"batch":[\#(batch)]}"#).status == 200)
            let requests = await receiver.waitForRequests(3)
            #expect(requests.map(messageIds) == [["m1", "m2", "m3", "m4"], ["m1", "m2"], ["m3", "m4"]])
        }
    }

    @Test func a410DisablesTheDestinationUntilReEnabled() async throws {
        let receiver = try await ScriptedHTTPServer.start(script: [.init(410)])
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: { Self.yaml($0, destinations: Self.webhook("hook", receiver.url)) }) { (gateway) async throws in
            try await track(gateway, "m-1")
            try await waitUntil { try await gateway.status("hook")?["state"] == "disabled" }
            #expect(try await gateway.status("hook")?["last_error"]?.stringValue?.contains("410") == true)
            try await track(gateway, "m-2")
            #expect(receiver.requests.count == 1)
            let enable = try await gateway.admin("/api/destinations/hook/enable", method: .POST, body: "{}")
            #expect(enable.status == 200)
            let requests = await receiver.waitForRequests(3)
            #expect(requests.dropFirst().flatMap(messageIds) == ["m-1", "m-2"])
            try await waitUntil { try await gateway.status("hook")?["delivered"] == 2 }
            #expect(try await gateway.status("hook")?["state"] == "active")
        }
    }

    @Test func filtersAndIntegrationsChooseTheDestinations() async throws {
        let all = try await ScriptedHTTPServer.start()
        let pages = try await ScriptedHTTPServer.start()
        defer { Task { await all.stop(); await pages.stop() } }
        let destinations = Self.webhook("everything", all.url, batch: 100)
            + "\n" + Self.webhook("docs-pages", pages.url, batch: 100, extra: "    filter: { types: [page], paths: [\"/docs/*\"] }")
        try await TestGateway.with(yaml: { Self.yaml($0, destinations: destinations) }) { (gateway) async throws in
            let events = [
                #"{"type":"page","anonymousId":"a","messageId":"p1","context":{"page":{"path":"/docs/intro"}}}"#,
                #"{"type":"page","anonymousId":"a","messageId":"p2","context":{"page":{"path":"/pricing"}}}"#,
                #"{"type":"track","userId":"u","event":"e","messageId":"t1"}"#,
                #"{"type":"track","userId":"u","event":"e","messageId":"t2","integrations":{"All":false,"docs-pages":true}}"#,
                #"{"type":"page","anonymousId":"a","messageId":"p3","properties":{"path":"/docs/x"},"integrations":{"everything":false}}"#,
            ]
            #expect(try await gateway.post("/v1/batch", "{\"batch\":[\(events.joined(separator: ","))]}").status == 200)
            try await waitUntil { try await gateway.status("everything")?["lag_events"] == 0 }
            try await waitUntil { try await gateway.status("docs-pages")?["lag_events"] == 0 }
            #expect(all.requests.flatMap(messageIds) == ["p1", "p2", "t1"])
            #expect(pages.requests.flatMap(messageIds) == ["p1", "p3"])
        }
    }
}

extension TestGateway {
    /// The destination's entry of `GET /api/destinations`.
    func status(_ name: String) async throws -> JSONValue? {
        let response = try await admin("/api/destinations")
        return response.json?["destinations"]?.arrayValue?.first { $0["name"]?.stringValue == name }
    }
}

/// Polls `condition` until it holds or the deadline passes; a deadline, not a sleep to let work finish.
/// The message ids of the events a webhook request carried (one event or a batch).
func messageIds(_ request: ScriptedHTTPServer.Recorded) -> [String] {
    guard let json = try? JSONValue.parse(request.body) else { return [] }  // a non-JSON body has no ids
    if let array = json.arrayValue { return array.compactMap { $0["messageId"]?.stringValue } }
    return json["messageId"]?.stringValue.map { [$0] } ?? []
}

func waitUntil(
    timeout: Duration = .seconds(20), every interval: Duration = .milliseconds(20),
    sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    Issue.record("condition not met within \(timeout)", sourceLocation: sourceLocation)
}
