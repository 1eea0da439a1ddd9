import Logging
import Metrics
import SwitchyardCore

/// How a store reports trait keys its caps dropped (SPEC §2: counted, never silent): the counter
/// `switchyard_identity_traits_dropped_total`, and a warning naming the user id once per person per commit.
public struct IdentityTraitsDrops: Sendable {
    let metrics: any MetricsFactory
    let logger: Logger
    /// Persons named one by one per commit; a batch of thousands of persons over the cap gets one more line
    /// for the rest rather than thousands.
    static let personsLoggedPerCommit = 10

    public init(metrics: any MetricsFactory, logger: Logger) {
        self.metrics = metrics
        self.logger = logger
    }

    /// Counted nowhere, logged at the default handler: for tools that open a store without serving.
    public static var unreported: IdentityTraitsDrops {
        IdentityTraitsDrops(metrics: NOOPMetricsHandler.instance, logger: Logger(label: "switchyard.store"))
    }

    /// Reports what one committed append dropped, keys per user id.
    func record(_ dropped: [String: Int], limits: TraitsMerge.Limits) {
        let total = dropped.values.reduce(0, +)
        guard total > 0 else { return }
        Counter(label: "switchyard_identity_traits_dropped_total", factory: metrics).increment(by: total)
        let persons = dropped.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        for (userId, count) in persons.prefix(Self.personsLoggedPerCommit) {
            logger.warning(
                "trait keys dropped: the person reached identity.max_traits (\(limits.maxKeys) keys) or \(limits.maxBytes / 1000) KB of traits",
                metadata: ["switchyard.user_id": "\(userId)", "switchyard.dropped_keys": "\(count)"])
        }
        if persons.count > Self.personsLoggedPerCommit {
            let rest = persons.dropFirst(Self.personsLoggedPerCommit)
            logger.warning(
                "trait keys of more persons dropped: identity.max_traits (\(limits.maxKeys) keys) or \(limits.maxBytes / 1000) KB of traits reached",
                metadata: ["switchyard.persons": "\(rest.count)", "switchyard.dropped_keys": "\(rest.reduce(0) { $0 + $1.value })"])
        }
    }
}
