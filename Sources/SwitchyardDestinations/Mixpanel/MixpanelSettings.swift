import SwitchyardCore

/// Settings of a `type: mixpanel` destination: events to `/import`, profiles to `/engage`.
///
/// Keys: `token` (required, the project token), `secret` (legacy project API secret) **or**
/// `service_account` (`{username, secret}` or `"username:secret"`) with `project_id` (both or
/// neither), `region` (`us` default | `eu` | `in`), `endpoint` (base URL, overrides `region`),
/// `id_merge` (`simplified` default | `original`), `page_event_name` (see ``PageEventName``).
///
/// `/import` authentication, in order of preference: service account + `project_id`; else the API
/// secret; else the project token as the Basic user name (vendor-formats §1.4).
public struct MixpanelSettings: DestinationTypeSettings {
    /// Mixpanel's data residency regions and their API hosts (vendor-formats §1.1).
    public enum Region: String, Sendable, CaseIterable {
        case us
        case eu
        case `in`

        /// `https://api.mixpanel.com`, `https://api-eu.mixpanel.com` or `https://api-in.mixpanel.com`.
        public var baseURL: String {
            switch self {
            case .us: return "https://api.mixpanel.com"
            case .eu: return "https://api-eu.mixpanel.com"
            case .in: return "https://api-in.mixpanel.com"
            }
        }
    }

    /// The project's identity system; it must match the project setting in Mixpanel.
    public enum IDMerge: String, Sendable, CaseIterable {
        /// `$device_id` / `$user_id` on every event; identify becomes an `/engage` `$set`.
        case simplified
        /// `$identify` / `$merge` / `alias` events (legacy projects).
        case original
    }

    /// How `/import` requests authenticate.
    public enum ImportAuth: Sendable, Equatable {
        /// `Authorization: Basic base64("<token>:")`.
        case projectToken
        /// `Authorization: Basic base64("<secret>:")` with the legacy project API secret.
        case apiSecret(String)
        /// `Authorization: Basic base64("<username>:<secret>")` and `project_id=<id>` in the query.
        case serviceAccount(username: String, secret: String, projectID: String)
    }

    public static let type = "mixpanel"
    public static let keys: Set<String> = [
        "token", "secret", "service_account", "project_id", "region", "endpoint", "id_merge", "page_event_name",
    ]

    /// `token`: the project token. Secret: shown masked.
    public var token: String
    /// `/import` authentication derived from `secret`, `service_account`, `project_id`.
    public var importAuth: ImportAuth
    /// `region`: default `us`.
    public var region: Region
    /// `endpoint`: base URL overriding the region's host; `nil` when not set.
    public var endpoint: String?
    /// `id_merge`: default `simplified`.
    public var idMerge: IDMerge
    /// `page_event_name`: default `loaded`.
    public var pageEventName: PageEventName

    /// The base URL requests go to, without a trailing `/`: `endpoint` if set, else the region's host.
    public var baseURL: String { endpoint ?? region.baseURL }

    /// Creates settings directly (tests, embedders).
    public init(
        token: String,
        importAuth: ImportAuth = .projectToken,
        region: Region = .us,
        endpoint: String? = nil,
        idMerge: IDMerge = .simplified,
        pageEventName: PageEventName = .loaded
    ) {
        self.token = token
        self.importAuth = importAuth
        self.region = region
        self.endpoint = endpoint
        self.idMerge = idMerge
        self.pageEventName = pageEventName
    }

    public init(node: ConfigNode) throws {
        let mapping = try node.mapping()
        token = try mapping.string("token")
        importAuth = try Self.importAuth(mapping)
        region = try mapping.choice("region", default: Region.us)
        endpoint = try mapping.optionalBaseURL("endpoint")
        idMerge = try mapping.choice("id_merge", default: IDMerge.simplified)
        pageEventName = try PageEventName.read(mapping)
    }

    private static func importAuth(_ mapping: ConfigMapping) throws -> ImportAuth {
        let secret = try mapping.optionalString("secret")
        let projectID = try mapping.optionalString("project_id")
        guard let accountNode = mapping["service_account"], accountNode.scalarText != "" else {
            if projectID != nil, let node = mapping["project_id"] {
                throw node.error("project_id is used only together with service_account")
            }
            return secret.map { .apiSecret($0) } ?? .projectToken
        }
        if secret != nil, let secretNode = mapping["secret"] {
            let later = secretNode.line > accountNode.line ? secretNode : accountNode
            throw later.error("set either secret or service_account, not both")
        }
        let (username, accountSecret) = try serviceAccount(accountNode)
        guard let projectID else {
            var error = mapping.missing("project_id")
            error.message = "required key is missing: service_account needs project_id"
            throw error
        }
        if let idNode = mapping["project_id"], !projectID.allSatisfy({ $0.isASCII && $0.isNumber }) {
            throw idNode.expected("a numeric Mixpanel project id")
        }
        return .serviceAccount(username: username, secret: accountSecret, projectID: projectID)
    }

    /// `{username: …, secret: …}` or `"username:secret"`.
    private static func serviceAccount(_ node: ConfigNode) throws -> (username: String, secret: String) {
        if case .mapping = node.value {
            let account = try node.mapping()
            try account.rejectUnknownKeys(allowed: ["username", "secret"])
            return (try account.string("username"), try account.string("secret"))
        }
        let text = try node.nonEmptyString()
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex, text.index(after: colon) != text.endIndex
        else {
            throw node.expected("{username, secret} or \"username:secret\"")
        }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// The project token and the `/import` credentials.
    public var secretValues: [String] {
        switch importAuth {
        case .projectToken: return [token]
        case .apiSecret(let secret): return [token, secret]
        case .serviceAccount(_, let secret, _): return [token, secret]
        }
    }

    public var summary: [(key: String, value: String)] {
        var lines: [(key: String, value: String)] = [("token", SecretMask.mask(token))]
        switch importAuth {
        case .projectToken:
            lines.append(("import_auth", "project token"))
        case .apiSecret(let secret):
            lines.append(("import_auth", "API secret \(SecretMask.mask(secret))"))
        case .serviceAccount(let username, let secret, let projectID):
            lines.append(
                ("import_auth", "service account \(username) (secret \(SecretMask.mask(secret))), project \(projectID)")
            )
        }
        lines.append(("region", region.rawValue))
        lines.append(("base_url", baseURL))
        lines.append(("id_merge", idMerge.rawValue))
        lines.append(("page_event_name", pageEventName.configText))
        return lines
    }
}
