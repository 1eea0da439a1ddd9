import Foundation
import SwitchyardCore
import SwitchyardTesting
import Testing

/// A webhook whose host refuses connections (issue #16): each attempt fails at once, so `retry`'s backoff
/// and `max_age` decide — several attempts within `max_age`, then a dead letter — instead of every attempt
/// waiting out the 10 s connect timeout (or the destination's `timeout`).
///
/// `max_age` is 10 s, not 3 s: a full parallel run on two cores stalled single attempts for over 3 s and
/// so got only 2 of them into 3 s. Waiting for the connect timeout, no `max_age` under 10 s fits a second
/// attempt and none under 20 s a third, so 3 attempts still tells the fix from the old wait.
@Suite("Delivery to a host that refuses connections")
struct RefusedConnectionTests {
    @Test func aClosedPortIsRetriedWithBackoffUntilMaxAgeThenDeadLettered() async throws {
        let port = try PostgresTestCluster.freePort()
        let destinations = """
              - name: closed
                type: webhook
                url: http://127.0.0.1:\(port)/hooks/in
                batch: { max_events: 1, max_wait: 50ms }
                retry: { initial_backoff: 200ms, max_backoff: 1s, max_age: 10s }
                timeout: 30s
            """
        try await TestGateway.with(yaml: { TestGateway.config($0, destinations: destinations) }) {
            (gateway) async throws in
            let started = ContinuousClock.now
            let response = try await gateway.post(
                "/v1/track", #"{"userId":"u1","event":"Paid","messageId":"m-refused"}"#)
            #expect(response.status == 200)
            // Given up around max_age; the rest of 40 s is room for a loaded machine.
            try await waitUntil(timeout: .seconds(40)) { try await gateway.status("closed")?["dead_lettered"] == 1 }
            let elapsed = ContinuousClock.now - started
            #expect(elapsed < .seconds(40), "max_age is 10 s; took \(elapsed)")

            let list = try await gateway.admin("/api/destinations/closed/dead-letters")
            let letter = try #require(list.json?["dead_letters"]?.arrayValue?.first)
            #expect(letter["messageId"] == "m-refused")
            let attempts = try #require(letter["attempts"].flatMap { Int($0.text) })
            #expect(attempts >= 3, "a 200 ms to 1 s backoff within a 10 s max_age leaves room for many attempts")
            let error = try #require(letter["last_error"]?.stringValue)
            #expect(error.hasPrefix("gave up after \(attempts) attempts: "), "\(error)")
            #expect(error.contains("no answer from http://127.0.0.1:\(port): connection refused"), "\(error)")
        }
    }
}
