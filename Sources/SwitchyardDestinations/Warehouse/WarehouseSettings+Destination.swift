import SwitchyardCore

extension WarehouseSettings: DestinationType {
    /// A ``WarehouseDestination`` writing under `path`. Throws ``WarehouseError`` when `path` cannot be
    /// created or written, naming the folder and the system's reason.
    public func makeDestination(context: DestinationContext) throws -> any Destination {
        try WarehouseDestination(settings: self, context: context)
    }
}
