import Foundation
import SwitchyardCore
import SwitchyardStore
import Testing

extension LeaseContractTests {
    /// Issue #16: a node known to be gone (a killed process of this host, a node stopping) stops counting
    /// toward every node's fair share at once instead of after its heartbeat runs out; its leases stay for
    /// the takeover rules to decide.
    @Test(arguments: StoreContractTests.backends)
    func aForgottenNodeNoLongerCountsAsLive(_ backend: Backend) async throws {
        try await contract.withStores(backend, count: 2) { (stores) async throws in
            let (a, b) = (stores[0], stores[1])
            #expect(try await a.claimLease(of: "hook", by: "host-101", ttl: .seconds(600), fairShare: nil))
            _ = try await a.renewLeases(of: "host-101", ttl: .seconds(600))
            let both = try await b.renewLeases(of: "host-202", ttl: .seconds(600))
            #expect(both.nodes == ["host-101", "host-202"])
            #expect(both.liveNodes == 2)

            try await b.forgetNodes(["host-101", "host-999"])
            let alone = try await b.renewLeases(of: "host-202", ttl: .seconds(600))
            #expect(alone.nodes == ["host-202"])
            #expect(alone.liveNodes == 1)
            #expect(try await b.leaseHolder(of: "hook") == "host-101", "forgetting a node leaves its leases alone")

            // A node wrongly forgotten comes back with its next heartbeat, leases included.
            #expect(try await a.renewLeases(of: "host-101", ttl: .seconds(600)).held == ["hook"])
            #expect(try await b.renewLeases(of: "host-202", ttl: .seconds(600)).liveNodes == 2)
            try await b.forgetNodes([])
        }
    }
}
