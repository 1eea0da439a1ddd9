/// Why an event cannot go to PostHog; ``PostHogDestination`` dead-letters it instead of sending it.
public struct PostHogEventRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}
