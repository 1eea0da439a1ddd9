import SwitchyardCore

/// Maps one Segment message to the Mixpanel records that carry it (vendor-formats §1.8, §1.9).
///
/// | call | `id_merge: simplified` (default) | `id_merge: original` |
/// | --- | --- | --- |
/// | track | `/import` event `event` | same |
/// | page / screen | `/import` event named by `page_event_name` | same |
/// | identify | `/engage` `$set` of the traits (none without traits) | same |
/// | group | `/groups` `$set` of the traits under `$group_key`/`$group_id` (none without traits) | same |
/// | alias | nothing (Simplified ID Merge ignores aliases) | `/import` `$create_alias` when the alias merged `previousId` (``DeliveryEvent/identityMerge``), else nothing |
/// | a merge (below) | `/import` `$identify` with `$device_id` + `$user_id` | `/import` `$merge` (API secret or service account) or `$identify` (project token) |
///
/// A *merge* is the event's ``DeliveryEvent/identityMerge`` only: the gateway accepted linking an
/// anonymous id to a user on this event. An identify that merely carries both ids is no merge (unlike
/// Segment and RudderStack, which send `$merge` for every such identify): when the gateway refused it —
/// the anonymous id belongs to someone else, a shared device — an irreversible `$merge` would join two
/// people. The merge record comes first. It is not sent for a track/page/screen in `simplified` mode
/// that carries both ids itself (Mixpanel links them from the event), nor for an alias in `original`
/// mode (the `$create_alias` is the link).
///
/// A ``DeliveryEvent/mergeOnly`` event (the destination does not take the message, only its merge)
/// sends the merge record alone, whatever its type and mode. An event with
/// ``DeliveryEvent/anonymousIdUnlinked`` (the gateway refused to merge its two ids) has no `$device_id`
/// in `simplified` mode: Mixpanel would link the device to `$user_id`.
///
/// Records depend on the event alone — never on the clock or the attempt — so a retry or a replay
/// sends the same `distinct_id`, `time` and `$insert_id`.
///
/// Every `/import` event's properties start with, in this order: `time` (ms of the corrected
/// `timestamp`), `distinct_id`, `$insert_id` (``MixpanelInsertId``), in `simplified` mode
/// `$device_id` (anonymousId) and `$user_id` (userId) when present, `token`, `ip` (`context.ip`, or
/// `"0"` so Mixpanel never geolocates the gateway), `mp_lib` `switchyard`, `$lib_version`. Track, page
/// and screen events then get the ``contextProperties`` table, `name`/`category` for page and screen,
/// and the Segment `properties` (which override context-derived values but never the keys above).
struct MixpanelEventMapper: Sendable {
    let settings: MixpanelSettings

    /// `mp_lib` on every event: the library that talked to Mixpanel.
    static let library = "switchyard"

    /// Keys Segment `properties` may not override: identity, dedupe, auth and geolocation.
    static let reservedPropertyKeys: Set<String> = [
        "time", "distinct_id", "$insert_id", "$device_id", "$user_id", "token", "ip",
    ]

    /// Segment `context` paths copied to Mixpanel's default properties when present and not null.
    static let contextProperties: [(path: [String], property: String)] = [
        (["page", "url"], "$current_url"),
        (["page", "referrer"], "$referrer"),
        (["os", "name"], "$os"),
        (["os", "version"], "$os_version"),
        (["device", "name"], "$device"),
        (["device", "type"], "$device_type"),
        (["device", "manufacturer"], "$manufacturer"),
        (["device", "model"], "$model"),
        (["network", "carrier"], "$carrier"),
        (["network", "wifi"], "$wifi_enabled"),
        (["network", "bluetooth"], "$bluetooth_enabled"),
        (["network", "cellular"], "$cellular_enabled"),
        (["screen", "width"], "$screen_width"),
        (["screen", "height"], "$screen_height"),
        (["screen", "density"], "$screen_density"),
        (["app", "name"], "$app_name"),
        (["app", "namespace"], "$app_namespace"),
        (["app", "version"], "$app_version_string"),
        (["app", "build"], "$app_build_number"),
        (["locale"], "$locale"),
        (["location", "country"], "mp_country_code"),
        (["location", "region"], "$region"),
        (["location", "city"], "$city"),
        (["campaign", "source"], "utm_source"),
        (["campaign", "medium"], "utm_medium"),
        (["campaign", "name"], "utm_campaign"),
        (["campaign", "term"], "utm_term"),
        (["campaign", "content"], "utm_content"),
    ]

    /// Profile trait renames to Mixpanel's reserved profile properties (Segment and RudderStack).
    static let traitRenames: [String: String] = [
        "email": "$email", "name": "$name", "first_name": "$first_name", "firstName": "$first_name",
        "last_name": "$last_name", "lastName": "$last_name", "phone": "$phone", "avatar": "$avatar",
        "username": "$username", "created": "$created", "createdAt": "$created", "created_at": "$created",
    ]

