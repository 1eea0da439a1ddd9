import SwitchyardCore
import SwitchyardDestinations
import SwitchyardTesting
import Testing

let amplitudeStart = Timestamp(milliseconds: 1_795_929_925_000)

/// A stored track event for Amplitude tests: `userId` as given, no anonymous id.
func amplitudeTrack(_ messageId: String, userId: String = "user-42", event: String = "Signed Up") -> DeliveryEvent {
    DeliveryEvent(
        sequence: 1, source: "website", messageId: messageId, type: .track, receivedAt: amplitudeStart,
        timestamp: amplitudeStart, resolvedUserId: userId,
        body: Array(
            #"{"type":"track","messageId":"\#(messageId)","userId":"\#(userId)","event":"\#(event)","context":{}}"#.utf8
        ))
}

/// Events of a request the way ``AmplitudeAnswer`` sees them.
func amplitudeEvents(_ ids: [(user: String?, device: String?)]) -> [AmplitudeEvent] {
    ids.enumerated().map {
        AmplitudeEvent(batchIndex: $0.offset, userId: $0.element.user, deviceId: $0.element.device, json: [])
    }
}

@Suite struct AmplitudeAnswerTests {
    let three = amplitudeEvents([("user-0", nil), ("user-1", nil), ("user-2", nil)])

    func answer(
        _ status: Int, _ body: String = "", headers: [(name: String, value: String)] = [], batchAPI: Bool = false
    )
        -> AmplitudeAnswer
    {
        AmplitudeAnswer(
            HTTPResult(status: status, headers: headers, body: Array(body.utf8)), events: three, useBatchAPI: batchAPI)
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var status: Int
        var body: String
        /// `accepted`, `rejected <positions>`, `retry`, `split`, `dead all`, `disable`.
        var expected: String
        var testDescription: String { "\(status) \(body.prefix(60)) → \(expected)" }
    }

