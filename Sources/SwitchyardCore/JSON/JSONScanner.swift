#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A validating JSON scanner that works on the raw request bytes.
///
/// Ingest never decodes a whole event into a tree: peers measured that a generic decode costs more than
/// the database write (see `perf-notes.md`). The scanner validates a value (RFC 8259, nesting limited to
/// `maxDepth`) and reports where each member of an object starts and ends, so the few fields ingest needs
/// are read from the bytes and everything else (`properties`, `traits`, most of `context`) is copied as is.
public struct JSONScanner: ~Copyable {
    /// Nesting deeper than this is rejected rather than risking the stack on hostile input.
    public static let maxDepth = 64
    /// Objects with more keys than this are checked for duplicates with a hash set instead of by pairs.
    static let pairwiseKeyLimit = 12

    @usableFromInline let bytes: UnsafeBufferPointer<UInt8>
    @usableFromInline var depth = 0
    /// What validation found that is valid JSON yet must not be stored as is (RFC 8259 allows it, the
    /// readers of what we store disagree on it): duplicate keys, lone surrogate escapes, numbers no
    /// double can hold. In input order; at most one entry per 4 input bytes, so bounded by the input.
    public private(set) var findings: [JSONFinding] = []
    /// Key ranges of the objects being validated, innermost last (one buffer for all depths).
    var openKeys: [Range<Int>] = []

    public init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// Validates the whole buffer as one JSON value surrounded by optional white space.
    ///
    /// Total: every byte sequence ends in a range or an error, in time linear in its length.
    /// - Returns: the range of the value without surrounding white space.
    public mutating func scanDocument() throws(JSONSyntaxError) -> Range<Int> {
        findings.removeAll()
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
        guard index < range.upperBound, bytes[index] != UInt8(ascii: "}") else { return result }
        while index < range.upperBound {
            let keyStart = index
            let keyEnd = endOfValidatedString(at: index)
            index = skipWhitespace(keyEnd)
            index = skipWhitespace(index + 1)  // ':'
            let valueStart = index
            let valueEnd = endOfValidatedValue(at: index)
            result.append(JSONMember(key: keyStart..<keyEnd, value: valueStart..<valueEnd))
            index = skipWhitespace(valueEnd)
            guard index < range.upperBound, bytes[index] == UInt8(ascii: ",") else { return result }
            index = skipWhitespace(index + 1)
        }
        return result
    }

    /// The elements of the array that spans `range` (which must have been validated), in order; at
    /// most `limit` of them, so a caller with a bound allocates no more than it.
    public func elements(ofArrayIn range: Range<Int>, limit: Int = .max) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var index = skipWhitespace(range.lowerBound + 1)
        guard index < range.upperBound, bytes[index] != UInt8(ascii: "]") else { return result }
        while index < range.upperBound {
            let start = index
            let end = endOfValidatedValue(at: index)
            result.append(start..<end)
            guard result.count < limit else { return result }
            index = skipWhitespace(end)
            guard index < range.upperBound, bytes[index] == UInt8(ascii: ",") else { return result }
            index = skipWhitespace(index + 1)
        }
        return result
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

