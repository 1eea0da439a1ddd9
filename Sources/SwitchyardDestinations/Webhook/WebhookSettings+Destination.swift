import SwitchyardCore

extension WebhookSettings: DestinationType {
    /// An ``HTTPDestination`` sending ``WebhookAdapter``'s requests: objects when the destination's
    /// `batch.max_events` is 1, arrays otherwise. Never throws: the settings were validated when loaded.
    public func makeDestination(context: DestinationContext) throws -> any Destination {
        HTTPDestination(
            adapter: WebhookAdapter(settings: self, maxBatchEvents: context.maxBatchEvents), context: context)
    }
}
