/// Typed readers for a single node. Each throws a ``ConfigError`` located at this node whose message
/// says what was expected and what was found, e.g. `expected a duration like 4h, got "four hours"`.
/// Values of secret-looking keys (``isSecret``) are never echoed: the message says `got a value`.
extension ConfigNode {
    /// True for `.null` (an empty value, `~`, `null`).
    public var isNull: Bool {
        if case .null = value { return true }
        return false
    }

    /// The text of a scalar, `nil` for any other kind of node.
    public var scalarText: String? {
        if case .scalar(let text) = value { return text }
        return nil
    }

    /// The last key on this node's path (`max_age` for `destinations[1].retry.max_age`, `secrets` for
    /// `destinations[0].secrets[1]`); `nil` for the root.
    public var key: String? {
        keyComponents.last.map(String.init)
    }

    /// True when this node or one of its parents has a key that holds credentials: a key containing
    /// `secret`, `token`, `password`, `credential` or `private`, ending in `key`/`keys` (`write_key`,
    /// `api_key`), or one of `url` (webhook URLs embed tokens), `postgres` (a connection URL with a
    /// password), `headers`, `authorization`, `service_account`. Such values are never echoed in errors.
    public var isSecret: Bool {
        keyComponents.contains { Self.isSecretKey($0) }
    }

    /// How error messages refer to this node's value: `"four hours"` (quoted, cut at 60 characters),
    /// `a value` for secrets, `a mapping`, `a list` or `nothing`.
    public var valueDescription: String {
        switch value {
        case .scalar(let text):
            if isSecret { return "a value" }
            let shown = text.count > 60 ? text.prefix(57) + "..." : Substring(text)
            return String(shown).debugDescription
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .null: return "nothing"
        }
    }

    /// A ``ConfigError`` at this node.
    public func error(_ message: String) -> ConfigError {
        ConfigError(at: self, message)
    }

    /// The error for a value of the wrong kind: `expected WHAT, got <valueDescription>`.
    public func expected(_ what: String) -> ConfigError {
        error("expected \(what), got \(valueDescription)")
    }

    /// This node as a mapping reader. Null reads as an empty mapping, so `retry:` with nothing under
    /// it means "all defaults".
    public func mapping() throws -> ConfigMapping {
        try ConfigMapping(self)
    }

    /// This node's elements. Null reads as an empty list.
    public func sequence() throws -> [ConfigNode] {
        switch value {
        case .sequence(let elements): return elements
        case .null: return []
        default: throw expected("a list")
        }
    }

    /// A scalar's text, possibly empty. Refuses null, mappings and lists.
    public func string() throws -> String {
        guard let text = scalarText else { throw expected("a string") }
        return text
    }

    /// A scalar's text that is not empty. Refuses `""`, null, mappings and lists.
    public func nonEmptyString() throws -> String {
        if isNull { throw error("must not be empty") }
        let text = try string()
        if text.isEmpty { throw error("must not be empty") }
        return text
    }

    /// `true` or `false` (any case). YAML 1.1's `yes`/`no`/`on`/`off` are refused, not guessed.
    public func bool() throws -> Bool {
        switch scalarText?.lowercased() {
        case "true": return true
        case "false": return false
        default: throw expected("true or false")
        }
    }

