import AsyncHTTPClient
import CompressNIO
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardStore
import Testing

@Suite("Ingest over real HTTP")
struct IngestTests {
    @Test(arguments: [
        ("/v1/track", "track", #"{"userId":"u1","event":"Signed Up"}"#),
        ("/v1/t", "track", #"{"userId":"u1","event":"Signed Up"}"#),
        ("/v1/page", "page", #"{"anonymousId":"a1","name":"Home"}"#),
        ("/v1/p", "page", #"{"anonymousId":"a1"}"#),
        ("/v1/screen", "screen", #"{"anonymousId":"a1","name":"Settings"}"#),
        ("/v1/s", "screen", #"{"anonymousId":"a1"}"#),
        ("/v1/identify", "identify", #"{"userId":"u1","anonymousId":"a1","traits":{"email":"x@example.com"}}"#),
        ("/v1/i", "identify", #"{"userId":"u1"}"#),
        ("/v1/group", "group", #"{"userId":"u1","groupId":"g1","traits":{"name":"Acme"}}"#),
        ("/v1/g", "group", #"{"userId":"u1","groupId":"g1"}"#),
        ("/v1/alias", "alias", #"{"userId":"u1","previousId":"a1"}"#),
        ("/v1/a", "alias", #"{"userId":"u1","previousId":"a1"}"#),
    ])
    func eachCallIsStoredOnItsLongAndShortPath(path: String, type: String, body: String) async throws {
        try await TestGateway.with { (gateway) async throws in
            let response = try await gateway.post(path, body)
            #expect(response.status == 200)
            #expect(response.json == ["success": true])
            let stored = try await gateway.storedEvents()
            #expect(stored.count == 1)
            #expect(stored.first?.event.type.rawValue == type)
            #expect(stored.first?.event.source == "website")
            let json = try JSONValue.parse(try #require(stored.first).event.body)
            #expect(json["type"]?.stringValue == type)
            #expect(json["context"]?["ip"] == "127.0.0.1")
            #expect(json["receivedAt"]?.stringValue != nil)
        }
    }

    @Test func aBatchStoresEveryEventInOrder() async throws {
        try await TestGateway.with { (gateway) async throws in
            let body = #"""
                {"batch":[
                  {"type":"page","anonymousId":"a1","name":"Home","messageId":"m1"},
                  {"type":"track","anonymousId":"a1","event":"Clicked","messageId":"m2"},
                  {"type":"identify","anonymousId":"a1","userId":"u1","messageId":"m3"}
                ],"context":{"library":{"name":"analytics-node"}}}
                """#
            let response = try await gateway.post("/v1/batch", body)
            #expect(response.status == 200)
            let stored = try await gateway.storedEvents()
            #expect(stored.map(\.event.messageId) == ["m1", "m2", "m3"])
            #expect(stored.map(\.sequence) == stored.map(\.sequence).sorted())
            let library = try JSONValue.parse(stored[1].event.body)["context"]?["library"]?["name"]
            #expect(library == "analytics-node")
        }
    }

    @Test func gzipBodiesAreAccepted() async throws {
        try await TestGateway.with { (gateway) async throws in
            var plain = ByteBuffer(string: #"{"batch":[{"type":"track","userId":"u1","event":"Zipped","messageId":"z1"}]}"#)
            let zipped = try plain.compress(with: .gzip())
            let response = try await gateway.send(
                "/v1/b", method: .POST, body: Array(zipped.readableBytesView),
                headers: [("Content-Encoding", "gzip"), ("Content-Type", "application/json")])
            #expect(response.status == 200)
            #expect(try await gateway.storedEvents().map(\.event.messageId) == ["z1"])
        }
    }

    @Test func beaconBodiesWithTheKeyInTheBodyAreAccepted() async throws {
        try await TestGateway.with { (gateway) async throws in
            let response = try await gateway.post(
                "/v1/batch",
                #"{"writeKey":"\#(TestGateway.writeKey)","batch":[{"type":"page","anonymousId":"a9","messageId":"b1"}]}"#,
                headers: [("Content-Type", "text/plain;charset=UTF-8"), ("Origin", "http://site.test")], auth: nil)
            #expect(response.status == 200)
            #expect(response.headers.first(name: "Access-Control-Allow-Origin") == "http://site.test")
            let stored = try await gateway.storedEvents()
            #expect(stored.map(\.event.messageId) == ["b1"])
            #expect(!String(decoding: stored[0].event.body, as: UTF8.self).contains(TestGateway.writeKey))
        }
    }

    @Test func corsPreflightIsAnsweredForConfiguredOriginsOnly() async throws {
        try await TestGateway.with { (gateway) async throws in
            let allowed = try await gateway.send(
                "/v1/track", method: .OPTIONS,
                headers: [
                    ("Origin", "http://site.test"), ("Access-Control-Request-Method", "POST"),
                    ("Access-Control-Request-Headers", "content-type"),
                ], auth: nil)
            #expect(allowed.status == 204)
            #expect(allowed.headers.first(name: "Access-Control-Allow-Origin") == "http://site.test")
            #expect(allowed.headers.first(name: "Access-Control-Allow-Methods")?.contains("POST") == true)
            #expect(allowed.headers.first(name: "Access-Control-Allow-Headers") == "content-type")

            let other = try await gateway.send(
                "/v1/track", method: .OPTIONS,
                headers: [("Origin", "http://evil.test"), ("Access-Control-Request-Method", "POST")], auth: nil)
            #expect(other.headers.first(name: "Access-Control-Allow-Origin") == nil)
            #expect(try await gateway.storedEvents().isEmpty)
        }
    }

    @Test func aRepeatedMessageIdIsAcknowledgedButStoredOnce() async throws {
        try await TestGateway.with { (gateway) async throws in
            let body = #"{"userId":"u1","event":"Paid","messageId":"dup-1"}"#
            #expect(try await gateway.post("/v1/track", body).status == 200)
            #expect(try await gateway.post("/v1/track", body).status == 200)
            let batch = #"{"batch":[\#(body.dropLast()),"type":"track"},\#(body.dropLast()),"type":"track"}]}"#
            #expect(try await gateway.post("/v1/batch", batch).status == 200)
            #expect(try await gateway.storedEvents().count == 1)
            // Dedupe is per source: another source's event with the same id is its own.
            #expect(try await gateway.post("/v1/track", body, auth: "backend-key").status == 200)
            #expect(try await gateway.storedEvents().count == 2)
        }
    }

    @Test func aBatchWithInvalidEventsStoresTheRestAndListsTheRejected() async throws {
        try await TestGateway.with { (gateway) async throws in
            let body = #"""
                {"batch":[
                  {"type":"track","userId":"u1","event":"ok","messageId":"p1"},
                  {"type":"track","userId":"u1"},
                  {"type":"page","anonymousId":"a1","messageId":"p2"},
                  {"type":"identify"}
                ]}
                """#
            let response = try await gateway.post("/v1/batch", body)
            #expect(response.status == 200)
            let json = try #require(response.json)
            #expect(json["success"] == true)  // SPEC §2 rev. 2026-12-03: true whenever the status is 200
            #expect(json["stored"] == 2)
            #expect(json["rejected"]?.arrayValue?.map { $0["index"] } == [1, 3])
            #expect(json["rejected"]?.arrayValue?.map { $0["error"] } == ["missing_event", "missing_id"])
            #expect(try await gateway.storedEvents().map(\.event.messageId) == ["p1", "p2"])
        }
    }

    @Test func aSourceOverItsRateLimitGets429WithRetryAfter() async throws {
        // A token comes back every 100 s, so the second request is refused however slowly a loaded
        // machine serves the first (at 1/s six requests pass when each takes a second, as on busy CI).
        let yaml: (URL) -> String = { TestGateway.config($0, sourceExtra: "    rate_limit: 0.01") }
        try await TestGateway.with(yaml: yaml) { (gateway) async throws in
            var statuses: [Int] = []
            var retryAfter: String?
            for index in 0..<6 {
                let response = try await gateway.post("/v1/track", #"{"userId":"u","event":"e","messageId":"r\#(index)"}"#)
                statuses.append(response.status)
                if response.status == 429 {
                    retryAfter = response.headers.first(name: "Retry-After")
                    #expect(response.errorCode == "rate_limited")
                }
            }
            // One fits in the bucket; the rest wait for the next token, about 100 s away.
            #expect(statuses == [200, 429, 429, 429, 429, 429])
            // Less when the machine took its time over the six requests; never more than a token's wait.
            #expect((50...101).contains(retryAfter.flatMap(Int.init) ?? 0))
            #expect(try await gateway.storedEvents().count == statuses.filter { $0 == 200 }.count)
        }
    }

    @Test func operationsEndpointsAnswer() async throws {
        try await TestGateway.with { (gateway) async throws in
            _ = try await gateway.post("/v1/track", #"{"userId":"u1","event":"e"}"#)
            _ = try await gateway.post("/v1/track", #"{"userId":"u1"}"#)
            #expect(try await gateway.send("/healthz", method: .GET).status == 200)
            #expect(try await gateway.send("/readyz", method: .GET).json?["status"] == "ready")
            let metrics = try await gateway.admin("/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains(#"switchyard_ingest_requests_total{source="website",endpoint="track",status="200"} 1"#))
            #expect(metrics.text.contains(#"switchyard_ingest_events_total{source="website",type="track",outcome="stored"} 1"#))
            #expect(metrics.text.contains(#"switchyard_ingest_rejected_total{source="website",code="missing_event"} 1"#))
            #expect(metrics.text.contains("switchyard_ingest_ack_seconds_bucket"))
            #expect(metrics.text.contains("switchyard_commit_batch_events"))
        }
    }
}
