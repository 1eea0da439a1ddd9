import Foundation
import SwitchyardCore
import SwitchyardStore
import Testing

/// Delivery leases (SPEC §8): one sender per destination, taken over when its holder stops renewing, and
/// fenced so a node that lost its lease cannot record progress. Run against every back end.
@Suite("Delivery lease contract")
struct LeaseContractTests {
    typealias Backend = StoreContractTests.Backend
    let contract = StoreContractTests()

    @Test(arguments: StoreContractTests.backends)
    func oneNodeHoldsADestinationUntilItReleasesIt(_ backend: Backend) async throws {
        try await contract.withStores(backend, count: 2) { stores in
            let (a, b) = (stores[0], stores[1])
            #expect(try await a.claimLease(of: "hook", by: "node-a", ttl: .seconds(30), fairShare: nil))
            #expect(try await a.claimLease(of: "hook", by: "node-a", ttl: .seconds(30), fairShare: nil), "renewing is claiming again")
            #expect(try await b.claimLease(of: "hook", by: "node-b", ttl: .seconds(30), fairShare: nil) == false)
            #expect(try await b.leaseHolder(of: "hook") == "node-a")
            let renewal = try await a.renewLeases(of: "node-a", ttl: .seconds(30))
            #expect(renewal.held == ["hook"])
            try await a.releaseLease(of: "hook", by: "node-a")
            #expect(try await b.leaseHolder(of: "hook") == nil)
            #expect(try await b.claimLease(of: "hook", by: "node-b", ttl: .seconds(30), fairShare: nil))
            #expect(try await a.renewLeases(of: "node-a", ttl: .seconds(30)).held.isEmpty)
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func anExpiredLeaseIsTakenOverAndTheOldHolderIsFencedOut(_ backend: Backend) async throws {
        try await contract.withStores(backend, count: 2) { stores in
            let (a, b) = (stores[0], stores[1])
            _ = try await a.append([StoreContractTests.event("m1")], dedupeWindow: .seconds(1))
            // Held for long enough that node-b's refusal cannot depend on how fast a loaded machine is.
            #expect(try await a.claimLease(of: "hook", by: "node-a", ttl: .seconds(30), fairShare: nil))
            #expect(try await b.claimLease(of: "hook", by: "node-b", ttl: .seconds(1), fairShare: nil) == false)
            // node-a's last heartbeat gives it one more second, then it "dies": no renewal.
            #expect(try await a.renewLeases(of: "node-a", ttl: .seconds(1)).held == ["hook"])
            try await Task.sleep(for: .milliseconds(1200))
            #expect(try await b.claimLease(of: "hook", by: "node-b", ttl: .seconds(30), fairShare: nil))
            // node-a comes back with a round it delivered before it stopped: not recorded.
            let error = await #expect(throws: StoreError.self) {
                try await a.settle(
                    DeliverySettlement(position: 1, delivered: 1, deadLetters: [], replayedIds: [], at: StoreContractTests.t0, leaseHolder: "node-a"),
                    for: "hook")
            }
            #expect(error?.code == .leaseLost)
            #expect(error?.message.contains("node-a no longer holds the delivery lease of hook") == true)
            #expect(try await b.progress(of: "hook").position == 0, "the fenced round left no trace")
            try await b.settle(
                DeliverySettlement(position: 1, delivered: 1, deadLetters: [], replayedIds: [], at: StoreContractTests.t0, leaseHolder: "node-b"),
                for: "hook")
            #expect(try await b.progress(of: "hook").position == 1)
            #expect(try await a.renewLeases(of: "node-a", ttl: .seconds(30)).held.isEmpty)
        }
    }

    @Test(arguments: StoreContractTests.backends)
    func aNodeAtItsFairShareLeavesFreshlyFreedDestinationsToOthers(_ backend: Backend) async throws {
        // A 10-minute lease: "freshly freed" means released less than a lease ago, and a loaded machine
        // (the whole suite in parallel on two cores) once stalled this test for more than 30 s.
        try await contract.withStores(backend, count: 2) { stores in
            let (a, b) = (stores[0], stores[1])
            #expect(try await a.claimLease(of: "one", by: "node-a", ttl: .seconds(600), fairShare: 1))
            #expect(try await a.claimLease(of: "two", by: "node-a", ttl: .seconds(600), fairShare: nil))
            try await a.releaseLease(of: "two", by: "node-a")
            #expect(try await a.claimLease(of: "two", by: "node-a", ttl: .seconds(600), fairShare: 1) == false, "a already has its share")
            #expect(try await b.claimLease(of: "two", by: "node-b", ttl: .seconds(600), fairShare: 1), "b has none")
            _ = try await a.renewLeases(of: "node-a", ttl: .seconds(600))
            #expect(try await b.renewLeases(of: "node-b", ttl: .seconds(600)).liveNodes == 2)
        }
    }
}

extension LeaseContractTests {
    /// A restart after a crash on the same host: the dead process's lease is taken at once, by name.
    @Test(arguments: StoreContractTests.backends)
    func aHolderKnownToBeGoneIsReplacedAtOnce(_ backend: Backend) async throws {
        try await contract.withStores(backend, count: 2) { (stores) async throws in
            let (a, b) = (stores[0], stores[1])
            #expect(try await a.claimLease(of: "hook", by: "host-101", ttl: .seconds(30), fairShare: nil))
            #expect(
                try await b.claimLease(of: "hook", by: "host-202", ttl: .seconds(30), fairShare: nil, replacing: "host-999") == false,
                "only the named holder is replaced")
            #expect(try await b.claimLease(of: "hook", by: "host-202", ttl: .seconds(30), fairShare: nil, replacing: "host-101"))
            #expect(try await b.leaseHolder(of: "hook") == "host-202")
        }
    }
}
