import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A single SQLite node restarted after `kill -9` delivers every destination at once (issue #16). The
/// killed process's heartbeat row stays current for a lease ttl; counted as a live node it halved the new
/// process's fair share, which handed half the destinations over to nobody and left them paused until the
/// row ran out. The lease ttl here is 30 s, so such a pause cannot hide inside the deadlines.
@Suite("Restart after kill -9", .serialized)
struct RestartAfterKillTests {
    static let destinations = (0..<6).map { "hook\($0)" }

    func config(in directory: URL, receiver: String, storage: String? = nil) throws -> URL {
        let config = directory.appendingPathComponent("switchyard.yaml")
        let hooks = Self.destinations.map { name in
            """
              - name: \(name)
                type: webhook
                url: \(receiver)/\(name)
                batch: { max_events: 1, max_wait: 20ms }
            """
        }
        try """
        server:
          listen: 127.0.0.1:0
        storage:
          \(storage ?? "sqlite: \(directory.path)/data/switchyard.db")
          lease_ttl: 30s
        sources:
          - name: website
            write_key: restart-key
        destinations:
        \(hooks.joined(separator: "\n"))
        """.write(to: config, atomically: true, encoding: .utf8)
        return config
    }

    func track(_ child: ChildGateway, _ messageId: String) async throws {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(child.port)/v1/track")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Basic " + Data("restart-key:".utf8).base64EncodedString())
        request.body = .bytes(ByteBuffer(string: #"{"userId":"u1","event":"Paid","messageId":"\#(messageId)"}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1_000_000)
        #expect(response.status == .ok)
    }

    /// The destinations that received `messageId`.
    func reached(_ receiver: ScriptedHTTPServer, _ messageId: String) -> Set<String> {
        Set(receiver.requests.filter { messageIds($0) == [messageId] }.map { String($0.path.dropFirst()) })
    }

    /// Sends one event and waits for every destination to get it, well within the 30 s lease ttl.
    func expectEveryDestinationDelivers(_ child: ChildGateway, _ receiver: ScriptedHTTPServer, _ messageId: String)
        async throws
    {
        let started = ContinuousClock.now
        try await track(child, messageId)
        try await waitUntil(timeout: .seconds(15)) { reached(receiver, messageId) == Set(Self.destinations) }
        let missing = Set(Self.destinations).subtracting(reached(receiver, messageId))
        #expect(
            missing.isEmpty,
            "\(messageId) did not reach \(missing.sorted()) within \(ContinuousClock.now - started):\n\(child.log)")
    }

    @Test func aRestartedSingleNodeDeliversEveryDestinationWithoutAPause() async throws {
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "switchyard-restart-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try config(in: directory, receiver: receiver.url)

        let first = try await ChildGateway(config: config, workingDirectory: directory)
        try await expectEveryDestinationDelivers(first, receiver, "before-kill")
        first.kill(SIGKILL)
        #expect(await first.waitForExit() == SIGKILL)

        let restarted = try await ChildGateway(config: config, workingDirectory: directory)
        try await expectEveryDestinationDelivers(restarted, receiver, "after-restart")
        // The heartbeat runs every ttl / 3 (10 s) and hands over what exceeds the fair share; after the
        // second one, while the killed process's row would still be current, every destination still
        // delivers here.
        try await Task.sleep(for: .seconds(11))
        try await expectEveryDestinationDelivers(restarted, receiver, "after-heartbeats")
        restarted.kill(SIGTERM)
        #expect(await restarted.waitForExit() == 0, "graceful shutdown exits 0: \(restarted.log)")
    }

    /// Two nodes of one host on PostgreSQL: the killed one's row is removed by whichever node sees it gone
    /// first, so neither the survivor nor the restarted node shares the destinations with it — none is
    /// handed over to a dead node or left waiting for its heartbeat to run out.
    @Test(.enabled(if: PostgresTestCluster.available))
    func aNodeRestartedNextToAnotherOnPostgreSQLSharesWithTheLiveNodesOnly() async throws {
        let receiver = try await ScriptedHTTPServer.start()
        defer { Task { await receiver.stop() } }
        let url = try await PostgresTestCluster.shared().createDatabase()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "switchyard-restart-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try config(in: directory, receiver: receiver.url, storage: "postgres: \(url)?sslmode=disable")

        let doomed = try await ChildGateway(config: config, workingDirectory: directory)
        let survivor = try await ChildGateway(config: config, workingDirectory: directory)
        defer {
            for child in [doomed, survivor] where child.process.isRunning { child.kill(SIGKILL) }
        }
        try await expectEveryDestinationDelivers(doomed, receiver, "before-kill")
        doomed.kill(SIGKILL)
        #expect(await doomed.waitForExit() == SIGKILL)

        let restarted = try await ChildGateway(config: config, workingDirectory: directory)
        defer { if restarted.process.isRunning { restarted.kill(SIGKILL) } }
        try await expectEveryDestinationDelivers(restarted, receiver, "after-restart")
        try await expectEveryDestinationDelivers(survivor, receiver, "after-restart-via-survivor")
        // Past two heartbeats, while the killed node's row would still be current: still every destination.
        try await Task.sleep(for: .seconds(11))
        try await expectEveryDestinationDelivers(restarted, receiver, "after-heartbeats")
        for child in [restarted, survivor] { child.kill(SIGTERM) }
        #expect(await restarted.waitForExit() == 0, "graceful shutdown exits 0: \(restarted.log)")
        #expect(await survivor.waitForExit() == 0, "graceful shutdown exits 0: \(survivor.log)")
    }
}
