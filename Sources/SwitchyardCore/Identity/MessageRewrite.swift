/// Edits of a stored message's bytes that delivery needs, without re-encoding the rest.
public enum MessageRewrite {
    /// The message with `"userId"` set to `userId` — for an anonymous event that identity resolved, which
    /// destinations receive under the person's id with its `anonymousId` kept. The stored message of such
    /// an event has no `userId` member (ingest writes it only when present), so it is added first.
    public static func settingUserId(_ body: [UInt8], _ userId: String) -> [UInt8] {
        guard let open = body.firstIndex(of: UInt8(ascii: "{")) else { return body }
        var writer = JSONWriter(capacity: body.count + userId.utf8.count + 16)
        writer.raw(Array(body[...open]))
        writer.raw("\"userId\":")
        writer.string(userId)
        let rest = body[(open + 1)...]
        // An empty object gets no comma.
        if rest.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) != UInt8(ascii: "}") {
            writer.comma()
        }
        writer.raw(Array(rest))
        return writer.bytes
    }
}
