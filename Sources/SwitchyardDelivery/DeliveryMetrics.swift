import Metrics

/// Delivery metrics, labelled by destination name only (bounded by the config).
struct DeliveryMetrics: Sendable {
    let factory: any MetricsFactory

    func delivered(_ destination: String, _ count: Int) {
        guard count > 0 else { return }
        Counter(label: "switchyard_delivery_events_total", dimensions: [("destination", destination), ("outcome", "delivered")], factory: factory)
            .increment(by: count)
    }

    func deadLettered(_ destination: String, _ count: Int) {
        guard count > 0 else { return }
        Counter(label: "switchyard_delivery_events_total", dimensions: [("destination", destination), ("outcome", "dead_lettered")], factory: factory)
            .increment(by: count)
    }

    /// Events parked until their anonymous id merges (`anonymous: hold`), and held events a merge released:
    /// counted once recorded, so held minus released minus expired is what waits.
    func held(_ destination: String, _ count: Int, released: Int) {
        if count > 0 {
            Counter(label: "switchyard_delivery_events_total", dimensions: [("destination", destination), ("outcome", "held")], factory: factory)
                .increment(by: count)
        }
        if released > 0 {
            Counter(label: "switchyard_delivery_events_total", dimensions: [("destination", destination), ("outcome", "released")], factory: factory)
                .increment(by: released)
        }
    }

    func failed(_ destination: String) {
        Counter(label: "switchyard_delivery_failed_attempts_total", dimensions: [("destination", destination)], factory: factory)
            .increment()
    }

    func retrying(_ destination: String, _ delta: Int) {
        Meter(label: "switchyard_delivery_retrying_events", dimensions: [("destination", destination)], factory: factory)
            .increment(by: Double(delta))
    }

    func lag(_ destination: String, events: Int64, seconds: Double) {
        Gauge(label: "switchyard_delivery_lag_events", dimensions: [("destination", destination)], factory: factory)
            .record(events)
        Gauge(label: "switchyard_delivery_lag_seconds", dimensions: [("destination", destination)], factory: factory)
            .record(seconds)
    }

    func disabled(_ destination: String, _ disabled: Bool) {
        Gauge(label: "switchyard_destination_disabled", dimensions: [("destination", destination)], factory: factory)
            .record(disabled ? 1 : 0)
    }

    /// 1 while this node holds the destination's delivery lease (SPEC §8): across nodes, exactly one reports 1.
    func leaseHeld(_ destination: String, _ held: Bool) {
        Gauge(label: "switchyard_delivery_lease_held", dimensions: [("destination", destination)], factory: factory)
            .record(held ? 1 : 0)
    }
}
