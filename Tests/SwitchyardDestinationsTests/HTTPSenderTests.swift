import Foundation
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardTesting
import Testing

/// The outbound exchange is bounded (SPEC §2): the timeout covers the answer's body, and only a prefix of
/// the body is read. Real loopback servers, real sender.
@Suite("HTTP sender bounds")
struct HTTPSenderTests {
    func request(_ url: String) -> OutgoingRequest {
        OutgoingRequest(url: url + "/in", headers: [("Content-Type", "application/json")], body: Array("{}".utf8), eventIndexes: [0])
    }

    @Test func aBodyThatStallsAfterTheHeadersEndsAtTheTimeout() async throws {
        let server = try await ScriptedHTTPServer.start(then: .stallsMidBody)
        defer { Task { await server.stop() } }
        let sender = HTTPSender()
        let started = ContinuousClock.now
        await #expect(throws: HTTPSenderError.timedOut(.milliseconds(500))) {
            _ = try await sender.send(request(server.url), timeout: .milliseconds(500))
        }
        // Without the bound the read waits until the server stops; 20 s is room for a loaded machine.
        #expect(ContinuousClock.now - started < .seconds(20))
        await sender.shutdown()
    }

    @Test func onlyThePrefixOfAHugeAnswerIsRead() async throws {
        let server = try await ScriptedHTTPServer.start(then: .init(400, body: #"{"error":"big"}"#, extraBodyBytes: 50_000_000))
        defer { Task { await server.stop() } }
        let sender = HTTPSender()
        let result = try await sender.send(request(server.url), timeout: .seconds(30))
        #expect(result.status == 400)
        #expect(result.body.count == HTTPSender.maximumBodyBytes)
        #expect(result.bodyText.hasPrefix(#"{"error":"big"}"#))
        // The sender still works after cutting an answer short.
        server.program([], then: .ok)
        let next = try await sender.send(request(server.url), timeout: .seconds(30))
        #expect(next.status == 200 && next.bodyText == "{}")
        await sender.shutdown()
    }

    @Test func anAbsurdTimeoutIsCutNotTrapped() async throws {
        let server = try await ScriptedHTTPServer.start()
        defer { Task { await server.stop() } }
        let sender = HTTPSender()
        let result = try await sender.send(request(server.url), timeout: .seconds(Int64.max))
        #expect(result.status == 200)
        await sender.shutdown()
    }
}