    static let table: [Row] = [
        Row(status: 200, body: #"{"code":200,"events_ingested":3}"#, expected: "accepted"),
        Row(
            status: 400,
            body:
                #"{"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":{"time":[1]}}"#,
            expected: "rejected 1"),
        Row(
            status: 400, body: #"{"code":400,"events_with_missing_fields":{"event_type":[0,2]}}"#,
            expected: "rejected 0,2"),
        Row(
            status: 400, body: #"{"code":400,"events_with_invalid_id_lengths":{"user_id":[2],"device_id":[2]}}"#,
            expected: "rejected 2"),
        Row(
            status: 400,
            body: #"{"code":400,"error":"Events silenced for device_id","silenced_events":[1],"throttled_events":[0]}"#,
            expected: "rejected 1"),
        Row(status: 400, body: #"{"code":400,"events_with_invalid_fields":{"time":[7,-1,1.5]}}"#, expected: "dead all"),
        Row(
            status: 400, body: #"{"code":400,"error":"Request missing required field","missing_field":"events"}"#,
            expected: "dead all"),
        Row(status: 400, body: #"{"code":400,"error":"Invalid JSON request body"}"#, expected: "dead all"),
        Row(status: 400, body: "<html>bad request</html>", expected: "dead all"),
        Row(status: 401, body: "", expected: "dead all"),
        Row(status: 403, body: #"{"code":403,"error":"Forbidden"}"#, expected: "dead all"),
        Row(status: 408, body: "", expected: "retry"),
        Row(status: 413, body: #"{"code":413,"error":"Payload too large"}"#, expected: "split"),
        Row(
            status: 429, body: #"{"code":429,"error":"Too many requests for some devices and users"}"#,
            expected: "retry"),
        Row(status: 410, body: "", expected: "disable"),
        Row(status: 500, body: "", expected: "retry"),
        Row(status: 501, body: "", expected: "dead all"),
        Row(status: 502, body: "", expected: "retry"),
        Row(status: 503, body: "", expected: "retry"),
        Row(status: 504, body: "", expected: "retry"),
        Row(status: 302, body: "", expected: "dead all"),
    ]

    @Test(arguments: table)
    func classification(_ row: Row) {
        let got: String
        switch answer(row.status, row.body) {
        case .accepted: got = "accepted"
        case .rejected(let reasons, _):
            got = "rejected " + reasons.keys.sorted().map(String.init).joined(separator: ",")
        case .throttled: got = "throttled"
        case .request(.retry): got = "retry"
        case .request(.split): got = "split"
        case .request(.deadLetterAll): got = "dead all"
        case .request(.disable): got = "disable"
        case .request(let other): got = "\(other)"
        }
        #expect(got == row.expected)
    }

    @Test func rejectionsSayWhyPerEvent() {
        let body = #"""
            {"code":400,"events_with_invalid_fields":{"time":[0]},"events_with_missing_fields":{"event_type":[1]},
             "events_with_invalid_id_lengths":{"user_id":[2]}}
            """#
        guard case .rejected(let reasons, 400) = answer(400, body) else {
            Issue.record("a 400 naming events rejects them")
            return
        }
        #expect(reasons[0] == "invalid value of time")
        #expect(reasons[1] == "missing event_type")
        #expect(reasons[2]?.contains("min_id_length") == true)
    }

    @Test func anInvalidAPIKeyIsNamedWithoutQuotingIt() {
        for (status, body) in [(400, #"{"code":400,"error":"Invalid API key: secret-key-123"}"#), (401, ""), (403, "")]
        {
            guard case .request(.deadLetterAll(let reason, let got)) = answer(status, body) else {
                Issue.record("\(status) dead-letters the request")
                continue
            }
            #expect(got == status)
            #expect(reason.contains("api_key"))
            #expect(!reason.contains("secret-key-123"))
        }
    }

    @Test func throttledEventsWaitAndOverQuotaEventsAreDropped() {
        let events = amplitudeEvents([
            ("user-aaaa", "dev-1"), ("user-bbbb", "dev-2"), (nil, "dev-cccc"), ("user-dddd", nil),
        ])
        let body = #"""
            {"code":429,"error":"Too many requests for some devices and users","eps_threshold":30,
             "throttled_users":{"user-aaaa":31,"user-bbbb":40},"throttled_devices":{"dev-cccc":33},
             "throttled_events":[0,1,2],"exceeded_daily_quota_users":{"user-bbbb":500200},
             "exceeded_daily_quota_devices":{"dev-cccc":500900}}
            """#
        let http = AmplitudeAnswer(
            HTTPResult(status: 429, headers: [], body: Array(body.utf8)), events: events, useBatchAPI: false)
        #expect(http == .throttled(waiting: [0], overQuota: [1, 2], after: .seconds(30)))
        let batch = AmplitudeAnswer(
            HTTPResult(status: 429, headers: [], body: Array(body.utf8)), events: events, useBatchAPI: true)
        #expect(batch == .throttled(waiting: [0], overQuota: [1, 2], after: .seconds(15)))
        let longer = AmplitudeAnswer(
            HTTPResult(status: 429, headers: [("Retry-After", "90")], body: Array(body.utf8)), events: events,
            useBatchAPI: false)
        #expect(longer == .throttled(waiting: [0], overQuota: [1, 2], after: .seconds(90)))
    }

    @Test func aLone413EventIsADeadLetter() {
        let one = amplitudeEvents([("user-0", nil)])
        let result = AmplitudeAnswer(HTTPResult(status: 413, headers: [], body: []), events: one, useBatchAPI: false)
        guard case .request(.deadLetterAll(_, 413)) = result else {
            Issue.record("one event too large is a dead letter, got \(result)")
            return
        }
    }
}

@Suite struct AmplitudeAdapterTests {
    let settings = AmplitudeSettings(apiKey: "KEY")

    @Test func oneShotClassificationNamesBatchPositions() {
        let adapter = AmplitudeAdapter(settings: settings)
        // A group call (batch position 1) makes two Amplitude events.
        let request = OutgoingRequest(url: adapter.url, headers: [], body: [], eventIndexes: [0, 1, 1, 2])
        let body =
            #"{"code":400,"events_with_invalid_fields":{"groups":[2]},"events_with_missing_fields":{"event_type":[3]}}"#
        let outcome = adapter.classify(HTTPResult(status: 400, headers: [], body: Array(body.utf8)), for: request)
        guard case .deadLetter(let indexes, let reason, 400) = outcome else {
            Issue.record("got \(outcome)")
            return
        }
        #expect(indexes == [1, 2])
        #expect(reason == "Amplitude rejected 2 events (HTTP 400): invalid value of groups; missing event_type")
    }

    @Test func bigBatchesAreCutToAmplitudesLimits() throws {
        let adapter = AmplitudeAdapter(settings: settings)
        let padding = String(repeating: "x", count: 2000)
        let events = (0..<1200).map { index in
            DeliveryEvent(
                sequence: Int64(index), source: "s", messageId: "m-\(index)", type: .track, receivedAt: amplitudeStart,
                timestamp: amplitudeStart, resolvedUserId: nil,
                body: Array(
                    #"{"type":"track","messageId":"m-\#(index)","userId":"user-1","event":"E","properties":{"p":"\#(padding)"}}"#
                        .utf8))
        }
        let requests = try adapter.requests(for: DeliveryBatch(events: events), now: amplitudeStart)
        #expect(requests.count == 3)
        #expect(requests.allSatisfy { $0.body.count < 1_000_000 })
        #expect(requests.flatMap(\.eventIndexes) == Array(0..<1200))
        for request in requests {
            let parsed = try JSONValue.parse(request.body)
            #expect(parsed["events"]?.arrayValue?.count == request.eventIndexes.count)
        }

        let small = (0..<4001).map { amplitudeTrack("s-\($0)") }
        let counted = try adapter.requests(for: DeliveryBatch(events: small), now: amplitudeStart)
        #expect(counted.map(\.eventIndexes.count) == [2000, 2000, 1])
    }

    @Test func theAPIKeyIsEscapedAndOptionsAreAlwaysSent() throws {
        let plain = try AmplitudeAdapter(settings: settings).requests(
            for: DeliveryBatch(events: [amplitudeTrack("m-1")]), now: amplitudeStart)
        let body = try JSONValue.parse(plain[0].body)
        #expect(body["api_key"] == "KEY")
        #expect(body["options"] == ["min_id_length": 1], "the default lets ids shorter than 5 through")
        let tuned = try AmplitudeAdapter(settings: AmplitudeSettings(apiKey: #"k"\"#, minIDLength: 7)).requests(
            for: DeliveryBatch(events: [amplitudeTrack("m-1")]), now: amplitudeStart)
        let tunedBody = try JSONValue.parse(tuned[0].body)
        #expect(tunedBody["api_key"] == #"k"\"#)
        #expect(tunedBody["options"] == ["min_id_length": 7])
        #expect(tunedBody.objectValue?.keys == ["api_key", "events", "options"])
    }

    @Test func pageEventNameTakesTheAmplitudeNaming() throws {
        func settings(_ value: String) throws -> AmplitudeSettings {
            let node = configNode(.object(JSONObject([("api_key", "KEY"), ("page_event_name", .string(value))])))
            return try AmplitudeSettings(node: node)
        }
        #expect(try settings("amplitude").pageEventName == AmplitudeSettings.amplitudePageViewed)
        #expect(try settings("[Amplitude] Page Viewed").pageEventName == AmplitudeSettings.amplitudePageViewed)
        #expect(try settings("viewed_name").pageEventName == .viewedName)
        #expect(try settings("Saw {name}").pageEventName == .template("Saw {name}"))
        do {
            _ = try settings("Page Viewed")
            Issue.record("a template without {name} is refused")
        } catch {
            #expect("\(error)".contains("amplitude"))
        }
    }
}

/// The Amplitude destination over real HTTP on loopback, as the pipeline drives it.
///
/// These send to the Batch API path (`/batch`): `ScriptedHTTPServer` answers one-segment paths only, and
/// both APIs share request format and answers (the throttling pause, 15 s here, is 30 s on HTTP V2;
/// `AmplitudeAnswerTests` covers both).
@Suite struct AmplitudeLoopbackTests {
    func destination(_ server: ScriptedHTTPServer, batchAPI: Bool = true, minIDLength: Int = 1) throws
        -> any Destination
    {
        let settings = AmplitudeSettings(
            apiKey: "AMPKEY", endpoint: server.url, useBatchAPI: batchAPI, minIDLength: minIDLength)
        return try DestinationRegistry.makeDestination(
            settings: settings, context: testContext(clock: ManualWallClock(amplitudeStart)))
    }

    /// The `insert_id`s a recorded request carried, in order.
    func insertIds(_ request: ScriptedHTTPServer.Recorded) throws -> [String] {
        try (JSONValue.parse(request.body)["events"]?.arrayValue ?? []).compactMap { $0["insert_id"]?.stringValue }
    }

    @Test func aSuccessfulRequestLooksLikeTheSDKs() async throws {
        let server = try await ScriptedHTTPServer.start(then: .init(200, body: #"{"code":200,"events_ingested":2}"#))
        let amplitude = try destination(server, minIDLength: 3)
        let outcome = await amplitude.deliver(DeliveryBatch(events: [amplitudeTrack("m-1"), amplitudeTrack("m-2")]))
        let requests = server.requests
        await server.stop()
        #expect(outcome == .delivered)
        #expect(requests.map(\.path) == ["/batch"])
        #expect(requests.first?.headers["content-type"] == "application/json")
        let body = try JSONValue.parse(try #require(requests.first).body)
        #expect(body["api_key"] == "AMPKEY")
        #expect(body["options"] == ["min_id_length": 3])
        #expect(try insertIds(try #require(requests.first)) == ["m-1", "m-2"])
    }

    @Test func aPartial400DeadLettersThoseEventsAndResendsTheRest() async throws {
        let server = try await ScriptedHTTPServer.start(script: [
            .init(
                400,
                body: #"""
                    {"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":{"time":[1]},
                     "events_with_invalid_id_lengths":{"user_id":[3]}}
                    """#),
            .init(200, body: #"{"code":200,"events_ingested":2}"#),
        ])
        let amplitude = try destination(server)
        let batch = DeliveryBatch(events: ["a", "b", "c", "d"].map { amplitudeTrack("m-" + $0) })
        let outcome = await amplitude.deliver(batch)
        let requests = server.requests
        await server.stop()
        guard case .deadLetter(let indexes, let reason, 400) = outcome else {
            Issue.record("expected dead letters for 1 and 3, got \(outcome)")
            return
        }
        #expect(indexes == [1, 3])
        #expect(reason.contains("invalid value of time") && reason.contains("min_id_length"))
        #expect(requests.count == 2)
        #expect(try insertIds(requests[0]) == ["m-a", "m-b", "m-c", "m-d"])
        #expect(try insertIds(requests[1]) == ["m-a", "m-c"], "only the good events are sent again")
    }

    @Test func firstIndexAnswersArePeeledUntilTheRestIsAccepted() async throws {
        // HTTP V2 may name only the first invalid event per field: each answer removes one more.
        let firstBad = Reply400.invalid(field: "time", index: 0)
        let server = try await ScriptedHTTPServer.start(script: [
            .init(400, body: Reply400.invalid(field: "time", index: 1)), .init(400, body: firstBad), .init(200),
        ])
        let amplitude = try destination(server)
        let outcome = await amplitude.deliver(
            DeliveryBatch(events: ["a", "b", "c", "d"].map { amplitudeTrack("m-" + $0) }))
        let requests = server.requests
        await server.stop()
        guard case .deadLetter(let indexes, _, 400) = outcome else {
            Issue.record("got \(outcome)")
            return
        }
        #expect(indexes == [0, 1])
        #expect(
            try requests.map(insertIds) == [["m-a", "m-b", "m-c", "m-d"], ["m-a", "m-c", "m-d"], ["m-c", "m-d"]])
    }

    @Test func whenEveryEventIsRejectedTheBatchIsDeadLettered() async throws {
        let server = try await ScriptedHTTPServer.start(script: [
            .init(400, body: #"{"code":400,"events_with_missing_fields":{"event_type":[0,1]}}"#)
        ])
        let amplitude = try destination(server)
        let outcome = await amplitude.deliver(DeliveryBatch(events: [amplitudeTrack("m-1"), amplitudeTrack("m-2")]))
        let count = server.requests.count
        await server.stop()
        guard case .deadLetterAll(_, 400) = outcome else {
            Issue.record("got \(outcome)")
            return
        }
        #expect(count == 1, "nothing is left to send again")
    }

    @Test func aRequestLevel400DeadLettersTheWholeRequest() async throws {
        let server = try await ScriptedHTTPServer.start(script: [
            .init(400, body: #"{"code":400,"error":"Request missing required field","missing_field":"event_type"}"#)
        ])
        let amplitude = try destination(server)
        let outcome = await amplitude.deliver(DeliveryBatch(events: [amplitudeTrack("m-1"), amplitudeTrack("m-2")]))
        await server.stop()
        guard case .deadLetterAll(let reason, 400) = outcome else {
            Issue.record("got \(outcome)")
            return
        }
        #expect(reason.contains("missing field event_type"))
    }

    @Test func throttledUsersWaitWhileTheOthersAreSentAtOnce() async throws {
        let throttled = #"""
            {"code":429,"error":"Too many requests for some devices and users","eps_threshold":30,
             "throttled_users":{"user-aaaa":31,"user-bbbb":44},"throttled_events":[0,1],
             "exceeded_daily_quota_users":{"user-bbbb":500200}}
            """#
        let server = try await ScriptedHTTPServer.start(script: [
            .init(429, body: throttled), .init(200, body: #"{"code":200}"#),
            // The retry: user-aaaa passes now, user-bbbb is still over its quota.
            .init(
                429,
                body:
                    #"{"code":429,"throttled_events":[1],"throttled_users":{"user-bbbb":44},"exceeded_daily_quota_users":{"user-bbbb":500300}}"#
            ),
            .init(200, body: #"{"code":200}"#),
        ])
        let amplitude = try destination(server)
        let events = [
            amplitudeTrack("m-a", userId: "user-aaaa"), amplitudeTrack("m-b", userId: "user-bbbb"),
            amplitudeTrack("m-c", userId: "user-cccc"), amplitudeTrack("m-d", userId: "user-dddd"),
        ]
        let first = await amplitude.deliver(DeliveryBatch(events: events))
        // The over-quota event (1) waits with the throttled one (0): one outcome per batch, and
        // `retrySome` cannot carry dead letters.
        #expect(
            first
                == .retrySome(
                    indexes: [0, 1], after: .seconds(15),
                    reason: "Amplitude throttled the users or devices of 1 event (HTTP 429); the others were accepted; "
                        + "1 refused, sent again with them to be dead-lettered then",
                    status: 429))
        // The pipeline sends only those two again.
        let second = await amplitude.deliver(DeliveryBatch(events: Array(events[0...1]), attempt: 2))
        let requests = server.requests
        await server.stop()
        guard case .deadLetter(let indexes, let reason, 429) = second else {
            Issue.record("the over-quota event is a dead letter once nothing waits, got \(second)")
            return
        }
        #expect(indexes == [1])
        #expect(reason.contains("daily event quota"))
        #expect(!reason.contains("user-bbbb"), "reasons never quote ids")
        #expect(try requests.map(insertIds) == [["m-a", "m-b", "m-c", "m-d"], ["m-c", "m-d"], ["m-a", "m-b"], ["m-a"]])
    }

    @Test func a429WithoutDetailsRetriesTheBatchAfterThePause() async throws {
        let server = try await ScriptedHTTPServer.start(script: [.init(429, body: #"{"code":429}"#)])
        let amplitude = try destination(server)
        let outcome = await amplitude.deliver(DeliveryBatch(events: [amplitudeTrack("m-1")]))
        await server.stop()
        guard case .retry(.some(.seconds(15)), _, 429) = outcome else {
            Issue.record("got \(outcome)")
            return
        }
    }

    @Test func payloadTooLargeSplitsTheBatchAndDeadLettersALoneEvent() async throws {
        let server = try await ScriptedHTTPServer.start(script: [
            .init(413, body: #"{"code":413,"error":"Payload too large"}"#),
            .init(413, body: #"{"code":413,"error":"Payload too large"}"#),
        ])
        let amplitude = try destination(server)
        let split = await amplitude.deliver(DeliveryBatch(events: [amplitudeTrack("m-1"), amplitudeTrack("m-2")]))
        let alone = await amplitude.deliver(DeliveryBatch(events: [amplitudeTrack("m-1")]))
        await server.stop()
        #expect(split == .split)
        guard case .deadLetterAll(_, 413) = alone else {
            Issue.record("one event too large is a dead letter, got \(alone)")
            return
        }
    }

    @Test(arguments: [401, 403])
    func aRefusedKeyDeadLettersEverything(_ status: Int) async throws {
        let server = try await ScriptedHTTPServer.start(script: [
            .init(status, body: #"{"code":\#(status),"error":"Forbidden"}"#)
        ])
        let amplitude = try destination(server)
        let outcome = await amplitude.deliver(DeliveryBatch(events: [amplitudeTrack("m-1"), amplitudeTrack("m-2")]))
        await server.stop()
        guard case .deadLetterAll(let reason, status) = outcome else {
            Issue.record("got \(outcome)")
            return
        }
        #expect(reason.contains("api_key"))
    }

    @Test(arguments: [500, 502, 503, 504])
    func serverErrorsAreRetriedWithTheSameInsertIds(_ status: Int) async throws {
        let server = try await ScriptedHTTPServer.start(
            script: [.init(status)], then: .init(200, body: #"{"code":200}"#))
        let amplitude = try destination(server)
        let batch = DeliveryBatch(events: [amplitudeTrack("m-1"), amplitudeTrack("m-2")])
        let first = await amplitude.deliver(batch)
        let second = await amplitude.deliver(DeliveryBatch(events: batch.events, attempt: 2))
        let requests = server.requests
        await server.stop()
        guard case .retry(_, _, status) = first else {
            Issue.record("\(status) is retried, got \(first)")
            return
        }
        #expect(second == .delivered)
        #expect(requests.count == 2)
        #expect(requests[0].body == requests[1].body, "a retry sends the same events with the same insert_ids")
    }

    @Test func noAnswerIsRetried() async throws {
        let server = try await ScriptedHTTPServer.start()
        let url = server.url
        await server.stop()
        let settings = AmplitudeSettings(apiKey: "AMPKEY", endpoint: url, useBatchAPI: true)
        var context = testContext(clock: ManualWallClock(amplitudeStart))
        context.timeout = .seconds(1)  // the client keeps trying a refused connection until the timeout
        let amplitude = try DestinationRegistry.makeDestination(settings: settings, context: context)
        let outcome = await amplitude.deliver(DeliveryBatch(events: [amplitudeTrack("m-1")]))
        guard case .retry(nil, let reason, nil) = outcome else {
            Issue.record("got \(outcome)")
            return
        }
        #expect(reason.hasPrefix("no answer from http://127.0.0.1:"))
    }

    @Test func anAliasWithNothingToMergeSendsNothing() async throws {
        let server = try await ScriptedHTTPServer.start()
        let amplitude = try destination(server)
        let alias = DeliveryEvent(
            sequence: 1, source: "website", messageId: "al-1", type: .alias, receivedAt: amplitudeStart,
            timestamp: amplitudeStart, resolvedUserId: "user-42",
            body: Array(#"{"type":"alias","messageId":"al-1","userId":"user-42","previousId":"old-user-7"}"#.utf8))
        let outcome = await amplitude.deliver(DeliveryBatch(events: [alias]))
        let count = server.requests.count
        await server.stop()
        #expect(outcome == .delivered)
        #expect(count == 0)
    }

    @Test func aGroupCallRejectedInItsSecondEventIsOneDeadLetter() async throws {
        let server = try await ScriptedHTTPServer.start(script: [
            .init(400, body: Reply400.invalid(field: "group_properties", index: 2)), .init(200),
        ])
        let amplitude = try destination(server)
        let group = DeliveryEvent(
            sequence: 2, source: "website", messageId: "g-1", type: .group, receivedAt: amplitudeStart,
            timestamp: amplitudeStart, resolvedUserId: "user-42",
            body: Array(
                #"{"type":"group","messageId":"g-1","userId":"user-42","groupId":"acme","traits":{"name":"Acme"}}"#.utf8
            ))
        let outcome = await amplitude.deliver(
            DeliveryBatch(events: [amplitudeTrack("m-1"), group, amplitudeTrack("m-3")]))
        let requests = server.requests
        await server.stop()
        guard case .deadLetter(let indexes, _, 400) = outcome else {
            Issue.record("got \(outcome)")
            return
        }
        #expect(indexes == [1])
        #expect(try requests.map(insertIds) == [["m-1", "g-1", "g-1:groupidentify", "m-3"], ["m-1", "g-1", "m-3"]])
    }
}

/// Bodies of Amplitude 400 answers used above.
enum Reply400 {
    static func invalid(field: String, index: Int) -> String {
        #"{"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":{"\#(field)":[\#(index)]}}"#
    }
}
