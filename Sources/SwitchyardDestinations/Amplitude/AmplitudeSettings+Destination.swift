import SwitchyardCore

extension AmplitudeSettings: DestinationType {
    /// An ``AmplitudeDestination`` sending ``AmplitudeAdapter``'s requests and resending what Amplitude's
    /// partial answers leave out. Never throws: the settings were validated when loaded.
    public func makeDestination(context: DestinationContext) throws -> any Destination {
        AmplitudeDestination(adapter: AmplitudeAdapter(settings: self), context: context)
    }
}
