import Foundation
import SwitchyardCore
import SwitchyardTesting
import Testing

/// A webhook whose host refuses connections (issue #16): each attempt fails at once, so `retry`'s backoff
/// and `max_age` decide — several attempts within `max_age`, then a dead letter — instead of every attempt
/// waiting out the 10 s connect timeout (or the destination's `timeout`).
///
/// `max_age` is 30 s: full parallel runs on two cores stalled the gateway for seconds at a time (one got
/// only 2 attempts into 10 s). Waiting out the 10 s connect timeout, 30 s fits at most 4 attempts (the last
/// at the deadline), so 5 still tells the fix from the old wait, with room for a loaded machine.
@Suite("Delivery to a host that refuses connections")
struct RefusedConnectionTests {
    @Test func aClosedPortIsRetriedWithBackoffUntilMaxAgeThenDeadLettered() async throws {
        let port = try PostgresTestCluster.freePort()
        let destinations = """
              - name: closed
                type: webhook
                url: http://127.0.0.1:\(port)/hooks/in
                batch: { max_events: 1, max_wait: 50ms }
                retry: { initial_backoff: 200ms, max_backoff: 1s, max_age: 30s }
                timeout: 60s
            """
        try await TestGateway.with(yaml: { TestGateway.config($0, destinations: destinations) }) {
            (gateway) async throws in
            let started = ContinuousClock.now
            let response = try await gateway.post(
                "/v1/track", #"{"userId":"u1","event":"Paid","messageId":"m-refused"}"#)
            #expect(response.status == 200)
            // Given up around max_age; the rest of 70 s is room for a loaded machine.
            try await waitUntil(timeout: .seconds(70)) { try await gateway.status("closed")?["dead_lettered"] == 1 }
            let elapsed = ContinuousClock.now - started
            #expect(elapsed < .seconds(70), "max_age is 30 s; took \(elapsed)")

            let list = try await gateway.admin("/api/destinations/closed/dead-letters")
            let letter = try #require(list.json?["dead_letters"]?.arrayValue?.first)
            #expect(letter["messageId"] == "m-refused")
            let attempts = try #require(letter["attempts"].flatMap { Int($0.text) })
            #expect(attempts >= 5, "a 200 ms to 1 s backoff within a 30 s max_age leaves room for many attempts")
            let error = try #require(letter["last_error"]?.stringValue)
            #expect(error.hasPrefix("gave up after \(attempts) attempts: "), "\(error)")
            #expect(error.contains("no answer from http://127.0.0.1:\(port): connection refused"), "\(error)")
        }
    }
}
