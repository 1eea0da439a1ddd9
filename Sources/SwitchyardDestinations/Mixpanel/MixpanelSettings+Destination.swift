import SwitchyardCore

extension MixpanelSettings: DestinationType {
    /// An ``HTTPDestination`` sending ``MixpanelAdapter``'s requests. Never throws: the settings were
    /// validated when loaded.
    public func makeDestination(context: DestinationContext) throws -> any Destination {
        HTTPDestination(adapter: MixpanelAdapter(settings: self), context: context)
    }
}
