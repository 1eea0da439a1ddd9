import SwitchyardCore
import SwitchyardStore
import Testing

/// A visitor's history (`GET /api/anonymous/{id}/activity`) lists every event that carried its anonymous id:
/// before the merge, the merging identify, late events resolved to the person, and events whose merge was
/// refused (resolved to their own user) — on every back end, whatever index finds them.
@Suite("Anonymous activity contract")
struct AnonymousActivityContractTests {
    typealias Event = IdentityStoreContractTests

    @Test(arguments: StoreContractTests.backends)
    func aVisitorsHistoryHasEveryEventThatCarriedItsId(_ backend: StoreContractTests.Backend) async throws {
        try await StoreContractTests().withStore(backend) { store in
            _ = try await store.append(
                [
                    Event.event("a1", anonymousId: "anon"), Event.event("a2", .page, anonymousId: "anon", at: 1),
                    Event.event("other", anonymousId: "someone-else", at: 2),
                ], dedupeWindow: .seconds(60))
            _ = try await store.append([Event.event("id", .identify, userId: "u1", anonymousId: "anon", at: 3)], dedupeWindow: .seconds(60))
            _ = try await store.append(
                [
                    Event.event("late", anonymousId: "anon", at: 4),
                    Event.event("refused", .identify, userId: "u2", anonymousId: "anon", at: 5),
                    Event.event("u1-only", userId: "u1", at: 6),
                ], dedupeWindow: .seconds(60))
            let page = try await store.activity(.anonymousId("anon"), before: nil, limit: 50)
            let events = page.items.compactMap { item -> StoredEvent? in
                if case .event(let event) = item { return event }
                return nil
            }
            #expect(events.map(\.event.messageId) == ["refused", "late", "id", "a2", "a1"])
            #expect(events.map(\.resolvedUserId) == ["u2", "u1", "u1", "u1", "u1"])
            // Paging by cursor walks the same events.
            let first = try await store.activity(.anonymousId("anon"), before: nil, limit: 2)
            #expect(first.items.count == 2)
            let next = try await store.activity(.anonymousId("anon"), before: first.nextCursor, limit: 50)
            let rest = next.items.compactMap { item -> String? in
                if case .event(let event) = item { return event.event.messageId }
                return nil
            }
            #expect(rest.count >= 1 && !rest.contains("refused"))
        }
    }
}
