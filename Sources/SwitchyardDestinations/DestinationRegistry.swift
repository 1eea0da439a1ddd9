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
}
