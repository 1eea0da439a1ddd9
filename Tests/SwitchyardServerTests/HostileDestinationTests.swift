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

/// Everything a destination sends back is hostile (SPEC §2), and the outbound exchange is bounded: real
/// webhook receivers on loopback answering what broke the gateway before, against the real executable
/// where a crash or a restart is part of the story.
@Suite("Hostile destinations", .serialized)
struct HostileDestinationTests {
    static let writeKey = "hostile-key"

    /// A child gateway's config: one source, the given destinations.
    static func writeConfig(in directory: URL, server: String = "", destinations: String) throws -> URL {
        let config = directory.appendingPathComponent("switchyard.yaml")
        try """
        server:
          listen: 127.0.0.1:0
        \(server)
        storage:
          sqlite: \(directory.path)/data/switchyard.db
        sources:
          - name: website
            write_key: \(writeKey)
        destinations:
        \(destinations)
        """.write(to: config, atomically: true, encoding: .utf8)
        return config
    }

    static func webhook(_ name: String, _ url: String, timeout: String = "2s") -> String {
        """
          - name: \(name)
            type: webhook
            url: \(url)/hooks/in
            batch: { max_events: 1, max_wait: 50ms }
            retry: { initial_backoff: 50ms, max_backoff: 200ms, max_age: 1h }
            timeout: \(timeout)
        """
    }

