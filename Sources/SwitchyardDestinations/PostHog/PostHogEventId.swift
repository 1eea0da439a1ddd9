import Crypto
import SwitchyardCore

/// PostHog's idempotency key, the event `uuid`, derived from the Segment `messageId` (SPEC §4,
/// vendor-formats §0). PostHog drops an event whose `uuid` is not a valid UUID, so:
///
/// - a messageId that already is a UUID in the canonical `8-4-4-4-12` hex form (any case) is sent as it is;
/// - any other messageId becomes the UUIDv5 (RFC 9562 §5.5, SHA-1) of its UTF-8 bytes in the namespace
///   ``namespace`` = `ad57558e-f7a2-51ea-ab0f-3a1a48ae0a91`, which is itself
///   `uuid5(NAMESPACE_URL, "urn:switchyard:posthog:messageId")`. In Python:
///   `uuid.uuid5(uuid.UUID("ad57558e-f7a2-51ea-ab0f-3a1a48ae0a91"), message_id)`.
///
/// Either way the same messageId always gives the same `uuid`, so a retried or replayed event dedupes.
public enum PostHogEventId {
    /// The namespace of derived ids, `ad57558e-f7a2-51ea-ab0f-3a1a48ae0a91`.
    public static let namespace: [UInt8] = [
        0xad, 0x57, 0x55, 0x8e, 0xf7, 0xa2, 0x51, 0xea, 0xab, 0x0f, 0x3a, 0x1a, 0x48, 0xae, 0x0a, 0x91,
    ]

    /// The `uuid` PostHog gets for an event with this messageId.
    public static func uuid(messageId: String) -> String {
        isCanonicalUUID(messageId) ? messageId : uuidV5(namespace: namespace, name: messageId)
    }

    /// Whether `text` is 32 hex digits grouped `8-4-4-4-12` — the form every UUID parser accepts.
    public static func isCanonicalUUID(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count == 36 else { return false }
        for (index, byte) in utf8.enumerated() {
            switch index {
            case 8, 13, 18, 23:
                guard byte == UInt8(ascii: "-") else { return false }
            default:
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
                    UInt8(ascii: "A")...UInt8(ascii: "F"):
                    continue
                default:
                    return false
                }
            }
        }
        return true
    }

    /// RFC 9562 version 5: the first 16 bytes of SHA-1(namespace ‖ name), with the version nibble set to 5
    /// and the variant bits to `10`. Lowercase `8-4-4-4-12` text.
    public static func uuidV5(namespace: [UInt8], name: String) -> String {
        var hasher = Insecure.SHA1()
        hasher.update(data: namespace)
        hasher.update(data: Array(name.utf8))
        var bytes = Array(hasher.finalize().prefix(16))
        bytes[6] = bytes[6] & 0x0F | 0x50
        bytes[8] = bytes[8] & 0x3F | 0x80
        return MessageId.uuidText(bytes)
    }
}
