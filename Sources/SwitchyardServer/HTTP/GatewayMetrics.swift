import Metrics
import SwitchyardCore
import SwitchyardStore

/// The gateway's ingest metrics. Labels are bounded: source names and event types come from the config
/// and the protocol, status and error codes from fixed sets; never ids or URLs.
struct GatewayMetrics: Sendable {
    let factory: any MetricsFactory

    func request(source: String, endpoint: String, status: Int, started: ContinuousClock.Instant) {
        Counter(
            label: "switchyard_ingest_requests_total",
            dimensions: [("source", source), ("endpoint", endpoint), ("status", String(status))], factory: factory
        ).increment()
        if status == 200 {
            Timer(label: "switchyard_ingest_ack_seconds", dimensions: [("endpoint", endpoint)], factory: factory)
                .recordInterval(since: started)
        }
    }

    func stored(_ events: [NewEvent], results: [AppendResult]) {
        var counts: [String: Int] = [:]
        for (event, result) in zip(events, results) {
            let outcome: String
            switch result {
            case .stored: outcome = "stored"
            case .duplicate: outcome = "duplicate"
            case .suppressed: outcome = "suppressed"
            }
            counts["\(event.source)\u{0}\(event.type.rawValue)\u{0}\(outcome)", default: 0] += 1
        }
        for (key, count) in counts {
            let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
            Counter(
                label: "switchyard_ingest_events_total",
                dimensions: [("source", parts[0]), ("type", parts[1]), ("outcome", parts[2])], factory: factory
            ).increment(by: count)
        }
    }

    func rejected(source: String, code: String, count: Int) {
        Counter(
            label: "switchyard_ingest_rejected_total", dimensions: [("source", source), ("code", code)],
            factory: factory
        ).increment(by: count)
    }

    func backpressure(source: String) {
        Counter(label: "switchyard_ingest_backpressure_total", dimensions: [("source", source)], factory: factory)
            .increment()
    }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
