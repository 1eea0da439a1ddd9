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
        guard secrets.contains(where: { !$0.isEmpty }) else { return text }
        return String(decoding: redact(bytes: Array(text.utf8), secrets: secrets), as: UTF8.self)
    }

    /// ``redact(_:secrets:)`` on UTF-8 bytes. A byte search: `String.replacing` compares Characters, and
    /// on the live view's 50 KB batch bodies it took a fifth of the gateway's CPU. Bytes match wherever the
    /// text does (and also where a combining mark follows a secret, which a Character match would miss).
    public static func redact(bytes: [UInt8], secrets: [String]) -> [UInt8] {
        var result = bytes
        for secret in Set(secrets).filter({ !$0.isEmpty }).sorted(by: { $0.utf8.count > $1.utf8.count }) {
            let masked = Array(mask(secret).utf8)
            result = replacing(Array(secret.utf8), with: masked, in: result)
            let escaped = secret.replacing("/", with: "\\/")
            if escaped != secret { result = replacing(Array(escaped.utf8), with: masked, in: result) }
        }
        return result
    }

    /// `bytes` with every non-overlapping occurrence of `needle` (not empty), left to right, replaced.
    static func replacing(_ needle: [UInt8], with replacement: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        guard let first = needle.first, bytes.count >= needle.count else { return bytes }
        var result: [UInt8] = []
        var copied = 0
        var index = 0
        let last = bytes.count - needle.count
        while index <= last {
            // Each step advances by one byte or past a match: linear in the input times the needle.
            guard bytes[index] == first, bytes[index..<(index + needle.count)].elementsEqual(needle) else {
                index += 1
                continue
            }
            if result.isEmpty { result.reserveCapacity(bytes.count) }
            result.append(contentsOf: bytes[copied..<index])
            result.append(contentsOf: replacement)
            index += needle.count
            copied = index
        }
        guard copied > 0 else { return bytes }
        result.append(contentsOf: bytes[copied...])
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
