/// Reading and writing JSON text on bytes: string decoding, escaping and a small writer.
public enum JSONText {
    /// Decodes the JSON string literal spanning `range` (quotes included; the range was validated).
    public static func decodeString(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
        var hasEscape = false
        for index in inner where bytes[index] == UInt8(ascii: "\\") {
            hasEscape = true
            break
        }
        if !hasEscape {
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[inner]), as: UTF8.self)
        }
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        utf8.reserveCapacity(inner.count)
        var index = inner.lowerBound
        while index < inner.upperBound {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                index += 1
                continue
            }
            let escape = bytes[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var code = hex4(bytes, index)
                index += 4
                if (0xD800...0xDBFF).contains(code), index + 5 < inner.upperBound,
                    bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                {
                    let low = hex4(bytes, index + 2)
                    if (0xDC00...0xDFFF).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        index += 6
                    }
                }
                // A lone surrogate cannot be represented; it becomes U+FFFD as Foundation does.
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                utf8.append(contentsOf: Array(String(scalar).utf8))
            default: utf8.append(escape)  // \" \\ \/
            }
        }
        scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
        return String(scalars)
    }

    /// The decoded UTF-8 bytes of the string literal spanning `range` (validated): its inner bytes when
    /// it has no escape, so comparing keys costs no decoding in the common case.
    public static func decodedKey(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> [UInt8] {
        let inner = UnsafeBufferPointer(rebasing: bytes[(range.lowerBound + 1)..<(range.upperBound - 1)])
        if !inner.contains(UInt8(ascii: "\\")) { return Array(inner) }
        return Array(decodeString(bytes, range).utf8)
    }

    /// Whether the string literal spanning `range` contains an escape.
    @inlinable
    public static func hasEscape(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        UnsafeBufferPointer(rebasing: bytes[range]).contains(UInt8(ascii: "\\"))
    }

    static func hex4(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> UInt32 {
        var value: UInt32 = 0
        for offset in 0..<4 { value = value << 4 | (hexValue(bytes[index + offset]) ?? 0) }
        return value
    }

    /// Whether the raw key bytes (with quotes) equal `name` — keys we look for never need escapes.
    @inlinable
    public static func key(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, equals name: StaticString) -> Bool {
        let count = name.utf8CodeUnitCount
        guard range.count == count + 2 else { return false }
        let pointer = name.utf8Start
        for offset in 0..<count where bytes[range.lowerBound + 1 + offset] != pointer[offset] { return false }
        return true
    }
}

/// Appends JSON text to a byte array. Used to build normalised events and API responses without a tree.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable
    public mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inlinable
    public mutating func raw(_ slice: UnsafeBufferPointer<UInt8>) {
        bytes.append(contentsOf: slice)
    }

    public mutating func raw(_ other: [UInt8]) {
        bytes.append(contentsOf: other)
    }

    /// Writes `value` as a JSON string literal, escaping quotes, backslashes and control characters.
    public mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                default:
                    raw("\\u00")
                    let digits: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(digits[Int(byte >> 4)])
                    bytes.append(digits[Int(byte & 0x0F)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Writes `"key":` — the caller writes the separating comma.
    public mutating func key(_ key: String) {
        string(key)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func comma() { bytes.append(UInt8(ascii: ",")) }

    public mutating func integer<I: BinaryInteger>(_ value: I) {
        bytes.append(contentsOf: Array(String(value).utf8))
    }

    public mutating func number(_ value: Double) {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
            integer(Int64(value))
        } else if value.isFinite {
            bytes.append(contentsOf: Array(String(value).utf8))
        } else {
            raw("null")
        }
    }

    public mutating func bool(_ value: Bool) {
        if value { raw("true") } else { raw("false") }
    }

    public mutating func null() { raw("null") }

    public mutating func optionalString(_ value: String?) {
        if let value { string(value) } else { null() }
    }
}
