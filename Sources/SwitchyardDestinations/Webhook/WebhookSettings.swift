import Foundation
import SwitchyardCore

/// Settings of a `type: webhook` destination: POST JSON to `url`, signed per Standard Webhooks.
///
/// Keys: `url` (required, http or https), `secret` **or** `secrets` (a list, for rotation; both is an
/// error; none means unsigned), `headers` (a map of extra request headers).
public struct WebhookSettings: DestinationTypeSettings {
    /// A Standard Webhooks signing secret: `whsec_` followed by base64 of the HMAC key.
    public struct Secret: Sendable, Equatable {
        /// The secret as written, `whsec_…`. Never log or print it; use `SecretMask`.
        public var text: String
        /// The HMAC-SHA256 key: the base64-decoded bytes after `whsec_`.
        public var key: [UInt8]

        /// Parses `whsec_<base64>` (padding optional, as the reference libraries accept), or `nil`.
        public init?(_ text: String) {
            guard text.hasPrefix("whsec_") else { return nil }
            var encoded = String(text.dropFirst("whsec_".count))
            while encoded.count % 4 != 0 {
                encoded += "="
            }
            guard let data = Data(base64Encoded: encoded), !data.isEmpty else { return nil }
            self.text = text
            self.key = Array(data)
        }
    }

    public static let type = "webhook"
    public static let keys: Set<String> = ["url", "secret", "secrets", "headers"]

    /// Headers the adapter sets itself; configuring them is an error.
    static let reservedHeaders: Set<String> = [
        "webhook-id", "webhook-timestamp", "webhook-signature", "content-length", "host", "transfer-encoding",
    ]

    /// `url`: where events are POSTed. Secret-ish (hook URLs often carry a token): shown masked.
    public var url: String
    /// `secret` / `secrets`: every secret signs each request (one `v1,` signature per secret, for
    /// rotation). Empty means requests are not signed.
    public var secrets: [Secret]
    /// `headers`: extra request headers, names as written; values are treated as secrets in output.
    public var headers: [String: String]

    /// Creates settings directly (tests, embedders).
    public init(url: String, secrets: [Secret] = [], headers: [String: String] = [:]) {
        self.url = url
        self.secrets = secrets
        self.headers = headers
    }

    public init(node: ConfigNode) throws {
        let mapping = try node.mapping()
        url = try mapping.url("url")
        if let single = mapping.entry("secret"), let list = mapping.entry("secrets") {
            throw (single.line > list.line ? single : list).error("set either secret or secrets, not both")
        }
        var secretNodes: [ConfigNode] = []
        if let single = mapping["secret"], single.scalarText != "" {
            secretNodes = [single]
        } else {
            secretNodes = try mapping.sequence("secrets")
        }
        secrets = try secretNodes.map { node in
            guard let secret = Secret(try node.nonEmptyString()) else {
                throw node.expected("a Standard Webhooks secret: whsec_ followed by base64")
            }
            return secret
        }
        let headerMapping = try mapping.mapping("headers")
        for (name, valueNode) in headerMapping.entries {
            guard !name.isEmpty, name.allSatisfy(Self.isTokenCharacter) else {
                throw valueNode.error("not a valid HTTP header name")
            }
            guard !Self.reservedHeaders.contains(name.lowercased()) else {
                throw valueNode.error("header \(name) is set by the gateway and cannot be configured")
            }
            if let value = valueNode.scalarText, value.contains(where: { $0 == "\r" || $0 == "\n" }) {
                throw valueNode.error("a header value cannot contain a line break")
            }
        }
        headers = try headerMapping.node.stringMap()
    }

    /// The signing secrets (whole, and their key part after `whsec_`), every header value, and the URL's
    /// path and query: hook URLs often carry their credential there, so `switchyard check` hides it too.
    public var secretValues: [String] {
        var values = secrets.flatMap { [$0.text, String($0.text.dropFirst("whsec_".count))] } + headers.values
        if let schemeEnd = url.firstRange(of: "://"),
            let pathStart = url[schemeEnd.upperBound...].firstIndex(where: { $0 == "/" || $0 == "?" })
        {
            let rest = url[pathStart...].drop { $0 == "/" || $0 == "?" }
            if !rest.isEmpty { values.append(String(rest)) }
        }
        return values.filter { !$0.isEmpty }
    }

    public var summary: [(key: String, value: String)] {
        var lines: [(key: String, value: String)] = [("url", SecretMask.maskURL(url))]
        if secrets.isEmpty {
            lines.append(("signing", "off (no secret)"))
        } else {
            let masked = secrets.map { SecretMask.mask($0.text) }.joined(separator: ", ")
            lines.append(("signing", "Standard Webhooks, \(secrets.count) secret(s): \(masked)"))
        }
        for name in headers.keys.sorted() {
            // Header values are often credentials (Authorization, X-Api-Key).
            lines.append(("headers.\(name)", SecretMask.mask(headers[name] ?? "")))
        }
        return lines
    }

    /// RFC 9110 `tchar`.
    private static func isTokenCharacter(_ character: Character) -> Bool {
        guard character.isASCII else { return false }
        return character.isLetter || character.isNumber || "!#$%&'*+-.^_`|~".contains(character)
    }
}
