import AsyncHTTPClient
import CompressNIO
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardServer
import SwitchyardTesting
import Testing

/// The live view over real HTTP (SPEC §6 "Live view"): `GET /api/live` and the preview endpoint, against
/// a whole gateway and loopback receivers.
@Suite("Live view")
struct LiveViewTests {
    static let webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let hookHeaderSecret = "hdr-credential-7f3a9c2e5d"
    static let hookPathToken = "pathtoken-91b2c3d4e5"
    static let mixpanelToken = "mp-token-5a6b7c8d9e0f"
    static let mixpanelSecret = "mp-api-secret-0f1e2d3c4b"
    static let amplitudeKey = "amp-key-1a2b3c4d5e6f7a8b"
    static let posthogKey = "phc_posthogSecretKey123456"
    static var allSecrets: [String] {
        [
            webhookSecret, String(webhookSecret.dropFirst("whsec_".count)), hookHeaderSecret, hookPathToken,
            mixpanelToken, mixpanelSecret, amplitudeKey, posthogKey,
            // Mixpanel's API secret travels as HTTP Basic: its base64 must not show either.
            Data("\(mixpanelSecret):".utf8).base64EncodedString(),
        ]
    }

    static func webhook(_ url: String, name: String = "hook") -> String {
        """
          - name: \(name)
            type: webhook
            url: \(url)/hooks/\(hookPathToken)
            secret: \(webhookSecret)
            headers: { X-Api-Key: \(hookHeaderSecret) }
            batch: { max_events: 1, max_wait: 10ms }
            retry: { initial_backoff: 20ms, max_backoff: 100ms }
        """
    }

    static func everyType(_ url: String, warehouse: String) -> String {
        webhook(url) + "\n" + """
              - name: mixpanel
                type: mixpanel
                token: \(mixpanelToken)
                secret: \(mixpanelSecret)
                endpoint: \(url)/mixpanel
                batch: { max_wait: 10ms }
              - name: amplitude
                type: amplitude
                api_key: \(amplitudeKey)
                endpoint: \(url)/amplitude
                batch: { max_wait: 10ms }
              - name: posthog
                type: posthog
                api_key: \(posthogKey)
                endpoint: \(url)/posthog
                batch: { max_wait: 10ms }
              - name: warehouse
                type: warehouse
                path: \(warehouse)
                batch: { max_wait: 10ms }
            """
    }

    func track(_ gateway: TestGateway, _ id: String, event: String = "Paid", user: String = "u1") async throws {
        let response = try await gateway.post(
            "/v1/track", #"{"userId":"\#(user)","event":"\#(event)","messageId":"\#(id)","properties":{"plan":"pro"}}"#)
        #expect(response.status == 200)
    }

    static func about(_ messageId: String) -> (LiveStreamClient.Message) -> Bool {
        { $0.json?["messageId"]?.stringValue == messageId || $0.json?["messageIds"]?.arrayValue?.contains(.string(messageId)) == true }
    }

    /// With no destination to read the log, the log follower publishes the `ingest` items itself (after
    /// leaving the workers its catch-up delay), each once and in log order.
    @Test func withNoDestinationTheFollowerShowsEveryIngestOnce() async throws {
        try await TestGateway.with(yaml: { TestGateway.config($0) }) { gateway in
            let live = try await LiveStreamClient.connect(gateway)
            defer { live.close() }
            for index in 0..<5 { try await track(gateway, "alone-\(index)") }
            _ = try await live.waitFor("the last ingest") { $0.event == "ingest" && Self.about("alone-4")($0) }
            let ingests = live.messages.filter { $0.event == "ingest" }.compactMap { $0.json?["messageId"]?.stringValue }
            #expect(ingests == (0..<5).map { "alone-\($0)" })
        }
    }

    /// A destination stuck on its first batch (its receiver answers 503, so it retries it) stops reading the
    /// log; the follower then shows the later events' `ingest` items itself, once each.
    @Test func aStuckDestinationDoesNotHideLaterEvents() async throws {
        let receiver = try await ScriptedHTTPServer.start(then: ScriptedHTTPServer.Reply(503, body: "{}"))
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: { TestGateway.config($0, destinations: Self.webhook(receiver.url)) }) { gateway in
            let live = try await LiveStreamClient.connect(gateway)
            defer { live.close() }
            try await track(gateway, "stuck-0")
            _ = await receiver.waitForRequests(1)
            for index in 1..<4 { try await track(gateway, "stuck-\(index)") }
            _ = try await live.waitFor("the last ingest") { $0.event == "ingest" && Self.about("stuck-3")($0) }
            let ingests = live.messages.filter { $0.event == "ingest" }.compactMap { $0.json?["messageId"]?.stringValue }
            #expect(ingests == (0..<4).map { "stuck-\($0)" })
        }
    }

