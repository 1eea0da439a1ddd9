import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Testing

/// What destinations receive around merges, through the whole gateway (SPEC §4 rev. 2026-12-03): stable
/// wire identity, held events in storage order, merges as data, refused merges never sent as merges.
@Suite("Wire identity and merges over real HTTP")
struct WireIdentityTests {
    func post(_ gateway: TestGateway, _ path: String, _ body: String) async throws {
        let response = try await gateway.post(path, body)
        #expect(response.status == 200, "\(response.text)")
    }

    func delivered(_ gateway: TestGateway, _ name: String) async throws -> Int {
        Int(try await gateway.status(name)?["delivered"]?.doubleValue ?? -1)
    }

    /// PostHog's captured events, across every batch request.
    static func captured(_ requests: [ScriptedHTTPServer.Recorded]) throws -> [JSONValue] {
        var events: [JSONValue] = []
        for body in try bodies(requests) { events += body["batch"]?.arrayValue ?? [] }
        return events
    }

    /// A PostHog destination sending to `url`/posthog, indented as an entry of `destinations:`.
    static func posthog(_ url: String, extra: String = "") -> String {
        """
          - name: posthog
            type: posthog
            api_key: phc_test
            endpoint: \(url)/posthog
            batch: { max_wait: 10ms }
        \(extra)
        """
    }

    /// Every request's JSON body, gunzipped when it came gzipped.
    static func bodies(_ requests: [ScriptedHTTPServer.Recorded]) throws -> [JSONValue] {
        try requests.map { try JSONValue.parse(LiveViewTests.decoded($0)) }
    }

    /// The events of a webhook that takes batches (arrays) or single objects, in the order received.
    static func webhookEvents(_ requests: [ScriptedHTTPServer.Recorded]) throws -> [JSONValue] {
        try bodies(requests).flatMap { $0.arrayValue ?? [$0] }
    }