    /// The end of a value already known to be valid, found by counting brackets outside strings (no
    /// second validation). Always advances and never passes the end of the buffer.
    func endOfValidatedValue(at start: Int) -> Int {
        guard start < bytes.count else { return bytes.count }
        switch bytes[start] {
        case UInt8(ascii: "\""): return endOfValidatedString(at: start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var nesting = 0
            var index = start
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""): index = endOfValidatedString(at: index); continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): nesting += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    nesting -= 1
                    if nesting == 0 { return index + 1 }
                default: break
                }
                index += 1
            }
            return bytes.count
        default:
            var index = start + 1
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x0A, 0x0D, 0x09: return index
                default: index += 1
                }
            }
            return index
        }
    }

    /// The index past the closing quote of a string already known to be valid.
    func endOfValidatedString(at start: Int) -> Int {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""): return index + 1
            case UInt8(ascii: "\\"): index += 2
            default: index += 1
            }
        }
        return bytes.count
    }

    /// Validates the value starting at `index` and returns the index just past it.
    public mutating func skipValue(at index: Int) throws(JSONSyntaxError) -> Int {
        guard index < bytes.count else { throw JSONSyntaxError(offset: index, reason: "unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try skipObject(at: index)
        case UInt8(ascii: "["): return try skipArray(at: index)
        case UInt8(ascii: "\""): return try scanString(at: index).end
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
        let firstKey = openKeys.count
        defer { openKeys.removeSubrange(firstKey...) }
        var anyEscapedKey = false
        var seen: ObjectKeys? = nil
        while true {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw JSONSyntaxError(offset: index, reason: "expected a string key")
            }
            let key = try scanString(at: index)
            let keyRange = index..<key.end
            anyEscapedKey = anyEscapedKey || key.escaped
            if isDuplicate(keyRange, firstKey: firstKey, anyEscaped: anyEscapedKey, seen: &seen) {
                findings.append(JSONFinding(offset: index, kind: .duplicateKey))
            }
            openKeys.append(keyRange)
            index = skipWhitespace(key.end)
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

    /// Whether `key` repeats a key of the object being validated, compared after decoding escapes
    /// (`"a\\u0062"` is `ab`). Small objects of plain keys compare byte ranges pairwise; past
    /// ``pairwiseKeyLimit`` keys, or once a key has escapes, keys go into a hash set that points into
    /// the input (only escaped keys are decoded, into `decoded`), so an object of n keys costs
    /// O(total key bytes) in time and O(n) words in memory, never O(n²).
    mutating func isDuplicate(_ key: Range<Int>, firstKey: Int, anyEscaped: Bool, seen: inout ObjectKeys?) -> Bool {
        let earlier = openKeys.count - firstKey
        if seen == nil, !anyEscaped, earlier < Self.pairwiseKeyLimit {
            guard let base = bytes.baseAddress else { return false }
            for other in openKeys[firstKey...] where other.count == key.count {
                if memcmp(base + other.lowerBound, base + key.lowerBound, key.count) == 0 { return true }
            }
            return false
        }
        if seen == nil {
            let keys = ObjectKeys(capacity: earlier * 2)
            for other in openKeys[firstKey...] { _ = keys.insert(bytes, other) }
            seen = keys
        }
        return !seen!.insert(bytes, key)
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

    /// Validates the string starting at `start`; records lone surrogate escapes as findings.
    /// - Returns: the index past the closing quote, and whether the string has any escape.
    mutating func scanString(at start: Int) throws(JSONSyntaxError) -> (end: Int, escaped: Bool) {
        var index = start + 1
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { return (index + 1, escaped) }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                guard index + 1 < bytes.count else { break }
                switch bytes[index + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                    UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 2
                case UInt8(ascii: "u"):
                    let unit = try hex4(at: index)
                    if (0xD800...0xDBFF).contains(unit), index + 11 < bytes.count,
                        bytes[index + 6] == UInt8(ascii: "\\"), bytes[index + 7] == UInt8(ascii: "u"),
                        let low = try? hex4(at: index + 6), (0xDC00...0xDFFF).contains(low)
                    {
                        index += 12  // a surrogate pair: one scalar
                    } else {
                        if (0xD800...0xDFFF).contains(unit) {
                            findings.append(JSONFinding(offset: index, kind: .loneSurrogate))
                        }
                        index += 6
                    }
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

    /// The code unit of the four-hex-digit `\u` escape at `index` (the backslash).
    func hex4(at index: Int) throws(JSONSyntaxError) -> UInt32 {
        guard index + 5 < bytes.count else { throw JSONSyntaxError(offset: index, reason: "unterminated \\u escape") }
        var value: UInt32 = 0
        for offset in 2...5 {
            guard let digit = hexValue(bytes[index + offset]) else {
                throw JSONSyntaxError(offset: index + offset, reason: "invalid \\u escape")
            }
            value = value << 4 | digit
        }
        return value
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

    mutating func skipNumber(at start: Int) throws(JSONSyntaxError) -> Int {
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
        var hasExponent = false
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            hasExponent = true
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw JSONSyntaxError(offset: start, reason: "invalid number") }
        }
        // Only an exponent or more than 308 digits can leave a double's range; the rest costs nothing.
        if hasExponent || index - start > 308, !Self.isFiniteDouble(UnsafeBufferPointer(rebasing: bytes[start..<index])) {
            findings.append(JSONFinding(offset: start, kind: .nonFiniteNumber))
        }
        return index
    }

    /// Whether the number text (valid JSON) is a finite double, as every JSON reader would see it.
    static func isFiniteDouble(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        var copy = [CChar](repeating: 0, count: text.count + 1)
        for index in 0..<text.count { copy[index] = CChar(bitPattern: text[index]) }
        return strtod(copy, nil).isFinite
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

/// The decoded keys of one object, for duplicate detection. Plain keys are not copied: an entry points
/// into the scanned buffer, which outlives it; escaped keys are decoded into storage of their own.
final class ObjectKeys {
    struct Key: Hashable {
        let bytes: UnsafeRawBufferPointer
        static func == (lhs: Key, rhs: Key) -> Bool {
            lhs.bytes.count == rhs.bytes.count
                && (lhs.bytes.count == 0 || memcmp(lhs.bytes.baseAddress!, rhs.bytes.baseAddress!, lhs.bytes.count) == 0)
        }
        func hash(into hasher: inout Hasher) { hasher.combine(bytes: bytes) }
    }

    var keys: Set<Key>
    var decoded: [UnsafeMutableRawBufferPointer] = []

    init(capacity: Int) { keys = Set(minimumCapacity: capacity) }

    deinit { for storage in decoded { storage.deallocate() } }

    /// Adds the key literal spanning `range` of `bytes`; false when an equal key was there.
    func insert(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        let inner = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[(range.lowerBound + 1)..<(range.upperBound - 1)])
        guard inner.contains(UInt8(ascii: "\\")) else { return keys.insert(Key(bytes: inner)).inserted }
        let text = JSONText.decodedKey(bytes, range)
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: text.count, alignment: 1)
        storage.copyBytes(from: text)
        decoded.append(storage)
        return keys.insert(Key(bytes: UnsafeRawBufferPointer(storage))).inserted
    }
}

/// Valid JSON that ingest must not store as is: see ``JSONScanner/findings``.
public struct JSONFinding: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A key repeated in one object (readers disagree on which value wins). Offset: the repeat.
        case duplicateKey
        /// A `\\u` escape of a surrogate without its pair (Go and DuckDB refuse or alter it). Offset:
        /// the backslash; the escape is always six bytes.
        case loneSurrogate
        /// A number outside a double's range, like `1e400`. Offset: its first byte.
        case nonFiniteNumber
    }

    public var offset: Int
    public var kind: Kind
}

/// Why a body is not JSON, with the byte offset where the scanner stopped.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "\(reason) at byte \(offset)" }
}
