import Testing

@testable import SwitchyardCore

@Suite struct IngestParserTests {
    let parser = IngestParser(rules: IngestRules())
    let now = Timestamp(iso8601: "2026-11-29T12:00:00.000Z")!

    func parse(_ text: String, _ endpoint: IngestEndpoint = .single(.track), ip: String? = "10.1.2.3") throws(IngestRejection)
        -> ParsedIngest
    {
        try parser.parse(Array(text.utf8), endpoint: endpoint, receivedAt: now, clientIP: ip)
    }

    func body(_ event: NewEvent) throws -> JSONValue { try JSONValue.parse(event.body) }

    @Test func correctsClockSkewWithSentAt() throws {
        // The device clock is 1 hour fast: it says the event happened 10 s before it was sent.
        let parsed = try parse(
            #"{"userId":"u1","event":"Signed Up","timestamp":"2026-11-29T12:59:50.000Z","sentAt":"2026-11-29T13:00:00.000Z"}"#)
        let event = try #require(parsed.events.first)
        #expect(event.timestamp == Timestamp(iso8601: "2026-11-29T11:59:50.000Z"))
        let json = try body(event)
        #expect(json["timestamp"] == "2026-11-29T11:59:50.000Z")
        #expect(json["originalTimestamp"] == "2026-11-29T12:59:50.000Z")
        #expect(json["sentAt"] == "2026-11-29T13:00:00.000Z")
        #expect(json["receivedAt"] == "2026-11-29T12:00:00.000Z")
    }

    @Test func withoutSentAtTheTimestampIsKept() throws {
        let event = try #require(try parse(#"{"userId":"u1","event":"e","timestamp":"2026-01-01T00:00:00+02:00"}"#).events.first)
        #expect(event.timestamp == Timestamp(iso8601: "2025-12-31T22:00:00Z"))
        #expect(try body(event)["originalTimestamp"] == "2025-12-31T22:00:00.000Z")
    }

    @Test func withoutTimestampItIsTheArrivalTime() throws {
        let event = try #require(try parse(#"{"userId":"u1","event":"e"}"#).events.first)
        #expect(event.timestamp == now)
        #expect(try body(event)["originalTimestamp"] == nil)
    }

    @Test func rudderStackOriginalTimestampCountsAsTheSendersTime() throws {
        let event = try #require(
            try parse(
                #"{"anonymousId":"a","event":"e","originalTimestamp":"2026-11-29T11:00:00Z","sentAt":"2026-11-29T11:00:05Z"}"#
            ).events.first)
        #expect(event.timestamp == Timestamp(iso8601: "2026-11-29T11:59:55Z"))
    }

    @Test func generatesAMessageIdAndSetsTheConnectionAddress() throws {
        let event = try #require(try parse(#"{"userId":"u1","event":"e"}"#).events.first)
        #expect(event.messageId.count == 36)
        let json = try body(event)
        #expect(json["messageId"] == .string(event.messageId))
        #expect(json["context"]?["ip"] == "10.1.2.3")
    }

