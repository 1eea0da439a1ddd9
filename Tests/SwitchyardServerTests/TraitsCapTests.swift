import Foundation
import NIOHTTP1
import SwitchyardCore
import Testing

/// Issue 11's identify storm over real HTTP: `identity.max_traits` reaches the store, the person keeps that
/// many keys, the dropped ones are counted on `/metrics`, and the gateway stays fast and healthy.
@Suite("Bounded person traits over real HTTP")
struct TraitsCapTests {
    /// 32 identifies with 2,000 new trait keys each for one user, in four batches of eight. Before the cap
    /// and the linear merge, every commit of this took about 10 s and grew the person's traits to 64,000 keys.
    @Test func anIdentifyStormKeepsMaxTraitsKeysAndCountsTheRest() async throws {
        try await TestGateway.with(yaml: { TestGateway.config($0, sections: "identity:\n  max_traits: 100") }) { gateway in
            let started = ContinuousClock.now
            for batch in 0..<4 {
                let identifies = (0..<8).map { index in
                    let call = batch * 8 + index
                    let traits = (0..<2000).map { #""k\#(call)-\#($0)":0"# }.joined(separator: ",")
                    return #"{"type":"identify","userId":"storm","messageId":"storm-\#(call)","traits":{\#(traits)}}"#
                }
                let response = try await gateway.post("/v1/batch", #"{"batch":[\#(identifies.joined(separator: ","))]}"#)
                #expect(response.status == 200, "\(response.text)")
            }
            let elapsed = ContinuousClock.now - started
            // Generous for a loaded 2-core machine; the quadratic merge took minutes.
            #expect(elapsed < .seconds(60), "32 identifies of 2,000 keys took \(elapsed)")

            let person = try await gateway.admin("/api/people/storm")
            #expect(person.status == 200)
            let traits = try #require(person.json?["traits"]?.objectValue)
            #expect(traits.keys.count == 100)
            #expect(traits["k0-99"] == .number("0"))
            #expect(traits["k0-100"] == nil)
            let metrics = try await gateway.admin("/metrics").text
            #expect(metrics.contains("switchyard_identity_traits_dropped_total \(32 * 2000 - 100)"), "\(metrics)")

            #expect(try await gateway.send("/healthz", method: .GET, auth: nil).status == 200)
            let valid = try await gateway.post(
                "/v1/identify", #"{"userId":"storm","messageId":"after","traits":{"k0-0":"updated","new":1}}"#)
            #expect(valid.status == 200)
            let updated = try #require(try await gateway.admin("/api/people/storm").json?["traits"])
            #expect(updated["k0-0"] == .string("updated"), "existing keys keep being updated")
            #expect(updated["new"] == nil)
        }
    }
}
