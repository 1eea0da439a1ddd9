/// A validating JSON scanner that works on the raw request bytes.
///
/// Ingest never decodes a whole event into a tree: peers measured that a generic decode costs more than
/// the database write (see `perf-notes.md`). The scanner validates a value (RFC 8259, nesting limited to
/// `maxDepth`) and reports where each member of an object starts and ends, so the few fields ingest needs
/// are read from the bytes and everything else (`properties`, `traits`, most of `context`) is copied as is.
public struct JSONScanner: ~Copyable {
    /// Nesting deeper than this is rejected rather than risking the stack on hostile input.
    public static let maxDepth = 64

    @usableFromInline let bytes: UnsafeBufferPointer<UInt8>
    @usableFromInline var depth = 0

    public init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// Validates the whole buffer as one JSON value surrounded by optional white space.
    /// - Returns: the range of the value without surrounding white space.
    public mutating func scanDocument() throws(JSONSyntaxError) -> Range<Int> {
        var index = skipWhitespace(0)
        let start = index
        index = try skipValue(at: index)
        let end = index
        index = skipWhitespace(index)
        guard index == bytes.count else { throw JSONSyntaxError(offset: index, reason: "unexpected data after the JSON value") }
        return start..<end
    }

    /// The members of the object that spans `range` (which must have been validated), in order.
    public func members(ofObjectIn range: Range<Int>) -> [JSONMember] {
        var result: [JSONMember] = []
        result.reserveCapacity(16)
        var index = skipWhitespace(range.lowerBound + 1)
        if bytes[index] == UInt8(ascii: "}") { return result }
        while true {
            let keyStart = index
            // The range was validated, so these cannot fail.
            let keyEnd = (try? skipString(at: index)) ?? range.upperBound
            index = skipWhitespace(keyEnd)
            index = skipWhitespace(index + 1)  // ':'
            let valueStart = index
            let valueEnd = (try? skipValueUnchecked(at: index)) ?? range.upperBound
            result.append(JSONMember(key: keyStart..<keyEnd, value: valueStart..<valueEnd))
            index = skipWhitespace(valueEnd)
            if bytes[index] == UInt8(ascii: "}") { return result }
            index = skipWhitespace(index + 1)  // ','
        }
    }

