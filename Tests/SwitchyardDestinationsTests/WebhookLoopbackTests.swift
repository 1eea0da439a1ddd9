import Crypto
import Foundation
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardTesting
import Testing

/// The webhook destination over real HTTP on loopback, as the pipeline drives it.
@Suite struct WebhookLoopbackTests {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    func event(_ messageId: String) -> DeliveryEvent {
        DeliveryEvent(
            sequence: 1, source: "website", messageId: messageId, type: .track, receivedAt: warehouseStart,
            timestamp: warehouseStart, resolvedUserId: nil,
            body: Array(#"{"type":"track","messageId":"\#(messageId)","event":"Signed Up"}"#.utf8))
    }

    func destination(_ server: ScriptedHTTPServer, clock: ManualWallClock, maxBatchEvents: Int = 1) throws
        -> any Destination
    {
        let settings = WebhookSettings(
            url: server.url + "/hook", secrets: [try #require(WebhookSettings.Secret(secret))])
        return try DestinationRegistry.makeDestination(
            settings: settings, context: testContext(clock: clock, maxBatchEvents: maxBatchEvents))
    }

    /// What a Standard Webhooks receiver checks, computed independently of `WebhookSigner`.
    func verify(_ request: ScriptedHTTPServer.Recorded) throws -> Bool {
        let id = try #require(request.headers["webhook-id"])
        let timestamp = try #require(request.headers["webhook-timestamp"])
        let key = try #require(Data(base64Encoded: String(secret.dropFirst("whsec_".count))))
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array("\(id).\(timestamp).".utf8) + request.body, using: SymmetricKey(data: key))
        return request.headers["webhook-signature"] == "v1," + Data(mac).base64EncodedString()
    }

    @Test func aRetriedRequestKeepsItsIdAndIsSignedEachTime() async throws {
        let server = try await ScriptedHTTPServer.start(script: [.init(503)])
        let clock = ManualWallClock(warehouseStart)
        let webhook = try destination(server, clock: clock)
        let batch = DeliveryBatch(events: [event("m-1")])
        guard case .retry(_, _, 503) = await webhook.deliver(batch) else {
            Issue.record("503 must be retried")
            await server.stop()
            return
        }
        clock.advance(by: .seconds(5))
        #expect(await webhook.deliver(DeliveryBatch(events: batch.events, attempt: 2)) == .delivered)
        let requests = server.requests
        await server.stop()
        #expect(requests.count == 2)
        #expect(requests.map(\.path) == ["/hook", "/hook"])
        #expect(requests.map { $0.headers["webhook-id"] } == ["msg_m-1", "msg_m-1"])
        #expect(requests.map { $0.headers["webhook-timestamp"] } == ["1795929925", "1795929930"])
        #expect(requests.map { $0.headers["content-type"] } == ["application/json", "application/json"])
        #expect(requests.allSatisfy { $0.body == batch.events[0].body })
        #expect(try requests.allSatisfy(verify))
    }

    @Test func redirectsAreNotFollowedAndGoneDisables() async throws {
        let server = try await ScriptedHTTPServer.start(script: [
            .init(301, headers: [("Location", "/elsewhere")]), .init(410),
        ])
        let webhook = try destination(server, clock: ManualWallClock(warehouseStart), maxBatchEvents: 10)
        let redirected = await webhook.deliver(DeliveryBatch(events: [event("a"), event("b")]))
        guard case .deadLetterAll(_, 301) = redirected else {
            Issue.record("a redirect is a dead letter, got \(redirected)")
            await server.stop()
            return
        }
        guard case .disable(_, 410) = await webhook.deliver(DeliveryBatch(events: [event("c")])) else {
            Issue.record("410 disables the destination")
            await server.stop()
            return
        }
        let requests = server.requests
        await server.stop()
        #expect(requests.map(\.path) == ["/hook", "/hook"], "the redirect target is never requested")
        #expect(requests.first.map { String(decoding: $0.body, as: UTF8.self).hasPrefix("[{") } == true)
    }
}
