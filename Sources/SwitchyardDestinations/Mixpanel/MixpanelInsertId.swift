import Crypto

/// Mixpanel's dedupe key, `properties.$insert_id`, derived from a Segment `messageId`
/// (vendor-formats §0 and §1.3).
///
/// Mixpanel accepts at most 36 bytes of `[A-Za-z0-9-]` and refuses a list of placeholder values
/// (`anon`, `null`, `0`, the nil UUID, …). A messageId that is acceptable is used as it is, so the
/// usual UUID messageIds stay readable in Mixpanel; any other is replaced by the first 36 hex
/// digits of its SHA-256. Both are deterministic, so a retried request dedupes instead of
/// double-counting.
public enum MixpanelInsertId {
    /// Values Mixpanel refuses as `$insert_id` and `distinct_id`, compared case-insensitively.
    static let refused: Set<String> = [
        "00000000-0000-0000-0000-000000000000", "anon", "anonymous", "nil", "none", "null", "n/a", "na",
        "undefined", "unknown", "<nil>", "0", "-1", "true", "false", "[]", "{}",
    ]

    /// The `$insert_id` for `messageId`.
    public static func of(_ messageId: String) -> String {
        if isAcceptable(messageId) { return messageId }
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: Array(messageId.utf8)) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex.prefix(36), as: UTF8.self)
    }

    /// Whether Mixpanel takes `text` as an `$insert_id` unchanged: 1…36 of `[A-Za-z0-9-]`, not refused.
    static func isAcceptable(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard (1...36).contains(utf8.count) else { return false }
        let allowed = utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
        return allowed && !refused.contains(text.lowercased())
    }
}
