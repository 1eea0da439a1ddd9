/// How secrets appear in `switchyard check` and anywhere else a person reads settings.
///
/// Contract: the result never contains the whole secret, and reveals at most its last 4 characters:
///
/// | secret                         | shown                 | why                                        |
/// | ------------------------------ | --------------------- | ------------------------------------------ |
/// | `""`                           | `(empty)`             | nothing to hide                            |
/// | `whsec_…`, `phc_…`, `sk_…`     | `whsec_…(masked)`     | a known prefix tells which kind it is       |
/// | 12 characters or more          | `****` + last 4       | enough to tell two keys apart              |
/// | shorter                        | `****`                | the last 4 would be too much of it          |
public enum SecretMask {
    /// Prefixes that name a kind of key rather than being part of its secret.
    private static let knownPrefixes = ["whsec_", "whsk_", "phc_", "phx_", "sk_", "pk_"]

    /// `secret` masked per the table above.
    public static func mask(_ secret: String) -> String {
        if secret.isEmpty {
            return "(empty)"
        }
        if let prefix = knownPrefixes.first(where: { secret.hasPrefix($0) && secret.count > $0.count }) {
            return prefix + "…(masked)"
        }
        if secret.count >= 12 {
            return "****" + secret.suffix(4)
        }
        return "****"
    }

    /// An http(s) URL reduced to scheme, host and port, with `/…` standing for any path or query:
    /// webhook URLs often carry their credential in the path (`https://hooks.example.com/T0/B0/s3cr3t`).
    /// Text that is not such a URL is masked whole with ``mask(_:)``.
    public static func maskURL(_ url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return mask(url) }
        let afterScheme = url[schemeEnd.upperBound...]
        let separators: Set<Character> = ["/", "?", "#"]
        let authorityEnd = afterScheme.firstIndex(where: separators.contains) ?? afterScheme.endIndex
        var authority = afterScheme[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            // user:password@host: keep neither.
            authority = authority[authority.index(after: at)...]
        }
        let rest = afterScheme[authorityEnd...]
        let shown = url[..<schemeEnd.upperBound] + authority
        return rest.isEmpty || rest == "/" ? String(shown) : shown + "/…"
    }

    /// `text` with every occurrence of each of `secrets` replaced by ``mask(_:)`` of it — also their
    /// JSON-escaped form (`/` may travel as `\/`). Longer secrets are replaced first, so a secret that
    /// contains another is hidden whole.
    public static func redact(_ text: String, secrets: [String]) -> String {
        var result = text
        for secret in Set(secrets).filter({ !$0.isEmpty }).sorted(by: { $0.count > $1.count }) {
            let masked = mask(secret)
            result = result.replacing(secret, with: masked)
            let escaped = secret.replacing("/", with: "\\/")
            if escaped != secret { result = result.replacing(escaped, with: masked) }
        }
        return result
    }

    /// A request URL as a person may see it: credentials before `@` masked, then ``redact(_:secrets:)``.
    public static func maskRequestURL(_ url: String, secrets: [String]) -> String {
        var shown = url
        if let schemeEnd = url.firstRange(of: "://") {
            let afterScheme = url[schemeEnd.upperBound...]
            let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
            if let at = afterScheme[..<authorityEnd].lastIndex(of: "@") {
                let userInfo = String(afterScheme[..<at])
                shown = String(url[..<schemeEnd.upperBound]) + mask(userInfo) + String(url[at...])
            }
        }
        return redact(shown, secrets: secrets)
    }

    /// Headers that carry a credential whatever their value: shown as their scheme (`Basic`, `Bearer`)
    /// and ``mask(_:)`` of the rest.
    public static let credentialHeaders: Set<String> = [
        "authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "apikey", "x-auth-token",
    ]

    /// A request header value as a person may see it: credential headers masked whole (keeping an auth
    /// scheme word), others through ``redact(_:secrets:)``.
    public static func maskHeader(name: String, value: String, secrets: [String]) -> String {
        guard credentialHeaders.contains(name.lowercased()) else { return redact(value, secrets: secrets) }
        if let space = value.firstIndex(of: " "), value[..<space].allSatisfy(\.isLetter) {
            return String(value[...space]) + mask(String(value[value.index(after: space)...]))
        }
        return mask(value)
    }
}
