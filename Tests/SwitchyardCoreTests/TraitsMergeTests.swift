import Testing

@testable import SwitchyardCore

/// `TraitsMerge`: later identify wins per decoded key, within the key and byte caps, dropped keys counted.
@Suite struct TraitsMergeTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var stored: String
        var incoming: String
        var maxKeys = 1000
        var maxBytes = TraitsMerge.maxStoredBytes
        var expected: String
        var dropped = 0
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "later wins per key", stored: #"{"a":1,"b":1}"#, incoming: #"{"b":2,"c":3}"#, expected: #"{"a":1,"b":2,"c":3}"#),
        Case(name: "into no traits", stored: "", incoming: #"{"plan":"pro"}"#, expected: #"{"plan":"pro"}"#),
        Case(name: "the last of a repeated key wins", stored: "{}", incoming: #"{"a":1,"b":2,"a":3}"#, expected: #"{"a":3,"b":2}"#),
        Case(name: "escaped keys equal decoded keys", stored: #"{"ab":1}"#, incoming: #"{"a\u0062":2}"#, expected: #"{"ab":2}"#),
        Case(
            name: "an escaped and a plain spelling are one key", stored: "{}", incoming: #"{"user\u0049d":1,"userId":2}"#,
            expected: #"{"userId":2}"#),
        Case(
            name: "keys are written canonically escaped", stored: "{}", incoming: #"{"\u00e9\"\/\n":1}"#,
            expected: #"{"é\"/\n":1}"#),
        Case(
            name: "nested objects are replaced whole", stored: #"{"address":{"city":"Lyon","zip":"69001"},"x":[1,2]}"#,
            incoming: #"{"address":{"city":"Nantes"},"x":[3]}"#, expected: #"{"address":{"city":"Nantes"},"x":[3]}"#),
        Case(name: "a null value is stored as null", stored: #"{"a":1,"b":2}"#, incoming: #"{"a":null}"#, expected: #"{"a":null,"b":2}"#),
        Case(name: "values are copied as sent", stored: "{}", incoming: #"{"n":1.50e3,"s":"\u00e9"}"#, expected: #"{"n":1.50e3,"s":"\u00e9"}"#),
        Case(name: "non-object traits: a string", stored: #"{"a":1}"#, incoming: #""text""#, expected: #"{"a":1}"#),
        Case(name: "non-object traits: an array", stored: #"{"a":1}"#, incoming: "[1,2]", expected: #"{"a":1}"#),
        Case(name: "non-object traits: null", stored: #"{"a":1}"#, incoming: "null", expected: #"{"a":1}"#),
        Case(name: "non-object traits: not JSON", stored: #"{"a":1}"#, incoming: #"{"b":"#, expected: #"{"a":1}"#),
        Case(name: "stored traits that are not an object read as none", stored: "[1]", incoming: #"{"a":1}"#, expected: #"{"a":1}"#),
        Case(
            name: "cap by count: new keys past it are dropped", stored: #"{"a":1}"#, incoming: #"{"b":1,"c":1,"d":1}"#, maxKeys: 2,
            expected: #"{"a":1,"b":1}"#, dropped: 2),
        Case(
            name: "cap by count: existing keys keep being updated", stored: #"{"a":1,"b":1}"#, incoming: #"{"x":1,"b":2,"a":2}"#,
            maxKeys: 2, expected: #"{"a":2,"b":2}"#, dropped: 1),
        Case(
            name: "cap by count: stored traits over it are trimmed", stored: #"{"a":1,"b":2,"c":3,"d":4}"#, incoming: #"{"a":0}"#,
            maxKeys: 2, expected: #"{"a":0,"b":2}"#, dropped: 2),
        // {"a":"0123456789"} is 18 bytes; ,"b":1 would make it 24.
        Case(
            name: "cap by bytes: a key that does not fit is dropped", stored: "{}", incoming: #"{"a":"0123456789","b":1}"#,
            maxBytes: 20, expected: #"{"a":"0123456789"}"#, dropped: 1),
        Case(
            name: "cap by bytes: a smaller key after a dropped one still fits", stored: "{}",
            incoming: #"{"a":"0123456789","b":"0123456789","c":1}"#, maxBytes: 24, expected: #"{"a":"0123456789","c":1}"#, dropped: 1),
        Case(
            name: "cap by bytes: an update that grows past it is dropped", stored: #"{"a":"short"}"#,
            incoming: #"{"a":"much longer than the cap"}"#, maxBytes: 20, expected: #"{"a":"short"}"#, dropped: 1),
        Case(
            name: "cap by bytes: an update that shrinks is kept", stored: #"{"a":"0123456789"}"#, incoming: #"{"a":1}"#, maxBytes: 18,
            expected: #"{"a":1}"#),
        Case(
            name: "cap by bytes exactly reached", stored: "{}", incoming: #"{"a":"0123456789"}"#, maxBytes: 18,
            expected: #"{"a":"0123456789"}"#),
    ]

    @Test(arguments: cases)
    func merges(_ test: Case) {
        let (json, dropped) = TraitsMerge.merging(
            stored: Array(test.stored.utf8), incoming: Array(test.incoming.utf8),
            limits: TraitsMerge.Limits(maxKeys: test.maxKeys, maxBytes: test.maxBytes))
        #expect(String(decoding: json, as: UTF8.self) == test.expected)
        #expect(dropped == test.dropped)
    }

    @Test(arguments: [
        (#"{"type":"identify","traits":{"a":2,"c":1}}"#, #"{"a":2,"b":1,"c":1}"#),
        (#"{"tr\u0061its":{"a":2},"type":"identify"}"#, #"{"a":2,"b":1}"#),
        (#"{"type":"identify","traits":"a"}"#, #"{"a":1,"b":1}"#),
        (#"{"type":"identify","traits":null}"#, #"{"a":1,"b":1}"#),
        (#"{"type":"identify","properties":{"a":9}}"#, #"{"a":1,"b":1}"#),
        (#"{"type":"identify","context":{"traits":{"a":9}}}"#, #"{"a":1,"b":1}"#),
        (#"["traits",{"a":9}]"#, #"{"a":1,"b":1}"#),
        (#"{"traits":{"a":9}"#, #"{"a":1,"b":1}"#),
    ])
    func readsTheTraitsOfAnIdentifyMessage(_ message: String, _ expected: String) {
        var traits = TraitsMerge(stored: Array(#"{"a":1,"b":1}"#.utf8), limits: TraitsMerge.Limits())
        traits.merge(traitsOf: Array(message.utf8))
        #expect(String(decoding: traits.json, as: UTF8.self) == expected)
    }

    @Test func aMergedPersonFillsOnlyTheKeysTheKeptOneLacks() {
        var traits = TraitsMerge(stored: Array(#"{"a":1,"b":1}"#.utf8), limits: TraitsMerge.Limits(maxKeys: 3))
        traits.fill(from: Array(#"{"b":2,"c":2,"d":2,"c":3}"#.utf8))
        #expect(String(decoding: traits.json, as: UTF8.self) == #"{"a":1,"b":1,"c":3}"#, "the last value of a repeated key")
        #expect(traits.droppedKeys == 1)
    }

    @Test func droppedKeysAreReportedOnceWhenStored() {
        var traits = TraitsMerge(stored: [], limits: TraitsMerge.Limits(maxKeys: 1))
        traits.merge(object: Array(#"{"a":1,"b":1,"c":1}"#.utf8))
        #expect(traits.markStored() == 2)
        #expect(traits.droppedKeys == 0)
        traits.merge(object: Array(#"{"d":1,"a":2}"#.utf8))
        #expect(traits.markStored() == 1)
        #expect(String(decoding: traits.json, as: UTF8.self) == #"{"a":2}"#)
    }

    /// What the store writes: only traits a merge changed, or trimmed by the caps.
    @Test(arguments: [
        (#"{"a":1}"#, 1000, #"{"type":"identify"}"#, false),
        (#"{"a":1}"#, 1000, #"{"type":"identify","traits":{}}"#, false),
        (#"{"a":1}"#, 1000, #"{"type":"identify","traits":{"a":1}}"#, true),
        (#"{"a":1}"#, 1000, #"{"type":"identify","traits":{"b":1}}"#, true),
        (#"{"a":1,"b":1}"#, 1, #"{"type":"identify"}"#, true),
        (#"{"a":1}"#, 1, #"{"type":"identify","traits":{"b":1}}"#, true),
    ])
    func needsStoringOnlyWhatChanged(_ stored: String, _ maxKeys: Int, _ message: String, _ expected: Bool) {
        var traits = TraitsMerge(stored: Array(stored.utf8), limits: TraitsMerge.Limits(maxKeys: maxKeys))
        traits.merge(traitsOf: Array(message.utf8))
        #expect(traits.needsStoring == expected)
        _ = traits.markStored()
        #expect(!traits.needsStoring)
    }

    /// The reproduction from issue 11 without a database: 32 identifies of 2,000 new keys each. Each merge
    /// is linear, so this is instant; the old linear key search made it seconds.
    @Test(arguments: [100, 1000])
    func anIdentifyStormStaysWithinTheCaps(_ maxKeys: Int) throws {
        var traits = TraitsMerge(stored: [], limits: TraitsMerge.Limits(maxKeys: maxKeys))
        for call in 0..<32 {
            let members = (0..<2000).map { #""k\#(call)-\#($0)":\#($0)"# }.joined(separator: ",")
            traits.merge(traitsOf: Array(#"{"type":"identify","traits":{\#(members)}}"#.utf8))
            #expect(traits.byteCount <= TraitsMerge.maxStoredBytes)
            #expect(traits.byteCount == traits.json.count)
        }
        #expect(traits.keyCount == maxKeys)
        #expect(traits.droppedKeys == 32 * 2000 - maxKeys)
        let stored = try JSONValue.parse(traits.json)
        #expect(stored.objectValue?.keys.count == maxKeys)
        #expect(stored["k0-0"] == .number("0"))
    }

    @Test func theByteCapHoldsWhateverTheKeyCap() {
        var traits = TraitsMerge(stored: [], limits: TraitsMerge.Limits(maxKeys: 100_000))
        let value = String(repeating: "x", count: 1000)
        for call in 0..<100 {
            traits.merge(object: Array(#"{"key-\#(call)":"\#(value)"}"#.utf8))
        }
        #expect(traits.json.count <= TraitsMerge.maxStoredBytes)
        #expect(traits.keyCount == 63)  // members of 1,010 bytes (key-0 to key-9), then 1,011, each with its comma
        #expect(traits.droppedKeys == 100 - 63)
    }
}