    /// A whole number (`_` may group digits: `50_000`), optionally limited to `range`.
    public func int(in range: ClosedRange<Int>? = nil) throws -> Int {
        guard let text = scalarText, let number = Self.parseInt(text) else { throw expected("a whole number") }
        if let range, !range.contains(number) {
            if range.upperBound == Int.max {
                throw error("must be at least \(range.lowerBound), got \(number)")
            }
            throw error("must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
        }
        return number
    }

    /// A finite number greater than zero, such as a rate in events per second (`100`, `0.5`).
    public func positiveNumber() throws -> Double {
        guard let text = scalarText, let number = Double(text.filter { $0 != "_" }), number.isFinite else {
            throw expected("a number")
        }
        guard number > 0 else { throw error("must be greater than 0, got \(text)") }
        return number
    }

    /// A duration such as `500ms`, `30s`, `5m`, `4h`, `30d` or `1h30m` (see ``DurationText``).
    public func duration() throws -> Duration {
        guard let text = scalarText, let duration = DurationText.parse(text) else {
            // Name the limit when the text is a duration in form, just too long.
            if let text = scalarText, DurationText.isTooLong(text) {
                throw error("expected a duration of at most 100 years (36500d), got \(valueDescription)")
            }
            throw expected("a duration like 4h")
        }
        return duration
    }

    /// A size such as `512KB`, `64MiB` or `20GiB` (see ``ByteSize``).
    public func size() throws -> ByteSize {
        guard let text = scalarText, let size = ByteSize(parsing: text) else { throw expected("a size like 64MiB") }
        return size
    }

    /// One of a fixed set of words, matched exactly (`hold`, not `Hold`).
    public func word(oneOf words: [String]) throws -> String {
        guard let text = scalarText, words.contains(text) else {
            throw error("expected one of: " + words.joined(separator: ", ") + "; got " + valueDescription)
        }
        return text
    }

    /// A case of `E` written as its raw value, e.g. `anonymous: hold` for an enum with `case hold`.
    public func choice<E: RawRepresentable & CaseIterable>(_ type: E.Type = E.self) throws -> E
    where E.RawValue == String {
        let word = try word(oneOf: E.allCases.map(\.rawValue))
        // The word was just matched against the raw values of allCases.
        return E(rawValue: word)!
    }

    /// A list of strings; each element must be a scalar (null elements are refused: quote `"null"`).
    public func stringList() throws -> [String] {
        try sequence().map { element in
            if element.isNull {
                throw element.error("expected a string, got nothing (write \"null\" or \"\" in quotes)")
            }
            return try element.string()
        }
    }

    /// A mapping of strings to strings, such as HTTP headers. Null values are refused.
    public func stringMap() throws -> [String: String] {
        var result: [String: String] = [:]
        for (key, node) in try mapping().entries {
            if node.isNull { throw node.expected("a string") }
            result[key] = try node.string()
        }
        return result
    }

    /// An absolute URL with one of `schemes` and a host, such as an endpoint `https://api-eu.mixpanel.com`
    /// or `http://127.0.0.1:9000/prefix`. Returned as written.
    public func url(schemes: [String] = ["http", "https"]) throws -> String {
        let text = try nonEmptyString()
        let what = "an absolute " + schemes.joined(separator: " or ") + " URL"
        guard let schemeEnd = text.firstRange(of: "://"),
            schemes.contains(text[..<schemeEnd.lowerBound].lowercased())
        else { throw expected(what) }
        let afterScheme = text[schemeEnd.upperBound...]
        let authority = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let host = authority.split(separator: "@").last ?? ""
        guard !host.isEmpty, !host.hasPrefix(":"), !text.contains(where: { $0.isWhitespace }) else {
            throw expected(what)
        }
        return text
    }

    /// A vendor base URL, as `endpoint:` takes it: http(s), host, optional port and path prefix, no
    /// query or fragment. Trailing `/`s are removed so adapters append `/import`, `/batch/`, … directly.
    public func baseURL() throws -> String {
        var text = try url()
        guard !text.contains("?"), !text.contains("#") else {
            throw expected("a base URL (scheme, host, optional port and path; no query)")
        }
        while text.hasSuffix("/") {
            text.removeLast()
        }
        return text
    }

    static func parseInt(_ text: String) -> Int? {
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard let first = digits.first, first.isASCII, first.isNumber, digits.last != "_",
            digits.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "_") })
        else { return nil }
        return Int(text.filter { $0 != "_" })
    }

    private var keyComponents: [Substring] {
        path.split(separator: ".").map { component in
            component.firstIndex(of: "[").map { component[..<$0] } ?? component
        }.filter { !$0.isEmpty }
    }

    private static func isSecretKey(_ key: Substring) -> Bool {
        let key = key.lowercased()
        let fragments = ["secret", "token", "password", "passwd", "credential", "private"]
        let whole: Set<String> = ["url", "postgres", "headers", "authorization", "service_account"]
        return fragments.contains { key.contains($0) } || key.hasSuffix("key") || key.hasSuffix("keys")
            || whole.contains(key)
    }
}
