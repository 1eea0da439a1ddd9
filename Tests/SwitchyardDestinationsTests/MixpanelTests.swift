import CompressNIO
import Foundation
import NIOCore
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardTesting
import Testing

/// Mixpanel requests with their gzip bodies decompressed, so fixtures show (and compare) the JSON. URL,
/// headers (including `Content-Encoding: gzip`) and event indexes are the adapter's own.
struct GunzippedMixpanelAdapter: HTTPDestinationAdapter {
    let adapter: MixpanelAdapter

    init(_ settings: MixpanelSettings, limits: MixpanelAdapter.Limits = .init()) {
        adapter = MixpanelAdapter(settings: settings, limits: limits)
    }

    func requests(for batch: DeliveryBatch, now: Timestamp) throws -> [OutgoingRequest] {
        try adapter.requests(for: batch, now: now).map { request in
            guard request.header("content-encoding") == "gzip" else { return request }
            var plain = request
            plain.body = try mixpanelGunzip(request.body)
            return plain
        }
    }
}

private func mixpanelGunzip(_ bytes: [UInt8]) throws -> [UInt8] {
    var buffer = ByteBuffer(bytes: bytes)
    return Array(try buffer.decompress(with: .gzip()).readableBytesView)
}

private let mixpanelNow = Timestamp(milliseconds: 1_795_929_925_000)  // 2026-11-29T05:25:25.000Z

