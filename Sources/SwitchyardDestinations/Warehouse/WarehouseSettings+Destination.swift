import SwitchyardCore

extension WarehouseSettings: DestinationType {
    /// A ``WarehouseDestination`` writing under `path`. Never throws: an unusable `path` shows up as
    /// retried deliveries (and a warning), so a missing mount does not stop the gateway from starting.
    public func makeDestination(context: DestinationContext) throws -> any Destination {
        WarehouseDestination(settings: self, context: context)
    }
}
