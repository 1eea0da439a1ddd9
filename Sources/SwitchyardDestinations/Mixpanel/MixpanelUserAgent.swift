/// `$browser` and `$browser_version` from a `context.userAgent`, the way Mixpanel's own web SDK
/// names browsers (Segment's Mixpanel action does the same server-side).
///
/// Rules are tried in order; the first whose marker occurs in the user agent names the browser,
/// and the version is the `major[.minor]` number right after the rule's version token. Browsers
/// that embed another's marker come first (Edge and Opera say `Chrome/`, Chrome says `Safari/`).
///
/// | marker | `$browser` | version after |
/// | --- | --- | --- |
/// | `OPR/` | Opera | `OPR/` |
/// | `Opera` | Opera | `Version/` |
/// | `SamsungBrowser/` | Samsung Internet | `SamsungBrowser/` |
/// | `Edg/`, `EdgA/`, `EdgiOS/`, `Edge/` | Microsoft Edge | the marker |
/// | `FBIOS`, `FBAN` | Facebook Mobile | — |
/// | `CriOS/` | Chrome iOS | `CriOS/` |
/// | `FxiOS/` | Firefox iOS | `FxiOS/` |
/// | `UCBrowser/` | UC Browser | `UCBrowser/` |
/// | `Chrome/` | Chrome | `Chrome/` |
/// | `Firefox/` | Firefox | `Firefox/` |
/// | `MSIE ` | Internet Explorer | `MSIE ` |
/// | `Trident/` | Internet Explorer | `rv:` |
/// | `Version/` and `Mobile` | Mobile Safari | `Version/` |
/// | `Version/` and `Safari` | Safari | `Version/` |
/// | `Android` | Android Mobile | `Android ` |
///
/// No rule matching means no `$browser` property.
public struct MixpanelUserAgent: Sendable, Equatable {
    /// `$browser`, e.g. `Chrome`.
    public var browser: String
    /// `$browser_version` as JSON number text, e.g. `120.0`; nil when the user agent has none.
    public var version: String?

    private struct Rule {
        var markers: [String]
        var alsoRequires: String?
        var browser: String
        /// nil: the marker that matched.
        var versionToken: String?
        var hasVersion = true
    }

    private static let rules: [Rule] = [
        Rule(markers: ["OPR/"], browser: "Opera", versionToken: "OPR/"),
        Rule(markers: ["Opera"], browser: "Opera", versionToken: "Version/"),
        Rule(markers: ["SamsungBrowser/"], browser: "Samsung Internet", versionToken: "SamsungBrowser/"),
        Rule(markers: ["Edg/", "EdgA/", "EdgiOS/", "Edge/"], browser: "Microsoft Edge", versionToken: nil),
        Rule(markers: ["FBIOS", "FBAN"], browser: "Facebook Mobile", versionToken: nil, hasVersion: false),
        Rule(markers: ["CriOS/"], browser: "Chrome iOS", versionToken: "CriOS/"),
        Rule(markers: ["FxiOS/"], browser: "Firefox iOS", versionToken: "FxiOS/"),
        Rule(markers: ["UCBrowser/"], browser: "UC Browser", versionToken: "UCBrowser/"),
        Rule(markers: ["Chrome/"], browser: "Chrome", versionToken: "Chrome/"),
        Rule(markers: ["Firefox/"], browser: "Firefox", versionToken: "Firefox/"),
        Rule(markers: ["MSIE "], browser: "Internet Explorer", versionToken: "MSIE "),
        Rule(markers: ["Trident/"], browser: "Internet Explorer", versionToken: "rv:"),
        Rule(markers: ["Version/"], alsoRequires: "Mobile", browser: "Mobile Safari", versionToken: "Version/"),
        Rule(markers: ["Version/"], alsoRequires: "Safari", browser: "Safari", versionToken: "Version/"),
        Rule(markers: ["Android"], browser: "Android Mobile", versionToken: "Android "),
    ]

    /// Parses `userAgent`, or returns nil when no rule names a browser.
    public init?(_ userAgent: String) {
        for rule in Self.rules {
            guard let marker = rule.markers.first(where: { userAgent.contains($0) }) else { continue }
            if let required = rule.alsoRequires, !userAgent.contains(required) { continue }
            browser = rule.browser
            version = rule.hasVersion ? Self.number(after: rule.versionToken ?? marker, in: userAgent) : nil
            return
        }
        return nil
    }

    /// `major[.minor]` right after the first `token` in `text`.
    static func number(after token: String, in text: String) -> String? {
        guard let range = text.firstRange(of: token) else { return nil }
        let rest = text[range.upperBound...]
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        // Through Int: JSON numbers have no leading zeros; nine digits cannot overflow.
        guard !digits.isEmpty, digits.count <= 9, let major = Int(digits) else { return nil }
        let afterMajor = rest.dropFirst(digits.count)
        guard afterMajor.first == "." else { return String(major) }
        let minor = afterMajor.dropFirst().prefix { $0.isASCII && $0.isNumber }
        return minor.isEmpty ? String(major) : "\(major).\(minor)"
    }
}
