import CompressNIO
import NIOCore
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardTesting
import Testing

/// PostHog requests with their gzip bodies decompressed, so fixtures show (and compare) the JSON. Headers,
/// URL and event indexes are the adapter's own.
struct GunzippedPostHogAdapter: HTTPDestinationAdapter {
    let adapter: PostHogAdapter

    init(_ settings: PostHogSettings) {
        adapter = PostHogAdapter(settings: settings)
    }

    func requests(for batch: DeliveryBatch, now: Timestamp) throws -> [OutgoingRequest] {
        try adapter.requests(for: batch, now: now).map { request in
            var plain = request
            plain.body = try Self.plain(request.body)
            return plain
        }
    }

    /// `bytes` with their gzip undone.
    static func plain(_ bytes: [UInt8]) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: bytes)
        return Array(try buffer.decompress(with: .gzip()).readableBytesView)
    }
}

let postHogNow = Timestamp(milliseconds: 1_795_929_925_000)  // 2026-11-29T05:25:25.000Z

/// A track event; `padding` bytes of `x` in a property make it as large as a test needs.
func postHogTrack(_ messageId: String, index: Int = 0, padding: Int = 0, userId: String? = "user-1") -> DeliveryEvent {
    let id = userId.map { #""userId":"\#($0)","# } ?? ""
    let body = #"{"type":"track","messageId":"\#(messageId)",\#(id)"event":"Signed Up","properties":{"plan":"pro","pad":"\#(String(repeating: "x", count: padding))"},"context":{"ip":"203.0.113.7"},"timestamp":"2026-11-29T05:25:23.950Z"}"#
    return DeliveryEvent(
        sequence: Int64(index), source: "website", messageId: messageId, type: .track,
        receivedAt: postHogNow, timestamp: Timestamp(milliseconds: 1_795_929_923_950), resolvedUserId: userId,
        body: Array(body.utf8))
}

/// Large enough to be over `PostHogAdapter.maxEventBytes` as a PostHog event.
let postHogOversizedPadding = PostHogAdapter.maxEventBytes + 10

@Suite struct PostHogEventIdTests {
    /// RFC 9562 Appendix A.4: UUIDv5 of `www.example.com` in the DNS namespace.
    @Test func uuidV5MatchesTheRFCVector() {
        let dns: [UInt8] = [
            0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
        ]
        #expect(PostHogEventId.uuidV5(namespace: dns, name: "www.example.com") == "2ed6657d-e927-568b-95e1-2665a8aea6a2")
    }

    @Test func theNamespaceIsTheDocumentedName() {
        let url: [UInt8] = [
            0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
        ]
        #expect(
            PostHogEventId.uuidV5(namespace: url, name: "urn:switchyard:posthog:messageId")
                == MessageId.uuidText(PostHogEventId.namespace))
        #expect(MessageId.uuidText(PostHogEventId.namespace) == "ad57558e-f7a2-51ea-ab0f-3a1a48ae0a91")
    }

    @Test(arguments: [
        "3f0c2a4e-7c1b-4c1e-9f53-0b7a8f1d2e01", "3F0C2A4E-7C1B-4C1E-9F53-0B7A8F1D2E01",
        "00000000-0000-0000-0000-000000000001",
    ])
    func canonicalUUIDsAreKept(_ messageId: String) {
        #expect(PostHogEventId.uuid(messageId: messageId) == messageId)
    }

    @Test(arguments: [
        "ajs-next-1764393925.5_x", "3f0c2a4e7c1b4c1e9f530b7a8f1d2e01", "{3f0c2a4e-7c1b-4c1e-9f53-0b7a8f1d2e01}",
        "3f0c2a4e-7c1b-4c1e-9f53-0b7a8f1d2e0g", "", "café",
    ])
    func otherMessageIdsGetAStableVersion5UUID(_ messageId: String) {
        let derived = PostHogEventId.uuid(messageId: messageId)
        #expect(PostHogEventId.isCanonicalUUID(derived))
        #expect(Array(derived)[14] == "5", "version 5")
        #expect("89ab".contains(Array(derived)[19]), "RFC variant")
        #expect(PostHogEventId.uuid(messageId: messageId) == derived)
        #expect(PostHogEventId.uuid(messageId: messageId + "!") != derived)
    }

    /// Computed with Python: `uuid.uuid5(uuid.UUID("ad57558e-f7a2-51ea-ab0f-3a1a48ae0a91"), "ajs-next-1764393925.5_x")`.
    @Test func derivedIdMatchesPython() {
        #expect(PostHogEventId.uuid(messageId: "ajs-next-1764393925.5_x") == "57b24b4b-8111-59c4-b5a0-1778fbceb8bd")
    }
}

