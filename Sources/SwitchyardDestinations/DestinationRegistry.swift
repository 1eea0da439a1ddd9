import SwitchyardCore

/// The destination types this build knows: the only place that names them all.
///
/// Adding a type = its folder under `SwitchyardDestinations/<Type>/` and one line here.
public enum DestinationRegistry {
    /// Every destination type, for `SwitchyardConfig.load(path:environment:destinationTypes:)`.
    public static let catalog = DestinationTypeCatalog([
        WebhookSettings.self,
        WarehouseSettings.self,
        MixpanelSettings.self,
        AmplitudeSettings.self,
        PostHogSettings.self,
    ])

    /// Builds the destination that `settings` (decoded through ``catalog``) describe.
    ///
    /// Throws ``SetupError`` with code `type_cannot_deliver` when the settings' type is registered for
    /// config loading but cannot deliver yet (it does not conform to ``DestinationType``), and rethrows
    /// what the type's own `makeDestination(context:)` throws.
    public static func makeDestination(
        settings: any DestinationTypeSettings, context: DestinationContext
    ) throws -> any Destination {
        guard let deliverable = settings as? any DestinationType else {
            let type = Swift.type(of: settings).type
            throw SetupError(
                code: "type_cannot_deliver",
                message: "destination \(context.name): type \(type) cannot deliver yet in this build; "
                    + "disable it (enabled: false) or use another type")
        }
        return try deliverable.makeDestination(context: context)
    }

    /// A destination that could not be built. `code` is stable snake_case; `message` says what to do and
    /// never contains secrets.
    public struct SetupError: Error, CustomStringConvertible, Sendable, Equatable {
        public var code: String
        public var message: String

        public var description: String { message }
    }
}
