import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardServer
import SwitchyardStore
import SwitchyardTesting
import Testing

@Suite("Warehouse through the gateway")
struct WarehouseGatewayTests {
    /// A gateway config with one warehouse destination `lake` under `<directory>/warehouse` that rotates
    /// files every 200 ms; `extra` adds lines to the destination (indented 4).
    static func yaml(_ directory: URL, extra: String = "") -> String {
        IdentityTests.yaml(
            directory,
            destinations: """
              - name: lake
                type: warehouse
                path: \(directory.path)/warehouse
                rotate: { max_bytes: 64MiB, max_age: 200ms }
                batch: { max_events: 1000, max_wait: 20ms }
            \(extra)
            """)
    }

    @Test func duckDBLoadsEveryTableWithMergesAndResolvedIds() async throws {
        try await TestGateway.with(yaml: { Self.yaml($0) }) { (gateway) async throws in
            let events = [
                #"{"type":"page","anonymousId":"a-1","name":"Home","messageId":"p1"}"#,
                #"{"type":"screen","anonymousId":"a-1","name":"Settings","messageId":"s1"}"#,
                #"{"type":"track","anonymousId":"a-1","event":"Clicked","messageId":"t1"}"#,
                #"{"type":"identify","anonymousId":"a-1","userId":"u-1","messageId":"i1","traits":{"plan":"pro"}}"#,
                #"{"type":"group","userId":"u-1","groupId":"g-1","messageId":"g1"}"#,
                #"{"type":"alias","userId":"u-1","previousId":"a-2","messageId":"al1"}"#,
                #"{"type":"track","userId":"u-1","event":"Paid","messageId":"t2"}"#,
            ]
            #expect(try await gateway.post("/v1/batch", "{\"batch\":[\(events.joined(separator: ","))]}").status == 200)
            let warehouse = gateway.directory.appendingPathComponent("warehouse").path
            try await waitUntil { try await gateway.status("lake")?["delivered"] == 7 }
            let duck = try DuckDB.query(
                "select count(*) from read_json_auto('\(warehouse)/website/*/dt=*/*.ndjson.gz', union_by_name=true)")
            #expect(duck == "9", "7 events and 2 identity_merges rows")
            for (table, count) in [("pages", 1), ("screens", 1), ("tracks", 2), ("identifies", 1), ("groups", 1), ("aliases", 1)] {
                let rows = try DuckDB.query("select count(*) from read_json_auto('\(warehouse)/website/\(table)/dt=*/*.ndjson.gz')")
                #expect(rows == String(count), "\(table)")
            }
            // The page was stored anonymously: its row keeps that identity (SPEC §4 "Stable wire identity"), and
            // the merge row stitches it to the person.
            let page = try DuckDB.query(
                "select coalesce(resolvedUserId, 'null') from read_json_auto('\(warehouse)/website/pages/dt=*/*.ndjson.gz')")
            #expect(page == "null")
            let stitched = try DuckDB.query(
                """
                select coalesce(p.resolvedUserId, m.userId) from read_json_auto('\(warehouse)/website/pages/dt=*/*.ndjson.gz') p
                left join read_json_auto('\(warehouse)/website/identity_merges/dt=*/*.ndjson.gz') m using (anonymousId)
                """)
            #expect(stitched == "u-1")
            let merges = try DuckDB.query(
                "select anonymousId || ' ' || userId || ' ' || messageId from read_json_auto('\(warehouse)/website/identity_merges/dt=*/*.ndjson.gz') order by messageId")
            #expect(merges == "a-2 u-1 al1\na-1 u-1 i1")
            #expect(FileManager.default.subpaths(atPath: warehouse)?.contains { $0.hasSuffix(".tmp") } == false)
            #expect(FileManager.default.subpaths(atPath: warehouse + "/_manifests")?.isEmpty == false)
        }
    }
}