/// A track event of `userId`; `padding` bytes of `x` in a property make it as large as a test needs.
private func mixpanelTrack(
    _ messageId: String, userId: String = "user-1", anonymousId: String? = nil, padding: Int = 0,
    merge: IdentityMerge? = nil
) -> DeliveryEvent {
    let anonymous = anonymousId.map { #""anonymousId":"\#($0)","# } ?? ""
    let pad = String(repeating: "x", count: padding)
    let body =
        #"{"type":"track","messageId":"\#(messageId)","userId":"\#(userId)",\#(anonymous)"event":"Signed Up","properties":{"plan":"pro","pad":"\#(pad)"},"context":{"ip":"203.0.113.7"},"timestamp":"2026-11-29T05:25:23.950Z"}"#
    return DeliveryEvent(
        sequence: 1, source: "website", messageId: messageId, type: .track, receivedAt: mixpanelNow,
        timestamp: Timestamp(milliseconds: 1_795_929_923_950), resolvedUserId: userId, body: Array(body.utf8),
        identityMerge: merge)
}

private func mixpanelIdentify(_ messageId: String, userId: String = "user-1") -> DeliveryEvent {
    let body =
        #"{"type":"identify","messageId":"\#(messageId)","userId":"\#(userId)","traits":{"email":"a@b.c"},"timestamp":"2026-11-29T05:25:23.950Z"}"#
    return DeliveryEvent(
        sequence: 1, source: "website", messageId: messageId, type: .identify, receivedAt: mixpanelNow,
        timestamp: Timestamp(milliseconds: 1_795_929_923_950), resolvedUserId: userId, body: Array(body.utf8))
}

/// The `/import` records of a request, decompressed and parsed.
private func importedRecords(_ request: OutgoingRequest) throws -> [JSONValue] {
    try #require(try JSONValue.parse(mixpanelGunzip(request.body)).arrayValue)
}

private func insertIds(_ request: OutgoingRequest) throws -> [String] {
    try importedRecords(request).map { $0["properties"]?["$insert_id"]?.stringValue ?? "?" }
}

@Suite struct MixpanelMappingTests {
    @Test(arguments: [
        ("3f0c2a4e-7c1b-4c1e-9f53-0b7a8f1d2e01", "3f0c2a4e-7c1b-4c1e-9f53-0b7a8f1d2e01"),
        ("order-1001", "order-1001"),
        ("ajs-next-1764393925.5_x", "4e1ec5bd80e1f6b69638d8685d8ae957aae1"),
        ("0123456789012345678901234567890123456", "e68075311a177ad7768bb251e1e3b936b4cf"),
        ("null", "74234e98afe7498fb5daf1f36ac2d78acc33"),
    ])
    func insertIdIsTheMessageIdOrASHA256Prefix(messageId: String, expected: String) {
        #expect(MixpanelInsertId.of(messageId) == expected)
    }

    @Test(arguments: [
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36",
            "Chrome", "120.0"
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
            "Microsoft Edge", "120.0"
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0",
            "Opera", "105.0"
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox", "121.0"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            "Mobile Safari", "17.4"
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
            "Safari", "17.4"
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/122.0.6261.89 Mobile/15E148 Safari/604.1",
            "Chrome iOS", "122.0"
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
            "Samsung Internet", "23.0"
        ),
        ("Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0) like Gecko", "Internet Explorer", "11.0"),
    ])
    func browsersAreNamedAsMixpanelDoes(userAgent: String, browser: String, version: String) throws {
        let parsed = try #require(MixpanelUserAgent(userAgent))
        #expect(parsed.browser == browser)
        #expect(parsed.version == version)
    }

    @Test func unknownUserAgentsGiveNoBrowser() {
        #expect(MixpanelUserAgent("curl/8.5.0") == nil)
        #expect(MixpanelUserAgent("") == nil)
    }

    @Test func importBatchesRespectTheEventCountLimit() throws {
        let events = (0..<4001).map { mixpanelTrack("m-\($0)") }
        let adapter = MixpanelAdapter(settings: MixpanelSettings(token: "t"))
        let requests = try adapter.requests(for: DeliveryBatch(events: events), now: mixpanelNow)
        #expect(requests.map(\.eventIndexes.count) == [2000, 2000, 1])
        #expect(requests.map { $0.eventIndexes.first } == [0, 2000, 4000])
        #expect(try requests.map { try importedRecords($0).count } == [2000, 2000, 1])
    }

    @Test func importBatchesRespectTheByteLimitAndOversizedEventsGoAlone() throws {
        let limits = MixpanelAdapter.Limits(requestBytes: 3000, eventBytes: 1500)
        let events = [
            // About 1100 bytes each as Mixpanel events: two fit in 3000 bytes, three do not.
            mixpanelTrack("a", padding: 900), mixpanelTrack("b", padding: 900), mixpanelTrack("c", padding: 900),
            mixpanelTrack("big", padding: 2000), mixpanelTrack("d", padding: 10),
        ]
        let adapter = MixpanelAdapter(settings: MixpanelSettings(token: "t"), limits: limits)
        let requests = try adapter.requests(for: DeliveryBatch(events: events), now: mixpanelNow)
        #expect(requests.map(\.eventIndexes) == [[0, 1], [2], [3], [4]])
        for request in requests {
            let plain = try mixpanelGunzip(request.body)
            #expect(plain.count <= 3000 || request.eventIndexes.count == 1)
        }
    }

    @Test func groupsAreSentAtMost200PerRequest() throws {
        let events = (0..<201).map { index in
            let body =
                #"{"type":"group","messageId":"g-\#(index)","userId":"u","groupId":"acme-\#(index)","traits":{"name":"Acme"}}"#
            return DeliveryEvent(
                sequence: 1, source: "website", messageId: "g-\(index)", type: .group, receivedAt: mixpanelNow,
                timestamp: mixpanelNow, resolvedUserId: "u", body: Array(body.utf8))
        }
        let requests = try MixpanelAdapter(settings: MixpanelSettings(token: "t"))
            .requests(for: DeliveryBatch(events: events), now: mixpanelNow)
        #expect(requests.map(\.eventIndexes.count) == [200, 1])
        #expect(requests.allSatisfy { $0.url == "https://api.mixpanel.com/groups?verbose=1" })
    }

    @Test func anEventMappedToTwoRecordsIsListedTwice() throws {
        let settings = MixpanelSettings(token: "t", idMerge: .original)
        let merge = IdentityMerge(anonymousId: "anon-1", userId: "user-1", mergedAt: mixpanelNow, messageId: "m-2")
        let events = [mixpanelTrack("m-1"), mixpanelTrack("m-2", anonymousId: "anon-1", merge: merge)]
        let requests = try MixpanelAdapter(settings: settings).requests(
            for: DeliveryBatch(events: events), now: mixpanelNow)
        #expect(requests.map(\.eventIndexes) == [[0, 1, 1]])
        let names = try importedRecords(requests[0]).map { $0["event"]?.stringValue }
        #expect(names == ["Signed Up", "$identify", "Signed Up"])
    }

    @Test func eventsMixpanelHasNoUseForMakeNoRequest() throws {
        let body = #"{"type":"alias","messageId":"al","userId":"user-2","previousId":"user-1"}"#
        let alias = DeliveryEvent(
            sequence: 1, source: "website", messageId: "al", type: .alias, receivedAt: mixpanelNow,
            timestamp: mixpanelNow,
            resolvedUserId: "user-2", body: Array(body.utf8))
        let requests = try MixpanelAdapter(settings: MixpanelSettings(token: "t"))
            .requests(for: DeliveryBatch(events: [alias]), now: mixpanelNow)
        #expect(requests.isEmpty)
    }
}

