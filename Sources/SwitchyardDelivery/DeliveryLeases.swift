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
///
/// Only nodes that can deliver count as live: a process of this host that is gone (`isDefunct`, e.g. the
/// previous run after a `kill -9`) still has a current heartbeat row for up to `ttl`; counted, it would
/// halve a restarted single node's share and park half its destinations until the row ran out. The
/// heartbeat leaves such nodes out and removes their rows, so the other nodes stop counting them too; a
/// node stopping gracefully removes its own.
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

    init(
        node: String, ttl: Duration, destinations: Int, isDefunct: @escaping @Sendable (String) -> Bool = { _ in false }
    ) {
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
                let gone = renewal.nodes.filter { $0 != node && isDefunct($0) }
                liveNodes.withLock { $0 = max(1, renewal.nodes.count - gone.count) }
                if !gone.isEmpty {
                    logger.info(
                        "forgetting nodes of this host that are gone",
                        metadata: ["switchyard.nodes": "\(gone.sorted())"])
                    try await store.forgetNodes(gone)
                }
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
        // Stopping: the other nodes need not wait for this heartbeat to run out before sharing its work.
        // The leases stay until each worker releases its own.
        do {
            try await store.forgetNodes([node])
        } catch {
            logger.debug(
                "could not remove this node from the live nodes; it drops out after the lease ttl",
                metadata: ["switchyard.error": "\(error)"])
        }
    }
}
