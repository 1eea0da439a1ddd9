import Foundation
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardTesting
import Testing

/// What Amplitude, PostHog and Mixpanel receive for merges the gateway accepted, merges it refused and
/// merge-only events (SPEC §4 "Merges reach every destination once", "Stable wire identity").

let identityStart = Timestamp(milliseconds: 1_795_929_925_000)  // 2026-11-29T05:25:25.000Z
let anonymousDevice = "a7c6e5d4-0000-4000-8000-000000000001"

/// A stored event of `type` whose body is `fields` plus `type` and `messageId`.
func vendorEvent(
    _ type: EventType, _ messageId: String, _ fields: String, merge: Bool = false, mergeOnly: Bool = false,
    unlinked: Bool = false, userId: String = "user-42", timestamp: Timestamp = identityStart
) -> DeliveryEvent {
    let body = #"{"type":"\#(type.rawValue)","messageId":"\#(messageId)",\#(fields)}"#
    return DeliveryEvent(
        sequence: 1, source: "website", messageId: messageId, type: type, receivedAt: timestamp,
        timestamp: timestamp, resolvedUserId: userId, body: Array(body.utf8),
        identityMerge: merge
            ? IdentityMerge(anonymousId: anonymousDevice, userId: userId, mergedAt: timestamp, messageId: messageId)
            : nil,
        mergeOnly: mergeOnly, anonymousIdUnlinked: unlinked)
}

/// Both ids, as an identify or track that triggers (or was refused) a merge carries them.
let bothIds = #""userId":"user-42","anonymousId":"\#(anonymousDevice)""#

// MARK: - Amplitude

@Suite struct AmplitudeIdentityTests {
    let adapter = AmplitudeAdapter(settings: AmplitudeSettings(apiKey: "KEY"))

    func objects(_ event: DeliveryEvent) throws -> [JSONValue] {
        try adapter.events(for: DeliveryBatch(events: [event])).map { try JSONValue.parse($0.json) }
    }

