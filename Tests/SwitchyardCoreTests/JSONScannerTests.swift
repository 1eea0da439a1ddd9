import Testing

@testable import SwitchyardCore

@Suite struct JSONScannerTests {
    @Test(arguments: [
        "{}", "[]", "0", "-0.5e+10", "\"a\\u00e9\\n\"", "true", "null", "{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}",
        " \n{\"k\" : \"v\" }\t", "\"日本語\"", "\"\\ud83d\\ude00\"",
    ])
    func acceptsValidJSON(_ text: String) throws {
        _ = try JSONValue.parse(text)
    }

    @Test(arguments: [
        "", "{", "{\"a\":}", "{\"a\" 1}", "[1,]", "{\"a\":1,}", "01", "1.", "-", "tru", "nul", "\"abc",
        "\"\\x\"", "\"\\u12g4\"", "{} {}", "{'a':1}", "[1 2]", "{\"a\":1 \"b\":2}", "NaN", "\"\u{01}\"",
    ])
    func rejectsInvalidJSON(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) }  // surrogate
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse([0x22, 0xC0, 0xAF, 0x22]) }  // overlong
    }

    @Test func rejectsDeepNesting() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(deep) }
        let fine = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect(throws: Never.self) { try JSONValue.parse(fine) }
    }

    @Test func decodesEscapesAndKeepsNumberText() throws {
        let value = try JSONValue.parse(#"{"s":"a\"b\\c\/d\n\u00e9\ud83d\ude00","n":12345678901234567890,"f":1.50}"#)
        #expect(value["s"] == .string("a\"b\\c/d\né😀"))
        #expect(value["n"] == .number("12345678901234567890"))
        #expect(value["f"] == .number("1.50"))
    }

    @Test func roundTripsThroughTheWriter() throws {
        let text = #"{"a":[1,true,null,"x\"y"],"b":{"c":"\u0001"}}"#
        let value = try JSONValue.parse(text)
        #expect(try JSONValue.parse(value.bytes) == value)
        #expect(value.text == #"{"a":[1,true,null,"x\"y"],"b":{"c":"\u0001"}}"#)
    }

    /// A tree of an object with many keys is built in linear time (a linear search per key made 4,000
    /// keys cost 62 ms in release, per event and destination), and keeps order, lookups and removal.
    @Test func largeObjectsKeepOrderAndFindKeys() throws {
        let text = "{" + (0..<20_000).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"
        var object = try #require(try JSONValue.parse(text).objectValue)
        #expect(object.members.count == 20_000)
        #expect(object.members[19_999].key == "k19999")
        #expect(object["k12345"] == .number("12345"))
        object["k5"] = nil
        #expect(object["k5"] == nil && object["k6"] == .number("6") && object.members.count == 19_999)
        object["k6"] = "six"
        object["new"] = true
        #expect(object.members[5].value == "six" && object.members.last?.key == "new")
    }
}
