import SwitchyardCore

/// The NDJSON lines the warehouse writes, each ending in `\n`.
enum WarehouseLine {
    /// The event's stored message with `"resolvedUserId":<string or null>` added as its last member.
    ///
    /// The stored body is copied byte for byte except that:
    /// - raw `\r` and `\n` bytes become spaces: ingest copies client JSON verbatim, so a pretty-printed
    ///   `properties` may carry line breaks between tokens, and in valid JSON they can be nothing else
    ///   (strings escape them), so the replacement changes no value but keeps one event per line;
    /// - a top-level `resolvedUserId` the client sent is dropped, so the gateway's is the only one.
    ///
    /// Returns nil when the body is not a JSON object (it cannot become a row).
    static func event(_ event: DeliveryEvent) -> [UInt8]? {
        var body = event.body
        if containsKey(body) {
            guard let rebuilt = withoutResolvedUserId(body) else { return nil }
            body = rebuilt
        }
        guard let open = body.firstIndex(where: { !isWhitespace($0) }), body[open] == UInt8(ascii: "{"),
            let close = body.lastIndex(where: { !isWhitespace($0) }), close > open, body[close] == UInt8(ascii: "}")
        else { return nil }
        let isEmptyObject = body[(open + 1)..<close].allSatisfy(isWhitespace)
        var writer = JSONWriter(capacity: close - open + 64)
        writer.bytes.append(contentsOf: body[open..<close])
        if !isEmptyObject { writer.comma() }
        writer.key("resolvedUserId")
        writer.optionalString(event.resolvedUserId)
        writer.raw("}\n")
        return withoutLineBreaks(writer.bytes)
    }

    /// One `identity_merges` row: `{"anonymousId","userId","mergedAt","messageId"}`.
    static func merge(anonymousId: String, userId: String, mergedAt: Timestamp, messageId: String) -> [UInt8] {
        var writer = JSONWriter(capacity: 160)
        writer.raw("{")
        writer.key("anonymousId")
        writer.string(anonymousId)
        writer.comma()
        writer.key("userId")
        writer.string(userId)
        writer.comma()
        writer.key("mergedAt")
        writer.string(mergedAt.iso8601)
        writer.comma()
        writer.key("messageId")
        writer.string(messageId)
        writer.raw("}\n")
        return writer.bytes
    }

    private static let key = Array("\"resolvedUserId\"".utf8)

    /// A cheap pre-check: the key's bytes appear anywhere (almost never), before parsing anything.
    private static func containsKey(_ body: [UInt8]) -> Bool {
        guard body.count >= key.count else { return false }
        for start in 0...(body.count - key.count) where body[start] == key[0] {
            if body[start..<(start + key.count)].elementsEqual(key) { return true }
        }
        return false
    }

    /// The object without its top-level `resolvedUserId` members, or nil when the body is not an object.
    private static func withoutResolvedUserId(_ body: [UInt8]) -> [UInt8]? {
        body.withUnsafeBufferPointer { buffer -> [UInt8]? in
            var scanner = JSONScanner(buffer)
            guard let range = try? scanner.scanDocument(),  // not JSON: the caller rejects the event
                buffer[range.lowerBound] == UInt8(ascii: "{")
            else { return nil }
            var out: [UInt8] = [UInt8(ascii: "{")]
            var first = true
            for member in scanner.members(ofObjectIn: range)
            where !JSONText.key(buffer, member.key, equals: "resolvedUserId") {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[member.key]))
                out.append(UInt8(ascii: ":"))
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[member.value]))
            }
            out.append(UInt8(ascii: "}"))
            return out
        }
    }

    private static func withoutLineBreaks(_ line: [UInt8]) -> [UInt8] {
        let end = line.count - 1  // the final `\n` stays
        guard line[..<end].contains(where: { $0 == 0x0A || $0 == 0x0D }) else { return line }
        var copy = line
        for index in 0..<end where copy[index] == 0x0A || copy[index] == 0x0D {
            copy[index] = 0x20
        }
        return copy
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}
