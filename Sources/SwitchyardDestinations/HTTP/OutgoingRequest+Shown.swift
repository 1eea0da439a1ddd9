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
        kept(secrets: secrets).shown(secrets: secrets)
    }

    /// What the live view keeps of this request until a subscriber reads it (``ShownRequest``): the body
    /// only as far as it can be shown, decoded when gzipped.
    public func kept(secrets: [String]) -> ShownRequest {
        var bodyBytes = body
        var gzipped = false
        if header("content-encoding")?.lowercased() == "gzip" {
            var buffer = ByteBuffer(bytes: body)
            // Our own gzip, so decoding succeeds; were it to fail, the raw bytes are shown instead.
            if let plain = try? buffer.decompress(with: .gzip()) {
                bodyBytes = Array(plain.readableBytesView)
                gzipped = true
            }
        }
        return ShownRequest(
            method: method, url: url, headers: headers,
            body: ShownBody(bodyBytes, secrets: secrets), gzipped: gzipped)
    }

    /// Text of a body for display: secrets masked, cut after ``shownBodyLimit`` bytes with a marker.
    public static func shownText(_ bytes: [UInt8], secrets: [String]) -> String {
        shownText(bytes, totalCount: bytes.count, secrets: secrets)
    }

    /// ``shownText(_:secrets:)`` of a body of which only the first bytes were kept (`totalCount` in all).
    /// Masks shorter than their secrets may then show less than ``shownBodyLimit`` before the marker.
    static func shownText(_ bytes: [UInt8], totalCount: Int, secrets: [String]) -> String {
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
        let total = max(totalCount, bytes.count)
        guard total > shownBodyLimit || utf8.count > shownBodyLimit else {
            return String(decoding: utf8, as: UTF8.self)
        }
        // Cut on a character boundary: drop continuation bytes at the end of the prefix.
        var end = min(shownBodyLimit, utf8.count)
        while end > 0, end < utf8.count, utf8[end] & 0xC0 == 0x80 { end -= 1 }
        return String(decoding: utf8[..<end], as: UTF8.self) + "…[cut: \(total) bytes in all]"
    }
}

extension HTTPResult {
    /// The answer as the live view shows it: status and body (masked and cut like request bodies).
    public func shown(secrets: [String]) -> JSONValue {
        kept(secrets: secrets).shown(secrets: secrets)
    }

    public func kept(secrets: [String]) -> ShownResponse {
        ShownResponse(status: status, body: ShownBody(body, secrets: secrets))
    }
}

/// A body as the live view keeps it until shown: the first bytes that can be shown (and then some, for
/// masks that shorten what they hide) and how long it was. A batch body can be megabytes; the replay
/// buffer and each subscriber's keep up to 2,000 items.
public struct ShownBody: Sendable {
    public var prefix: [UInt8]
    public var count: Int

    public init(_ bytes: [UInt8], secrets: [String]) {
        count = bytes.count
        let longest = secrets.map { $0.utf8.count + 1 }.max() ?? 0
        let kept = 2 * (OutgoingRequest.shownBodyLimit + 2 * longest)
        prefix = bytes.count <= kept ? bytes : Array(bytes[..<kept])
    }

    public func shown(secrets: [String]) -> String {
        OutgoingRequest.shownText(prefix, totalCount: count, secrets: secrets)
    }
}

/// An outgoing request as kept for the live view (``OutgoingRequest/kept(secrets:)``); masked when shown.
public struct ShownRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: ShownBody
    /// The body was sent gzipped and is kept decoded.
    public var gzipped: Bool

    /// `{"method","url","headers","body"}` with every secret masked (SPEC §6 `delivery.request`).
    public func shown(secrets: [String]) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("method", .string(method)),
            ("url", .string(SecretMask.maskRequestURL(url, secrets: secrets))),
        ]
        var headerMembers: [(String, JSONValue)] = []
        for (name, value) in headers {
            headerMembers.append((name, .string(SecretMask.maskHeader(name: name, value: value, secrets: secrets))))
        }
        members.append(("headers", .object(JSONObject(headerMembers))))
        if gzipped { members.append(("bodyEncoding", .string("gzip"))) }
        members.append(("body", .string(body.shown(secrets: secrets))))
        return .object(JSONObject(members))
    }
}

/// An answer as kept for the live view; masked when shown.
public struct ShownResponse: Sendable {
    public var status: Int
    public var body: ShownBody

    public func shown(secrets: [String]) -> JSONValue {
        [
            "status": .number(String(status)),
            "body": .string(body.shown(secrets: secrets)),
        ]
    }
}