    static func makeDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    static func track(port: Int, _ messageId: String) async throws -> Int {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/track")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Basic " + Data("\(writeKey):".utf8).base64EncodedString())
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"userId":"u1","event":"Paid","messageId":"\#(messageId)"}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1_000_000)
        return Int(response.status.code)
    }

    static func health(port: Int) async throws -> Int {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz")
        request.method = .GET
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1_000_000)
        return Int(response.status.code)
    }

    static func messageIds(_ request: ScriptedHTTPServer.Recorded) -> [String] {
        let json = try? JSONValue.parse(request.body)  // a receiver gets our own JSON; nil fails the caller's expectation
        if let array = json?.arrayValue { return array.compactMap { $0["messageId"]?.stringValue } }
        return json?["messageId"]?.stringValue.map { [$0] } ?? []
    }

    /// It used to trap on `Int64(1e300 * 1000)`, and again after every restart as the event was retried.
    @Test func retryAfter1e300KeepsTheGatewayRunningAndARestartDoesNotCrash() async throws {
        let hostile: [ScriptedHTTPServer.Reply] = [
            .init(429, headers: [("Retry-After", "1e300")]), .init(503, headers: [("Retry-After", "inf")]),
            .init(429, headers: [("Retry-After", "-1")]), .init(503, headers: [("Retry-After", "nan")]),
            .init(429, headers: [("Retry-After", "1e-300")]),
        ]
        let receiver = try await ScriptedHTTPServer.start(script: hostile, then: .init(429, headers: [("Retry-After", "1e300")]))
        defer { Task { await receiver.stop() } }
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.writeConfig(in: directory, destinations: Self.webhook("hook", receiver.url))

        let child = try await ChildGateway(config: config, workingDirectory: directory)
        #expect(try await Self.track(port: child.port, "m-1") == 200)
        // Garbage is ignored and the event retried on the backoff (at most 200 ms here), not in 10^300 s.
        let requests = await receiver.waitForRequests(6, timeout: .seconds(60))
        #expect(requests.count >= 6, "retried after the hostile answers: \(child.log)")
        #expect(requests.allSatisfy { Self.messageIds($0) == ["m-1"] })
        #expect(try await Self.health(port: child.port) == 200)
        child.kill(SIGTERM)
        #expect(await child.waitForExit() == 0, "graceful shutdown exits 0: \(child.log)")

        // The event is still queued; the restarted gateway meets the same answer and keeps running.
        let before = receiver.requests.count
        let restarted = try await ChildGateway(config: config, workingDirectory: directory)
        await receiver.waitForRequests(before + 2, timeout: .seconds(60))
        #expect(receiver.requests.count >= before + 2, "retried after the restart: \(restarted.log)")
        #expect(try await Self.health(port: restarted.port) == 200)
        #expect(try await Self.track(port: restarted.port, "m-2") == 200, "a valid event is still accepted")
        receiver.program([], then: .ok)
        try await waitUntil(timeout: .seconds(60)) {
            Set(receiver.requests.suffix(from: before).flatMap(Self.messageIds)).isSuperset(of: ["m-1", "m-2"])
        }
        restarted.kill(SIGTERM)
        #expect(await restarted.waitForExit() == 0, "graceful shutdown exits 0: \(restarted.log)")
    }

    /// A receiver that sends its headers and then stalls the body used to wedge its queue forever.
    @Test func aDestinationStallingMidBodyTimesOutIsRetriedAndTheOthersKeepDelivering() async throws {
        let stalling = try await ScriptedHTTPServer.start(script: [.stallsMidBody, .stallsMidBody], then: .ok)
        let healthy = try await ScriptedHTTPServer.start()
        defer { Task { await stalling.stop(); await healthy.stop() } }
        let destinations = Self.webhook("stalls", stalling.url, timeout: "1s") + "\n" + Self.webhook("fine", healthy.url)
        try await TestGateway.with(yaml: { TestGateway.config($0, destinations: destinations) }) { (gateway) async throws in
            try await gateway.post("/v1/track", #"{"userId":"u1","event":"Paid","messageId":"m-1"}"#).expectStatus(200)
            // The healthy destination does not wait for the stalled one.
            let fine = await healthy.waitForRequests(1, timeout: .seconds(30))
            #expect(fine.flatMap(Self.messageIds) == ["m-1"])
            // Two attempts stall mid-body and time out after 1 s each; the third is answered.
            let attempts = await stalling.waitForRequests(3, timeout: .seconds(60))
            #expect(attempts.count == 3, "each stalled attempt ended at the timeout and was retried")
            #expect(attempts.allSatisfy { Self.messageIds($0) == ["m-1"] })
            if attempts.count == 3 {
                #expect(attempts[1].at - attempts[0].at >= .seconds(1), "the attempt lasted its timeout")
            }
            // Delivered: the stalled destination moves on to the next event.
            try await gateway.post("/v1/track", #"{"userId":"u1","event":"Paid","messageId":"m-2"}"#).expectStatus(200)
            let later = await stalling.waitForRequests(4, timeout: .seconds(30))
            #expect(later.last.map(Self.messageIds) == ["m-2"])
            #expect(try await gateway.send("/healthz", method: .GET, auth: nil).status == 200)
        }
    }

    /// SIGTERM used to wait for a stalled destination (it had not exited after 15 s).
    @Test func sigtermWhileADestinationStallsEndsWithinTheGraceAndNothingIsLost() async throws {
        let receiver = try await ScriptedHTTPServer.start(then: .stallsMidBody)
        defer { Task { await receiver.stop() } }
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // The timeout is far longer than the grace: only the grace can end the send.
        let config = try Self.writeConfig(
            in: directory, server: "  shutdown_grace: 2s", destinations: Self.webhook("hook", receiver.url, timeout: "5m"))

        let child = try await ChildGateway(config: config, workingDirectory: directory)
        #expect(try await Self.track(port: child.port, "m-1") == 200)
        let first = await receiver.waitForRequests(1, timeout: .seconds(30))
        #expect(first.flatMap(Self.messageIds) == ["m-1"])
        let stopped = ContinuousClock.now
        child.kill(SIGTERM)
        let status = await child.waitForExit()
        let took = ContinuousClock.now - stopped
        #expect(status == 0, "graceful shutdown exits 0: \(child.log)")
        // 2 s of grace plus a margin for a loaded machine; the send alone would have lasted 5 minutes.
        #expect(took < .seconds(15), "stopped after \(took)")

        // Nothing lost: the restarted gateway sends the event again and the receiver now answers.
        receiver.program([], then: .ok)
        let restarted = try await ChildGateway(config: config, workingDirectory: directory)
        try await waitUntil(timeout: .seconds(60)) {
            receiver.requests.dropFirst().contains { Self.messageIds($0) == ["m-1"] }
        }
        restarted.kill(SIGTERM)
        #expect(await restarted.waitForExit() == 0, "graceful shutdown exits 0: \(restarted.log)")
    }
}

extension TestResponse {
    func expectStatus(_ status: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(self.status == status, "\(text)", sourceLocation: sourceLocation)
    }
}
