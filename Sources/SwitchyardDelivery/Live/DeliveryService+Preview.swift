import SwitchyardCore
import SwitchyardDestinations
import SwitchyardStore

extension DeliveryService {
    /// What `POST /api/destinations/{name}/preview` answers (SPEC §6): each event's route decision and
    /// the requests the destination would send for those it takes, as the live view shows them.
    public struct Preview: Sendable {
        /// One per event, in order: `{"messageId","decision","reason"}` as in a `route` item.
        public var routes: [JSONValue]
        /// The requests, secrets masked; empty when the destination takes none of the events, nil for a
        /// destination that sends no requests (the warehouse).
        public var requests: [JSONValue]?
    }

    /// Why a preview could not be made.
    public struct PreviewError: Error, CustomStringConvertible, Sendable {
        /// `unknown_destination`, `destination_disabled` or `encoding_failed`.
        public var code: String
        public var message: String
        public var description: String { message }
    }

    /// Routes `events` through the destination's filter and `anonymous:` rule and builds the requests its
    /// adapter would send for those it takes — the code real delivery runs — sending and storing nothing.
    /// Identity is what the events say themselves (`userId`); the store is not asked, so an anonymous event
    /// shows as a destination with `anonymous: hold` would treat a visitor not known yet.
    public func preview(_ events: [NewEvent], to name: String) throws(PreviewError) -> Preview {
        guard isConfigured(name) else {
            throw PreviewError(code: "unknown_destination", message: "no destination named \(name) in the config")
        }
        guard let worker = workers[name] else {
            throw PreviewError(
                code: "destination_disabled", message: "destination \(name) has enabled: false in the config")
        }
        var routes: [JSONValue] = []
        var taken: [DeliveryEvent] = []
        for event in events {
            let stored = StoredEvent(sequence: 0, event: event, resolvedUserId: event.userId, storedUserId: event.userId)
            let routing = worker.planner.router.route(stored)
            if case .deliver(let delivery, _) = routing { taken.append(delivery) }
            let (decision, reason) = routing.shown
            routes.append(
                .object(
                    JSONObject([
                        ("messageId", .string(event.messageId)), ("decision", .string(decision)),
                        ("reason", reason.map(JSONValue.string) ?? .null),
                    ])))
        }
        guard !taken.isEmpty else { return Preview(routes: routes, requests: []) }
        let requests: [OutgoingRequest]?
        do {
            requests = try worker.destination.preview(DeliveryBatch(events: taken))
        } catch {
            throw PreviewError(code: "encoding_failed", message: "the events could not be encoded: \(error)")
        }
        let secrets = worker.configuration.secrets
        return Preview(routes: routes, requests: requests.map { $0.map { $0.shown(secrets: secrets) } })
    }
}
