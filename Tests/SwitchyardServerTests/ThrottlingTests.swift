import Foundation
import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Testing

/// SPEC §4: a vendor's throttling of one user or device pauses that user's or device's events only, never
/// the whole destination.
@Suite("Throttling over real HTTP")
struct ThrottlingTests {
    /// Amplitude answers 429 for one device: its events wait in the replay queue for the pause while the
    /// destination goes on with the next events, then go again with the same `insert_id`.
    @Test func oneThrottledDeviceWaitsWhileTheDestinationGoesOn() async throws {
        let throttled = #"""
            {"code":429,"error":"Too many requests for some devices and users","eps_threshold":30,
             "throttled_devices":{"device-a":31},"throttled_events":[0,2]}
            """#
        let amplitude = try await ScriptedHTTPServer.start(
            script: [.init(429, body: throttled)], then: .init(200, body: #"{"code":200}"#))
        defer { Task { await amplitude.stop() } }
        let clock = ManualWallClock(Timestamp(iso8601: "2026-11-29T12:00:00Z")!)
        let destinations = """
              - name: amplitude
                type: amplitude
                api_key: amp-key
                endpoint: \(amplitude.url)
                batch: { max_events: 3, max_wait: 10ms }
            """
        try await TestGateway.with(yaml: { IdentityTests.yaml($0, destinations: destinations) }, clock: clock) {
            (gateway) async throws in
            func track(_ id: String, device: String) -> String {
                #"{"type":"track","userId":"user-\#(device)","event":"Played","messageId":"\#(id)","context":{"device":{"id":"\#(device)"}}}"#
            }
            let first = [track("a1", device: "device-a"), track("b1", device: "device-b"), track("a2", device: "device-a")]
            #expect(try await gateway.post("/v1/batch", "{\"batch\":[\(first.joined(separator: ","))]}").status == 200)
            // A full batch goes at once (the manual clock does not move max_wait): the throttled answer, then b1
            // again at once (Amplitude ingested nothing of a 429).
            _ = await amplitude.waitForRequests(2)
            try await waitUntil { try await gateway.store.queueCounts(of: "amplitude").replay == 2 }

            // The destination goes on: a later event of another device goes out while device-a waits.
            #expect(try await gateway.post("/v1/track", track("b2", device: "device-b")).status == 200)
            clock.advance(by: .milliseconds(20))  // past max_wait: a batch of one goes out
            try await waitUntil { Self.sent(amplitude).contains("b2") }
            #expect(Self.sent(amplitude).filter { $0 == "a1" || $0 == "a2" }.count == 2, "device-a waits its pause")

            // After Amplitude's 30 s pause, device-a's events go again, with the same insert ids.
            clock.advance(by: .seconds(31))
            try await waitUntil { Self.sent(amplitude).filter { $0 == "a1" || $0 == "a2" }.count == 4 }
            try await waitUntil { try await gateway.status("amplitude")?["delivered"] == 4 }
            #expect(try await gateway.store.queueCounts(of: "amplitude").replay == 0)
            let insertIds = try amplitude.requests.flatMap { request -> [String] in
                let events = try JSONValue.parse(request.body)["events"]?.arrayValue ?? []
                return events.filter { $0["event_properties"] != nil || $0["insert_id"] != nil }
                    .compactMap { $0["insert_id"]?.stringValue }
            }
            #expect(Set(insertIds).count == 4, "each event keeps its insert_id on every send")
        }
    }

    /// The message ids of every event sent, in order, across requests.
    static func sent(_ server: ScriptedHTTPServer) -> [String] {
        server.requests.flatMap { request -> [String] in
            let events = (try? JSONValue.parse(request.body))?["events"]?.arrayValue ?? []
            return events.compactMap { $0["insert_id"]?.stringValue.flatMap(Self.messageId) }
        }
    }

    /// The message id in an insert id (`<source>:<messageId>` or similar): the test's ids are unique
    /// substrings, so the last `:`-separated part is enough.
    static func messageId(_ insertId: String) -> String? {
        insertId.split(separator: ":").last.map(String.init)
    }
}