    @Test func aMergeOnlyEventSendsOnlyTheIdentifyLinkingTheDevice() throws {
        let track = vendorEvent(
            .track, "t-1", bothIds + #","event":"Signed Up","properties":{"plan":"pro"}"#, merge: true, mergeOnly: true)
        let sent = try objects(track)
        #expect(sent.count == 1)
        #expect(sent.first?["event_type"] == "$identify")
        #expect(sent.first?["user_id"] == "user-42")
        #expect(sent.first?["device_id"] == .string(anonymousDevice))
        #expect(sent.first?["insert_id"] == "t-1:merge")
        #expect(sent.first?["event_properties"] == nil, "nothing of the message")
    }

    @Test func aMergeOnlyEventWithoutAMergeSendsNothing() throws {
        let track = vendorEvent(.track, "t-1", bothIds + #","event":"Signed Up""#, mergeOnly: true)
        #expect(try objects(track).isEmpty)
    }

    @Test func aMergingEventThatCarriesBothIdsNeedsNoSeparateLink() throws {
        let track = vendorEvent(.track, "t-1", bothIds + #","event":"Signed Up""#, merge: true)
        #expect(try objects(track).map { $0["event_type"] } == ["Signed Up"])
    }

    @Test func aMergeOnAnEventWithoutTheAnonymousIdIsPrecededByTheLink() throws {
        let track = vendorEvent(.track, "t-2", #""userId":"user-42","event":"Opened""#, merge: true)
        let sent = try objects(track)
        #expect(sent.map { $0["event_type"] } == ["$identify", "Opened"])
        #expect(sent.first?["device_id"] == .string(anonymousDevice))
        #expect(sent.first?["user_id"] == "user-42")
        #expect(sent.first?["insert_id"] == "t-2:merge")
    }

    @Test func aMobileMergeLinksTheDeviceIdTheAnonymousEventsCarried() throws {
        // Mobile SDKs send context.device.id, which this mapping gave the device's anonymous events.
        let mobile = vendorEvent(
            .track, "t-3", bothIds + #","event":"Opened","context":{"device":{"id":"idfv-123456"}}"#, merge: true,
            mergeOnly: true)
        let sent = try objects(mobile)
        #expect(sent.map { $0["event_type"] } == ["$identify"])
        #expect(sent.first?["device_id"] == "idfv-123456")
    }

    @Test func aRefusedMergeSendsNoDeviceNextToTheUser() throws {
        let identify = vendorEvent(.identify, "i-1", bothIds + #","traits":{"plan":"pro"}"#, unlinked: true)
        let sent = try objects(identify)
        #expect(sent.count == 1)
        #expect(sent.first?["user_id"] == "user-42")
        #expect(sent.first?["device_id"] == nil)
        #expect(sent.first?["user_properties"] == ["$set": ["plan": "pro"]])
    }

    @Test func identifyCarriesItsTraitsAsUserProperties() throws {
        let identify = vendorEvent(.identify, "i-2", #""userId":"42","traits":{"email":"ada@example.com"}"#)
        let mobile = vendorEvent(.identify, "i-3", #""userId":"42","context":{"traits":{"email":"ada@example.com"}}"#)
        for event in [identify, mobile] {
            #expect(try objects(event).first?["user_properties"] == ["$set": ["email": "ada@example.com"]])
        }
    }

    @Test func minIdLengthIsSentByDefaultSoShortUserIdsPass() throws {
        let short = vendorEvent(.track, "t-3", #""userId":"42","event":"E""#, userId: "42")
        let body = try JSONValue.parse(
            try #require(adapter.requests(for: DeliveryBatch(events: [short]), now: identityStart).first).body)
        #expect(body["options"] == ["min_id_length": 1])
        #expect(body["events"]?.arrayValue?.first?["user_id"] == "42")
    }

    @Test func minIdLengthBelowOneIsRefused() {
        let node = configNode(.object(JSONObject([("api_key", "KEY"), ("min_id_length", .number("0"))])))
        #expect(throws: (any Error).self) { try AmplitudeSettings(node: node) }
        let unset = configNode(.object(JSONObject([("api_key", "KEY")])))
        #expect((try? AmplitudeSettings(node: unset))?.minIDLength == 1)
    }
}

// MARK: - PostHog

@Suite struct PostHogIdentityTests {
    func objects(_ event: DeliveryEvent) throws -> [JSONValue] {
        try PostHogEventMapping.events(for: event)
    }

    @Test func anIdentifyWhoseMergeWasRefusedSendsNoAnonDistinctId() throws {
        let identify = vendorEvent(.identify, "i-1", bothIds + #","traits":{"plan":"pro"}"#, unlinked: true)
        let sent = try objects(identify)
        #expect(sent.map { $0["event"] } == ["$identify"])
        #expect(sent.first?["properties"]?["$anon_distinct_id"] == nil)
        #expect(sent.first?["$set"] == ["plan": "pro"])
    }

    @Test func anIdentifyThatMergedCarriesTheAnonDistinctId() throws {
        let identify = vendorEvent(.identify, "i-1", bothIds + #","traits":{"plan":"pro"}"#, merge: true)
        let sent = try objects(identify)
        #expect(sent.count == 1)
        #expect(sent.first?["properties"]?["$anon_distinct_id"] == .string(anonymousDevice))
    }

    @Test func anAliasThatMergedNothingSendsNoCreateAlias() throws {
        let alias = vendorEvent(.alias, "al-1", #""userId":"user-42","previousId":"\#(anonymousDevice)""#)
        #expect(try objects(alias).isEmpty)
        let request = try PostHogAdapter(settings: PostHogSettings(apiKey: "phc_k")).requests(
            for: DeliveryBatch(events: [alias]), now: identityStart)
        #expect(request.isEmpty, "nothing is sent, and the alias counts as delivered")
    }

    @Test func aMergeOnlyEventSendsOnlyTheMergeIdentify() throws {
        for type in [EventType.track, .identify, .alias, .page] {
            let event = vendorEvent(
                type, "m-1", bothIds + #","event":"E","previousId":"\#(anonymousDevice)","traits":{"plan":"pro"}"#,
                merge: true, mergeOnly: true)
            let sent = try objects(event)
            #expect(sent.count == 1, "\(type)")
            #expect(sent.first?["event"] == "$identify")
            #expect(sent.first?["distinct_id"] == "user-42")
            #expect(sent.first?["properties"]?["$anon_distinct_id"] == .string(anonymousDevice))
            #expect(sent.first?["$set"] == .object(JSONObject()), "nothing of the message: \(type)")
        }
        let unmerged = vendorEvent(.track, "m-2", bothIds + #","event":"E""#, mergeOnly: true)
        #expect(try objects(unmerged).isEmpty)
    }

    @Test func historicalMigrationMarksRequestsOfOldEventsOnly() throws {
        let adapter = PostHogAdapter(settings: PostHogSettings(apiKey: "phc_k"))
        let old = vendorEvent(
            .track, "old-1", #""userId":"user-42","event":"E""#, timestamp: identityStart - .seconds(48 * 3600))
        let older = vendorEvent(
            .track, "old-2", #""userId":"user-42","event":"E""#, timestamp: identityStart - .seconds(72 * 3600))
        let recent = vendorEvent(
            .track, "new-1", #""userId":"user-42","event":"E""#, timestamp: identityStart - .seconds(47 * 3600))
        let requests = try adapter.requests(for: DeliveryBatch(events: [old, older, recent]), now: identityStart)
        #expect(requests.map(\.eventIndexes) == [[0, 1], [2]])
        let bodies = try requests.map { try JSONValue.parse(try GunzippedPostHogAdapter.plain($0.body)) }
        #expect(bodies.map { $0["historical_migration"] } == [true, false])
        #expect(bodies.allSatisfy { $0["sent_at"] == nil })
    }
}

// MARK: - Mixpanel

@Suite struct MixpanelIdentityTests {
    func records(_ event: DeliveryEvent, mode: MixpanelSettings.IDMerge, secret: Bool = true) throws -> [JSONValue] {
        let settings = MixpanelSettings(
            token: "TOKEN", importAuth: secret ? .apiSecret("SECRET") : .projectToken, idMerge: mode)
        let adapter = GunzippedMixpanelAdapter(settings)
        return try adapter.requests(for: DeliveryBatch(events: [event]), now: identityStart).flatMap { request in
            try MixpanelRecords.of(request)
        }
    }

    @Test func aRefusedMergeSendsNoMergeRecordInOriginalMode() throws {
        let identify = vendorEvent(.identify, "i-1", bothIds + #","traits":{"plan":"pro"}"#, unlinked: true)
        let sent = try records(identify, mode: .original)
        #expect(!sent.contains { $0["event"] == "$merge" || $0["event"] == "$identify" })
        #expect(sent.count == 1, "the profile update only")
        // Even without the flag: an identify carrying both ids is no merge unless the gateway says so.
        let plain = vendorEvent(.identify, "i-2", bothIds + #","traits":{"plan":"pro"}"#)
        #expect(!(try records(plain, mode: .original)).contains { $0["event"] == "$merge" })
    }

    @Test func anAcceptedMergeSendsMergeInOriginalMode() throws {
        let identify = vendorEvent(.identify, "i-1", bothIds + #","traits":{"plan":"pro"}"#, merge: true)
        let sent = try records(identify, mode: .original)
        #expect(sent.first?["event"] == "$merge")
        #expect(sent.first?["properties"]?["$distinct_ids"] == ["user-42", .string(anonymousDevice)])
    }

    @Test func aRefusedAliasSendsNoCreateAlias() throws {
        let alias = vendorEvent(.alias, "al-1", #""userId":"user-42","previousId":"user-7""#)
        #expect(try records(alias, mode: .original).isEmpty)
    }

    @Test(arguments: [MixpanelSettings.IDMerge.simplified, .original])
    func aMergeOnlyEventSendsOnlyItsMergeRecord(_ mode: MixpanelSettings.IDMerge) throws {
        let track = vendorEvent(.track, "t-1", bothIds + #","event":"Signed Up""#, merge: true, mergeOnly: true)
        let sent = try records(track, mode: mode)
        #expect(sent.count == 1)
        #expect(sent.first?["event"] == (mode == .simplified ? "$identify" : "$merge"))
        let unmerged = vendorEvent(.track, "t-2", bothIds + #","event":"Signed Up""#, mergeOnly: true)
        #expect(try records(unmerged, mode: mode).isEmpty)
    }

    @Test func anUnlinkedEventHasNoDeviceIdInSimplifiedMode() throws {
        let track = vendorEvent(.track, "t-1", bothIds + #","event":"Signed Up""#, unlinked: true)
        let sent = try records(track, mode: .simplified)
        #expect(sent.count == 1)
        #expect(sent.first?["properties"]?["$device_id"] == nil)
        #expect(sent.first?["properties"]?["$user_id"] == "user-42")
        #expect(sent.first?["properties"]?["distinct_id"] == "user-42")
    }
}

/// The records of a Mixpanel request: the JSON array of `/import`, or the `data=` form field.
enum MixpanelRecords {
    static func of(_ request: OutgoingRequest) throws -> [JSONValue] {
        let text = String(decoding: request.body, as: UTF8.self)
        if text.hasPrefix("data=") {
            let encoded = String(text.dropFirst("data=".count))
            return try JSONValue.parse(Array((encoded.removingPercentEncoding ?? "").utf8)).arrayValue ?? []
        }
        return try JSONValue.parse(request.body).arrayValue ?? []
    }
}
