import SwitchyardCore
import SwitchyardDestinations
import SwitchyardTesting
import Testing

/// The events of a replay after a merge: an anonymous page stored before it, the identify that merged,
/// and a track after it. What each vendor receives for them must not depend on when or how often they
/// are sent (SPEC §4 "Stable wire identity").
func replayEvents() -> [DeliveryEvent] {
    [
        vendorEvent(
            .page, "p-1", #""anonymousId":"\#(anonymousDevice)","name":"Pricing","context":{"ip":"203.0.113.7"}"#,
            timestamp: identityStart - .seconds(60)),
        vendorEvent(
            .identify, "i-1", bothIds + #","traits":{"plan":"pro"},"context":{"ip":"203.0.113.7"}"#, merge: true),
        vendorEvent(.track, "t-1", #""userId":"user-42","event":"Upgraded","properties":{"seats":3}"#),
    ]
}

/// The request bodies a server received, as text (gzip undone).
func plainBodies(_ requests: [ScriptedHTTPServer.Recorded]) throws -> [String] {
    try requests.map { request in
        let bytes =
            request.headers["content-encoding"] == "gzip"
            ? try GunzippedPostHogAdapter.plain(request.body) : request.body
        return String(decoding: bytes, as: UTF8.self)
    }
}

@Suite struct VendorReplayLoopbackTests {
    /// Delivers `events` as attempt 1, moves the clock, delivers them again as attempt 3 (a retry, or a
    /// replay after the merge) and returns the bodies of each delivery.
    func twoDeliveries(
        _ settings: any DestinationTypeSettings, server: ScriptedHTTPServer, clock: ManualWallClock,
        later: Duration
    ) async throws -> (first: [String], second: [String]) {
        let destination = try DestinationRegistry.makeDestination(
            settings: settings, context: testContext(clock: clock))
        let first = await destination.deliver(DeliveryBatch(events: replayEvents(), attempt: 1))
        let sentFirst = server.requests.count
        clock.advance(by: later)
        let second = await destination.deliver(DeliveryBatch(events: replayEvents(), attempt: 3))
        #expect(first == .delivered)
        #expect(second == .delivered)
        let bodies = try plainBodies(server.requests)
        return (Array(bodies[..<sentFirst]), Array(bodies[sentFirst...]))
    }

    @Test func amplitudeSendsTheSameEventsOnEveryAttempt() async throws {
        let server = try await ScriptedHTTPServer.start(then: .init(200, body: #"{"code":200}"#))
        let settings = AmplitudeSettings(apiKey: "AMPKEY", endpoint: server.url)
        let (first, second) = try await twoDeliveries(
            settings, server: server, clock: ManualWallClock(identityStart), later: .seconds(3 * 86_400))
        await server.stop()
        #expect(first.count == 1)
        #expect(first == second, "same device_id, user_id, time and insert_id days later")
        let events = try JSONValue.parse(Array(first[0].utf8))["events"]?.arrayValue ?? []
        #expect(events.map { $0["insert_id"] } == ["p-1", "i-1", "t-1"])
        #expect(events.map { $0["user_id"] } == [nil, "user-42", "user-42"], "the page keeps the identity it had")
    }

    @Test func postHogSendsTheSameEventsOnEveryAttempt() async throws {
        let server = try await ScriptedHTTPServer.start(then: .init(200, body: #"{"status":1}"#))
        let settings = PostHogSettings(apiKey: "phc_key", baseURL: server.url)
        let clock = ManualWallClock(identityStart)
        let (first, second) = try await twoDeliveries(settings, server: server, clock: clock, later: .seconds(3600))
        #expect(first.count == 1)
        #expect(first == second, "the whole body, envelope included: no sent_at")

        // Three days later the same events go out as a backfill, with the same distinct_id, uuid, timestamp.
        clock.advance(by: .seconds(3 * 86_400))
        let destination = try DestinationRegistry.makeDestination(
            settings: settings, context: testContext(clock: clock))
        #expect(await destination.deliver(DeliveryBatch(events: replayEvents(), attempt: 5)) == .delivered)
        let late = try #require(try plainBodies(server.requests).last)
        await server.stop()
        let early = try JSONValue.parse(Array(first[0].utf8))
        let replayed = try JSONValue.parse(Array(late.utf8))
        #expect(replayed["batch"] == early["batch"])
        #expect(early["historical_migration"] == false)
        #expect(replayed["historical_migration"] == true)
        let batch = early["batch"]?.arrayValue ?? []
        #expect(batch.map { $0["distinct_id"] } == [.string(anonymousDevice), "user-42", "user-42"])
        #expect(batch[1]["properties"]?["$anon_distinct_id"] == .string(anonymousDevice))
    }

    @Test func mixpanelSendsTheSameRecordsOnEveryAttempt() async throws {
        let server = try await ScriptedHTTPServer.start(
            then: .init(200, body: #"{"code":200,"status":1,"num_records_imported":3}"#))
        let settings = MixpanelSettings(token: "TOKEN", importAuth: .apiSecret("SECRET"), endpoint: server.url)
        let (first, second) = try await twoDeliveries(
            settings, server: server, clock: ManualWallClock(identityStart), later: .seconds(3 * 86_400))
        await server.stop()
        #expect(first.count == 2, "/import and /engage")
        #expect(first == second, "same distinct_id, time and $insert_id days later")
        let imported = try JSONValue.parse(Array(first[0].utf8)).arrayValue ?? []
        #expect(imported.map { $0["event"] } == ["Loaded a Page", "$identify", "Upgraded"])
        #expect(
            imported.map { $0["properties"]?["distinct_id"] } == [
                .string("$device:" + anonymousDevice), "user-42", "user-42",
            ])
    }
}

/// Amplitude throttling one device while the others flow (vendor-formats §2.3).
@Suite struct AmplitudeThrottlingLoopbackTests {
    func track(_ messageId: String, device: String) -> DeliveryEvent {
        vendorEvent(.track, messageId, #""anonymousId":"\#(device)","event":"Tapped""#)
    }

    func insertIds(_ request: ScriptedHTTPServer.Recorded) throws -> [String] {
        try (JSONValue.parse(request.body)["events"]?.arrayValue ?? []).compactMap { $0["insert_id"]?.stringValue }
    }

    @Test func oneThrottledDeviceWaitsWhileTheOthersAreAccepted() async throws {
        let throttled = #"""
            {"code":429,"error":"Too many requests for some devices and users","eps_threshold":30,
             "throttled_devices":{"device-bbbb":31},"throttled_events":[1,4]}
            """#
        let server = try await ScriptedHTTPServer.start(
            script: [.init(429, body: throttled), .init(200, body: #"{"code":200,"events_ingested":4}"#)],
            then: .init(200, body: #"{"code":200,"events_ingested":2}"#))
        let amplitude = try DestinationRegistry.makeDestination(
            settings: AmplitudeSettings(apiKey: "AMPKEY", endpoint: server.url),
            context: testContext(clock: ManualWallClock(identityStart)))
        let events = [
            track("a-1", device: "device-aaaa"), track("b-1", device: "device-bbbb"),
            track("c-1", device: "device-cccc"),
            track("a-2", device: "device-aaaa"), track("b-2", device: "device-bbbb"),
            track("c-2", device: "device-cccc"),
        ]
        let first = await amplitude.deliver(DeliveryBatch(events: events))
        guard case .retrySome(let waiting, let after, _, 429) = first else {
            Issue.record("the throttled device's events wait, got \(first)")
            return
        }
        #expect(waiting == [1, 4])
        #expect(after == .seconds(30), "HTTP V2's pause")

        // The pipeline sends only the throttled events again, after the pause.
        let second = await amplitude.deliver(DeliveryBatch(events: waiting.map { events[$0] }, attempt: 2))
        let requests = server.requests
        await server.stop()
        #expect(second == .delivered)
        #expect(requests.map(\.path) == ["/2/httpapi", "/2/httpapi", "/2/httpapi"])
        #expect(
            try requests.map(insertIds) == [
                ["a-1", "b-1", "c-1", "a-2", "b-2", "c-2"],
                ["a-1", "c-1", "a-2", "c-2"],  // the other devices, accepted in the first attempt
                ["b-1", "b-2"],  // only the throttled device, in the next attempt
            ])
    }

    @Test func overQuotaEventsAreDeadLetteredAndNotRetried() async throws {
        let overQuota = #"""
            {"code":429,"throttled_devices":{"device-bbbb":31},"throttled_events":[1],
             "exceeded_daily_quota_devices":{"device-bbbb":500900}}
            """#
        let server = try await ScriptedHTTPServer.start(
            script: [.init(429, body: overQuota)], then: .init(200, body: #"{"code":200}"#))
        let amplitude = try DestinationRegistry.makeDestination(
            settings: AmplitudeSettings(apiKey: "AMPKEY", endpoint: server.url),
            context: testContext(clock: ManualWallClock(identityStart)))
        let outcome = await amplitude.deliver(
            DeliveryBatch(events: [track("a-1", device: "device-aaaa"), track("b-1", device: "device-bbbb")]))
        let requests = server.requests
        await server.stop()
        guard case .deadLetter([1], let reason, 429) = outcome else {
            Issue.record("the over-quota event is a dead letter, got \(outcome)")
            return
        }
        #expect(reason.contains("daily event quota"))
        #expect(try requests.map(insertIds) == [["a-1", "b-1"], ["a-1"]])
    }

    @Test func throttledAndRefusedEventsInOneBatchAllWait() async throws {
        let mixed = #"""
            {"code":429,"throttled_devices":{"device-bbbb":31,"device-cccc":40},"throttled_events":[1,2],
             "exceeded_daily_quota_devices":{"device-cccc":500900}}
            """#
        let server = try await ScriptedHTTPServer.start(
            script: [.init(429, body: mixed)], then: .init(200, body: #"{"code":200}"#))
        let amplitude = try DestinationRegistry.makeDestination(
            settings: AmplitudeSettings(apiKey: "AMPKEY", endpoint: server.url),
            context: testContext(clock: ManualWallClock(identityStart)))
        let outcome = await amplitude.deliver(
            DeliveryBatch(events: [
                track("a-1", device: "device-aaaa"), track("b-1", device: "device-bbbb"),
                track("c-1", device: "device-cccc"),
            ]))
        await server.stop()
        guard case .retrySome(let indexes, .some(.seconds(30)), let reason, 429) = outcome else {
            Issue.record("got \(outcome)")
            return
        }
        #expect(indexes == [1, 2], "the over-quota event waits with the throttled one and is dead-lettered next time")
        #expect(reason.contains("1 refused"))
    }
}