    /// Anonymous events and the identify that releases them, sent back to back with no wait, many times:
    /// a `hold` receiver gets each visitor's events in storage order, then the identify, every time —
    /// whether it takes one event per request or batches.
    @Test func heldEventsReplayInStorageOrderRightBeforeTheIdentifyEveryTime() async throws {
        let single = try await ScriptedHTTPServer.start()
        let batched = try await ScriptedHTTPServer.start()
        defer { Task { await single.stop(); await batched.stop() } }
        let runs = 16
        let destinations = """
              - name: single
                type: webhook
                url: \(single.url)/hook
                anonymous: hold
                batch: { max_events: 1 }
              - name: batched
                type: webhook
                url: \(batched.url)/hook
                anonymous: hold
                batch: { max_events: 50, max_wait: 30ms }
            """
        try await TestGateway.with(yaml: { IdentityTests.yaml($0, destinations: destinations) }) { (gateway) async throws in
            for run in 0..<runs {
                try await post(gateway, "/v1/page", #"{"anonymousId":"anon-\#(run)","name":"Home","messageId":"p1-\#(run)"}"#)
                try await post(gateway, "/v1/track", #"{"anonymousId":"anon-\#(run)","event":"Clicked","messageId":"p2-\#(run)"}"#)
                try await post(
                    gateway, "/v1/identify", #"{"anonymousId":"anon-\#(run)","userId":"user-\#(run)","messageId":"i-\#(run)"}"#)
            }
            for receiver in [single, batched] {
                try await waitUntil(timeout: .seconds(60)) { try Self.webhookEvents(receiver.requests).count >= 3 * runs }
                let events = try Self.webhookEvents(receiver.requests)
                #expect(events.count == 3 * runs, "each event once")
                for run in 0..<runs {
                    let mine = events.filter { $0["anonymousId"]?.stringValue == "anon-\(run)" }
                    #expect(
                        mine.compactMap { $0["messageId"]?.stringValue } == ["p1-\(run)", "p2-\(run)", "i-\(run)"],
                        "run \(run): storage order, the identify last")
                    #expect(mine.allSatisfy { $0["userId"]?.stringValue == "user-\(run)" })
                    let heldFor = mine.prefix(2).map { $0["context"]?["switchyard"]?["heldFor"]?.doubleValue }
                    #expect(heldFor.allSatisfy { ($0 ?? -1) >= 0 }, "replayed held events say how long they waited")
                    #expect(mine.last?["context"]?["switchyard"] == nil, "the live identify is not a replay")
                }
            }
        }
    }

    /// An event sent anonymously keeps its identity on every later send: a time-range replay after the merge
    /// carries the same ids and idempotency keys (webhook `webhook-id`, PostHog `distinct_id` + `uuid`).
    @Test func aReplayAfterAMergeKeepsTheIdentityTheEventWasSentWith() async throws {
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        let destinations = """
              - name: hook
                type: webhook
                url: \(receiver.url)/hook
                batch: { max_events: 1 }
            \(Self.posthog(receiver.url))
            """
        try await TestGateway.with(yaml: { IdentityTests.yaml($0, destinations: destinations) }) { (gateway) async throws in
            try await post(gateway, "/v1/track", #"{"anonymousId":"anon-r","event":"Viewed","messageId":"t-r"}"#)
            try await waitUntil {
                let first = try await delivered(gateway, "hook")
                let second = try await delivered(gateway, "posthog")
                return first == 1 && second == 1
            }
            try await post(gateway, "/v1/identify", #"{"anonymousId":"anon-r","userId":"user-r","messageId":"i-r"}"#)
            try await waitUntil {
                let first = try await delivered(gateway, "hook")
                let second = try await delivered(gateway, "posthog")
                return first == 2 && second == 2
            }
            for name in ["hook", "posthog"] {
                let replay = try await gateway.admin(
                    "/api/destinations/\(name)/replay", method: .POST,
                    body: #"{"from":"2000-01-01T00:00:00Z","to":"2100-01-01T00:00:00Z"}"#)
                #expect(replay.json?["replayed"] == 2, "\(replay.text)")
            }
            try await waitUntil {
                let first = try await delivered(gateway, "hook")
                let second = try await delivered(gateway, "posthog")
                return first == 4 && second == 4
            }

            let hooks = receiver.requests.filter { $0.path == "/hook" }
            let tracks = hooks.filter { (try? JSONValue.parse($0.body)["messageId"]) == "t-r" }
            #expect(tracks.count == 2)
            #expect(Set(tracks.map { $0.headers["webhook-id"] ?? "" }).count == 1, "same idempotency key")
            #expect(tracks.allSatisfy { (try? JSONValue.parse($0.body)["userId"]) == nil }, "sent anonymously both times")

            let captured = try Self.captured(receiver.requests.filter { $0.path.hasPrefix("/posthog") })
            let viewed = captured.filter { $0["event"] == "Viewed" }
            #expect(viewed.count == 2)
            #expect(Set(viewed.map { $0["distinct_id"] }) == [.string("anon-r")], "distinct_id unchanged by the merge")
            #expect(Set(viewed.map { $0["uuid"] }).count == 1, "same uuid")
        }
    }

    /// A warehouse that takes only tracks still gets the merge's `identity_merges` row; a vendor filtered to
    /// tracks still gets the merge call (PostHog `$identify` with `$anon_distinct_id`), once.
    @Test func destinationsFilteredToTracksStillLearnEachMergeOnce() async throws {
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: { directory in
            IdentityTests.yaml(
                directory,
                destinations: """
                  - name: lake
                    type: warehouse
                    path: \(directory.path)/warehouse
                    rotate: { max_bytes: 64MiB, max_age: 200ms }
                    batch: { max_wait: 20ms }
                    filter: { types: [track] }
                  - name: posthog
                    type: posthog
                    api_key: phc_test
                    endpoint: \(receiver.url)/posthog
                    batch: { max_wait: 10ms }
                    filter: { types: [track] }
                """)
        }) { (gateway) async throws in
            try await post(gateway, "/v1/track", #"{"anonymousId":"anon-f","event":"Viewed","messageId":"t-f"}"#)
            try await post(gateway, "/v1/identify", #"{"anonymousId":"anon-f","userId":"user-f","messageId":"i-f"}"#)
            try await post(gateway, "/v1/page", #"{"anonymousId":"anon-g","name":"Home","messageId":"p-g"}"#)
            try await post(gateway, "/v1/alias", #"{"previousId":"anon-g","userId":"user-g","messageId":"a-g"}"#)
            let warehouse = gateway.directory.appendingPathComponent("warehouse").path
            try await waitUntil(timeout: .seconds(30)) {
                let files = (try? FileManager.default.subpathsOfDirectory(atPath: warehouse + "/website/identity_merges")) ?? []
                let written = files.contains { $0.hasSuffix(".ndjson.gz") && !$0.contains("/.") }
                guard written else { return false }
                return try await delivered(gateway, "lake") >= 3
            }
            let merges = try DuckDB.query(
                "select anonymousId || ' ' || userId || ' ' || messageId from read_json_auto('\(warehouse)/website/identity_merges/dt=*/*.ndjson.gz') order by messageId")
            #expect(merges == "anon-g user-g a-g\nanon-f user-f i-f")
            let tables = try FileManager.default.contentsOfDirectory(atPath: warehouse + "/website").sorted()
            #expect(tables == ["identity_merges", "tracks"], "nothing of the identify, page or alias themselves")

            try await waitUntil { try Self.captured(receiver.requests).filter { $0["event"] == "$identify" }.count >= 2 }
            let captured = try Self.captured(receiver.requests)
            let identifies = captured.filter { $0["event"] == "$identify" }
            #expect(identifies.count == 2, "one merge call per merge")
            #expect(
                Set(identifies.map { "\($0["distinct_id"]?.stringValue ?? "") \($0["properties"]?["$anon_distinct_id"]?.stringValue ?? "")" })
                    == ["user-f anon-f", "user-g anon-g"])
            #expect(captured.filter { $0["event"] != "$identify" }.map(\.["event"]) == ["Viewed"])
        }
    }

    /// A shared device: the second person's identify is refused by the gateway, so no vendor is told to merge
    /// it — Mixpanel `original` gets one `$merge` (the accepted one), PostHog one `$identify`.
    @Test func aRefusedMergeIsNeverSentAsAMerge() async throws {
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        let destinations = """
              - name: mixpanel
                type: mixpanel
                token: mp-token
                secret: mp-secret
                id_merge: original
                endpoint: \(receiver.url)/mixpanel
                batch: { max_wait: 10ms }
            \(Self.posthog(receiver.url))
            """
        try await TestGateway.with(yaml: { IdentityTests.yaml($0, destinations: destinations) }) { (gateway) async throws in
            try await post(gateway, "/v1/identify", #"{"anonymousId":"shared-device","userId":"alice","messageId":"i-alice"}"#)
            try await post(gateway, "/v1/identify", #"{"anonymousId":"shared-device","userId":"bob","messageId":"i-bob"}"#)
            try await post(gateway, "/v1/track", #"{"anonymousId":"shared-device","userId":"bob","event":"Paid","messageId":"t-bob"}"#)
            try await waitUntil {
                let first = try await delivered(gateway, "mixpanel")
                let second = try await delivered(gateway, "posthog")
                return first == 3 && second == 3
            }
            let refused = try await gateway.admin("/api/activity?tab=identified").json?["entries"]?.arrayValue ?? []
            #expect(refused.contains { $0["kind"] == "merge_refused" }, "the gateway refused bob's merge")

            let imported = try Self.bodies(receiver.requests.filter { $0.path.hasPrefix("/mixpanel/import") })
                .flatMap { $0.arrayValue ?? [] }
            let merges = imported.filter { $0["event"] == "$merge" }
            #expect(merges.count == 1)
            #expect(merges.first?["properties"]?["$distinct_ids"] == ["alice", "shared-device"])
            #expect(!imported.contains { $0["event"] == "$merge" && $0.text.contains("bob") })

            let captured = try Self.captured(receiver.requests.filter { $0.path.hasPrefix("/posthog") })
            let linking = captured.filter { $0["properties"]?["$anon_distinct_id"] != nil || $0["event"] == "$create_alias" }
            #expect(linking.count == 1)
            #expect(linking.first?["distinct_id"] == "alice")
        }
    }

    /// A time-range replay to a `hold` destination honours `hold`: a visitor who never identified stays
    /// parked (not sent anonymously, not parked twice); one who merged goes out under the person, as the
    /// release sent it.
    @Test func aTimeRangeReplayToAHoldDestinationKeepsTheNeverMergedHeld() async throws {
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        let destinations = """
              - name: held
                type: webhook
                url: \(receiver.url)/hook
                anonymous: hold
                batch: { max_events: 1 }
            """
        try await TestGateway.with(yaml: { IdentityTests.yaml($0, destinations: destinations) }) { (gateway) async throws in
            try await post(gateway, "/v1/track", #"{"anonymousId":"never","event":"Browsed","messageId":"t-never"}"#)
            try await post(gateway, "/v1/track", #"{"anonymousId":"merges","event":"Browsed","messageId":"t-merges"}"#)
            try await post(gateway, "/v1/identify", #"{"anonymousId":"merges","userId":"dana","messageId":"i-dana"}"#)
            try await waitUntil { try await gateway.status("held")?["delivered"] == 2 }
            #expect(try await gateway.status("held")?["held"] == 1)
            let first = receiver.requests

            let replay = try await gateway.admin(
                "/api/destinations/held/replay", method: .POST, body: #"{"from":"2000-01-01T00:00:00Z","to":"2100-01-01T00:00:00Z"}"#)
            #expect(replay.json?["replayed"] == 3, "\(replay.text)")
            try await waitUntil { try await gateway.status("held")?["delivered"] == 4 }
            try await waitUntil { try await gateway.store.queueCounts(of: "held").replay == 0 }
            let again = Array(receiver.requests.dropFirst(first.count))
            let events = try Self.webhookEvents(again)
            #expect(events.compactMap { $0["messageId"]?.stringValue } == ["t-merges", "i-dana"])
            #expect(events.allSatisfy { $0["userId"] == "dana" })
            #expect(
                again.map { $0.headers["webhook-id"] ?? "" } == first.map { $0.headers["webhook-id"] ?? "" },
                "the same idempotency keys as the release and the identify")
            #expect(try await gateway.status("held")?["held"] == 1, "the never-merged event is held once, not twice")

            // When the visitor finally identifies, the held event goes out once.
            try await post(gateway, "/v1/identify", #"{"anonymousId":"never","userId":"eli","messageId":"i-eli"}"#)
            try await waitUntil { try await gateway.status("held")?["delivered"] == 6 }
            let last = try Self.webhookEvents(Array(receiver.requests.dropFirst(first.count + again.count)))
            #expect(last.compactMap { $0["messageId"]?.stringValue } == ["t-never", "i-eli"])
        }
    }

    /// `hold_max_age`: a held event older than it when its visitor identifies is dropped, not replayed.
    @Test func holdMaxAgeDropsHeldEventsTooOldToReplay() async throws {
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        let clock = ManualWallClock(Timestamp(iso8601: "2026-11-29T12:00:00Z")!)
        let destinations = """
              - name: held
                type: webhook
                url: \(receiver.url)/hook
                anonymous: hold
                hold_max_age: 1h
                batch: { max_events: 1 }
            """
        try await TestGateway.with(yaml: { IdentityTests.yaml($0, destinations: destinations) }, clock: clock) {
            (gateway) async throws in
            try await post(gateway, "/v1/track", #"{"anonymousId":"slow","event":"Old","messageId":"old"}"#)
            clock.advance(by: .seconds(2 * 3600))
            try await post(gateway, "/v1/track", #"{"anonymousId":"slow","event":"Recent","messageId":"recent"}"#)
            clock.advance(by: .seconds(60))
            try await waitUntil { try await gateway.status("held")?["held"] == 2 }
            try await post(gateway, "/v1/identify", #"{"anonymousId":"slow","userId":"fay","messageId":"i-fay"}"#)
            try await waitUntil { try await gateway.status("held")?["delivered"] == 2 }
            let events = try Self.webhookEvents(receiver.requests)
            #expect(events.compactMap { $0["messageId"]?.stringValue } == ["recent", "i-fay"])
            #expect(events.first?["context"]?["switchyard"]?["heldFor"] == .number("60.000"))
        }
    }
}
