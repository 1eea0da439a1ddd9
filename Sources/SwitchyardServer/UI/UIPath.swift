import Foundation

/// Links between UI pages. Ids are arbitrary client strings (`/`, `?`, `#`, spaces), so each becomes one
/// percent-encoded path segment; mustache then HTML-escapes the whole link.
enum UIPath {
    static let activity = "/"
    static let destinations = "/destinations"

    static func person(_ userId: String) -> String { "/people/" + encode(userId) }
    static func erase(_ userId: String) -> String { person(userId) + "/erase" }
    static func anonymous(_ anonymousId: String) -> String { "/anonymous/" + encode(anonymousId) }
    static func destination(_ name: String) -> String { "/destinations/" + encode(name) }

    /// `path?a=1&b=2`, leaving out empty values; `path` alone when none is left.
    static func with(_ path: String, query: [(String, String?)]) -> String {
        let items = query.compactMap { name, value in
            value.flatMap { $0.isEmpty ? nil : "\(name)=\(encode($0))" }
        }
        return items.isEmpty ? path : path + "?" + items.joined(separator: "&")
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + UISessionKeys.hex([byte]).uppercased()
            }
        }
        return out
    }
}
