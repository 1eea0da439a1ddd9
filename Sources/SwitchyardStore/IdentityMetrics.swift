import Metrics
import SwitchyardCore

/// What identity did, on `/metrics` (SPEC §6): counted once the append that decided it has committed.
/// Labels are bounded: the refusal reason is one of `MergeRefusal`'s four values.
///
/// - `switchyard_identity_merges_total`: anonymous ids merged into a person;
/// - `switchyard_identity_refusals_total{reason}`: merges refused, by reason (a refusal the log already
///   shows as the latest entry of its anonymous id is not counted again, as it is not recorded again);
/// - `switchyard_identity_person_merges_total`: persons merged by an alias (two persons, or a new user id).
struct IdentityMetrics: Sendable {
    let factory: any MetricsFactory

    func record(_ changes: [IdentityChange]) {
        var merges = 0
        var personMerges = 0
        var refusals: [MergeRefusal: Int] = [:]
        for change in changes {
            switch change {
            case .mergeAnonymousId: merges += 1
            case .mergePersons, .addUserId: personMerges += 1
            case .record(let entry): if let reason = entry.reason { refusals[reason, default: 0] += 1 }
            default: break
            }
        }
        if merges > 0 { Counter(label: "switchyard_identity_merges_total", factory: factory).increment(by: merges) }
        if personMerges > 0 { Counter(label: "switchyard_identity_person_merges_total", factory: factory).increment(by: personMerges) }
        for (reason, count) in refusals {
            Counter(label: "switchyard_identity_refusals_total", dimensions: [("reason", reason.rawValue)], factory: factory)
                .increment(by: count)
        }
    }
}
