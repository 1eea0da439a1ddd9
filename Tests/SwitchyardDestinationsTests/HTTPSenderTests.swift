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
        OutgoingRequest(
            url: url + "/in", headers: [("Content-Type", "application/json")], body: Array("{}".utf8), eventIndexes: [0]
        )
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
        let server = try await ScriptedHTTPServer.start(
            then: .init(400, body: #"{"error":"big"}"#, extraBodyBytes: 50_000_000))
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

/// A refused connection is an immediate, retryable failure (issue #16): the pool used to keep reconnecting
/// until the connect timeout or the request's deadline, so every attempt cost up to the destination's
/// whole `timeout` and `retry` backoff and `max_age` meant nothing. Real client, real closed loopback port.
///
/// The connect timeout here is a minute, so waiting for it cannot pass for a slow machine: a refused
/// connection takes a millisecond, yet a full parallel run on two cores once stalled an attempt for 9 s.
@Suite("HTTP sender against a refused connection")
struct HTTPSenderRefusedTests {
    static let slowness: Duration = .seconds(30)

    @Test func aClosedPortFailsAtOnceAsRefused() async throws {
        let port = try PostgresTestCluster.freePort()
        let sender = HTTPSender(connectTimeout: .seconds(60))
        for host in ["127.0.0.1", "localhost"] {
            let started = ContinuousClock.now
            await #expect(throws: HTTPSenderError.connectionRefused) {
                _ = try await sender.send(
                    OutgoingRequest(url: "http://\(host):\(port)/in", headers: [], body: [], eventIndexes: [0]),
                    timeout: .seconds(120))
            }
            #expect(ContinuousClock.now - started < Self.slowness, "\(host)")
        }
        await sender.shutdown()
    }

    @Test func aWebhookOnAClosedPortIsRetriedWithAReasonNamingTheHostWithoutCredentials() async throws {
        let port = try PostgresTestCluster.freePort()
        let settings = WebhookSettings(url: "http://hook-user:hook-password@127.0.0.1:\(port)/hook?token=sekrit")
        let sender = HTTPSender(connectTimeout: .seconds(60))
        defer { Task { await sender.shutdown() } }
        var context = testContext(clock: ManualWallClock(warehouseStart))
        context.sender = sender
        context.timeout = .seconds(120)
        let webhook = try DestinationRegistry.makeDestination(settings: settings, context: context)
        let event = DeliveryEvent(
            sequence: 1, source: "website", messageId: "m-1", type: .track, receivedAt: warehouseStart,
            timestamp: warehouseStart, resolvedUserId: nil, body: Array(#"{"type":"track","messageId":"m-1"}"#.utf8))
        for attempt in 1...3 {
            let started = ContinuousClock.now
            let outcome = await webhook.deliver(DeliveryBatch(events: [event], attempt: attempt))
            #expect(ContinuousClock.now - started < Self.slowness, "attempt \(attempt) waited for the connect timeout")
            guard case .retry(nil, let reason, nil) = outcome else {
                Issue.record("a refused connection must be retried, got \(outcome)")
                return
            }
            #expect(
                reason == "no answer from http://127.0.0.1:\(port): connection refused (nothing listens on that port)")
            #expect(!reason.contains("hook-password") && !reason.contains("hook-user") && !reason.contains("sekrit"))
        }
    }

    @Test func anUnresolvableHostIsNamedAsSuch() async throws {
        let sender = HTTPSender()
        do {
            _ = try await sender.send(
                OutgoingRequest(url: "http://no-such-host.invalid/in", headers: [], body: [], eventIndexes: [0]),
                timeout: .seconds(30))
            Issue.record("a .invalid host must not answer")
        } catch {
            guard case .unresolvedHost = error as? HTTPSenderError else {
                Issue.record("got \(error)")
                return
            }
        }
        await sender.shutdown()
    }
}
