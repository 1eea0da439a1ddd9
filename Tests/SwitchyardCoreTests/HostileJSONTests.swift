import Testing

@testable import SwitchyardCore

/// Issue 11's reproductions at the parser, and the rules that make what is stored read the same in
/// every JSON parser: keys decoded before they are classified, duplicate keys and huge numbers refused,
/// lone surrogates refused in ids and replaced elsewhere, timestamps within years 0001–9999.
@Suite(.timeLimit(.minutes(1)))
struct HostileJSONTests {
    let parser = IngestParser(rules: IngestRules())
    let now = Timestamp(milliseconds: 1_795_929_925_123)

    func parse(_ text: String, _ endpoint: IngestEndpoint = .single(.track)) throws(IngestRejection) -> ParsedIngest {
        try parser.parse(Array(text.utf8), endpoint: endpoint, receivedAt: now, clientIP: nil)
    }

    func code(_ text: String, _ endpoint: IngestEndpoint = .single(.track)) -> IngestRejection.Code? {
        do {
            _ = try parse(text, endpoint)
            return nil
        } catch {
            return error.code
        }
    }

    func scan(_ text: String) throws(JSONSyntaxError) -> (Range<Int>, [JSONFinding]) {
        try Array(text.utf8).withUnsafeBufferPointer { (bytes) throws(JSONSyntaxError) in
            var scanner = JSONScanner(bytes)
            let range = try scanner.scanDocument()
            return (range, scanner.findings)
        }
    }

    // MARK: The scanner is total

    /// Every prefix of a document with every kind of token ends in a value or an error: the cut `\u`
    /// escape of the report (`{"a":"\u`) spun forever.
    @Test func everyPrefixEndsInAValueOrAnError() {
        let document = #"{"a":"\u00e9\ud83d\ude00\n","b":[1,-2.5e3,true,false,null,{"c":{}}],"d\u0065":"x"}"#
        let bytes = Array(document.utf8)
        for end in 0...bytes.count {
            let prefix = Array(bytes[..<end])
            let result = Result { () throws(JSONSyntaxError) in
                try prefix.withUnsafeBufferPointer { (buffer) throws(JSONSyntaxError) in
                    var scanner = JSONScanner(buffer)
                    _ = try scanner.scanDocument()
                }
            }
            if end == bytes.count {
                #expect(throws: Never.self) { try result.get() }
            } else {
                #expect(throws: JSONSyntaxError.self, "prefix of \(end) bytes") { try result.get() }
            }
        }
    }

