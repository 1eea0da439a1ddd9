import SwitchyardCore

/// One object for Mixpanel and the API that takes it: an event for `/import`, a profile update for
/// `/engage`, a group profile update for `/groups`.
struct MixpanelRecord: Sendable, Equatable {
    enum Endpoint: Sendable, CaseIterable {
        case importEvents
        case engage
        case groups
    }

    var endpoint: Endpoint
    var object: JSONObject

    /// An `/import` event: `{"event": name, "properties": {…}}`.
    static func event(_ name: String, _ properties: JSONObject) -> MixpanelRecord {
        MixpanelRecord(
            endpoint: .importEvents,
            object: JSONObject([("event", .string(name)), ("properties", .object(properties))]))
    }
}