    @Test func keepsTheSendersMessageIdAndIP() throws {
        let event = try #require(
            try parse(#"{"userId":"u1","event":"e","messageId":"m-1","context":{"ip":"1.1.1.1","locale":"fr"}}"#).events.first)
        #expect(event.messageId == "m-1")
        let json = try body(event)
        #expect(json["context"] == ["ip": "1.1.1.1", "locale": "fr"])
    }

    @Test func copiesPropertiesAndUnknownFieldsByteForByte() throws {
        let text = #"{"userId":"u1","event":"Order","properties":{"total":12345678901234567890,"items":[{"sku":"a"}],"note":"\u00e9"},"version":2,"channel":"server"}"#
        let event = try #require(try parse(text).events.first)
        let rendered = String(decoding: event.body, as: UTF8.self)
        #expect(rendered.contains(#""properties":{"total":12345678901234567890,"items":[{"sku":"a"}],"note":"\u00e9"}"#))
        #expect(rendered.contains(#""version":2"#))
        #expect(rendered.contains(#""channel":"server""#))
    }

    @Test func removesTheWriteKeyAndReportsIt() throws {
        let parsed = try parse(#"{"writeKey":"secret-key","userId":"u1","event":"e"}"#)
        #expect(parsed.writeKey == "secret-key")
        #expect(!String(decoding: parsed.events[0].body, as: UTF8.self).contains("secret-key"))
    }

    @Test func thePathDecidesTheType() throws {
        let event = try #require(try parse(#"{"type":"track","userId":"u1","name":"Home"}"#, .single(.page)).events.first)
        #expect(event.type == .page)
        #expect(event.eventName == "Home")
        #expect(try body(event)["type"] == "page")
    }

    @Test func numericIdsBecomeStrings() throws {
        let event = try #require(try parse(#"{"userId":42,"event":"e"}"#).events.first)
        #expect(event.userId == "42")
        #expect(try body(event)["userId"] == "42")
    }

    @Test func aBlockedIdIsRemovedAndTheOtherIdKept() throws {
        let event = try #require(try parse(#"{"userId":"undefined","anonymousId":"a-1","event":"e"}"#).events.first)
        #expect(event.userId == nil)
        #expect(event.anonymousId == "a-1")
        #expect(event.blockedIds == [BlockedIdentifier(field: "userId", value: "undefined")])
        #expect(try body(event)["userId"] == nil)
    }

    @Test func batchLevelContextAndIntegrationsMergeIntoEachEvent() throws {
        let text = #"""
            {"batch":[
              {"type":"track","userId":"u1","event":"a","context":{"locale":"fr"}},
              {"type":"identify","anonymousId":"x","userId":"u2","integrations":{"Mixpanel":false}}
            ],
            "context":{"locale":"en","library":{"name":"analytics-python"}},
            "integrations":{"All":true},
            "sentAt":"2026-11-29T12:00:10Z"}
            """#
        let parsed = try parse(text, .batch)
        #expect(parsed.events.count == 2)
        let first = try body(parsed.events[0])
        #expect(first["context"]?["locale"] == "fr")
        #expect(first["context"]?["library"]?["name"] == "analytics-python")
        #expect(first["integrations"] == ["All": true])
        #expect(first["sentAt"] == "2026-11-29T12:00:10.000Z")
        let second = try body(parsed.events[1])
        #expect(second["integrations"] == ["Mixpanel": false, "All": true])
        #expect(parsed.events[1].type == .identify)
    }

    @Test func aBatchStoresTheValidEventsAndListsTheRest() throws {
        let text = #"""
            {"batch":[
              {"type":"track","userId":"u1","event":"ok"},
              {"type":"track","userId":"u1"},
              {"type":"nope","userId":"u1"},
              {"type":"page"},
              "not an object",
              {"type":"alias","userId":"u1","previousId":"a"}
            ]}
            """#
        let parsed = try parse(text, .batch)
        #expect(parsed.indexes == [0, 5])
        #expect(parsed.rejected.map(\.index) == [1, 2, 3, 4])
        #expect(parsed.rejected.map(\.rejection.code) == [.missingEvent, .unknownType, .missingId, .invalidType])
    }

    @Test(arguments: [
        (#"{"event":"e"}"#, IngestEndpoint.single(.track), IngestRejection.Code.missingId),
        (#"{"userId":null,"anonymousId":null,"event":"e"}"#, .single(.track), .missingId),
        (#"{"userId":"anonymous","event":"e"}"#, .single(.track), .missingId),
        (#"{"userId":"u"}"#, .single(.track), .missingEvent),
        (#"{"userId":"u","event":""}"#, .single(.track), .missingEvent),
        (#"{"userId":"u","event":7}"#, .single(.track), .invalidType),
        (#"{"userId":{"a":1},"event":"e"}"#, .single(.track), .invalidType),
        (#"{"userId":"u","event":"e","properties":[1]}"#, .single(.track), .invalidType),
        (#"{"userId":"u","traits":"x"}"#, .single(.identify), .invalidType),
        (#"{"userId":"u","event":"e","context":"x"}"#, .single(.track), .invalidType),
        (#"{"userId":"u","event":"e","timestamp":"yesterday"}"#, .single(.track), .invalidTimestamp),
        (#"{"userId":"u","event":"e","timestamp":1732857925}"#, .single(.track), .invalidTimestamp),
        (#"{"userId":"u","event":"e","sentAt":"now"}"#, .single(.track), .invalidTimestamp),
        (#"{"userId":"u"}"#, .single(.alias), .missingPreviousId),
        (#"{"userId":"u","previousId":"null"}"#, .single(.alias), .missingPreviousId),
        (#"{"previousId":"a","anonymousId":"x"}"#, .single(.alias), .missingId),
        (#"{"userId":"u"}"#, .single(.group), .missingGroupId),
        (#"{"userId":"u","name":5}"#, .single(.page), .invalidType),
        (#"[1,2]"#, .single(.track), .invalidJSON),
        (#"{"userId":"u","#, .single(.track), .invalidJSON),
        (#"{"batch":{}}"#, .batch, .invalidBatch),
        (#"{"events":[]}"#, .batch, .invalidBatch),
        (#"{"batch":[]}"#, .batch, .emptyBatch),
        (#"{"batch":[{"type":"track","userId":"u","event":"e"}],"sentAt":"x"}"#, .batch, .invalidTimestamp),
        (#"{"userId":"u","event":"e","messageId":"\#(String(repeating: "m", count: 101))"}"#, .single(.track), .invalidMessageId),
    ])
    func rejectsBadEvents(_ text: String, _ endpoint: IngestEndpoint, _ code: IngestRejection.Code) {
        #expect {
            try parse(text, endpoint)
        } throws: { error in
            (error as? IngestRejection)?.code == code
        }
    }

    @Test func enforcesSizeAndCountLimits() {
        let small = IngestParser(rules: IngestRules(maxEventBytes: 300, maxRequestBytes: 1000, maxBatchEvents: 2))
        let big = #"{"userId":"u","event":"e","properties":{"p":"\#(String(repeating: "x", count: 400))"}}"#
        #expect(throws: IngestRejection(.eventTooLarge, "the event is 448 bytes; the limit is 300")) {
            try small.parse(Array(big.utf8), endpoint: .single(.track), receivedAt: now, clientIP: nil)
        }
        let three = #"{"batch":[{"type":"track","userId":"u","event":"e"},{"type":"track","userId":"u","event":"e"},{"type":"track","userId":"u","event":"e"}]}"#
        #expect {
            try small.parse(Array(three.utf8), endpoint: .batch, receivedAt: now, clientIP: nil)
        } throws: { ($0 as? IngestRejection)?.code == .tooManyEvents }
        let withBig = #"{"batch":[\#(big),{"type":"track","userId":"u","event":"e"}]}"#
        let parsed = try? small.parse(Array(withBig.utf8), endpoint: .batch, receivedAt: now, clientIP: nil)
        #expect(parsed?.rejected.first?.rejection.code == .eventTooLarge)
        #expect(parsed?.events.count == 1)
    }
}
