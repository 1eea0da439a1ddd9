import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Testing

/// Identity through the whole gateway (SPEC §3): merges, refusals, hold-and-replay, erasure.
@Suite("Identity over real HTTP")
struct IdentityTests {
    static func yaml(_ directory: URL, identity: String = "", destinations: String = "  []") -> String {
        TestGateway.config(directory, sections: "identity:\n  anonymous_ttl: 30d\n\(identity)", destinations: destinations)
    }

    static func hooks(hold: String, forward: String) -> String {
        """
          - name: held
            type: webhook
            url: \(hold)/hook
            anonymous: hold
            batch: { max_events: 1 }
          - name: forwarded
            type: webhook
            url: \(forward)/hook
            batch: { max_events: 1 }
        """
    }

    func post(_ gateway: TestGateway, _ path: String, _ body: String) async throws {
        let response = try await gateway.post(path, body)
        #expect(response.status == 200, "\(response.text)")
    }

    func activity(_ gateway: TestGateway, _ path: String = "/api/activity?tab=identified") async throws -> [JSONValue] {
        try await gateway.admin(path).json?["entries"]?.arrayValue ?? []
    }

    @Test func heldAnonymousEventsAreReplayedWithTheUserIdBeforeTheIdentify() async throws {
        let held = try await ScriptedHTTPServer.start()
        let forwarded = try await ScriptedHTTPServer.start()
        defer { Task { await held.stop(); await forwarded.stop() } }
        try await TestGateway.with(yaml: { Self.yaml($0, destinations: Self.hooks(hold: held.url, forward: forwarded.url)) }) {
            (gateway) async throws in
            try await post(gateway, "/v1/page", #"{"anonymousId":"anon-1","name":"Home","messageId":"p1","timestamp":"2026-11-28T10:00:00Z"}"#)
            try await post(gateway, "/v1/track", #"{"anonymousId":"anon-1","event":"Clicked","messageId":"t1","timestamp":"2026-11-28T10:01:00Z"}"#)
            // The forward destination gets them now, anonymously; the hold destination gets nothing yet.
            let early = await forwarded.waitForRequests(2)
            #expect(early.compactMap { try? JSONValue.parse($0.body)["userId"] } == [])
            try await waitUntil { try await gateway.status("held")?["held"] == 2 }
            #expect(held.requests.isEmpty)

            try await post(gateway, "/v1/identify", #"{"anonymousId":"anon-1","userId":"user-1","messageId":"i1","traits":{"plan":"pro"}}"#)
            let replayed = await held.waitForRequests(3)
            let bodies = try replayed.map { try JSONValue.parse($0.body) }
            #expect(bodies.map { $0["messageId"] } == ["p1", "t1", "i1"], "held events come right before the identify")
            #expect(bodies.allSatisfy { $0["userId"] == "user-1" && $0["anonymousId"] == "anon-1" })
            #expect(bodies[0]["timestamp"] == "2026-11-28T10:00:00.000Z", "the original timestamp is kept")
            #expect(bodies[1]["timestamp"] == "2026-11-28T10:01:00.000Z")
            #expect(Set(replayed.map { $0.headers["webhook-id"] ?? "" }).count == 3)
            try await waitUntil { try await gateway.status("held")?["held"] == 0 }

            let entries = try await activity(gateway)
            let merge = try #require(entries.first { $0["kind"] == "anonymous_merge" })
            #expect(merge["anonymousId"] == "anon-1")
            #expect(merge["userId"] == "user-1")
            #expect(merge["eventsMerged"] == 2)
            #expect(merge["messageId"] == "i1")
            let wasAnonymous = entries.filter { $0["kind"] == "event" && $0["wasAnonymous"] == true }.compactMap { $0["messageId"] }
            #expect(Set(wasAnonymous) == ["p1", "t1"])
            #expect(try await activity(gateway, "/api/activity?tab=anonymous").filter { $0["kind"] == "event" }.isEmpty)

            let person = try #require(try await gateway.admin("/api/people/user-1").json)
            #expect(person["anonymousIds"] == ["anon-1"])
            #expect(person["traits"] == ["plan": "pro"])
            let history = try await activity(gateway, "/api/people/user-1/activity").compactMap { $0["messageId"]?.stringValue }
            #expect(Set(history).isSuperset(of: ["p1", "t1", "i1"]))
            let anonymousView = try await activity(gateway, "/api/anonymous/anon-1/activity")
            #expect(anonymousView.contains { $0["kind"] == "anonymous_merge" })
        }
    }

    @Test func aTakenAnonymousIdIsRefusedAndRecorded() async throws {
        try await TestGateway.with(yaml: { Self.yaml($0) }) { (gateway) async throws in
            try await post(gateway, "/v1/identify", #"{"anonymousId":"shared","userId":"alice"}"#)
            try await post(gateway, "/v1/identify", #"{"anonymousId":"shared","userId":"bob"}"#)
            let refusal = try #require(try await activity(gateway).first { $0["kind"] == "merge_refused" })
            #expect(refusal["reason"] == "anonymous_id_taken")
            #expect(refusal["anonymousId"] == "shared")
            #expect(refusal["userId"] == "bob")
            #expect(try await gateway.admin("/api/people/alice").json?["anonymousIds"] == ["shared"])
            #expect(try await gateway.admin("/api/people/bob").json?["anonymousIds"] == [])
        }
    }

    @Test func aBlockedIdNeverMergesAndIsRecorded() async throws {
        try await TestGateway.with(yaml: { Self.yaml($0) }) { (gateway) async throws in
            try await post(gateway, "/v1/identify", #"{"anonymousId":"undefined","userId":"alice"}"#)
            let refusal = try #require(try await activity(gateway).first { $0["kind"] == "merge_refused" })
            #expect(refusal["reason"] == "blocked_id")
            #expect(refusal["anonymousId"] == "undefined")
            #expect(try await gateway.admin("/api/people/alice").json?["anonymousIds"] == [])
        }
    }

    @Test func aliasOfTwoUsersIsRefusedUnlessAllowed() async throws {
        try await TestGateway.with(yaml: { Self.yaml($0) }) { (gateway) async throws in
            try await post(gateway, "/v1/identify", #"{"userId":"old-id"}"#)
            try await post(gateway, "/v1/identify", #"{"userId":"new-id"}"#)
            try await post(gateway, "/v1/alias", #"{"previousId":"old-id","userId":"new-id"}"#)
            let refusal = try #require(try await activity(gateway).first { $0["kind"] == "merge_refused" })
            #expect(refusal["reason"] == "user_merge_not_allowed")
        }
        try await TestGateway.with(yaml: { Self.yaml($0, identity: "  allow_user_merge: true") }) { (gateway) async throws in
            try await post(gateway, "/v1/identify", #"{"userId":"old-id","anonymousId":"a-old","traits":{"name":"Ada"}}"#)
            try await post(gateway, "/v1/identify", #"{"userId":"new-id","anonymousId":"a-new","traits":{"plan":"pro"}}"#)
            try await post(gateway, "/v1/alias", #"{"previousId":"new-id","userId":"old-id"}"#)
            let merge = try #require(try await activity(gateway).first { $0["kind"] == "person_merge" })
            #expect(merge["userId"] == "old-id", "the older person's id is kept")
            #expect(merge["mergedUserId"] == "new-id")
            let person = try #require(try await gateway.admin("/api/people/new-id").json)
            #expect(person["userId"] == "old-id")
            #expect(person["anonymousIds"] == ["a-old", "a-new"])
            // Both persons' traits, in no particular order (the kept person's keys come first).
            let traits = try #require(person["traits"]?.objectValue)
            #expect(Set(traits.keys) == ["plan", "name"])
            #expect(traits["plan"] == "pro")
            #expect(traits["name"] == "Ada")
        }
    }

    @Test func aliasOfAnAnonymousIdMerges() async throws {
        try await TestGateway.with(yaml: { Self.yaml($0) }) { (gateway) async throws in
            try await post(gateway, "/v1/track", #"{"anonymousId":"a-9","event":"Viewed"}"#)
            try await post(gateway, "/v1/alias", #"{"previousId":"a-9","userId":"carol"}"#)
            let merge = try #require(try await activity(gateway).first { $0["kind"] == "anonymous_merge" })
            #expect(merge["eventsMerged"] == 1)
            #expect(try await gateway.admin("/api/people/carol").json?["anonymousIds"] == ["a-9"])
        }
    }

    @Test func tooManyAnonymousIdsAreRefused() async throws {
        try await TestGateway.with(yaml: { Self.yaml($0, identity: "  max_anonymous_ids: 2") }) { (gateway) async throws in
            for index in 1...3 {
                try await post(gateway, "/v1/identify", #"{"anonymousId":"a-\#(index)","userId":"dave"}"#)
            }
            let refusal = try #require(try await activity(gateway).first { $0["kind"] == "merge_refused" })
            #expect(refusal["reason"] == "too_many_anonymous_ids")
            #expect(refusal["anonymousId"] == "a-3")
            #expect(try await gateway.admin("/api/people/dave").json?["anonymousIds"] == ["a-1", "a-2"])
        }
    }

    @Test func lateEventsResolveOnlyInsideAFiniteLateWindow() async throws {
        let clock = ManualWallClock(Timestamp(iso8601: "2026-11-29T12:00:00Z")!)
        try await TestGateway.with(yaml: { Self.yaml($0, identity: "  late_window: 5m") }, clock: clock) { (gateway) async throws in
            try await post(gateway, "/v1/identify", #"{"anonymousId":"a-1","userId":"erin","messageId":"i1"}"#)
            clock.advance(by: .seconds(240))
            try await post(gateway, "/v1/track", #"{"anonymousId":"a-1","event":"Inside","messageId":"inside"}"#)
            clock.advance(by: .seconds(120))
            try await post(gateway, "/v1/track", #"{"anonymousId":"a-1","event":"Outside","messageId":"outside"}"#)
            let events = try await gateway.storedEvents()
            let resolved = Dictionary(uniqueKeysWithValues: events.map { ($0.event.messageId, $0.resolvedUserId) })
            #expect(resolved["inside"] == .some("erin"))
            #expect(resolved["outside"] == .some(nil))
        }
        // With the default (forever) a late event always resolves.
        try await TestGateway.with(yaml: { Self.yaml($0) }, clock: clock) { (gateway) async throws in
            try await post(gateway, "/v1/identify", #"{"anonymousId":"a-1","userId":"erin"}"#)
            clock.advance(by: .seconds(86_400 * 365))
            try await post(gateway, "/v1/track", #"{"anonymousId":"a-1","event":"Much later","messageId":"late"}"#)
            #expect(try await gateway.storedEvents().first { $0.event.messageId == "late" }?.resolvedUserId == "erin")
        }
    }

    /// analytics.js batches a sign-up's `alias` and `identify` into one `/v1/batch`, so one group commit
    /// carries two triggers for one anonymous id: it stores and merges once on every back end.
    @Test(arguments: ["sqlite"] + (PostgresTestCluster.available ? ["postgres"] : []))
    func theSignUpBatchOfAnalyticsJSMergesOnceOnEveryBackEnd(_ backend: String) async throws {
        let postgres = backend == "postgres" ? try await PostgresTestCluster.shared().createDatabase() : nil
        try await TestGateway.with(yaml: { directory in
            let yaml = Self.yaml(directory)
            guard let postgres else { return yaml }
            return yaml.replacingOccurrences(of: "sqlite: \(directory.path)/switchyard.db", with: "postgres: \(postgres)?sslmode=disable")
        }) { (gateway) async throws in
            try await post(gateway, "/v1/page", #"{"anonymousId":"visitor","messageId":"p"}"#)
            try await post(
                gateway, "/v1/batch",
                #"{"batch":[{"type":"alias","anonymousId":"visitor","previousId":"visitor","userId":"signed-up","messageId":"al"},"#
                    + #"{"type":"identify","anonymousId":"visitor","userId":"signed-up","traits":{"email":"a@b.c"},"messageId":"id"}]}"#)
            let person = try #require(try await gateway.admin("/api/people/signed-up").json)
            #expect(person["anonymousIds"] == ["visitor"])
            #expect(person["traits"]?["email"] == "a@b.c")
            let stored = try await gateway.storedEvents()
            #expect(stored.map(\.resolvedUserId) == ["signed-up", "signed-up", "signed-up"])
            let metrics = try await gateway.admin("/metrics").text
            #expect(metrics.contains("switchyard_identity_merges_total 1"), "\(metrics)")
        }
    }

    @Test func erasureDeletesThePersonAndSuppressesTheUser() async throws {
        let forwarded = try await ScriptedHTTPServer.start()
        defer { Task { await forwarded.stop() } }
        try await TestGateway.with(yaml: { Self.yaml($0) }) { (gateway) async throws in
            try await post(gateway, "/v1/page", #"{"anonymousId":"a-f","messageId":"p"}"#)
            try await post(gateway, "/v1/identify", #"{"anonymousId":"a-f","userId":"frank","messageId":"i"}"#)
            try await post(gateway, "/v1/track", #"{"userId":"someone-else","event":"e","messageId":"other"}"#)
            let erase = try await gateway.admin("/api/people/frank", method: .DELETE)
            #expect(erase.json?["erased"] == true)
            #expect(erase.json?["events_deleted"] == 2)
            #expect(try await gateway.storedEvents().map(\.event.messageId) == ["other"])
            #expect(try await gateway.admin("/api/people/frank").status == 404)
            let erasure = try #require(try await activity(gateway).first { $0["kind"] == "erasure" })
            #expect(erasure["userId"] == "frank")

            // Suppressed: acknowledged, not stored, counted.
            try await post(gateway, "/v1/track", #"{"userId":"frank","event":"Back","messageId":"back"}"#)
            #expect(try await gateway.storedEvents().map(\.event.messageId) == ["other"])
            let metrics = try await gateway.admin("/metrics").text
            #expect(metrics.contains(#"switchyard_ingest_events_total{source="website",type="track",outcome="suppressed"} 1"#))

            #expect(try await gateway.admin("/api/people/frank/unsuppress", method: .POST, body: "{}").json == ["unsuppressed": true])
            try await post(gateway, "/v1/track", #"{"userId":"frank","event":"Back again","messageId":"again"}"#)
            #expect(try await gateway.storedEvents().map(\.event.messageId) == ["other", "again"])
        }
    }

    @Test func racingIdentifiesMergeExactlyOnce() async throws {
        try await TestGateway.with(yaml: { Self.yaml($0) }) { (gateway) async throws in
            try await post(gateway, "/v1/page", #"{"anonymousId":"contested"}"#)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<24 {
                    group.addTask {
                        _ = try await gateway.post("/v1/identify", #"{"anonymousId":"contested","userId":"racer-\#(index)"}"#)
                    }
                }
                try await group.waitForAll()
            }
            let entries = try await activity(gateway, "/api/anonymous/contested/activity?limit=200")
            let merges = entries.filter { $0["kind"] == "anonymous_merge" }
            let refusals = entries.filter { $0["kind"] == "merge_refused" }
            #expect(merges.count == 1)
            #expect(refusals.count == 23)
            #expect(refusals.allSatisfy { $0["reason"] == "anonymous_id_taken" })
            let winner = try #require(merges.first?["userId"]?.stringValue)
            #expect(merges.first?["eventsMerged"] == 1)
            #expect(try await gateway.admin("/api/people/\(winner)").json?["anonymousIds"] == ["contested"])
        }
    }

    @Test func activityPagesWithACursor() async throws {
        try await TestGateway.with(yaml: { Self.yaml($0) }) { (gateway) async throws in
            for index in 0..<7 {
                try await post(gateway, "/v1/track", #"{"userId":"g","event":"e","messageId":"m\#(index)"}"#)
            }
            var seen: [String] = []
            var cursor = ""
            for _ in 0..<10 {
                let page = try #require(try await gateway.admin("/api/activity?tab=identified&limit=3&cursor=\(cursor)").json)
                seen += page["entries"]?.arrayValue?.compactMap { $0["messageId"]?.stringValue } ?? []
                guard let next = page["next_cursor"]?.stringValue else { break }
                cursor = next
            }
            #expect(seen == (0..<7).reversed().map { "m\($0)" })
            #expect(try await gateway.admin("/api/activity?tab=nope").errorCode == "invalid_tab")
            #expect(try await gateway.admin("/api/activity?cursor=zz").errorCode == "invalid_cursor")
        }
    }
}
