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
}
