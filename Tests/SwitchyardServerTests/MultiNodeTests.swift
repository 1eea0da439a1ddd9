import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardTesting
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// SPEC §8: three `switchyard serve` processes on one PostgreSQL database (a throwaway cluster), each a real
/// child process on loopback, delivering to a loopback webhook sink and a shared warehouse folder.
@Suite("Three nodes on one PostgreSQL database", .serialized, .enabled(if: PostgresTestCluster.available))
struct MultiNodeTests {
    static let writeKey = "multi-key"
    /// Parsing every request the sink received is not free, and the nodes share the machine with the test.
    static let poll = Duration.milliseconds(500)

    struct Cluster: Sendable {
        let nodes: [ChildGateway]
        let directory: URL
        let sink: ScriptedHTTPServer

        func stop() async {
            for node in nodes where node.process.isRunning { node.kill(SIGTERM) }
            for node in nodes { _ = await node.waitForExit() }
            await sink.stop()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// Starts three nodes with one config: a per-event webhook, a warehouse, and a webhook that holds
    /// anonymous events until their visitor is identified.
    static func startCluster() async throws -> Cluster {
        let sink = try await ScriptedHTTPServer.start(then: .init(200))
        let url = try await PostgresTestCluster.shared().createDatabase()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-multi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("switchyard.yaml")
        try """
        server:
          listen: 127.0.0.1:0
          admin_token: \(TestGateway.adminToken)
        storage:
          postgres: \(url)?sslmode=disable
          lease_ttl: 2s
        sources:
          - name: website
            write_key: \(writeKey)
        destinations:
          - name: hook
            type: webhook
            url: \(sink.url)/hook
            batch: { max_events: 1 }
            concurrency: 4
          - name: lake
            type: warehouse
            path: \(directory.path)/warehouse
            rotate: { max_bytes: 64MiB, max_age: 200ms }
            batch: { max_events: 500, max_wait: 20ms }
          - name: people
            type: webhook
            url: \(sink.url)/people
            anonymous: hold
            batch: { max_events: 1 }
        """.write(to: config, atomically: true, encoding: .utf8)
        var nodes: [ChildGateway] = []
        for _ in 0..<3 { nodes.append(try await ChildGateway(config: config, workingDirectory: directory)) }
        return Cluster(nodes: nodes, directory: directory, sink: sink)
    }

    static func post(_ port: Int, _ path: String, _ body: String) async throws -> HTTPResponseStatus {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Basic " + Data("\(writeKey):".utf8).base64EncodedString())
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1_000_000)
        return response.status
    }