    @Test(arguments: [#"{"a":"\u"#, #"{"a":"\u1"#, #"{"a":"\ud83d\u"#, #""\"#, #""\u00"#, #"{"a":"\ud83d\"#])
    func aCutEscapeIsAnError(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try scan(text) }
        #expect(code(text) == .invalidJSON)
    }

    @Test func findsDuplicateKeysAfterDecodingEscapes() throws {
        #expect(try scan(#"{"a":1,"b":2}"#).1.isEmpty)
        #expect(try scan(#"{"a":1,"a":2}"#).1 == [JSONFinding(offset: 7, kind: .duplicateKey)])
        #expect(try scan(#"{"ab":1,"a\u0062":2}"#).1.map(\.kind) == [.duplicateKey])
        #expect(try scan(#"{"a":{"x":1},"b":{"x":1}}"#).1.isEmpty, "the same key in two objects is fine")
        #expect(try scan(#"[{"x":1},{"x":1}]"#).1.isEmpty)
        #expect(try scan(#"{"x":{"x":{"x":1}}}"#).1.isEmpty)
    }

    /// Past the pairwise limit keys go into a hash set: 20,000 distinct keys scan in linear time, and a
    /// repeat at the end is still found.
    @Test func largeObjectsAreCheckedInLinearTime() throws {
        let keys = (0..<20_000).map { "\"k\($0)\":0" }
        #expect(try scan("{" + keys.joined(separator: ",") + "}").1.isEmpty)
        let repeated = try scan("{" + keys.joined(separator: ",") + ",\"k7\":1}").1
        #expect(repeated.map(\.kind) == [.duplicateKey])
        let escaped = try scan("{" + keys.joined(separator: ",") + ",\"\\u006b19999\":1}").1
        #expect(escaped.map(\.kind) == [.duplicateKey])
    }

    @Test func findsLoneSurrogatesButNotPairs() throws {
        #expect(try scan(#""\ud83d\ude00""#).1.isEmpty)
        #expect(try scan(#""\ud800""#).1 == [JSONFinding(offset: 1, kind: .loneSurrogate)])
        #expect(try scan(#""\udc00\ud800x""#).1.map(\.kind) == [.loneSurrogate, .loneSurrogate])
        #expect(try scan(#""\ud800\u0041""#).1.map(\.offset) == [1])
    }

    @Test(arguments: ["1e400", "-1e309", "1" + String(repeating: "0", count: 400), "1.5E+999"])
    func findsNumbersNoDoubleHolds(_ number: String) throws {
        #expect(try scan("[\(number)]").1.map(\.kind) == [.nonFiniteNumber])
    }

    @Test(arguments: ["1e308", "1e-400", "-0", "0.000001", String(repeating: "9", count: 300)])
    func acceptsNumbersThatAreDoubles(_ number: String) throws {
        #expect(try scan("[\(number)]").1.isEmpty)
    }

    // MARK: One reading of every key

    /// `"user\u0049d"` was passed through as an unknown key, while every reader downstream saw `userId`
    /// (it bypassed the suppression of an erased user).
    @Test func anEscapedKeyIsTheKeyItSpells() throws {
        let event = try #require(try parse(#"{"user\u0049d":"x","\u0065vent":"E"}"#).events.first)
        #expect(event.userId == "x")
        #expect(event.eventName == "E")
        let stored = try JSONValue.parse(event.body)
        #expect(stored["userId"] == .string("x"))
        #expect(stored.objectValue?.members.filter { $0.key == "userId" }.count == 1)
    }

    /// Unknown top-level keys are stored decoded: the warehouse drops a sender's `resolvedUserId` by its
    /// bytes, and `"resolvedUser\u0049d"` would otherwise give its rows two of them.
    @Test func unknownTopLevelKeysAreStoredDecoded() throws {
        let event = try #require(try parse(#"{"userId":"u","event":"e","resolvedUser\u0049d":"x","a\"b":1}"#).events.first)
        let text = String(decoding: event.body, as: UTF8.self)
        #expect(text.contains(#""resolvedUserId":"x""#))
        #expect(text.contains(#""a\"b":1"#))
    }

    @Test func anEscapedWriteKeyIsFoundAndRemoved() throws {
        let body = try parser.scan(Array(#"{"write\u004bey":"k","userId":"u","event":"e"}"#.utf8))
        #expect(body.writeKey == "k")
        let parsed = try parser.parse(body, endpoint: .single(.track), receivedAt: now, clientIP: nil)
        #expect(try JSONValue.parse(parsed.events[0].body)["writeKey"] == nil)
        #expect(!String(decoding: parsed.events[0].body, as: UTF8.self).contains("write"))
    }

    @Test(arguments: [
        #"{"userId":"u1","userId":"u2","event":"e"}"#,
        #"{"userId":"u1","user\u0049d":"u2","event":"e"}"#,
        #"{"userId":"u1","event":"e","properties":{"a":1,"a":2}}"#,
        #"{"userId":"u1","event":"e","context":{"traits":{"x":1,"\u0078":1}}}"#,
        #"{"writeKey":"a","writeKey":"b","userId":"u1","event":"e"}"#,
    ])
    func duplicateKeysAreRefused(_ text: String) {
        #expect(code(text) == .duplicateKey)
    }

    @Test func aDuplicateInsideOneBatchEventRejectsThatEventOnly() throws {
        let parsed = try parse(
            #"{"batch":[{"type":"track","userId":"u","event":"a"},{"type":"track","userId":"u","event":"b","properties":{"p":1,"p":2}},{"type":"track","userId":"u","event":"c","properties":{"n":1e999}},{"type":"track","userId":"u","event":"d"}]}"#,
            .batch)
        #expect(parsed.events.map(\.eventName) == ["a", "d"])
        #expect(parsed.rejected.map(\.index) == [1, 2])
        #expect(parsed.rejected.map(\.rejection.code) == [.duplicateKey, .invalidNumber])
    }

    @Test func aFindingOutsideTheEventsRefusesTheBatch() {
        #expect(code(#"{"batch":[{"type":"track","userId":"u","event":"a"}],"context":{"a":1,"a":2}}"#, .batch) == .duplicateKey)
        #expect(code(#"{"batch":[{"type":"track","userId":"u","event":"a"}],"batch":[]}"#, .batch) == .duplicateKey)
        #expect(code(#"{"batch":[{"type":"track","userId":"u","event":"a"}],"context":{"n":-1e400}}"#, .batch) == .invalidNumber)
        // Found by libFuzzer: a lone surrogate (repaired) before the duplicate hid it.
        #expect(code(#"{"batch":[{"type":"track","userId":"u","event":"a"}],"context":{"s":"\ud800","a":1,"a":2}}"#, .batch) == .duplicateKey)
    }

    @Test func aHugeNumberIsRefused() {
        #expect(code(#"{"userId":"u1","event":"e","properties":{"price":1e400}}"#) == .invalidNumber)
    }

    @Test(arguments: ["userId", "anonymousId", "messageId", "event"])
    func aLoneSurrogateInAnIdIsRefused(_ field: String) {
        var fields = ["userId": "\"u\"", "event": "\"e\""]
        fields[field] = #""a\ud800b""#
        let text = "{" + fields.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
        #expect(code(text) == .invalidUnicode)
    }

    @Test func aLoneSurrogateElsewhereIsReplaced() throws {
        let event = try #require(try parse(#"{"userId":"u","event":"e","properties":{"t":"a\udc00b","\ud800":1}}"#).events.first)
        let text = String(decoding: event.body, as: UTF8.self)
        #expect(!text.lowercased().contains("\\ud800") && !text.lowercased().contains("\\udc00"))
        #expect(try JSONValue.parse(event.body)["properties"]?["t"] == .string("a\u{FFFD}b"))
        let (_, findings) = try scan(text)
        #expect(findings.isEmpty, "what is stored has nothing a reader could disagree on")
    }

    @Test func batchContextKeysAreComparedDecoded() throws {
        let parsed = try parse(
            #"{"batch":[{"type":"track","userId":"u","event":"a","context":{"\u0069p":"1.2.3.4","x":1}}],"context":{"ip":"9.9.9.9","x":2,"y":3}}"#,
            .batch)
        let context = try #require(try JSONValue.parse(parsed.events[0].body)["context"]?.objectValue)
        #expect(context.members.map(\.key).sorted() == ["ip", "x", "y"])
        #expect(context["ip"] == .string("1.2.3.4"))
        #expect(context["x"] == .number("1"))
    }

    // MARK: Sizes as stored

    /// 2,500 tiny events and a 370 KB batch context stored 105 KB events (limit 32 KB) and took RSS to
    /// 930 MB: a batch context larger than an event refuses the request before any event is built.
    @Test func aBatchContextLargerThanAnEventRefusesTheRequest() {
        let context = "{\"pad\":\"" + String(repeating: "x", count: 40_000) + "\"}"
        let events = Array(repeating: #"{"type":"page","anonymousId":"a"}"#, count: 2500).joined(separator: ",")
        #expect(code("{\"batch\":[\(events)],\"context\":\(context)}", .batch) == .eventTooLarge)
    }

    @Test func theEventLimitAppliesToTheEventAsStored() throws {
        let half = String(repeating: "x", count: 20_000)
        let parsed = try parse(
            "{\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"big\",\"properties\":{\"p\":\"\(half)\"}},"
                + "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"small\"}],\"context\":{\"q\":\"\(half)\"}}", .batch)
        #expect(parsed.events.map(\.eventName) == ["small"])
        #expect(parsed.rejected.map(\.rejection.code) == [.eventTooLarge])
        #expect(parsed.events.allSatisfy { $0.body.count <= IngestRules().maxEventBytes })
    }

    /// A batch context just under the event limit copied into 2,500 events would store 75 MB from one
    /// request; the total as stored is bounded by a multiple of the request limit.
    @Test func theEventsOfOneRequestAreBoundedAsStored() {
        let context = "{\"pad\":\"" + String(repeating: "x", count: 30_000) + "\"}"
        let events = Array(repeating: #"{"type":"page","anonymousId":"a"}"#, count: 2500).joined(separator: ",")
        #expect(code("{\"batch\":[\(events)],\"context\":\(context)}", .batch) == .requestTooLarge)
    }

    // MARK: Timestamps

    /// Both traps of the report: a year-0 timestamp, and a skew correction by a sentAt in year 9999.
    @Test(arguments: [
        #"{"userId":"u","event":"e","timestamp":"0000-01-01T00:00:00+01:00"}"#,
        #"{"userId":"u","event":"e","timestamp":"0001-01-01T00:00:00+01:00"}"#,
        #"{"userId":"u","event":"e","timestamp":"2026-11-29T00:00:00Z","sentAt":"9999-12-31T23:59:59Z"}"#,
        #"{"userId":"u","event":"e","timestamp":"0001-01-01T00:00:00Z","sentAt":"9999-12-31T23:59:59Z"}"#,
        #"{"userId":"u","event":"e","originalTimestamp":"9999-12-31T23:59:59-01:00"}"#,
    ])
    func timestampsOutsideYears1To9999AreRefused(_ text: String) {
        #expect(code(text) == .invalidTimestamp)
    }

    @Test func theEdgesOfTheRangeParse() {
        #expect(Timestamp(iso8601: "0001-01-01T00:00:00Z") == .earliest)
        #expect(Timestamp(iso8601: "9999-12-31T23:59:59.999Z") == .latest)
        #expect(Timestamp(iso8601: "9999-12-31T23:59:59.999-00:01") == nil)
        #expect(Timestamp(iso8601: "0000-12-31T23:59:59Z") == nil)
    }

    @Test func formattingIsTotal() {
        #expect(Timestamp(milliseconds: .min).iso8601 == "0001-01-01T00:00:00.000Z")
        #expect(Timestamp(milliseconds: .max).iso8601 == "9999-12-31T23:59:59.999Z")
        #expect((Timestamp(milliseconds: .max) + .seconds(1)).milliseconds == .max)
        #expect((Timestamp(milliseconds: .min) - .seconds(1)).milliseconds == .min)
        #expect(Duration.seconds(Int64.max).milliseconds == .max)
        #expect(Duration.seconds(Int64.min).wholeNanoseconds == .min)
    }
}