    @Test func oneEventShowsIngestThenItsRouteThenItsDelivery() async throws {
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: { TestGateway.config($0, destinations: Self.webhook(receiver.url)) }) { gateway in
            let live = try await LiveStreamClient.connect(gateway)
            defer { live.close() }
            #expect(live.status == 200)
            try await track(gateway, "live-1")
            let delivery = try await live.waitFor("the delivery") { $0.event == "delivery" && Self.about("live-1")($0) }
            let items = live.messages.filter(Self.about("live-1"))
            #expect(items.map(\.event) == ["ingest", "route", "delivery"])
            let ids = items.compactMap { $0.id.flatMap { UInt64($0) } }
            #expect(ids.count == 3 && ids == ids.sorted(), "every message has an increasing id")

            let ingest = try #require(items.first?.json)
            #expect(ingest["source"] == "website")
            #expect(ingest["type"] == "track")
            #expect(ingest["event"] == "Paid")
            #expect(ingest["userId"] == "u1")
            #expect(ingest["resolvedUserId"] == "u1")
            #expect(ingest["message"]?["properties"]?["plan"] == "pro")
            let route = try #require(items[1].json)
            #expect(route["destination"] == "hook")
            #expect(route["decision"] == "queued")

            let json = try #require(delivery.json)
            #expect(json["outcome"] == "delivered")
            #expect(json["attempt"] == 1)
            #expect(json["response"]?["status"] == 200)
            #expect(json["durationMs"]?.doubleValue != nil)
            let request = try #require(json["request"])
            #expect(request["method"] == "POST")
            // What the receiver got, byte for byte, but for the masked secrets.
            let sent = try #require(receiver.requests.first)
            #expect(request["body"]?.stringValue == sent.text)
            #expect(request["headers"]?["webhook-id"]?.stringValue == sent.headers["webhook-id"])
            #expect(request["headers"]?["webhook-signature"]?.stringValue == sent.headers["webhook-signature"])
            #expect(request["headers"]?["X-Api-Key"]?.stringValue == SecretMask.mask(Self.hookHeaderSecret))
            #expect(request["url"]?.stringValue?.contains(Self.hookPathToken) == false)
        }
    }

    @Test func routeItemsSayWhyADestinationLeftAnEventOut() async throws {
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        let destinations = Self.webhook(receiver.url) + "\n" + """
              - name: only-pages
                type: webhook
                url: \(receiver.url)/pages
                filter: { types: [page] }
              - name: held
                type: webhook
                url: \(receiver.url)/held
                anonymous: hold
            """
        try await TestGateway.with(yaml: { TestGateway.config($0, destinations: destinations) }) { gateway in
            let live = try await LiveStreamClient.connect(gateway)
            defer { live.close() }
            let response = try await gateway.post(
                "/v1/track", #"{"anonymousId":"anon-1","event":"Viewed","messageId":"r-1","integrations":{"hook":false}}"#)
            #expect(response.status == 200)
            for name in ["hook", "only-pages", "held"] {
                try await live.waitFor("the route of \(name)") { $0.event == "route" && $0.json?["destination"]?.stringValue == name }
            }
            let routes = Dictionary(
                uniqueKeysWithValues: live.messages.filter { $0.event == "route" }.compactMap { message in
                    message.json.flatMap { json in json["destination"]?.stringValue.map { ($0, json) } }
                })
            #expect(routes["hook"]?["decision"] == "switched_off")
            #expect(routes["hook"]?["reason"]?.stringValue?.contains("integrations.hook") == true)
            #expect(routes["only-pages"]?["decision"] == "filtered")
            #expect(routes["only-pages"]?["reason"]?.stringValue?.contains("filter.types") == true)
            #expect(routes["held"]?["decision"] == "held")
        }
    }

    @Test func filtersKeepOnlyTheMatchingItems() async throws {
        try await TestGateway.with { gateway in
            let live = try await LiveStreamClient.connect(gateway, query: "source=backend&type=track&event=Sign*&user=u7")
            defer { live.close() }
            try await track(gateway, "f-website", event: "Signed Up", user: "u7")
            let backend = #"{"userId":"u7","event":"Signed Up","messageId":"f-match"}"#
            #expect(try await gateway.post("/v1/track", backend, auth: "backend-key").status == 200)
            #expect(try await gateway.post("/v1/track", #"{"userId":"u7","event":"Paid","messageId":"f-name"}"#, auth: "backend-key").status == 200)
            #expect(try await gateway.post("/v1/track", #"{"userId":"u8","event":"Signed In","messageId":"f-user"}"#, auth: "backend-key").status == 200)
            #expect(try await gateway.post("/v1/page", #"{"userId":"u7","name":"Signup","messageId":"f-type"}"#, auth: "backend-key").status == 200)
            #expect(try await gateway.post("/v1/track", #"{"userId":"u7","event":"Signed Out","messageId":"f-last"}"#, auth: "backend-key").status == 200)
            try await live.waitFor("the last matching event") { Self.about("f-last")($0) }
            let seen = live.messages.compactMap { $0.json?["messageId"]?.stringValue }
            #expect(seen == ["f-match", "f-last"])

            let bad = try await gateway.admin("/api/live?type=purchase")
            #expect(bad.status == 400)
            #expect(bad.errorCode == "invalid_filter")
        }
    }

    @Test func aClientResumesFromLastEventIdAndHearsOfWhatFellOutOfTheBuffer() async throws {
        try await TestGateway.with(live: LiveHub(replayCapacity: 20)) { gateway in
            let first = try await LiveStreamClient.connect(gateway)
            try await track(gateway, "resume-1")
            let seen = try await first.waitFor("the first event") { Self.about("resume-1")($0) }
            first.close()
            for index in 2...4 { try await track(gateway, "resume-\(index)") }

            let resumed = try await LiveStreamClient.connect(gateway, headers: [("Last-Event-ID", try #require(seen.id))])
            defer { resumed.close() }
            try await resumed.waitFor("the events sent while away") { Self.about("resume-4")($0) }
            #expect(resumed.messages.compactMap { $0.json?["messageId"]?.stringValue } == ["resume-2", "resume-3", "resume-4"])
            #expect(!resumed.messages.contains { $0.event == "gap" })

            // 30 more events: the buffer keeps 20, so a client that saw only the first gets a gap first.
            let batch = (5...34).map { #"{"type":"track","userId":"u1","event":"Paid","messageId":"resume-\#($0)"}"# }
            #expect(try await gateway.post("/v1/batch", #"{"batch":[\#(batch.joined(separator: ","))]}"#).status == 200)
            try await resumed.waitFor("the batch") { Self.about("resume-34")($0) }
            let late = try await LiveStreamClient.connect(gateway, query: "last_event_id=\(try #require(seen.id))")
            defer { late.close() }
            let gap = try await late.waitFor("a gap") { $0.event == "gap" }
            #expect((gap.json?["missed"]?.doubleValue ?? 0) >= 13)
            try await late.waitFor("the newest event") { Self.about("resume-34")($0) }
            #expect(late.messages.first?.event == "gap")

            // Hostile ids are ignored, never trapped on: the stream starts with new items.
            for hostile in ["-1", "99999999999999999999999", "1e9", "abc", String(repeating: "9", count: 400)] {
                let client = try await LiveStreamClient.connect(gateway, headers: [("Last-Event-ID", hostile)])
                #expect(client.status == 200)
                client.close()
            }
        }
    }

    @Test func mergesAndErasuresShowAsIdentityItems() async throws {
        try await TestGateway.with { gateway in
            let live = try await LiveStreamClient.connect(gateway, query: "user=visitor-9")
            defer { live.close() }
            #expect(try await gateway.post("/v1/page", #"{"anonymousId":"visitor-9","name":"Home","messageId":"i-page"}"#).status == 200)
            let identify = #"{"anonymousId":"visitor-9","userId":"person-9","messageId":"i-identify"}"#
            #expect(try await gateway.post("/v1/identify", identify).status == 200)
            let merge = try await live.waitFor("the merge") { $0.event == "identity" }
            #expect(merge.json?["kind"] == "anonymous_merge")
            #expect(merge.json?["userId"] == "person-9")
            #expect(merge.json?["messageId"] == "i-identify")
            let ingest = try await live.waitFor("the identify") { $0.event == "ingest" && Self.about("i-identify")($0) }
            #expect(ingest.json?["resolvedUserId"] == "person-9")
        }
    }

    @Test func theLiveViewNeedsTheAdminToken() async throws {
        try await TestGateway.with { gateway in
            let anonymous = try await gateway.send("/api/live", method: .GET, auth: nil)
            #expect(anonymous.status == 401)
            let wrong = try await LiveStreamClient.connect(gateway, token: "not-the-token")
            #expect(wrong.status == 401)
            wrong.close()
            let preview = try await gateway.send(
                "/api/destinations/x/preview", method: .POST, body: Array("{}".utf8),
                headers: [("Content-Type", "application/json")], auth: nil)
            #expect(preview.status == 401)
        }
    }

    @Test(.timeLimit(.minutes(1))) func aWatchedGatewayStillStopsGracefully() async throws {
        // An open stream never finishes by itself; the HTTP server's drain must not wait for it.
        let gateway = try await TestGateway.start()
        let live = try await LiveStreamClient.connect(gateway)
        defer { live.close() }
        try await track(gateway, "before-stop")
        try await live.waitFor("the event") { Self.about("before-stop")($0) }
        try await gateway.stop()
    }

    @Test func theLivePageAllowsOnlyTheGatewaysOwnScript() async throws {
        try await TestGateway.with { gateway in
            let page = try await gateway.admin("/live?type=track&user=u1")
            #expect(page.status == 200)
            let policy = page.headers.first(name: "Content-Security-Policy") ?? ""
            #expect(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"))
            #expect(!policy.contains("unsafe"))
            #expect(page.text.contains(#"<script src="/live.js"></script>"#))
            #expect(page.text.contains(#"<option value="track" selected>"#), "the filters show what the address asks")
            // Other pages still allow no script at all.
            let activity = try await gateway.admin("/")
            #expect(activity.headers.first(name: "Content-Security-Policy")?.contains("script-src") == false)

            let script = try await gateway.send("/live.js", method: .GET, auth: nil)
            #expect(script.status == 200)
            #expect(script.headers.first(name: "Content-Type")?.hasPrefix("text/javascript") == true)
            #expect(try await gateway.send("/live", method: .GET, auth: nil).status == 401)
            #expect(try await gateway.send("/live/stream", method: .GET, auth: nil).status == 401)
            #expect(try await gateway.admin("/live?type=purchase").status == 400)
        }
    }

    @Test func noSecretOfAnyDestinationTypeReachesTheStream() async throws {
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: { directory in
            TestGateway.config(
                directory, destinations: Self.everyType(receiver.url, warehouse: directory.path + "/warehouse"))
        }) { gateway in
            let live = try await LiveStreamClient.connect(gateway)
            defer { live.close() }
            #expect(
                try await gateway.post("/v1/identify", #"{"userId":"s1","anonymousId":"a-s1","traits":{"plan":"pro"},"messageId":"s-id"}"#)
                    .status == 200)
            try await track(gateway, "s-track", user: "s1")
            for name in ["hook", "mixpanel", "amplitude", "posthog", "warehouse"] {
                try await live.waitFor("a delivery to \(name)") {
                    $0.event == "delivery" && $0.json?["destination"]?.stringValue == name && Self.about("s-track")($0)
                }
            }
            var shown = live.text
            for name in ["hook", "mixpanel", "amplitude", "posthog"] {
                let preview = try await gateway.admin(
                    "/api/destinations/\(name)/preview", method: .POST,
                    body: #"{"type":"track","userId":"s1","event":"Paid","messageId":"s-preview"}"#)
                #expect(preview.status == 200, "\(name): \(preview.text)")
                #expect(preview.json?["requests"]?.arrayValue?.isEmpty == false)
                shown += preview.text
            }
            // The vendors did get the secrets: the test would prove nothing if they were never sent.
            #expect(receiver.requests.contains { $0.headers["x-api-key"] == Self.hookHeaderSecret })
            for secret in Self.allSecrets {
                #expect(!shown.contains(secret), "the live view shows a secret: \(secret.prefix(6))…")
                let escaped = secret.replacingOccurrences(of: "/", with: "\\/")
                #expect(!shown.contains(escaped))
            }
        }
    }

    @Test func previewIsTheRequestRealDeliverySends() async throws {
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: { directory in
            TestGateway.config(directory, destinations: Self.everyType(receiver.url, warehouse: directory.path + "/warehouse"))
        }) { gateway in
            let live = try await LiveStreamClient.connect(gateway)
            defer { live.close() }
            try await track(gateway, "p-1", user: "p-user")
            let ingest = try await live.waitFor("the ingest item") { $0.event == "ingest" && Self.about("p-1")($0) }
            for name in ["mixpanel", "amplitude", "posthog"] {
                let delivery = try await live.waitFor("the delivery to \(name)") {
                    $0.event == "delivery" && $0.json?["destination"]?.stringValue == name && Self.about("p-1")($0)
                }
                let message = try #require(ingest.json?["message"])
                let preview = try await gateway.admin(
                    "/api/destinations/\(name)/preview", method: .POST, body: message.text)
                #expect(preview.status == 200, "\(preview.text)")
                let previewed = try #require(preview.json?["requests"]?.arrayValue?.first)
                let sent = try #require(delivery.json?["request"])
                #expect(previewed["method"] == sent["method"], "\(name)")
                #expect(previewed["url"] == sent["url"], "\(name)")
                #expect(previewed["headers"] == sent["headers"], "\(name)")
                // PostHog stamps `sent_at` with the time of sending; everything else is the same bytes.
                #expect(Self.withoutSentAt(previewed["body"]) == Self.withoutSentAt(sent["body"]), "\(name)")

                // And what the loopback receiver got is that request, unmasked.
                let received = try #require(receiver.requests.first { $0.path.hasPrefix("/\(name)") })
                let receivedBody = try Self.decoded(received)
                let masked = SecretMask.redact(
                    receivedBody, secrets: [Self.amplitudeKey, Self.posthogKey, Self.mixpanelToken, Self.mixpanelSecret])
                #expect(Self.withoutSentAt(.string(masked)) == Self.withoutSentAt(previewed["body"]), "\(name)")
                #expect(previewed["url"]?.stringValue?.hasPrefix(receiver.url + received.path) == true, "\(name)")
            }
        }
    }

    /// A body with PostHog's `sent_at` value blanked.
    static func withoutSentAt(_ value: JSONValue?) -> String? {
        value?.stringValue?.replacing(/"sent_at":"[^"]*"/, with: "\"sent_at\":\"\"")
    }

    static func decoded(_ request: ScriptedHTTPServer.Recorded) throws -> String {
        guard request.headers["content-encoding"] == "gzip" else { return request.text }
        var buffer = ByteBuffer(bytes: request.body)
        return String(buffer: try buffer.decompress(with: .gzip()))
    }
}