    /// Group trait renames (Segment's group action renames only these).
    static let groupTraitRenames: [String: String] = [
        "name": "$name", "created": "$created", "createdAt": "$created", "created_at": "$created",
    ]

    /// The `$group_key` when the group's traits name no `group_type` / `groupType`.
    static let defaultGroupKey = "company"

    /// The records for `event`, in the order they are sent. Empty when Mixpanel has no use for it.
    func records(for event: DeliveryEvent) throws -> [MixpanelRecord] {
        let message = try event.message()
        let userId = Self.nonEmptyString(message["userId"])
        if event.mergeOnly {
            guard let merge = acceptedMerge(of: event) else { return [] }
            return [mergeRecord(merge, event: event, message: message)]
        }
        // The anonymous id the gateway refused to merge is not sent next to the user id.
        let anonymousId = event.anonymousIdUnlinked && userId != nil ? nil : Self.nonEmptyString(message["anonymousId"])
        var records: [MixpanelRecord] = []
        if let merge = merge(for: event, userId: userId, anonymousId: anonymousId) {
            records.append(mergeRecord(merge, event: event, message: message))
        }
        switch event.type {
        case .track:
            let name = message["event"]?.stringValue ?? ""
            records.append(.event(name, eventProperties(event, message, userId: userId, anonymousId: anonymousId)))
        case .page, .screen:
            let name = settings.pageEventName.eventName(
                name: message["name"]?.stringValue, isScreen: event.type == .screen)
            records.append(.event(name, eventProperties(event, message, userId: userId, anonymousId: anonymousId)))
        case .identify:
            if let profile = profileUpdate(event, message, userId: userId, anonymousId: anonymousId) {
                records.append(profile)
            }
        case .group:
            if let group = groupUpdate(event, message) { records.append(group) }
        case .alias:
            if settings.idMerge == .original,
                let alias = createAlias(event, message, userId: userId, anonymousId: anonymousId)
            {
                records.append(alias)
            }
        }
        return records
    }

    // MARK: Identity

    /// The distinct id of a message: userId, else the anonymous id (`$device:`-prefixed in
    /// `simplified` mode, as Mixpanel derives it from `$device_id`), else `""` ("no user").
    func distinctId(userId: String?, anonymousId: String?) -> String {
        if let userId { return userId }
        guard let anonymousId else { return "" }
        return settings.idMerge == .simplified ? "$device:" + anonymousId : anonymousId
    }

    /// The anonymous id and user id Mixpanel must link because of this event, if any (see the type's
    /// doc comment).
    func merge(for event: DeliveryEvent, userId: String?, anonymousId: String?) -> (
        anonymousId: String, userId: String
    )? {
        guard let pair = acceptedMerge(of: event) else { return nil }
        switch settings.idMerge {
        case .simplified:
            let carriesBoth = anonymousId == pair.anonymousId && userId == pair.userId
            if carriesBoth, [.track, .page, .screen].contains(event.type) { return nil }
        case .original:
            if event.type == .alias { return nil }
        }
        return pair
    }

    /// The merge the gateway accepted on this event, when it links two different, non-empty ids.
    func acceptedMerge(of event: DeliveryEvent) -> (anonymousId: String, userId: String)? {
        guard let merge = event.identityMerge, !merge.anonymousId.isEmpty, !merge.userId.isEmpty,
            merge.anonymousId != merge.userId
        else { return nil }
        return (merge.anonymousId, merge.userId)
    }

    func mergeRecord(_ merge: (anonymousId: String, userId: String), event: DeliveryEvent, message: JSONValue)
        -> MixpanelRecord
    {
        var properties = baseProperties(
            event, message, distinctId: merge.userId, userId: merge.userId, anonymousId: merge.anonymousId)
        switch (settings.idMerge, settings.importAuth) {
        case (.simplified, _):
            return .event("$identify", properties)
        case (.original, .projectToken):
            properties["$identified_id"] = .string(merge.userId)
            properties["$anon_id"] = .string(merge.anonymousId)
            return .event("$identify", properties)
        case (.original, .apiSecret), (.original, .serviceAccount):
            // `$merge` takes any id format (`$identify` wants a UUID v4 `$anon_id`), but only with
            // the API secret or a service account.
            properties["$distinct_ids"] = .array([.string(merge.userId), .string(merge.anonymousId)])
            return .event("$merge", properties)
        }
    }

    func createAlias(_ event: DeliveryEvent, _ message: JSONValue, userId: String?, anonymousId: String?)
        -> MixpanelRecord?
    {
        // Only an alias whose merge the gateway accepted: `$create_alias` joins the two ids for good.
        guard let previousId = Self.nonEmptyString(message["previousId"]), let alias = userId ?? anonymousId,
            alias != previousId, let merge = acceptedMerge(of: event), merge.anonymousId == previousId
        else { return nil }
        var properties = baseProperties(event, message, distinctId: previousId, userId: nil, anonymousId: nil)
        properties["alias"] = .string(alias)
        return .event("$create_alias", properties)
    }

    // MARK: Events

