import Foundation
import NIOHTTP1
import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Testing

/// PostgreSQL going away under a running gateway: ingest fails fast with a clear `503`, nothing acknowledged
/// is lost, and the gateway recovers by itself when the database is back.
@Suite("PostgreSQL outage", .enabled(if: PostgresTestCluster.available), .timeLimit(.minutes(3)))
struct DatabaseOutageTests {
    static let adminToken = "outage-admin-token-4711"

    @Test func ingestAnswers503WhileTheDatabaseIsDownAndRecoversAfter() async throws {
        let cluster = try PostgresTestCluster.dedicated()  // of its own: this test stops the server
        defer { cluster.destroy() }
        let url = try cluster.createDatabase()
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        let yaml = { (_: URL) in
            """
            server:
              listen: 127.0.0.1:0
              admin_token: \(Self.adminToken)
            storage:
              postgres: \(url)
              connection_wait: 1s
              lease_ttl: 2s
            sources:
              - name: website
                write_key: \(TestGateway.writeKey)
            destinations:
            \(DeliveryTests.webhook("hook", receiver.url))
            """
        }
        try await TestGateway.with(yaml: yaml) { (gateway) async throws in
            func track(_ id: String) async throws -> TestResponse {
                try await gateway.post("/v1/track", #"{"userId":"u1","event":"Paid","messageId":"\#(id)"}"#)
            }
            func delivered() -> Set<String> { Set(receiver.requests.flatMap(messageIds)) }
            var acknowledged: [String] = []
            for index in 0..<5 {
                #expect(try await track("before-\(index)").status == 200)
                acknowledged.append("before-\(index)")
            }
            try await waitUntil { delivered() == Set(acknowledged) }

            try cluster.stop()
            let started = ContinuousClock.now
            let refused = try await track("during-0")
            // Bounded by connection_wait (1 s here), not by the driver's minute of reconnecting.
            #expect(ContinuousClock.now - started < .seconds(20))
            #expect(refused.status == 503)
            #expect(refused.errorCode == "storage_unavailable")
            #expect(refused.headers.first(name: "Retry-After") == "5")
            // Clients learn nothing of the database (the log has the details); operators see it on /readyz.
            #expect(refused.json?["message"] == "the events could not be stored; nothing was kept, retry later")
            // The reason names the database: only admin callers read it.
            let probe = try await gateway.send("/readyz", method: .GET, auth: nil)
            #expect(probe.status == 503)
            #expect(probe.errorCode == "storage_unavailable")
            #expect(probe.json?["message"] == "the store is not reachable; the reason is in the log, and on /readyz for admin callers")
            let readiness = try await gateway.send(
                "/readyz", method: .GET, headers: [("Authorization", "Bearer \(Self.adminToken)")], auth: nil)
            #expect(readiness.status == 503)
            let reason = readiness.json?["message"]?.stringValue ?? ""
            #expect(
                reason.hasPrefix("checking the database in PostgreSQL at 127.0.0.1:\(cluster.port)/")
                    && reason.hasSuffix("failed: no connection within 2s: Connection refused"),
                "\(readiness.text)")

            try cluster.restart()
            var attempt = 0
            try await waitUntil(timeout: .seconds(90), every: .milliseconds(500)) {
                attempt += 1
                let id = "after-\(attempt)"
                let response = try await track(id)
                if response.status == 200 { acknowledged.append(id) }
                #expect([200, 503].contains(response.status), "\(response.text)")
                return response.status == 200
            }
            #expect(try await track("after-last").status == 200)
            acknowledged.append("after-last")

            // Exactly what was acknowledged is stored, and all of it reaches the destination.
            #expect(try await gateway.storedEvents().map(\.event.messageId) == acknowledged)
            try await waitUntil(timeout: .seconds(60)) { delivered() == Set(acknowledged) }
            #expect(try await gateway.send("/readyz", method: .GET).status == 200)
        }
    }
}
