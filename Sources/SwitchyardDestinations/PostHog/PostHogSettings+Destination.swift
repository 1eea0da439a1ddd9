import SwitchyardCore

extension PostHogSettings: DestinationType {
    /// A ``PostHogDestination``: ``PostHogAdapter``'s `/batch/` requests sent through an ``HTTPDestination``,
    /// with the events PostHog would silently drop dead-lettered. Never throws: the settings were validated
    /// when loaded.
    public func makeDestination(context: DestinationContext) throws -> any Destination {
        PostHogDestination(adapter: PostHogAdapter(settings: self), context: context)
    }
}
