import SwitchyardCore

/// Settings of a `type: posthog` destination: events to `/batch/`.
///
/// Keys: `api_key` (required, the project key `phc_…`), `endpoint` (base URL; default
/// `https://us.i.posthog.com`, use `https://eu.i.posthog.com` or a self-hosted instance).
public struct PostHogSettings: DestinationTypeSettings {
    /// PostHog Cloud US ingestion host (vendor-formats §3.1; note the `.i.`).
    public static let defaultEndpoint = "https://us.i.posthog.com"

    public static let type = "posthog"
    public static let keys: Set<String> = ["api_key", "endpoint"]

    /// `api_key`: the project API key. Secret: shown masked.
    public var apiKey: String
    /// The base URL requests go to, without a trailing `/`: `endpoint`, default ``defaultEndpoint``.
    public var baseURL: String

    /// Creates settings directly (tests, embedders).
    public init(apiKey: String, baseURL: String = PostHogSettings.defaultEndpoint) {
        self.apiKey = apiKey
        self.baseURL = baseURL
    }

    public init(node: ConfigNode) throws {
        let mapping = try node.mapping()
        apiKey = try mapping.string("api_key")
        baseURL = try mapping.optionalBaseURL("endpoint") ?? Self.defaultEndpoint
    }

    /// The project API key (PostHog takes it in the body).
    public var secretValues: [String] { [apiKey] }

    public var summary: [(key: String, value: String)] {
        [("api_key", SecretMask.mask(apiKey)), ("base_url", baseURL)]
    }
}
