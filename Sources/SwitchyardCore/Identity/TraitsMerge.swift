/// A person's traits while identify calls update them (SPEC §3: later identify wins per key), bounded
/// (SPEC §2: at most `identity.max_traits` keys and 64 KB of stored JSON; keys past that are dropped and
/// counted).
///
/// Works on raw JSON bytes: members are indexed by their decoded key (`"a\u0062"` is `ab`), so merging N
/// keys into a person with M keys costs O(N + M) and nothing is re-parsed per key. Values are copied as
/// they were sent (nested objects replace the stored value whole); keys are written canonically escaped.
/// Pure and self-contained: no I/O, it only needs `JSONScanner` and `JSONText`.
public struct TraitsMerge: Sendable {
    /// The caps on one person's stored traits.
    public struct Limits: Sendable, Equatable {
        /// Most keys kept (`identity.max_traits`).
        public var maxKeys: Int
        /// Most bytes of the stored JSON object.
        public var maxBytes: Int

        public init(maxKeys: Int = 1000, maxBytes: Int = TraitsMerge.maxStoredBytes) {
            self.maxKeys = maxKeys
            self.maxBytes = maxBytes
        }
    }

    /// 64 KB (1 KB = 1,000 bytes, as every size in the config).
    public static let maxStoredBytes = 64_000

    struct Member: Sendable {
        /// The key as a JSON string literal, quotes included.
        var encodedKey: [UInt8]
        var value: [UInt8]
        var byteCount: Int { encodedKey.count + 1 + value.count }
    }

    public let limits: Limits
    /// Members in the order their keys were first stored.
    var members: [Member] = []
    /// Decoded key → index in `members`.
    var index: [String: Int] = [:]
    /// Size of `json`, kept up to date so each cap check is O(1).
    public private(set) var byteCount = 2
    /// Keys (or updates of a key) dropped by the caps since this value was created or `markStored`.
    public private(set) var droppedKeys = 0
    /// Whether a merge changed a key since the stored traits were read or `markStored`. An identify without
    /// traits (the common `identify(userId)`) changes nothing, and the store need not write 64 KB for it.
    public private(set) var hasChanges = false

    /// Whether the store has something to do: write changed traits, or report (and store trimmed) dropped keys.
    public var needsStoring: Bool { hasChanges || droppedKeys > 0 }

    /// Starts from the traits stored for a person (a JSON object; anything else reads as none). Stored
    /// traits already over the caps (written before them, or under a larger `max_traits`) are trimmed to
    /// the first keys that fit, and the rest counted as dropped.
    public init(stored: [UInt8], limits: Limits) {
        self.limits = limits
        merge(object: stored)
        hasChanges = false  // as stored; trimmed keys show in `droppedKeys`
    }

    /// The number of keys.
    public var keyCount: Int { members.count }

    /// Records that `json` was stored: returns the keys dropped since the last time, so a store that keeps
    /// this value after writing it reports each dropped key once.
    public mutating func markStored() -> Int {
        defer {
            droppedKeys = 0
            hasChanges = false
        }
        return droppedKeys
    }