@Suite("Retention and hold expiry")
struct RetentionTests {
    @Test func anonymousAndIdentifiedEventsAndHoldsExpire() async throws {
        let clock = ManualWallClock(Timestamp(iso8601: "2026-11-01T00:00:00Z")!)
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: { directory in
            TestGateway.config(
                directory, sections: "retention:\n  events: 10d\nidentity:\n  anonymous_ttl: 3d",
                destinations: """
                      - name: held
                        type: webhook
                        url: \(receiver.url)/hook
                        anonymous: hold
                        hold_ttl: 1d
                        # One event per batch: a partial batch waits max_wait on the test's frozen clock.
                        batch: { max_events: 1 }
                    """)
        }, clock: clock) { (gateway) async throws in
            try await #require(gateway.post("/v1/page", #"{"anonymousId":"a-old","messageId":"anon-old"}"#).status == 200)
            try await #require(gateway.post("/v1/track", #"{"userId":"u","event":"e","messageId":"ident-old"}"#).status == 200)
            try await waitUntil { try await gateway.status("held")?["held"] == 1 }

            clock.advance(by: .seconds(2 * 86_400))
            try await #require(gateway.post("/v1/page", #"{"anonymousId":"a-new","messageId":"anon-new"}"#).status == 200)
            try await waitUntil { try await gateway.status("held")?["held"] == 2 }
            let first = try await gateway.gateway.retention.runOnce()
            #expect(first.expiredHolds == ["held": 1], "the 2-day-old hold outlived hold_ttl: 1d")
            #expect(first.anonymousEvents == 0)
            let status = try #require(try await gateway.status("held"))
            #expect(status["held"] == 1)
            #expect(status["hold_expired"] == 1)

            clock.advance(by: .seconds(2 * 86_400))  // day 4: the first anonymous event is past anonymous_ttl
            let second = try await gateway.gateway.retention.runOnce()
            #expect(second.anonymousEvents == 1)
            #expect(second.identifiedEvents == 0)
            #expect(try await gateway.storedEvents().map(\.event.messageId) == ["ident-old", "anon-new"])

            clock.advance(by: .seconds(7 * 86_400))  // day 11: identified activity is past retention.events
            let third = try await gateway.gateway.retention.runOnce()
            #expect(third.identifiedEvents == 1)
            #expect(third.anonymousEvents == 1)
            #expect(try await gateway.storedEvents().isEmpty)
            let delivered = receiver.requests.compactMap { try? JSONValue.parse($0.body) }  // one event per request
            #expect(delivered.compactMap { $0["messageId"] } == ["ident-old"], "held events never went out")
        }
    }

    @Test func dropCountsAnonymousEventsAndForwardsIdentifiedOnes() async throws {
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: { directory in
            IdentityTests.yaml(
                directory,
                destinations: """
                  - name: only-people
                    type: webhook
                    url: \(receiver.url)/hook
                    anonymous: drop
                    batch: { max_events: 1 }
                """)
        }) { (gateway) async throws in
            try await #require(gateway.post("/v1/page", #"{"anonymousId":"a","messageId":"anon"}"#).status == 200)
            try await #require(gateway.post("/v1/track", #"{"userId":"u","event":"e","messageId":"known"}"#).status == 200)
            try await waitUntil { try await gateway.status("only-people")?["lag_events"] == 0 }
            #expect(receiver.requests.compactMap { try? JSONValue.parse($0.body)["messageId"] } == ["known"])
            #expect(try await gateway.status("only-people")?["dropped"] == 1)
        }
    }
}

/// DuckDB through its Python package, the way an analyst would load the warehouse.
enum DuckDB {
    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    static func query(_ sql: String) throws -> String {
        let result = try ProcessRun.run(
            "python3",
            ["-c", "import duckdb,sys; rows = duckdb.sql(sys.argv[1]).fetchall(); print('\\n'.join(str(r[0]) for r in rows))", sql])
        guard result.status == 0 else {
            throw Missing(description: "duckdb query failed (pip install duckdb; .ci/run does): \(result.errors)")
        }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
