import SwitchyardCore
import Testing

@Suite("Identity facts cache (value)")
struct IdentityFactsCacheUnitTests {
    static let t0 = Timestamp(milliseconds: 1_764_000_000_000)

    @Test
    func rememberedFactsAnswerTheRequestIncludingAbsences() {
        var cache = IdentityFactsCache()
        let request = IdentityFactsRequest(userIds: ["u1", "alias", "gone", "new"], anonymousIds: ["a1", "a2"])
        var facts = IdentityFacts()
        facts.suppressedUserIds = ["gone"]
        facts.keptUserIds = ["alias": "u1"]
        facts.persons = ["u1": PersonFacts(firstSeen: Self.t0, anonymousIdCount: 1)]
        facts.owners = ["a1": AnonymousIdOwner(userId: "u1", mergedAt: Self.t0)]
        facts.anonymousIdsWithTraits = ["a2"]
        facts.latestEntries = ["a2": LatestActivity(kind: .mergeRefused, userId: "u9", reason: .anonymousIdTaken)]
        cache.remember(facts, for: request)
        let (known, missing) = cache.lookup(request)
        #expect(missing == IdentityFactsRequest())
        #expect(known == facts)
        let (_, partly) = cache.lookup(IdentityFactsRequest(userIds: ["u1", "other"], anonymousIds: ["a3"]))
        #expect(partly == IdentityFactsRequest(userIds: ["other"], anonymousIds: ["a3"]))
    }

    @Test
    func aUserWhosePersonIsUnknownIsMissing() {
        var cache = IdentityFactsCache()
        var facts = IdentityFacts()
        facts.keptUserIds = ["alias": "kept"]
        facts.persons = ["kept": PersonFacts(firstSeen: Self.t0)]
        cache.remember(facts, for: IdentityFactsRequest(userIds: ["alias"]))
        cache.removeAll()
        #expect(cache.count == 0)
        #expect(cache.lookup(IdentityFactsRequest(userIds: ["alias"])).missing.userIds == ["alias"])
    }

    @Test
    func pastItsCapacityTheCacheStartsOver() {
        var cache = IdentityFactsCache(capacity: 10)
        for index in 0..<20 {
            cache.remember(IdentityFacts(), for: IdentityFactsRequest(userIds: ["u\(index)"]))
            #expect(cache.count <= 10)
        }
        #expect(cache.lookup(IdentityFactsRequest(userIds: ["u19"])).missing.userIds.isEmpty)
        #expect(cache.lookup(IdentityFactsRequest(userIds: ["u0"])).missing.userIds == ["u0"])
    }
}