    /// The traits as a compact JSON object.
    public var json: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(byteCount)
        bytes.append(UInt8(ascii: "{"))
        for (position, member) in members.enumerated() {
            if position > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: member.encodedKey)
            bytes.append(UInt8(ascii: ":"))
            bytes.append(contentsOf: member.value)
        }
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// Applies the `traits` object of an identify message (a whole stored event body). A message without
    /// one, or whose `traits` is not an object, changes nothing.
    public mutating func merge(traitsOf message: [UInt8]) {
        apply(Self.traitsMembers(of: message))
    }

    /// Applies a JSON object: each key is set to its value (the last one if the object repeats a key).
    /// Updates of stored keys go first, so a person's existing traits keep being updated once the caps are
    /// reached; then new keys in the order sent, each while it fits. Anything but an object changes nothing.
    public mutating func merge(object: [UInt8]) {
        apply(Self.members(ofObject: object))
    }

    mutating func apply(_ incoming: [(key: String, value: [UInt8])]) {
        var fresh: [(key: String, member: Member)] = []
        for member in Self.lastValues(incoming) {
            if let existing = index[member.key] {
                update(existing, to: member.value)
            } else {
                fresh.append((member.key, Member(encodedKey: Self.encodedKey(member.key), value: member.value)))
            }
        }
        for (key, member) in fresh { add(key, member) }
    }

    /// Adds the keys of a JSON object this person does not have yet, without changing the ones it has: the
    /// traits of a person merged into this one (the kept person's values win).
    public mutating func fill(from object: [UInt8]) {
        for member in Self.lastValues(Self.members(ofObject: object)) where index[member.key] == nil {
            add(member.key, Member(encodedKey: Self.encodedKey(member.key), value: member.value))
        }
    }

    /// One member per key, where the key first appears, with its last value: how JSON parsers read an
    /// object that repeats a key (a stored body may predate the refusal of duplicate keys).
    static func lastValues(_ members: [(key: String, value: [UInt8])]) -> [(key: String, value: [UInt8])] {
        var last: [String: Int] = [:]
        last.reserveCapacity(members.count)
        for (position, member) in members.enumerated() { last[member.key] = position }
        if last.count == members.count { return members }
        var result: [(key: String, value: [UInt8])] = []
        result.reserveCapacity(last.count)
        for member in members {
            guard let position = last.removeValue(forKey: member.key) else { continue }  // placed already
            result.append((member.key, members[position].value))
        }
        return result
    }

    /// A changed value is kept unless it would take the traits past the byte cap (a shrinking one always is).
    mutating func update(_ position: Int, to value: [UInt8]) {
        let grown = value.count - members[position].value.count
        guard grown <= 0 || byteCount + grown <= limits.maxBytes else {
            droppedKeys += 1
            return
        }
        members[position].value = value
        byteCount += grown
        hasChanges = true
    }

    mutating func add(_ key: String, _ member: Member) {
        let cost = member.byteCount + (members.isEmpty ? 0 : 1)  // its comma
        guard members.count < limits.maxKeys, byteCount + cost <= limits.maxBytes else {
            droppedKeys += 1
            return
        }
        index[key] = members.count
        members.append(member)
        byteCount += cost
        hasChanges = true
    }

    // MARK: Reading JSON bytes

    static func encodedKey(_ key: String) -> [UInt8] {
        var writer = JSONWriter(capacity: key.utf8.count + 2)
        writer.string(key)
        return writer.bytes
    }

    /// The members of a JSON object with decoded keys and raw value bytes; empty for anything else.
    static func members(ofObject json: [UInt8]) -> [(key: String, value: [UInt8])] {
        json.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer)
            // Invalid JSON reads as no traits: stored traits are JSON this gateway wrote, a body was validated.
            guard let range = try? scanner.scanDocument() else { return [] }
            return members(buffer, scanner, range)
        }
    }

    /// The members of a message's top-level `traits` member when it is an object (the last one, should the
    /// key repeat; `"tr\u0061its"` counts, as any JSON parser reads it); empty otherwise. One scan of the message.
    static func traitsMembers(of message: [UInt8]) -> [(key: String, value: [UInt8])] {
        message.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer)
            guard let range = try? scanner.scanDocument(), buffer[range.lowerBound] == UInt8(ascii: "{") else { return [] }  // invalid: none
            var traits: Range<Int>?
            for member in scanner.members(ofObjectIn: range) where JSONText.decodeString(buffer, member.key) == "traits" {
                traits = member.value
            }
            guard let traits else { return [] }
            return members(buffer, scanner, traits)
        }
    }

    /// The members of the validated value spanning `range` when it is an object; empty otherwise.
    static func members(_ buffer: UnsafeBufferPointer<UInt8>, _ scanner: borrowing JSONScanner, _ range: Range<Int>)
        -> [(key: String, value: [UInt8])]
    {
        guard !range.isEmpty, buffer[range.lowerBound] == UInt8(ascii: "{") else { return [] }
        return scanner.members(ofObjectIn: range).map { member in
            (JSONText.decodeString(buffer, member.key), Array(buffer[member.value]))
        }
    }
}

extension TraitsMerge {
    /// One merge, start to end: `stored` traits updated by the `incoming` traits object.
    public static func merging(stored: [UInt8], incoming: [UInt8], limits: Limits) -> (json: [UInt8], droppedKeys: Int) {
        var merge = TraitsMerge(stored: stored, limits: limits)
        merge.merge(object: incoming)
        return (merge.json, merge.droppedKeys)
    }
}