@Suite struct PostHogAdapterTests {
    let adapter = PostHogAdapter(settings: PostHogSettings(apiKey: "phc_key", baseURL: "https://eu.i.posthog.com"))

    @Test func oneGzippedRequestWithTheBatchEnvelope() throws {
        let requests = try adapter.requests(
            for: DeliveryBatch(events: [postHogTrack("m-1"), postHogTrack("m-2", index: 1)]), now: postHogNow)
        #expect(requests.count == 1)
        let request = try #require(requests.first)
        #expect(request.url == "https://eu.i.posthog.com/batch/")
        #expect(request.header("content-encoding") == "gzip")
        #expect(request.header("content-type") == "application/json")
        #expect(request.header("user-agent") == "switchyard/\(SwitchyardVersion.current)")
        #expect(request.eventIndexes == [0, 1])
        let body = try JSONValue.parse(try GunzippedPostHogAdapter.plain(request.body))
        // No sent_at: PostHog would shift the already corrected timestamps by it.
        #expect(body.objectValue?.keys == ["api_key", "batch", "historical_migration"])
        #expect(body["api_key"] == "phc_key")
        #expect(body["historical_migration"] == false)
        let events = try #require(body["batch"]?.arrayValue)
        #expect(events.map { $0["uuid"] } == [
            .string(PostHogEventId.uuid(messageId: "m-1")), .string(PostHogEventId.uuid(messageId: "m-2")),
        ])
        #expect(events.allSatisfy { $0["distinct_id"] == "user-1" && $0["event"] == "Signed Up" })
        #expect(events.allSatisfy { $0["timestamp"] == "2026-11-29T05:25:23.950Z" })
        #expect(events.allSatisfy { $0["properties"]?["$lib"] == "switchyard" && $0["properties"]?["$ip"] == "203.0.113.7" })
    }

    @Test func aRetrySendsTheSameBody() throws {
        let batch = DeliveryBatch(events: [postHogTrack("m-1"), postHogTrack("not-a-uuid", index: 1)])
        let first = try JSONValue.parse(try GunzippedPostHogAdapter.plain(try adapter.requests(for: batch, now: postHogNow)[0].body))
        let retry = try JSONValue.parse(
            try GunzippedPostHogAdapter.plain(
                try adapter.requests(
                    for: DeliveryBatch(events: batch.events, attempt: 3), now: postHogNow + .seconds(90))[0].body))
        #expect(first == retry, "same uuids, timestamps and envelope: nothing depends on the send time")
    }

    @Test func eventsOverTheSizeLimitAreLeftOutOfTheRequest() throws {
        let batch = DeliveryBatch(events: [
            postHogTrack("a"), postHogTrack("b", index: 1, padding: postHogOversizedPadding), postHogTrack("c", index: 2),
        ])
        let requests = try adapter.requests(for: batch, now: postHogNow)
        #expect(requests.map(\.eventIndexes) == [[0, 2]])
        #expect(adapter.rejection(of: batch.events[0]) == nil)
        let rejection = try #require(adapter.rejection(of: batch.events[1]))
        #expect(rejection.reason.contains("\(PostHogAdapter.maxEventBytes)-byte limit"))
    }

    @Test func anEventJustUnderTheLimitIsSent() throws {
        let small = try #require(try adapter.encode(postHogTrack("a")).get().first)
        let fits = postHogTrack("a", padding: PostHogAdapter.maxEventBytes - small.count)
        #expect(try adapter.encode(fits).get().first?.count == PostHogAdapter.maxEventBytes)
        #expect(adapter.rejection(of: fits) == nil)
        #expect(adapter.rejection(of: postHogTrack("a", padding: PostHogAdapter.maxEventBytes - small.count + 1)) != nil)
    }

    @Test func largeBatchesGoOutInSeveralRequestsUnderTheBodyCap() throws {
        let events = (0..<7).map { postHogTrack("m-\($0)", index: $0, padding: 850_000) }
        let requests = try adapter.requests(for: DeliveryBatch(events: events), now: postHogNow)
        #expect(requests.map(\.eventIndexes) == [[0, 1, 2, 3, 4, 5], [6]])
        for request in requests {
            let plain = try GunzippedPostHogAdapter.plain(request.body)
            #expect(plain.count <= PostHogAdapter.maxRequestBytes)
            #expect(request.body.count < plain.count / 10, "gzip shrinks the repetitive padding")
        }
    }

    @Test func unmappableMessagesAreRejectedNotSent() throws {
        var corrupt = postHogTrack("bad")
        corrupt.body = Array("{not json".utf8)
        let anonymousLess = postHogTrack("no-id", userId: nil)
        #expect(adapter.rejection(of: corrupt)?.reason.contains("not valid JSON") == true)
        #expect(adapter.rejection(of: anonymousLess)?.reason.contains("distinct_id") == true)
        let requests = try adapter.requests(
            for: DeliveryBatch(events: [corrupt, anonymousLess, postHogTrack("ok", index: 2)]), now: postHogNow)
        #expect(requests.map(\.eventIndexes) == [[2]])
        #expect(try adapter.requests(for: DeliveryBatch(events: [corrupt]), now: postHogNow).isEmpty)
    }

    @Test func aMergeOnATrackAddsAnIdentifyBeforeIt() throws {
        var event = postHogTrack("m-merge")
        event.identityMerge = IdentityMerge(
            anonymousId: "anon-1", userId: "user-1", mergedAt: postHogNow, messageId: "m-merge")
        let objects = try adapter.encode(event).get().map { try JSONValue.parse($0) }
        #expect(objects.map { $0["event"] } == ["$identify", "Signed Up"])
        #expect(objects[0]["properties"]?["$anon_distinct_id"] == "anon-1")
        #expect(
            objects[0]["uuid"]
                == .string(PostHogEventId.uuidV5(namespace: PostHogEventId.namespace, name: "m-merge#$identify")))
    }

    /// The classification table, read without a network (`PostHogLoopbackTests` checks the same over HTTP).
    @Test(arguments: [
        (200, "delivered"), (204, "delivered"), (400, "deadLetterAll"), (401, "deadLetterAll"), (403, "deadLetterAll"),
        (404, "deadLetterAll"), (408, "retry"), (429, "retry"), (413, "split"), (410, "disable"), (500, "retry"),
        (501, "retry"), (502, "retry"), (503, "retry"), (504, "retry"), (301, "deadLetterAll"),
    ])
    func classification(_ status: Int, _ expected: String) {
        let request = OutgoingRequest(url: adapter.url, headers: [], body: [], eventIndexes: [0, 1])
        let outcome = adapter.classify(HTTPResult(status: status, headers: [], body: []), for: request)
        #expect(postHogOutcomeName(outcome) == expected, "HTTP \(status) → \(outcome)")
    }

    @Test func retryAfterIsHonouredAndTheApiKeyProblemIsNamed() {
        let request = OutgoingRequest(url: adapter.url, headers: [], body: [], eventIndexes: [0])
        let throttled = adapter.classify(
            HTTPResult(status: 429, headers: [("Retry-After", "7")], body: []), for: request)
        #expect(throttled == .retry(after: .seconds(7), reason: "HTTP 429", status: 429))
        let unavailable = adapter.classify(
            HTTPResult(status: 503, headers: [("Retry-After", "2")], body: []), for: request)
        guard case .retry(.some(.seconds(2)), _, 503) = unavailable else {
            Issue.record("503 retries after Retry-After, got \(unavailable)")
            return
        }
        let unauthorized = adapter.classify(
            HTTPResult(
                status: 401, headers: [],
                body: Array(#"{"type":"authentication_error","code":"invalid_api_key"}"#.utf8)),
            for: request)
        guard case .deadLetterAll(let reason, 401) = unauthorized else {
            Issue.record("401 dead-letters, got \(unauthorized)")
            return
        }
        #expect(reason.contains("api_key") && reason.contains("phc_") && reason.contains("invalid_api_key"))
        #expect(reason.contains("https://eu.i.posthog.com"))
    }
}

func postHogOutcomeName(_ outcome: DeliveryOutcome) -> String {
    switch outcome {
    case .delivered: return "delivered"
    case .retry: return "retry"
    case .retrySome: return "retrySome"
    case .split: return "split"
    case .deadLetter: return "deadLetter"
    case .deadLetterAll: return "deadLetterAll"
    case .disable: return "disable"
    }
}

/// What became of each event of a batch of `count` events.
func postHogPerEventOutcome(_ outcome: DeliveryOutcome, count: Int) -> [String] {
    switch outcome {
    case .delivered: return Array(repeating: "delivered", count: count)
    case .deadLetter(let indexes, _, _): return (0..<count).map { indexes.contains($0) ? "dead" : "delivered" }
    case .deadLetterAll: return Array(repeating: "dead", count: count)
    case .retry: return Array(repeating: "retry", count: count)
    case .retrySome(let indexes, _, _, _): return (0..<count).map { indexes.contains($0) ? "retry" : "delivered" }
    case .split: return Array(repeating: "split", count: count)
    case .disable: return Array(repeating: "held", count: count)
    }
}

/// `PostHogDestination` over real HTTP on loopback, as the pipeline drives it.
@Suite struct PostHogLoopbackTests {
    func destination(_ server: ScriptedHTTPServer) throws -> any Destination {
        try DestinationRegistry.makeDestination(
            settings: PostHogSettings(apiKey: "phc_key", baseURL: server.url),
            context: testContext(name: "posthog", clock: ManualWallClock(postHogNow)))
    }

    /// A batch of three whose middle event is too large for PostHog.
    let mixedBatch = DeliveryBatch(events: [
        postHogTrack("a"), postHogTrack("b", index: 1, padding: postHogOversizedPadding), postHogTrack("c", index: 2),
    ])

    @Test func deliversWhatPostHogExpects() async throws {
        let server = try await ScriptedHTTPServer.start(script: [.init(200, body: #"{"status":1}"#)])
        let posthog = try destination(server)
        let outcome = await posthog.deliver(DeliveryBatch(events: [postHogTrack("a"), postHogTrack("b", index: 1)]))
        let requests = server.requests
        await server.stop()
        #expect(outcome == .delivered)
        let request = try #require(requests.first)
        #expect(requests.count == 1)
        #expect(request.method == "POST")
        #expect(request.path == "/batch/")
        #expect(request.headers["content-encoding"] == "gzip")
        #expect(request.headers["content-type"] == "application/json")
        let body = try JSONValue.parse(try GunzippedPostHogAdapter.plain(request.body))
        #expect(body["api_key"] == "phc_key")
        #expect(body["batch"]?.arrayValue?.compactMap { $0["uuid"]?.stringValue } == [
            PostHogEventId.uuid(messageId: "a"), PostHogEventId.uuid(messageId: "b"),
        ])
    }

    /// Every response class, with what becomes of each of the three events (the oversized middle one is
    /// never sent, and dead-lettered whenever the others settle).
    @Test(arguments: [
        (200, [String](), ["delivered", "dead", "delivered"]),
        (400, [], ["dead", "dead", "dead"]),
        (401, [], ["dead", "dead", "dead"]),
        (403, [], ["dead", "dead", "dead"]),
        (408, [], ["retry", "retry", "retry"]),
        (429, ["Retry-After", "3"], ["retry", "retry", "retry"]),
        (413, [], ["split", "split", "split"]),
        (500, [], ["retry", "retry", "retry"]),
        (503, [], ["retry", "retry", "retry"]),
        (410, [], ["held", "held", "held"]),
    ])
    func responseClasses(_ status: Int, _ header: [String], _ expected: [String]) async throws {
        let headers = header.isEmpty ? [] : [(header[0], header[1])]
        let server = try await ScriptedHTTPServer.start(script: [.init(status, headers: headers, body: "{}")])
        let outcome = await (try destination(server)).deliver(mixedBatch)
        let requests = server.requests
        await server.stop()
        #expect(postHogPerEventOutcome(outcome, count: 3) == expected, "HTTP \(status) → \(outcome)")
        #expect(requests.count == 1)
        let sent = try JSONValue.parse(try GunzippedPostHogAdapter.plain(requests.first?.body ?? []))
        #expect(sent["batch"]?.arrayValue?.count == 2, "the oversized event is never sent")
        switch outcome {
        case .deadLetter(_, let reason, _), .deadLetterAll(let reason, _):
            #expect(reason.contains("not sent to PostHog"), "the oversized event's reason is kept: \(reason)")
            if status == 401 { #expect(reason.contains("api_key")) }
        case .retry(let after, _, _):
            #expect(after == (status == 429 ? .seconds(3) : nil))
        default:
            break
        }
    }

    @Test func aBatchOfOnlyOversizedEventsIsDeadLetteredWithoutARequest() async throws {
        let server = try await ScriptedHTTPServer.start()
        let outcome = await (try destination(server)).deliver(
            DeliveryBatch(events: [postHogTrack("big", padding: postHogOversizedPadding)]))
        let requests = server.requests
        await server.stop()
        #expect(requests.isEmpty)
        guard case .deadLetterAll(let reason, nil) = outcome else {
            Issue.record("expected deadLetterAll, got \(outcome)")
            return
        }
        #expect(reason.contains("1 MB"))
    }

    /// A batch over 5 MiB goes out in two requests; PostHog refusing the second dead-letters only its events
    /// (and the oversized one), the first request's events are delivered.
    @Test func aRefusedSecondRequestDeadLettersOnlyItsEvents() async throws {
        let server = try await ScriptedHTTPServer.start(script: [.init(200), .init(400, body: #"{"type":"validation_error"}"#)])
        var events = (0..<7).map { postHogTrack("m-\($0)", index: $0, padding: 850_000) }
        events.insert(postHogTrack("big", index: 7, padding: postHogOversizedPadding), at: 2)
        let outcome = await (try destination(server)).deliver(DeliveryBatch(events: events))
        let requests = server.requests
        await server.stop()
        #expect(requests.count == 2)
        guard case .deadLetter(let indexes, let reason, 400) = outcome else {
            Issue.record("expected a partial dead letter, got \(outcome)")
            return
        }
        #expect(indexes == [2, 7])
        #expect(reason.contains("validation_error") && reason.contains("not sent to PostHog"))
        let counts = try requests.map { try JSONValue.parse(try GunzippedPostHogAdapter.plain($0.body))["batch"]?.arrayValue?.count }
        #expect(counts == [6, 1])
    }

    @Test func aFailedFirstRequestRetriesTheWholeBatchWithTheSameUuids() async throws {
        let server = try await ScriptedHTTPServer.start(script: [.init(503)])
        let posthog = try destination(server)
        let events = (0..<7).map { postHogTrack("m-\($0)", index: $0, padding: 850_000) }
        let first = await posthog.deliver(DeliveryBatch(events: events))
        #expect(server.requests.count == 1, "the second request is not sent after a 503")
        guard case .retry(_, _, 503) = first else {
            Issue.record("503 retries, got \(first)")
            await server.stop()
            return
        }
        #expect(await posthog.deliver(DeliveryBatch(events: events, attempt: 2)) == .delivered)
        let requests = server.requests
        await server.stop()
        #expect(requests.count == 3)
        let uuids = try requests.map { request in
            try JSONValue.parse(try GunzippedPostHogAdapter.plain(request.body))["batch"]?.arrayValue?.compactMap { $0["uuid"]?.stringValue } ?? []
        }
        #expect(uuids[0] == uuids[1])
        #expect(uuids[1] + uuids[2] == events.map { PostHogEventId.uuid(messageId: $0.messageId) })
    }
}

