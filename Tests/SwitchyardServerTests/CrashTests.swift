import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardTesting
import SwitchyardStore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// SPEC §9: no acknowledged event is lost on `kill -9`.
@Suite("Crash safety with a real child process", .serialized)
struct CrashTests {
    func makeConfig(in directory: URL) throws -> URL {
        let config = directory.appendingPathComponent("switchyard.yaml")
        try """
        server:
          listen: 127.0.0.1:0
        storage:
          sqlite: \(directory.path)/data/switchyard.db
        sources:
          - name: website
            write_key: crash-key
        """.write(to: config, atomically: true, encoding: .utf8)
        return config
    }

    @Test func everyAcknowledgedEventSurvivesSIGKILL() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try makeConfig(in: directory)

        let child = try await ChildGateway(config: config, workingDirectory: directory)
        let acknowledged = Locked<Set<String>>([])
        let enoughBeforeKill = 3000
        let (killSignal, killNow) = AsyncStream.makeStream(of: Void.self)
        let credentials = "Basic " + Data("crash-key:".utf8).base64EncodedString()

        // 16 concurrent senders, single events and batches of 10, until the connection dies.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<16 {
                group.addTask {
                    var round = 0
                    while true {
                        round += 1
                        let ids = (0..<(sender % 2 == 0 ? 1 : 10)).map { "s\(sender)-r\(round)-\($0)" }
                        let batch = ids.map { #"{"type":"track","userId":"u\#(sender)","event":"Load","messageId":"\#($0)"}"# }
                        var request = HTTPClientRequest(url: "http://127.0.0.1:\(child.port)/v1/batch")
                        request.method = .POST
                        request.headers.add(name: "Authorization", value: credentials)
                        request.body = .bytes(ByteBuffer(string: #"{"batch":[\#(batch.joined(separator: ","))]}"#))
                        do {
                            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                            _ = try await response.body.collect(upTo: 1_000_000)
                            guard response.status == .ok else { continue }
                            let count = acknowledged.withLock { set in
                                set.formUnion(ids)
                                return set.count
                            }
                            if count >= enoughBeforeKill { killNow.yield() }
                        } catch {
                            return  // the gateway is gone
                        }
                    }
                }
            }
            group.addTask {
                var iterator = killSignal.makeAsyncIterator()
                _ = await iterator.next()
                child.kill(SIGKILL)
            }
            try await group.waitForAll()
        }
        let status = await child.waitForExit()
        #expect(status == SIGKILL, "the child was killed, not stopped: \(child.log)")
        let acked = acknowledged.withLock { $0 }
        #expect(acked.count >= enoughBeforeKill)

        // It restarts on the crashed data, then stops cleanly on SIGTERM.
        let restarted = try await ChildGateway(config: config, workingDirectory: directory)
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(restarted.port)/readyz")
        request.method = .GET
        #expect(try await HTTPClient.shared.execute(request, timeout: .seconds(10)).status == .ok)
        restarted.kill(SIGTERM)
        #expect(await restarted.waitForExit() == 0, "graceful shutdown exits 0: \(restarted.log)")

        let store = try SQLiteEventStore(path: directory.appendingPathComponent("data/switchyard.db").path)
        let stored = Set(try await store.events(after: 0, limit: 10_000_000).map(\.event.messageId))
        try await store.close()
        let lost = acked.subtracting(stored)
        #expect(lost.isEmpty, "acknowledged but lost: \(lost.count) of \(acked.count)")
    }
}

@Suite("Delivery survives SIGKILL", .serialized)
struct DeliveryCrashTests {
    @Test func everyAcknowledgedEventIsDeliveredAfterARestart() async throws {
        let receiver = try await ScriptedHTTPServer.start(then: .init(200, delay: .milliseconds(2)))
        defer { Task { await receiver.stop() } }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-dcrash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("switchyard.yaml")
        try """
        server:
          listen: 127.0.0.1:0
        storage:
          sqlite: \(directory.path)/data/switchyard.db
        sources:
          - name: website
            write_key: crash-key
        destinations:
          - name: hook
            type: webhook
            url: \(receiver.url)/hook
            batch: { max_events: 1 }
            concurrency: 4
        """.write(to: config, atomically: true, encoding: .utf8)

        let child = try await ChildGateway(config: config, workingDirectory: directory)
        let credentials = "Basic " + Data("crash-key:".utf8).base64EncodedString()
        var acknowledged: [String] = []
        for round in 0..<20 {
            let ids = (0..<50).map { "r\(round)-\($0)" }
            let batch = ids.map { #"{"type":"track","userId":"u","event":"Load","messageId":"\#($0)"}"# }
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(child.port)/v1/batch")
            request.method = .POST
            request.headers.add(name: "Authorization", value: credentials)
            request.body = .bytes(ByteBuffer(string: #"{"batch":[\#(batch.joined(separator: ","))]}"#))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1_000_000)
            if response.status == .ok { acknowledged += ids }
        }
        #expect(acknowledged.count == 1000)
        // Kill it while deliveries are in flight.
        await receiver.waitForRequests(100)
        child.kill(SIGKILL)
        _ = await child.waitForExit()
        let beforeRestart = receiver.requests.count
        #expect(beforeRestart < 1000, "the kill came mid-delivery")

        let restarted = try await ChildGateway(config: config, workingDirectory: directory)
        func delivered() -> [String: Set<String>] {
            var byMessage: [String: Set<String>] = [:]
            for request in receiver.requests {
                guard let id = (try? JSONValue.parse(request.body))?["messageId"]?.stringValue else { continue }  // every body is one event
                byMessage[id, default: []].insert(request.headers["webhook-id"] ?? "")
            }
            return byMessage
        }
        try await waitUntil(timeout: .seconds(60)) { Set(delivered().keys).isSuperset(of: acknowledged) }
        let byMessage = delivered()
        #expect(Set(byMessage.keys).isSuperset(of: acknowledged), "every acknowledged event reached the destination")
        #expect(byMessage.values.allSatisfy { $0.count == 1 }, "a re-sent event carries the same webhook-id")
        restarted.kill(SIGTERM)
        #expect(await restarted.waitForExit() == 0)
    }
}
