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
        struct Key: Hashable {
            var source: String
            var type: EventType
            var outcome: String
        }
        var counts: [Key: Int] = [:]
        for (event, result) in zip(events, results) {
            let outcome: String
            switch result {
            case .stored: outcome = "stored"
            case .duplicate: outcome = "duplicate"
            case .suppressed: outcome = "suppressed"
            }
            counts[Key(source: event.source, type: event.type, outcome: outcome), default: 0] += 1
        }
        for (key, count) in counts {
            Counter(
                label: "switchyard_ingest_events_total",
                dimensions: [("source", key.source), ("type", key.type.rawValue), ("outcome", key.outcome)],
                factory: factory
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
        recordNanoseconds((ContinuousClock.now - start).wholeNanoseconds)
    }
}