/// A classification case: an answer to a request carrying batch events `eventIndexes`, and the outcome.
struct MixpanelClassificationCase: Sendable, CustomTestStringConvertible {
    var name: String
    var path: String = "/import?strict=1"
    var eventIndexes: [Int] = [4, 5, 6]
    var status: Int
    var headers: [(String, String)] = []
    var body: String = ""
    var expected: DeliveryOutcome

    var testDescription: String { name }
}

@Suite struct MixpanelClassificationTests {
    static let cases: [MixpanelClassificationCase] = [
        .init(
            name: "import 200", status: 200, body: #"{"code":200,"num_records_imported":3,"status":"OK"}"#,
            expected: .delivered),
        .init(
            name: "import 400 failed_records by index", status: 400,
            body:
                #"{"code":400,"error":"some data points in the request failed validation","num_records_imported":1,"status":"Bad Request","failed_records":[{"index":0,"insert_id":"x","field":"properties.time","message":"'properties.time' is invalid"},{"index":2,"$insert_id":"y","field":"event","message":"'event' is empty"}]}"#,
            expected: .deadLetter(
                indexes: [4, 6],
                reason:
                    "Mixpanel /import rejected 2 of 3 records (HTTP 400): properties.time: 'properties.time' is invalid",
                status: 400)),
        .init(
            name: "import 400 failed_records for every record", status: 400,
            body: #"{"code":400,"failed_records":[{"index":0},{"index":1},{"index":2}]}"#,
            expected: .deadLetter(
                indexes: [4, 5, 6], reason: "Mixpanel /import rejected 3 of 3 records (HTTP 400)", status: 400)),
        .init(
            name: "import 400 without failed_records", status: 400, body: #"{"code":400,"error":"invalid JSON"}"#,
            expected: .deadLetterAll(
                reason: "Mixpanel /import refused the request (HTTP 400): invalid JSON", status: 400)),
        .init(
            name: "import 401", status: 401,
            body: #"{"code":401,"error":"Invalid credentials","status":"Unauthorized"}"#,
            expected: .deadLetterAll(
                reason:
                    "Mixpanel /import refused the project token (`token`) with HTTP 401: Invalid credentials; fix the credential, then replay these dead letters",
                status: 401)),
        .init(
            name: "engage 403", path: "/engage?verbose=1&ip=0", status: 403, body: "Forbidden",
            expected: .deadLetterAll(
                reason:
                    "Mixpanel /engage refused the project token (`token`) with HTTP 403: Forbidden; fix the credential, then replay these dead letters",
                status: 403)),
        .init(name: "import 413 of several events", status: 413, body: #"{"code":413}"#, expected: .split),
        .init(
            name: "import 413 of one event", eventIndexes: [3, 3], status: 413,
            body: #"{"code":413,"error":"request exceeds max limit of 2097152 bytes"}"#,
            expected: .deadLetterAll(
                reason:
                    "HTTP 413: the event is over Mixpanel's size limits (1 MB per event): request exceeds max limit of 2097152 bytes",
                status: 413)),
        .init(
            name: "import 429 with Retry-After", status: 429, headers: [("Retry-After", "7")], body: "slow down",
            expected: .retry(after: .seconds(7), reason: "HTTP 429: slow down", status: 429)),
        .init(name: "import 502", status: 502, expected: .retry(after: nil, reason: "HTTP 502", status: 502)),
        .init(
            name: "import 503 with Retry-After", status: 503, headers: [("Retry-After", "2")],
            expected: .retry(after: .seconds(2), reason: "HTTP 503", status: 503)),
        .init(name: "import 500", status: 500, expected: .retry(after: nil, reason: "HTTP 500", status: 500)),
        .init(name: "import 408", status: 408, expected: .retry(after: nil, reason: "HTTP 408", status: 408)),
        .init(name: "import 404", status: 404, expected: .deadLetterAll(reason: "HTTP 404", status: 404)),
        .init(
            name: "engage verbose ok", path: "/engage?verbose=1&ip=0", status: 200, body: #"{"status":1,"error":null}"#,
            expected: .delivered),
        .init(name: "groups plain 1", path: "/groups?verbose=1", status: 200, body: "1", expected: .delivered),
        .init(
            name: "engage verbose status 0", path: "/engage?verbose=1&ip=0", status: 200,
            body: #"{"status":0,"error":"$distinct_id is required"}"#,
            expected: .deadLetterAll(
                reason: "Mixpanel /engage refused the updates (status 0): $distinct_id is required", status: 200)),
        .init(
            name: "groups plain 0", path: "/groups?verbose=1", status: 200, body: "0",
            expected: .deadLetterAll(reason: "Mixpanel /groups refused the updates (status 0)", status: 200)),
    ]

    @Test(arguments: cases)
    func answersAreClassified(_ testCase: MixpanelClassificationCase) {
        let adapter = MixpanelAdapter(settings: MixpanelSettings(token: "t"))
        let request = OutgoingRequest(
            url: "https://api.mixpanel.com" + testCase.path, headers: [], body: [], eventIndexes: testCase.eventIndexes)
        let response = HTTPResult(
            status: testCase.status, headers: testCase.headers.map { ($0.0, $0.1) }, body: Array(testCase.body.utf8))
        #expect(adapter.classify(response, for: request) == testCase.expected)
    }

    @Test func credentialReasonsNameTheConfiguredImportCredential() {
        let request = OutgoingRequest(
            url: "https://api.mixpanel.com/import?strict=1", headers: [], body: [], eventIndexes: [0])
        let response = HTTPResult(status: 401, headers: [], body: [])
        let secret = MixpanelAdapter(settings: MixpanelSettings(token: "t", importAuth: .apiSecret("s")))
        let account = MixpanelAdapter(
            settings: MixpanelSettings(
                token: "t", importAuth: .serviceAccount(username: "u", secret: "s", projectID: "1")))
        guard case .deadLetterAll(let secretReason, 401) = secret.classify(response, for: request),
            case .deadLetterAll(let accountReason, 401) = account.classify(response, for: request)
        else {
            Issue.record("401 dead-letters the request's events")
            return
        }
        #expect(secretReason.contains("the API secret (`secret`)"))
        #expect(accountReason.contains("the service account (`service_account`) or its `project_id`"))
    }

    @Test func failedRecordsWithoutIndexAreFoundByInsertId() throws {
        let adapter = MixpanelAdapter(settings: MixpanelSettings(token: "t"))
        let events = [mixpanelTrack("m-0"), mixpanelTrack("m-1"), mixpanelTrack("weird id"), mixpanelTrack("m-3")]
        let request = try #require(try adapter.requests(for: DeliveryBatch(events: events), now: mixpanelNow).first)
        let hashed = MixpanelInsertId.of("weird id")
        let body = #"{"code":400,"failed_records":[{"insert_id":"m-1"},{"$insert_id":"\#(hashed)","index":99}]}"#
        let outcome = adapter.classify(HTTPResult(status: 400, headers: [], body: Array(body.utf8)), for: request)
        #expect(
            outcome
                == .deadLetter(
                    indexes: [1, 2], reason: "Mixpanel /import rejected 2 of 4 records (HTTP 400)", status: 400))

        let unknown = #"{"code":400,"failed_records":[{"insert_id":"nobody","field":"event","message":"bad"}]}"#
        let unplaced = adapter.classify(HTTPResult(status: 400, headers: [], body: Array(unknown.utf8)), for: request)
        #expect(
            unplaced
                == .deadLetterAll(
                    reason: "Mixpanel /import rejected records it did not identify (HTTP 400): event: bad", status: 400)
        )
    }
}