    /// The properties every `/import` event starts with.
    func baseProperties(
        _ event: DeliveryEvent, _ message: JSONValue, distinctId: String, userId: String?, anonymousId: String?
    ) -> JSONObject {
        var properties = JSONObject()
        properties["time"] = .number(String(event.timestamp.milliseconds))
        properties["distinct_id"] = .string(distinctId)
        properties["$insert_id"] = .string(MixpanelInsertId.of(event.messageId))
        if settings.idMerge == .simplified {
            if let anonymousId { properties["$device_id"] = .string(anonymousId) }
            if let userId { properties["$user_id"] = .string(userId) }
        }
        properties["token"] = .string(settings.token)
        properties["ip"] = .string(Self.nonEmptyString(message["context"]?["ip"]) ?? "0")
        properties["mp_lib"] = .string(Self.library)
        properties["$lib_version"] = .string(SwitchyardVersion.current)
        return properties
    }

    /// Properties of a track, page or screen event.
    func eventProperties(_ event: DeliveryEvent, _ message: JSONValue, userId: String?, anonymousId: String?)
        -> JSONObject
    {
        var properties = baseProperties(
            event, message, distinctId: distinctId(userId: userId, anonymousId: anonymousId), userId: userId,
            anonymousId: anonymousId)
        let context = message["context"]
        for (path, property) in Self.contextProperties {
            if let value = Self.value(at: path, in: context), !value.isNull { properties[property] = value }
        }
        if let userAgent = Self.nonEmptyString(context?["userAgent"]), let parsed = MixpanelUserAgent(userAgent) {
            properties["$browser"] = .string(parsed.browser)
            if let version = parsed.version { properties["$browser_version"] = .number(version) }
        }
        if event.type == .page || event.type == .screen {
            for key in ["name", "category"] {
                if let value = message[key], !value.isNull { properties[key] = value }
            }
        }
        for (key, value) in message["properties"]?.objectValue?.members ?? []
        where !Self.reservedPropertyKeys.contains(key) {
            properties[key] = value
        }
        return properties
    }

    // MARK: Profiles

    /// `$time` of profile updates: seconds with a millisecond fraction, as the official SDK sends it.
    static func profileTime(_ timestamp: Timestamp) -> JSONValue? {
        let milliseconds = timestamp.milliseconds
        guard milliseconds >= 0 else { return nil }
        let fraction = String(milliseconds % 1000)
        return .number("\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)")
    }

    /// `/engage` `$set` of an identify's traits; nil without traits.
    func profileUpdate(_ event: DeliveryEvent, _ message: JSONValue, userId: String?, anonymousId: String?)
        -> MixpanelRecord?
    {
        guard let traits = message["traits"]?.objectValue, !traits.isEmpty else { return nil }
        var set = JSONObject()
        for (key, value) in traits.members { set[Self.traitRenames[key] ?? key] = value }
        if traits["name"] == nil {
            let parts = [traits["firstName"] ?? traits["first_name"], traits["lastName"] ?? traits["last_name"]]
                .compactMap { $0?.stringValue }.filter { !$0.isEmpty }
            if !parts.isEmpty { set["$name"] = .string(parts.joined(separator: " ")) }
        }
        var record = JSONObject()
        record["$token"] = .string(settings.token)
        record["$distinct_id"] = .string(distinctId(userId: userId, anonymousId: anonymousId))
        record["$time"] = Self.profileTime(event.timestamp)
        if let ip = Self.nonEmptyString(message["context"]?["ip"]) { record["$ip"] = .string(ip) }
        record["$set"] = .object(set)
        return MixpanelRecord(endpoint: .engage, object: record)
    }

    /// `/groups` `$set` of a group call's traits; nil without a groupId or without traits.
    func groupUpdate(_ event: DeliveryEvent, _ message: JSONValue) -> MixpanelRecord? {
        guard let groupId = Self.nonEmptyString(message["groupId"]) else { return nil }
        let traits = message["traits"]?.objectValue ?? JSONObject()
        let groupKey =
            Self.nonEmptyString(traits["group_type"]) ?? Self.nonEmptyString(traits["groupType"])
            ?? Self.defaultGroupKey
        var set = JSONObject()
        for (key, value) in traits.members where key != "group_type" && key != "groupType" {
            set[Self.groupTraitRenames[key] ?? key] = value
        }
        guard !set.isEmpty else { return nil }
        var record = JSONObject()
        record["$token"] = .string(settings.token)
        record["$group_key"] = .string(groupKey)
        record["$group_id"] = .string(groupId)
        record["$time"] = Self.profileTime(event.timestamp)
        record["$set"] = .object(set)
        return MixpanelRecord(endpoint: .groups, object: record)
    }

    // MARK: Helpers

    static func nonEmptyString(_ value: JSONValue?) -> String? {
        guard let text = value?.stringValue, !text.isEmpty else { return nil }
        return text
    }

    static func value(at path: [String], in root: JSONValue?) -> JSONValue? {
        var current = root
        for key in path { current = current?[key] }
        return current
    }
}