    static func get(_ port: Int, _ path: String) async throws -> JSONValue {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.headers.add(name: "Authorization", value: "Bearer \(TestGateway.adminToken)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 10_000_000)
        return try JSONValue.parse(Array(body.readableBytesView))
    }

    /// Which node delivers each destination, as a node reports it.
    static func holders(_ port: Int) async throws -> [String: String] {
        var result: [String: String] = [:]
        for destination in try await get(port, "/api/destinations")["destinations"]?.arrayValue ?? [] {
            if let name = destination["name"]?.stringValue, let node = destination["delivered_by"]?.stringValue { result[name] = node }
        }
        return result
    }

    /// messageId → the `webhook-id`s it arrived with, for one path of the sink.
    static func delivered(_ sink: ScriptedHTTPServer, path: String) -> [String: Set<String>] {
        var byMessage: [String: Set<String>] = [:]
        for request in sink.requests where request.path == path {
            guard let id = (try? JSONValue.parse(request.body))?["messageId"]?.stringValue else { continue }  // every body is one event
            byMessage[id, default: []].insert(request.headers["webhook-id"] ?? "")
        }
        return byMessage
    }

    @Test func loadThroughThreeNodesSurvivesOneBeingKilled() async throws {
        let cluster = try await Self.startCluster()
        // The three destinations spread over the three nodes (fair shares, hand-over of the surplus).
        try await waitUntil(timeout: .seconds(30), every: Self.poll) {
            let holders = try await Self.holders(cluster.nodes[0].port)
            return holders.count == 3 && Set(holders.values).count == 3
        }
        let holders = try await Self.holders(cluster.nodes[0].port)
        let victimId = try #require(
            Set(holders.values).first { $0.hasSuffix("-\(cluster.nodes[1].process.processIdentifier)") },
            "node 1 delivers one destination: \(holders)")

        let acknowledged = Locked<Set<String>>([])
        let killed = Locked(false)
        let victim = 1
        let target = 1500
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<6 {
                group.addTask {
                    var round = 0
                    while acknowledged.withLock({ $0.count }) < target {
                        round += 1
                        // A load balancer: the sender's own node, or the next one when it is gone.
                        var node = sender % 3
                        if node == victim, killed.withLock({ $0 }) { node = (node + 1) % 3 }
                        let ids = (0..<10).map { "s\(sender)-r\(round)-\($0)" }
                        let batch = ids.map { #"{"type":"track","userId":"u\#(sender)","event":"Load","messageId":"\#($0)"}"# }
                        do {
                            let status = try await Self.post(cluster.nodes[node].port, "/v1/batch", #"{"batch":[\#(batch.joined(separator: ","))]}"#)
                            if status == .ok {
                                let count = acknowledged.withLock { set in
                                    set.formUnion(ids)
                                    return set.count
                                }
                                let killNow = count >= target / 3 && killed.withLock { killed in
                                    defer { killed = true }
                                    return !killed
                                }
                                if killNow {
                                    cluster.nodes[victim].kill(SIGKILL)
                                }
                            }
                        } catch {
                            continue  // the killed node: not acknowledged, so it may or may not be stored
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(await cluster.nodes[victim].waitForExit() == SIGKILL)
        let acked = acknowledged.withLock { $0 }

        // Every acknowledged event reaches the webhook (the killed node's destination was taken over) ...
        try await waitUntil(timeout: .seconds(90), every: Self.poll) { Set(Self.delivered(cluster.sink, path: "/hook").keys).isSuperset(of: acked) }
        let hook = Self.delivered(cluster.sink, path: "/hook")
        #expect(Set(hook.keys).isSuperset(of: acked), "lost on the webhook: \(acked.subtracting(hook.keys).count) of \(acked.count)")
        #expect(hook.values.allSatisfy { $0.count == 1 }, "a re-sent event carries the same webhook-id")
        try await waitUntil(timeout: .seconds(60), every: Self.poll) { Set(Self.delivered(cluster.sink, path: "/people").keys).isSuperset(of: acked) }
        let missing = acked.subtracting(Self.delivered(cluster.sink, path: "/people").keys)
        if !missing.isEmpty {
            let status = try await Self.get(cluster.nodes[0].port, "/api/destinations")
            Issue.record("""
                lost on the people webhook: \(missing.count) of \(acked.count); \(status)
                \(cluster.nodes.map { $0.log.split(separator: "\n").filter { $0.contains("people") }.suffix(60).joined(separator: "\n") }.joined(separator: "\n---\n"))
                """)
        }

        // ... and the warehouse, in files named after the nodes that wrote them.
        let warehouse = cluster.directory.appendingPathComponent("warehouse").path
        var inWarehouse = Set<String>()
        try await waitUntil(timeout: .seconds(60), every: Self.poll) {
            let rows = try DuckDB.query(
                "select distinct messageId from read_json_auto('\(warehouse)/website/tracks/dt=*/*.ndjson.gz', union_by_name=true)")
            inWarehouse = Set(rows.split(separator: "\n").map(String.init))
            return inWarehouse.isSuperset(of: acked)
        }
        #expect(inWarehouse.isSuperset(of: acked), "lost in the warehouse: \(acked.subtracting(inWarehouse).count)")
        let files = (FileManager.default.subpaths(atPath: warehouse) ?? []).filter { $0.hasSuffix(".ndjson.gz") }
        let nodeIds = Set(holders.values)
        #expect(!files.isEmpty && files.allSatisfy { file in nodeIds.contains { file.contains($0) } }, "\(files)")

        // The survivors took over what the killed node delivered, and the work is still spread over them.
        let after = try await Self.holders(cluster.nodes[0].port)
        #expect(after.count == 3 && !after.values.contains(victimId), "\(after)")
        #expect(Set(after.values).count == 2, "\(after)")
        await cluster.stop()
    }

    /// An anonymous visitor's events arrive through node B; node A receives the identify. The destination
    /// that holds anonymous events gets them — with the user id — before the identify, whichever node sends.
    @Test func heldEventsParkedThroughOneNodeAreReleasedByAnIdentifyOnAnother() async throws {
        let cluster = try await Self.startCluster()
        let (a, b) = (cluster.nodes[0].port, cluster.nodes[1].port)
        for index in 0..<3 {
            #expect(try await Self.post(b, "/v1/track", #"{"anonymousId":"visitor","event":"Step \#(index)","messageId":"anon-\#(index)"}"#) == .ok)
        }
        // Parked, not sent: wait until the holding destination has seen them.
        try await waitUntil(timeout: .seconds(30)) {
            try await Self.get(a, "/api/destinations")["destinations"]?.arrayValue?.first { $0["name"]?.stringValue == "people" }?["held"] == 3
        }
        #expect(cluster.sink.requests.filter { $0.path == "/people" }.isEmpty)
        #expect(try await Self.post(a, "/v1/identify", #"{"userId":"ada","anonymousId":"visitor","messageId":"who"}"#) == .ok)
        let received = await cluster.sink.waitForRequests(4 + 3 + 1, timeout: .seconds(30)).filter { $0.path == "/people" }
        let messages = received.compactMap { try? JSONValue.parse($0.body) }
        #expect(messages.map { $0["messageId"]?.stringValue ?? "" } == ["anon-0", "anon-1", "anon-2", "who"])
        #expect(messages.allSatisfy { $0["userId"]?.stringValue == "ada" }, "released under the person's id")
        #expect(messages.prefix(3).allSatisfy { $0["anonymousId"]?.stringValue == "visitor" })
        await cluster.stop()
    }

    /// The same anonymous id identified as two different users on two nodes at the same moment: one merge,
    /// one refusal, whichever node is asked.
    @Test func racingIdentifiesOnTwoNodesMergeOnce() async throws {
        let cluster = try await Self.startCluster()
        let (a, b) = (cluster.nodes[0].port, cluster.nodes[2].port)
        for round in 0..<5 {
            async let first = Self.post(a, "/v1/identify", #"{"userId":"left-\#(round)","anonymousId":"shared-\#(round)","messageId":"l\#(round)"}"#)
            async let second = Self.post(b, "/v1/identify", #"{"userId":"right-\#(round)","anonymousId":"shared-\#(round)","messageId":"r\#(round)"}"#)
            #expect(try await [first, second] == [.ok, .ok])
            for node in [a, b] {
                let entries = try await Self.get(node, "/api/anonymous/shared-\(round)/activity")["entries"]?.arrayValue ?? []
                #expect(entries.filter { $0["kind"]?.stringValue == "anonymous_merge" }.count == 1, "round \(round): \(entries)")
                #expect(
                    entries.filter { $0["kind"]?.stringValue == "merge_refused" }.map { $0["reason"]?.stringValue } == ["anonymous_id_taken"],
                    "round \(round): \(entries)")
            }
        }
        await cluster.stop()
    }
}