/// The Mixpanel destination over real HTTP on loopback, as the pipeline drives it.
@Suite struct MixpanelLoopbackTests {
    func destination(_ server: ScriptedHTTPServer, settings: MixpanelSettings? = nil) throws -> any Destination {
        let settings = settings ?? MixpanelSettings(token: "mp-token", endpoint: server.url)
        return try DestinationRegistry.makeDestination(
            settings: settings, context: testContext(clock: ManualWallClock(mixpanelNow)))
    }

    @Test func aBatchIsImportedGzippedWithTheConfiguredCredentials() async throws {
        let server = try await ScriptedHTTPServer.start(
            then: .init(200, body: #"{"code":200,"num_records_imported":2,"status":"OK"}"#))
        let settings = MixpanelSettings(
            token: "mp-token", importAuth: .serviceAccount(username: "sa", secret: "pw", projectID: "42"),
            endpoint: server.url)
        let mixpanel = try destination(server, settings: settings)
        let outcome = await mixpanel.deliver(DeliveryBatch(events: [mixpanelTrack("m-1"), mixpanelTrack("m-2")]))
        let requests = server.requests
        await server.stop()
        #expect(outcome == .delivered)
        let request = try #require(requests.first)
        #expect(requests.count == 1)
        #expect(request.path == "/import")
        #expect(request.headers["content-encoding"] == "gzip")
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["authorization"] == "Basic " + Data("sa:pw".utf8).base64EncodedString())
        let records = try #require(try JSONValue.parse(mixpanelGunzip(request.body)).arrayValue)
        #expect(records.map { $0["properties"]?["$insert_id"]?.stringValue } == ["m-1", "m-2"])
        #expect(records.map { $0["properties"]?["time"] } == [.number("1795929923950"), .number("1795929923950")])
    }

    @Test func aPartial400DeadLettersExactlyTheFailedEventsAcrossRequests() async throws {
        // Two /import requests (a 2-record limit); the second one's record 1 fails. The event at batch
        // position 1 became two records (a merge and the track), so request 2's record 1 is batch event 2.
        let failed =
            #"{"code":400,"error":"some data points in the request failed validation","num_records_imported":1,"status":"Bad Request","failed_records":[{"index":1,"insert_id":"m-2","field":"properties.time","message":"'properties.time' is invalid"}]}"#
        let server = try await ScriptedHTTPServer.start(script: [.ok, .init(400, body: failed)])
        let settings = MixpanelSettings(token: "mp-token", endpoint: server.url, idMerge: .original)
        let adapter = MixpanelAdapter(settings: settings, limits: .init(importEvents: 2))
        let mixpanel = HTTPDestination(adapter: adapter, context: testContext(clock: ManualWallClock(mixpanelNow)))
        let merge = IdentityMerge(anonymousId: "anon-1", userId: "user-1", mergedAt: mixpanelNow, messageId: "m-1")
        let batch = DeliveryBatch(events: [
            mixpanelTrack("m-0"), mixpanelTrack("m-1", anonymousId: "anon-1", merge: merge), mixpanelTrack("m-2"),
        ])
        let outcome = await mixpanel.deliver(batch)
        let requests = server.requests
        await server.stop()
        #expect(requests.count == 2, "the rest were ingested: nothing is resent")
        guard case .deadLetter(let indexes, let reason, 400) = outcome else {
            Issue.record("a partial 400 dead-letters only the failed events, got \(outcome)")
            return
        }
        #expect(indexes == [2])
        #expect(reason.contains("properties.time"))
        let secondRecords = try #require(try JSONValue.parse(mixpanelGunzip(requests[1].body)).arrayValue)
        #expect(secondRecords.map { $0["properties"]?["$insert_id"]?.stringValue } == ["m-1", "m-2"])
    }

    @Test func throttlingAndServerErrorsAreRetriedHonouringRetryAfter() async throws {
        let server = try await ScriptedHTTPServer.start(script: [
            .init(429, headers: [("Retry-After", "3")], body: #"{"code":429,"error":"Project exceeded rate limits."}"#),
            .init(502), .init(503), .init(500),
        ])
        let mixpanel = try destination(server)
        let batch = DeliveryBatch(events: [mixpanelTrack("m-1")])
        let throttled = await mixpanel.deliver(batch)
        let badGateway = await mixpanel.deliver(batch)
        let unavailable = await mixpanel.deliver(batch)
        let serverError = await mixpanel.deliver(batch)
        let delivered = await mixpanel.deliver(batch)
        await server.stop()
        guard case .retry(let after, _, 429) = throttled else {
            Issue.record("429 is retried, got \(throttled)")
            return
        }
        #expect(after == .seconds(3))
        #expect(badGateway == .retry(after: nil, reason: "HTTP 502", status: 502))
        #expect(unavailable == .retry(after: nil, reason: "HTTP 503", status: 503))
        #expect(serverError == .retry(after: nil, reason: "HTTP 500", status: 500))
        #expect(delivered == .delivered)
    }

    @Test func tooLargeSplitsSeveralEventsAndDeadLettersOne() async throws {
        let server = try await ScriptedHTTPServer.start(script: [
            .init(413, body: #"{"code":413,"error":"request exceeds max limit of 2097152 bytes"}"#),
            .init(413, body: #"{"code":413,"error":"request exceeds max limit of 2097152 bytes"}"#),
        ])
        let mixpanel = try destination(server)
        let several = await mixpanel.deliver(DeliveryBatch(events: [mixpanelTrack("m-1"), mixpanelTrack("m-2")]))
        let one = await mixpanel.deliver(DeliveryBatch(events: [mixpanelTrack("m-3")]))
        await server.stop()
        #expect(several == .split)
        guard case .deadLetterAll(let reason, 413) = one else {
            Issue.record("a 413 for a single event dead-letters it, got \(one)")
            return
        }
        #expect(reason.contains("1 MB per event"))
    }

    @Test func refusedCredentialsDeadLetterWithAReasonNamingTheCredential() async throws {
        let server = try await ScriptedHTTPServer.start(script: [
            .init(401, body: #"{"code":401,"error":"Invalid credentials","status":"Unauthorized"}"#),
            .init(403, body: #"{"code":403,"error":"forbidden"}"#),
        ])
        let settings = MixpanelSettings(token: "mp-token", importAuth: .apiSecret("wrong"), endpoint: server.url)
        let mixpanel = try destination(server, settings: settings)
        let unauthorized = await mixpanel.deliver(DeliveryBatch(events: [mixpanelTrack("m-1"), mixpanelTrack("m-2")]))
        let forbidden = await mixpanel.deliver(DeliveryBatch(events: [mixpanelTrack("m-3")]))
        await server.stop()
        #expect(
            unauthorized
                == .deadLetterAll(
                    reason:
                        "Mixpanel /import refused the API secret (`secret`) with HTTP 401: Invalid credentials; fix the credential, then replay these dead letters",
                    status: 401))
        guard case .deadLetterAll(let reason, 403) = forbidden else {
            Issue.record("403 dead-letters, got \(forbidden)")
            return
        }
        #expect(reason.contains("the API secret (`secret`)"))
    }

    @Test func profileUpdatesGoToEngageAsFormDataAndVerboseErrorsDeadLetter() async throws {
        let server = try await ScriptedHTTPServer.start(script: [
            .init(200, body: #"{"code":200,"num_records_imported":1,"status":"OK"}"#),
            .init(200, body: #"{"status":0,"error":"invalid $set"}"#),
        ])
        let mixpanel = try destination(server)
        let outcome = await mixpanel.deliver(DeliveryBatch(events: [mixpanelTrack("m-1"), mixpanelIdentify("i-1")]))
        let requests = server.requests
        await server.stop()
        #expect(requests.map(\.path) == ["/import", "/engage"])
        #expect(requests.last?.headers["content-type"] == "application/x-www-form-urlencoded")
        #expect(requests.last?.text.hasPrefix("data=%5B%7B%22%24token%22%3A%22mp-token%22") == true)
        #expect(
            outcome
                == .deadLetter(
                    indexes: [1], reason: "Mixpanel /engage refused the updates (status 0): invalid $set", status: 200))
    }
}
