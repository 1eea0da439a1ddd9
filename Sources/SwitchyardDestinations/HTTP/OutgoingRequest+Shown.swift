import CompressNIO
import NIOCore
import SwitchyardCore

extension OutgoingRequest {
    /// Bodies longer than this are cut in the live view, with a marker saying how long they were.
    public static let shownBodyLimit = 16 * 1024

    /// The request as the live view and `preview` show it (SPEC §6 `delivery.request`): method, URL,
    /// headers and body exactly as sent, except that every secret is masked with ``SecretMask`` (the
    /// destination's `secretValues` wherever they occur, credentials in the URL and in credential
    /// headers), a gzipped body is shown decoded (`"bodyEncoding":"gzip"` says so), and a body past
    /// 16 KB is cut with a marker.
    public func shown(secrets: [String]) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("method", .string(method)),
            ("url", .string(SecretMask.maskRequestURL(url, secrets: secrets))),
        ]
        var headerObject = JSONObject()
        var headerMembers: [(String, JSONValue)] = []
        for (name, value) in headers {
            headerMembers.append((name, .string(SecretMask.maskHeader(name: name, value: value, secrets: secrets))))
        }
        headerObject = JSONObject(headerMembers)
        members.append(("headers", .object(headerObject)))
        var bodyBytes = body
        if header("content-encoding")?.lowercased() == "gzip" {
            var buffer = ByteBuffer(bytes: body)
            // Our own gzip, so decoding succeeds; were it to fail, the raw bytes are shown instead.
            if let plain = try? buffer.decompress(with: .gzip()) {
                bodyBytes = Array(plain.readableBytesView)
                members.append(("bodyEncoding", .string("gzip")))
            }
        }
        members.append(("body", .string(Self.shownText(bodyBytes, secrets: secrets))))
        return .object(JSONObject(members))
    }

    /// Text of a body for display: secrets masked, cut after ``shownBodyLimit`` bytes with a marker.
    public static func shownText(_ bytes: [UInt8], secrets: [String]) -> String {
        // Only about what is shown is masked, so a large batch body costs the live view ~16 KB of work. A
        // prefix is examined and masked; it is enough when its masked form still reaches the cut by the
        // longest secret (an occurrence that straddles the prefix's end starts after what is shown, masks
        // having shortened or lengthened what came before); else a longer prefix is examined.
        let longest = secrets.map { $0.utf8.count + 1 }.max() ?? 0  // +1: the escaped `\/` form may be longer
        let escapedLongest = longest * 2
        var reach = min(bytes.count, shownBodyLimit + escapedLongest)
        var utf8 = SecretMask.redact(bytes: Array(bytes[..<reach]), secrets: secrets)
        while reach < bytes.count, utf8.count - escapedLongest < shownBodyLimit {
            reach = bytes.count - reach <= reach ? bytes.count : reach * 2
            utf8 = SecretMask.redact(bytes: Array(bytes[..<reach]), secrets: secrets)
        }
        guard bytes.count > shownBodyLimit || utf8.count > shownBodyLimit else {
            return String(decoding: utf8, as: UTF8.self)
        }
        // Cut on a character boundary: drop continuation bytes at the end of the prefix.
        var end = min(shownBodyLimit, utf8.count)
        while end > 0, end < utf8.count, utf8[end] & 0xC0 == 0x80 { end -= 1 }
        return String(decoding: utf8[..<end], as: UTF8.self) + "…[cut: \(bytes.count) bytes in all]"
    }
}

extension HTTPResult {
    /// The answer as the live view shows it: status and body (masked and cut like request bodies).
    public func shown(secrets: [String]) -> JSONValue {
        [
            "status": .number(String(status)),
            "body": .string(OutgoingRequest.shownText(body, secrets: secrets)),
        ]
    }
}
