/// A JSON document as a tree, for code off the ingest hot path (destinations, the admin API, tests).
///
/// Numbers keep the text they were written with, so a 64-bit id survives a round trip exactly, and
/// objects keep their member order.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// Parses a complete JSON document.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONSyntaxError) -> JSONValue {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { (buffer) throws(JSONSyntaxError) -> JSONValue in
            var scanner = JSONScanner(buffer)
            let range = try scanner.scanDocument()
            return build(buffer, scanner, range)
        }
    }

    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Builds a value from a range the scanner validated.
    public static func build(_ bytes: UnsafeBufferPointer<UInt8>, _ scanner: borrowing JSONScanner, _ range: Range<Int>)
        -> JSONValue
    {
        switch bytes[range.lowerBound] {
        case UInt8(ascii: "{"):
            var object = JSONObject()
            for member in scanner.members(ofObjectIn: range) {
                object[JSONText.decodeString(bytes, member.key)] = build(bytes, scanner, member.value)
            }
            return .object(object)
        case UInt8(ascii: "["):
            return .array(scanner.elements(ofArrayIn: range).map { build(bytes, scanner, $0) })
        case UInt8(ascii: "\""): return .string(JSONText.decodeString(bytes, range))
        case UInt8(ascii: "t"): return .bool(true)
        case UInt8(ascii: "f"): return .bool(false)
        case UInt8(ascii: "n"): return .null
        default: return .number(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self))
        }
    }

    /// Compact JSON text.
    public func write(to writer: inout JSONWriter) {
        switch self {
        case .null: writer.null()
        case .bool(let value): writer.bool(value)
        case .number(let text): writer.bytes.append(contentsOf: Array(text.utf8))
        case .string(let value): writer.string(value)
        case .array(let values):
            writer.raw("[")
            for (index, value) in values.enumerated() {
                if index > 0 { writer.comma() }
                value.write(to: &writer)
            }
            writer.raw("]")
        case .object(let object):
            writer.raw("{")
            for (index, member) in object.members.enumerated() {
                if index > 0 { writer.comma() }
                writer.key(member.key)
                member.value.write(to: &writer)
            }
            writer.raw("}")
        }
    }

    public var bytes: [UInt8] {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.bytes
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var doubleValue: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var isNull: Bool { self == .null }
}

/// A JSON object that keeps member order; setting an existing key replaces its value in place.
///
/// Objects with more than ``indexThreshold`` members keep an index from key to position, so building an
/// object of n members from a hostile body (a destination's answer, an event with thousands of keys)
/// costs O(n), not O(n²); small objects, the common case, pay for no dictionary.
public struct JSONObject: Sendable, Hashable {
    public private(set) var members: [(key: String, value: JSONValue)] = []
    private var positions: [String: Int]?
    static let indexThreshold = 8

    public init() {}

    public init(_ members: [(String, JSONValue)]) {
        for (key, value) in members { self[key] = value }
    }

    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { members[$0].value } }
        set {
            if let index = indexedPosition(of: key) {
                if let newValue {
                    members[index].value = newValue
                } else {
                    members.remove(at: index)
                    positions = nil  // rare: rebuilt on the next lookup of a large object
                }
            } else if let newValue {
                members.append((key, newValue))
                positions?[key] = members.count - 1
            }
        }
    }

    private mutating func indexedPosition(of key: String) -> Int? {
        if positions == nil, members.count > Self.indexThreshold {
            var index = [String: Int](minimumCapacity: members.count * 2)
            for (position, member) in members.enumerated() { index[member.key] = position }
            positions = index
        }
        if let positions { return positions[key] }
        return members.firstIndex { $0.key == key }
    }

    private func position(of key: String) -> Int? {
        if let positions { return positions[key] }
        return members.firstIndex { $0.key == key }
    }

    public var keys: [String] { members.map(\.key) }
    public var isEmpty: Bool { members.isEmpty }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.members.count == rhs.members.count
            && zip(lhs.members, rhs.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for member in members {
            hasher.combine(member.key)
            hasher.combine(member.value)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByNilLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(integerLiteral value: Int) { self = .number(String(value)) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
}
