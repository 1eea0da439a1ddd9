/// What a destination does with an event whose person is not known yet (`anonymous:`, SPEC §4).
public enum AnonymousPolicy: String, Sendable, CaseIterable {
    /// Send now with `anonymousId` only. The default.
    case forward
    /// Park it; when the anonymous id merges, replay it with `userId` set to the resolved user id and
    /// its original `timestamp`, before the identify that released it. Dropped after `hold_ttl`.
    case hold
    /// Never send it.
    case drop
}