    /// The elements of the array that spans `range` (which must have been validated), in order.
    public func elements(ofArrayIn range: Range<Int>) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var index = skipWhitespace(range.lowerBound + 1)
        if bytes[index] == UInt8(ascii: "]") { return result }
        while true {
            let start = index
            let end = (try? skipValueUnchecked(at: index)) ?? range.upperBound
            result.append(start..<end)
            index = skipWhitespace(end)
            if bytes[index] == UInt8(ascii: "]") { return result }
            index = skipWhitespace(index + 1)
        }
    }

    @inlinable
    func skipWhitespace(_ start: Int) -> Int {
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return index
            }
        }
        return index
    }

    /// Skips a value already known to be valid; used when walking validated ranges.
    func skipValueUnchecked(at index: Int) throws(JSONSyntaxError) -> Int {
        var copy = JSONScanner(bytes)
        return try copy.skipValue(at: index)
    }

    /// Validates the value starting at `index` and returns the index just past it.
    public mutating func skipValue(at index: Int) throws(JSONSyntaxError) -> Int {
        guard index < bytes.count else { throw JSONSyntaxError(offset: index, reason: "unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try skipObject(at: index)
        case UInt8(ascii: "["): return try skipArray(at: index)
        case UInt8(ascii: "\""): return try skipString(at: index)
        case UInt8(ascii: "t"): return try skipLiteral("true", at: index)
        case UInt8(ascii: "f"): return try skipLiteral("false", at: index)
        case UInt8(ascii: "n"): return try skipLiteral("null", at: index)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try skipNumber(at: index)
        default: throw JSONSyntaxError(offset: index, reason: "unexpected character")
        }
    }

    mutating func skipObject(at start: Int) throws(JSONSyntaxError) -> Int {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw JSONSyntaxError(offset: start, reason: "nesting is too deep") }
        var index = skipWhitespace(start + 1)
        guard index < bytes.count else { throw JSONSyntaxError(offset: index, reason: "unterminated object") }
        if bytes[index] == UInt8(ascii: "}") { return index + 1 }
        while true {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw JSONSyntaxError(offset: index, reason: "expected a string key")
            }
            index = skipWhitespace(try skipString(at: index))
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw JSONSyntaxError(offset: index, reason: "expected ':'")
            }
            index = skipWhitespace(index + 1)
            index = skipWhitespace(try skipValue(at: index))
            guard index < bytes.count else { throw JSONSyntaxError(offset: index, reason: "unterminated object") }
            switch bytes[index] {
            case UInt8(ascii: ","): index = skipWhitespace(index + 1)
            case UInt8(ascii: "}"): return index + 1
            default: throw JSONSyntaxError(offset: index, reason: "expected ',' or '}'")
            }
        }
    }

    mutating func skipArray(at start: Int) throws(JSONSyntaxError) -> Int {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw JSONSyntaxError(offset: start, reason: "nesting is too deep") }
        var index = skipWhitespace(start + 1)
        guard index < bytes.count else { throw JSONSyntaxError(offset: index, reason: "unterminated array") }
        if bytes[index] == UInt8(ascii: "]") { return index + 1 }
        while true {
            index = skipWhitespace(try skipValue(at: index))
            guard index < bytes.count else { throw JSONSyntaxError(offset: index, reason: "unterminated array") }
            switch bytes[index] {
            case UInt8(ascii: ","): index = skipWhitespace(index + 1)
            case UInt8(ascii: "]"): return index + 1
            default: throw JSONSyntaxError(offset: index, reason: "expected ',' or ']'")
            }
        }
    }

    func skipString(at start: Int) throws(JSONSyntaxError) -> Int {
        var index = start + 1
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { return index + 1 }
            if byte == UInt8(ascii: "\\") {
                guard index + 1 < bytes.count else { break }
                switch bytes[index + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                    UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 2
                case UInt8(ascii: "u"):
                    guard index + 5 < bytes.count else { break }
                    for offset in 2...5 where hexValue(bytes[index + offset]) == nil {
                        throw JSONSyntaxError(offset: index + offset, reason: "invalid \\u escape")
                    }
                    index += 6
                default:
                    throw JSONSyntaxError(offset: index + 1, reason: "invalid escape")
                }
                continue
            }
            if byte < 0x20 { throw JSONSyntaxError(offset: index, reason: "control character in string") }
            if byte < 0x80 {
                index += 1
                continue
            }
            index = try skipUTF8Scalar(at: index)
        }
        throw JSONSyntaxError(offset: start, reason: "unterminated string")
    }

    /// Validates one multi-byte UTF-8 sequence (no overlongs, no surrogates, ≤ U+10FFFF).
    func skipUTF8Scalar(at index: Int) throws(JSONSyntaxError) -> Int {
        let lead = bytes[index]
        let length: Int
        var minimum: UInt32
        var scalar: UInt32
        switch lead {
        case 0xC2...0xDF: length = 2; minimum = 0x80; scalar = UInt32(lead & 0x1F)
        case 0xE0...0xEF: length = 3; minimum = 0x800; scalar = UInt32(lead & 0x0F)
        case 0xF0...0xF4: length = 4; minimum = 0x10000; scalar = UInt32(lead & 0x07)
        default: throw JSONSyntaxError(offset: index, reason: "invalid UTF-8")
        }
        guard index + length <= bytes.count else { throw JSONSyntaxError(offset: index, reason: "invalid UTF-8") }
        for offset in 1..<length {
            let byte = bytes[index + offset]
            guard byte & 0xC0 == 0x80 else { throw JSONSyntaxError(offset: index, reason: "invalid UTF-8") }
            scalar = scalar << 6 | UInt32(byte & 0x3F)
        }
        guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else {
            throw JSONSyntaxError(offset: index, reason: "invalid UTF-8")
        }
        return index + length
    }

    func skipLiteral(_ literal: StaticString, at index: Int) throws(JSONSyntaxError) -> Int {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw JSONSyntaxError(offset: index, reason: "unexpected end of input") }
        let pointer = literal.utf8Start
        for offset in 0..<count where bytes[index + offset] != pointer[offset] {
            throw JSONSyntaxError(offset: index, reason: "invalid literal")
        }
        return index + count
    }

    func skipNumber(at start: Int) throws(JSONSyntaxError) -> Int {
        var index = start
        func digits() -> Int {
            let from = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            return index - from
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw JSONSyntaxError(offset: start, reason: "invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            throw JSONSyntaxError(offset: start, reason: "invalid number")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw JSONSyntaxError(offset: start, reason: "invalid number") }
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw JSONSyntaxError(offset: start, reason: "invalid number") }
        }
        return index
    }
}

@inlinable
func hexValue(_ byte: UInt8) -> UInt32? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
    default: return nil
    }
}

/// One `"key": value` member of an object: byte ranges of the key (with its quotes) and of the value.
public struct JSONMember: Sendable, Equatable {
    public var key: Range<Int>
    public var value: Range<Int>
}

/// Why a body is not JSON, with the byte offset where the scanner stopped.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "\(reason) at byte \(offset)" }
}
