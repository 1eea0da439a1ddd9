import GRDB
import SwitchyardCore
import Synchronization

/// The identity facts cache of the writer connection (`IdentityFactsCache`). Every method runs inside a
/// `pool.write` closure, on the writer's queue, so the cache always describes the committed database plus the
/// running transaction.
extension SQLiteEventStore {
    /// The facts `request` needs: from the cache where it knows them, the rest loaded (and remembered).
    func identityFacts(_ request: IdentityFactsRequest, identity: SQLiteIdentity, db: Database) throws -> IdentityFacts {
        // Another process sharing the file may have merged, erased or appended since the last transaction here.
        let version = try Int.fetchOne(db, sql: "PRAGMA data_version")
        let (known, missing) = factsCache.withLock { cache in
            if cache.dataVersion != version {
                cache.facts.removeAll()
                cache.dataVersion = version
            }
            return cache.facts.lookup(request)
        }
        if missing.userIds.isEmpty && missing.anonymousIds.isEmpty { return known }
        var facts = try identity.loadFacts(missing)
        facts.add(known)
        return facts
    }

    /// Keeps the facts as the commit leaves them, unless it rolls back. A person merge rewrites the owners and
    /// aliases of ids the commit did not ask about, so it empties the cache instead.
    func rememberFacts(_ decisions: IdentityDecisions, for request: IdentityFactsRequest, db: Database) {
        let mergesPersons = decisions.changes.contains { if case .mergePersons = $0 { return true } else { return false } }
        factsCache.withLock { cache in
            if mergesPersons {
                cache.facts.removeAll()
            } else {
                cache.facts.remember(decisions.facts, for: request)
            }
        }
        db.afterNextTransaction(onCommit: { _ in }, onRollback: { [self] _ in forgetIdentityFacts() })
    }

    /// Empties the cache: for writes of identity records other than appends (erasure, lifted suppressions,
    /// purges of activity and kept traits). Called inside their transaction, so no append sees the old facts.
    func forgetIdentityFacts() {
        factsCache.withLock { $0.facts.removeAll() }
    }
}
