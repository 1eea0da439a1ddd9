import SwitchyardCore

/// Settings of a `type: amplitude` destination: events to `/2/httpapi` (or `/batch`).
///
/// Keys: `api_key` (required), `region` (`us` default | `eu`), `endpoint` (base URL, overrides
/// `region`), `use_batch_api` (default `false`: HTTP V2), `page_event_name` (see ``PageEventName``;
/// Amplitude also takes `amplitude` or `"[Amplitude] Page Viewed"`, the names Amplitude's own SDKs give
/// page and screen views, stored as ``amplitudePageViewed``), `min_id_length` (default 1, at least 1; sent as
/// `options.min_id_length` in every request).
public struct AmplitudeSettings: DestinationTypeSettings {
    /// Amplitude's data centers and their API hosts (vendor-formats §2.1).
    public enum Region: String, Sendable, CaseIterable {
        case us
        case eu

        /// `https://api2.amplitude.com` or `https://api.eu.amplitude.com`.
        public var baseURL: String {
            switch self {
            case .us: return "https://api2.amplitude.com"
            case .eu: return "https://api.eu.amplitude.com"
            }
        }
    }

    public static let type = "amplitude"

    /// `page_event_name: amplitude` (or the text itself): pages become `[Amplitude] Page Viewed` and
    /// screens `[Amplitude] Screen Viewed`, with the `[Amplitude] Page …` / `[Amplitude] Screen Name`
    /// properties Amplitude's SDKs send, whether or not the call has a name.
    public static let amplitudePageViewed = PageEventName.template("[Amplitude] Page Viewed")
    public static let keys: Set<String> = [
        "api_key", "region", "endpoint", "use_batch_api", "page_event_name", "min_id_length",
    ]

    /// `api_key`: the project API key. Secret: shown masked.
    public var apiKey: String
    /// `region`: default `us`.
    public var region: Region
    /// `endpoint`: base URL overriding the region's host; `nil` when not set.
    public var endpoint: String?
    /// `use_batch_api`: send to `/batch` (higher per-id limits, for backfills) instead of `/2/httpapi`.
    public var useBatchAPI: Bool
    /// `page_event_name`: default `loaded`.
    public var pageEventName: PageEventName
    /// `min_id_length`: default 1, at least 1; sent as `options.min_id_length` in every request.
    ///
    /// Amplitude removes a `user_id` or `device_id` shorter than its default of 5 characters, so a
    /// user id such as `"42"` — which the gateway accepts — would leave the event without an id and
    /// be refused. 1 accepts every id the gateway accepts.
    public var minIDLength: Int

    /// The default `min_id_length`.
    public static let defaultMinIDLength = 1

    /// The base URL requests go to, without a trailing `/`: `endpoint` if set, else the region's host.
    public var baseURL: String { endpoint ?? region.baseURL }

    /// The events path under ``baseURL``: `/batch` or `/2/httpapi`.
    public var eventsPath: String { useBatchAPI ? "/batch" : "/2/httpapi" }

    /// Creates settings directly (tests, embedders).
    public init(
        apiKey: String,
        region: Region = .us,
        endpoint: String? = nil,
        useBatchAPI: Bool = false,
        pageEventName: PageEventName = .loaded,
        minIDLength: Int = AmplitudeSettings.defaultMinIDLength
    ) {
        self.apiKey = apiKey
        self.region = region
        self.endpoint = endpoint
        self.useBatchAPI = useBatchAPI
        self.pageEventName = pageEventName
        precondition(minIDLength >= 1, "min_id_length is at least 1")
        self.minIDLength = minIDLength
    }

    public init(node: ConfigNode) throws {
        let mapping = try node.mapping()
        apiKey = try mapping.string("api_key")
        region = try mapping.choice("region", default: Region.us)
        endpoint = try mapping.optionalBaseURL("endpoint")
        useBatchAPI = try mapping.bool("use_batch_api", default: false)
        pageEventName = try Self.readPageEventName(mapping)
        minIDLength = try mapping.optionalInt("min_id_length", in: 1...Int.max) ?? Self.defaultMinIDLength
    }

    /// `page_event_name`: the shared choices plus ``amplitudePageViewed``, which has no `{name}` (the
    /// shared reader requires one of a template).
    static func readPageEventName(_ mapping: ConfigMapping) throws -> PageEventName {
        guard let node = mapping["page_event_name"] else { return .loaded }
        if let text = node.scalarText, text == "amplitude" || text == amplitudePageViewed.configText {
            return amplitudePageViewed
        }
        do {
            return try PageEventName.read(mapping)
        } catch {
            throw node.expected("loaded, viewed_name, amplitude or a template containing {name}")
        }
    }

    /// The API key (Amplitude takes it in the body).
    public var secretValues: [String] { [apiKey] }

    public var summary: [(key: String, value: String)] {
        [
            ("api_key", SecretMask.mask(apiKey)),
            ("region", region.rawValue),
            ("base_url", baseURL),
            ("api", useBatchAPI ? "batch (/batch)" : "HTTP V2 (/2/httpapi)"),
            ("page_event_name", pageEventName.configText),
            ("min_id_length", "\(minIDLength)"),
        ]
    }
}
