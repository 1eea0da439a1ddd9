/// The gateway's release version: what `switchyard --version` prints and what outgoing requests
/// announce (`User-Agent: switchyard/<version>`). The one place the number is written.
public enum SwitchyardVersion {
    /// Semantic version of this build, e.g. `0.1.0`.
    public static let current = "0.1.0"
}
