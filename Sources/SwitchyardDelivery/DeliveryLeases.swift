import Logging
import ServiceLifecycle
import SwitchyardStore
import Synchronization

/// This node's share of the delivery work when several nodes use one database (SPEC §8).
///
/// Each destination has one sender at a time: the node holding its lease in the store. A heartbeat renews
/// every lease this node holds each `ttl / 3`; a node that dies stops renewing, its leases run out after
/// `ttl`, and the other nodes' workers — which try to claim every `claimInterval` — take them over. Nodes
/// spread destinations evenly: a node takes a free lease only while it holds fewer than its fair share
/// (destinations ÷ live nodes, rounded up) unless the lease has been free for a whole `ttl`, and a node
/// holding more than its share hands the surplus over.
final class DeliveryLeases: Sendable {
    let node: String
    let ttl: Duration
    /// How long a worker keeps sending after the last renewal, less than `ttl`: it stops before any other
    /// node may claim the lease.
    var margin: Duration { ttl / 5 }
    var claimInterval: Duration { min(.seconds(2), ttl / 3) }
    var heartbeatInterval: Duration { ttl / 3 }
    let destinations: Int
    let liveNodes = Mutex(1)
    /// Whether a node id names a process that is known to be gone (on this host, not running): its leases
    /// need not run out first — a restart after a crash resumes delivery at once.
    let isDefunct: @Sendable (String) -> Bool

    init(node: String, ttl: Duration, destinations: Int, isDefunct: @escaping @Sendable (String) -> Bool = { _ in false }) {
        self.node = node
        self.ttl = ttl
        self.destinations = destinations
        self.isDefunct = isDefunct
    }

    var fairShare: Int {
        let nodes = max(1, liveNodes.withLock { $0 })
        return (destinations + nodes - 1) / nodes
    }

    /// Renews this node's leases until shutdown and tells each worker whether it still holds its own.
    func heartbeat(store: any EventStore, workers: [DestinationWorker], logger: Logger) async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                let renewal = try await store.renewLeases(of: node, ttl: ttl)
                liveNodes.withLock { $0 = renewal.liveNodes }
                var holding: [DestinationWorker] = []
                for worker in workers {
                    if renewal.held.contains(worker.name) {
                        worker.leaseRenewed(at: started)
                        holding.append(worker)
                    } else {
                        worker.leaseLost(asOf: started)
                    }
                }
                // More than the fair share: hand the surplus to nodes that have less.
                let surplus = holding.count - fairShare
                if surplus > 0 {
                    for worker in holding.sorted(by: { $0.name > $1.name }).prefix(surplus) { worker.requestHandOver() }
                }
            } catch {
                // Not renewed: workers stop sending when their lease may have run out (`margin`).
                logger.warning("renewing delivery leases failed", metadata: ["switchyard.error": "\(error)"])
            }
            await cancelWhenGracefulShutdownQuietly { try? await Task.sleep(for: self.heartbeatInterval) }
        }
    }
}
