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
        var counts: [String: [EventType: (stored: Int, duplicate: Int)]] = [:]
        for (event, result) in zip(events, results) {
            var entry = counts[event.source, default: [:]][event.type, default: (0, 0)]
            if case .stored = result { entry.stored += 1 } else { entry.duplicate += 1 }
            counts[event.source, default: [:]][event.type] = entry
        }
        for (source, byType) in counts {
            for (type, entry) in byType {
                if entry.stored > 0 {
                    Counter(
                        label: "switchyard_ingest_events_total",
                        dimensions: [("source", source), ("type", type.rawValue), ("outcome", "stored")],
                        factory: factory
                    ).increment(by: entry.stored)
                }
                if entry.duplicate > 0 {
                    Counter(
                        label: "switchyard_ingest_events_total",
                        dimensions: [("source", source), ("type", type.rawValue), ("outcome", "duplicate")],
                        factory: factory
                    ).increment(by: entry.duplicate)
                }
            }
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
