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

    /// The message with `context.switchyard.heldFor` set to `heldFor` in seconds — on a held event replayed after its
    /// anonymous id merged, so receivers can tell it from live traffic (SPEC §4). Held events are rare, so
    /// this goes through the tree; a body that is not an object is returned as it was.
    public static func settingHeldFor(_ body: [UInt8], _ heldFor: Duration) -> [UInt8] {
        guard case .object(var message)? = try? JSONValue.parse(body) else { return body }
        var context = message["context"]?.objectValue ?? JSONObject()
        var switchyard = context["switchyard"]?.objectValue ?? JSONObject()
        // Seconds with millisecond precision, as a plain decimal (a Double's description could be `1e-05`).
        let milliseconds = max(heldFor.milliseconds, 0)
        let fraction = String(milliseconds % 1000)
        let text = "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
        switchyard["heldFor"] = .number(text)
        context["switchyard"] = .object(switchyard)
        message["context"] = .object(context)
        return JSONValue.object(message).bytes
    }
}
