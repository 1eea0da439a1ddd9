import Crypto
import Foundation

/// Signs webhook requests per Standard Webhooks v1 (symmetric): for each secret,
/// `v1,` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")), where the key is the
/// base64-decoded part of `whsec_…` and the body is the exact bytes sent.
///
/// Contract: one signature per secret, in the order configured, separated by one space (the
/// `webhook-signature` header's format, so a receiver that knows any one of the secrets accepts the
/// request during a rotation). With no secrets the signature is the empty string and the caller sends
/// no `webhook-signature` header.
public struct WebhookSigner: Sendable {
    public let secrets: [WebhookSettings.Secret]

    public init(secrets: [WebhookSettings.Secret]) {
        self.secrets = secrets
    }

    /// The `webhook-signature` header value for a request with this id, timestamp (integer seconds) and body.
    public func signature(id: String, timestamp: Int64, body: [UInt8]) -> String {
        guard !secrets.isEmpty else { return "" }
        var message = Array("\(id).\(timestamp).".utf8)
        message.append(contentsOf: body)
        return secrets.map { secret in
            let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret.key))
            return "v1," + Data(code).base64EncodedString()
        }.joined(separator: " ")
    }
}
