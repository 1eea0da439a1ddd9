import Metrics
import Synchronization
import SwitchyardCore
import SwitchyardStore

/// The gateway's ingest metrics. Labels are bounded: source names and event types come from the config
/// and the protocol, status and error codes from fixed sets; never ids or URLs.
///
/// Handles are made once and reused: making a `Counter` or `Timer` takes the registry's lock and
/// allocates its labels, which per request cost more than the increment. The handles of a successful
/// request (every source × endpoint, every event type × outcome) are made up front; any other
/// combination (errors, `unknown` source) the first time it occurs, then kept.
final class GatewayMetrics: Sendable {
    let factory: any MetricsFactory
    /// Endpoint labels (the paths' `label`s): `track`, …, `batch`.
    static let endpoints = EventType.allCases.map(\.rawValue) + ["batch"]
    static let outcomes = ["stored", "duplicate", "suppressed"]

    struct RequestKey: Hashable {
        var source: String
        var endpoint: String
        var status: Int
    }

    struct EventsKey: Hashable {
        var source: String
        var type: EventType
        var outcome: String
    }

    struct LabelKey: Hashable {
        var source: String
        var code: String
    }

    private let requests: [RequestKey: Counter]
    private let ackTimers: [String: Timer]
    private let events: [EventsKey: Counter]
    /// Handles made after start (rare labels); bounded by the label sets above.
    private let late = Mutex(Late())

    private struct Late {
        var requests: [RequestKey: Counter] = [:]
        var events: [EventsKey: Counter] = [:]
        var rejected: [LabelKey: Counter] = [:]
        var backpressure: [String: Counter] = [:]
    }

    init(factory: any MetricsFactory, sources: [String]) {
        self.factory = factory
        var requests: [RequestKey: Counter] = [:]
        var events: [EventsKey: Counter] = [:]
        for source in sources {
            for endpoint in Self.endpoints {
                let key = RequestKey(source: source, endpoint: endpoint, status: 200)
                requests[key] = Self.requestCounter(key, factory: factory)
            }
            for type in EventType.allCases {
                for outcome in Self.outcomes {
                    let key = EventsKey(source: source, type: type, outcome: outcome)
                    events[key] = Self.eventsCounter(key, factory: factory)
                }
            }
        }
        self.requests = requests
        self.events = events
        var ackTimers: [String: Timer] = [:]
        for endpoint in Self.endpoints {
            ackTimers[endpoint] = Timer(
                label: "switchyard_ingest_ack_seconds", dimensions: [("endpoint", endpoint)], factory: factory)
        }
        self.ackTimers = ackTimers
    }

    private static func requestCounter(_ key: RequestKey, factory: any MetricsFactory) -> Counter {
        Counter(
            label: "switchyard_ingest_requests_total",
            dimensions: [("source", key.source), ("endpoint", key.endpoint), ("status", String(key.status))],
            factory: factory)
    }

    private static func eventsCounter(_ key: EventsKey, factory: any MetricsFactory) -> Counter {
        Counter(
            label: "switchyard_ingest_events_total",
            dimensions: [("source", key.source), ("type", key.type.rawValue), ("outcome", key.outcome)],
            factory: factory)
    }

    func request(source: String, endpoint: String, status: Int, started: ContinuousClock.Instant) {
        let key = RequestKey(source: source, endpoint: endpoint, status: status)
        if let counter = requests[key] {
            counter.increment()
        } else {
            late.withLock { late in
                if let counter = late.requests[key] { return counter }
                let counter = Self.requestCounter(key, factory: factory)
                late.requests[key] = counter
                return counter
            }.increment()
        }
        if status == 200 {
            let timer =
                ackTimers[endpoint]
                ?? Timer(label: "switchyard_ingest_ack_seconds", dimensions: [("endpoint", endpoint)], factory: factory)
            timer.recordInterval(since: started)
        }
    }

    func stored(_ events: [NewEvent], results: [AppendResult]) {
        // Most requests are one event, or a batch of one source and type: count runs, not a dictionary.
        var run: (key: EventsKey, count: Int)?
        for (event, result) in zip(events, results) {
            let outcome: String
            switch result {
            case .stored: outcome = "stored"
            case .duplicate: outcome = "duplicate"
            case .suppressed: outcome = "suppressed"
            }
            if let current = run, current.key.outcome == outcome, current.key.type == event.type,
                current.key.source == event.source
            {
                run = (current.key, current.count + 1)
                continue
            }
            if let run { eventsCounter(run.key).increment(by: run.count) }
            run = (EventsKey(source: event.source, type: event.type, outcome: outcome), 1)
        }
        if let run { eventsCounter(run.key).increment(by: run.count) }
    }

    private func eventsCounter(_ key: EventsKey) -> Counter {
        if let counter = events[key] { return counter }
        return late.withLock { late in
            if let counter = late.events[key] { return counter }
            let counter = Self.eventsCounter(key, factory: factory)
            late.events[key] = counter
            return counter
        }
    }

    func rejected(source: String, code: String, count: Int) {
        let key = LabelKey(source: source, code: code)
        late.withLock { late in
            if let counter = late.rejected[key] { return counter }
            let counter = Counter(
                label: "switchyard_ingest_rejected_total", dimensions: [("source", source), ("code", code)],
                factory: factory)
            late.rejected[key] = counter
            return counter
        }.increment(by: count)
    }

    func backpressure(source: String) {
        late.withLock { late in
            if let counter = late.backpressure[source] { return counter }
            let counter = Counter(
                label: "switchyard_ingest_backpressure_total", dimensions: [("source", source)], factory: factory)
            late.backpressure[source] = counter
            return counter
        }.increment()
    }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        recordNanoseconds((ContinuousClock.now - start).wholeNanoseconds)
    }
}
