import SwitchyardCore

/// Maps one stored Segment message to the PostHog event objects of a `/batch/` body (vendor-formats §3,
/// `destinations/posthog/README.md` has the full table).
///
/// Every object is `{"event", "distinct_id", "uuid", "timestamp", "properties"}` plus a top-level `$set`
/// where person properties are set:
/// - `distinct_id`: `userId`, else `anonymousId`;
/// - `uuid`: ``PostHogEventId/uuid(messageId:)``; `timestamp`: the event's `timestamp`, ISO-8601 UTC;
/// - `properties`: the call's own properties first, then the context (``contextProperties``) for keys the
///   call did not set, then `$geoip_disable: true` when there is no `context.ip` (PostHog would otherwise
///   place every user at the gateway's address), then `$lib: "switchyard"` and `$lib_version`.
///
/// | Segment call | `event` | call-specific fields |
/// |---|---|---|
/// | track | its `event` | `properties`; `$set` = `context.traits` when not empty |
/// | page | `$pageview` | `properties` + `name`, `category`; `$current_url`, `$pathname`, `$referrer` from `properties` (`url`, `path`, `referrer`), else `context.page`; `$host` from the URL; `$set` = `context.traits` |
/// | screen | `$screen` | `properties` + `$screen_name` (`name`); `$set` = `context.traits` |
/// | identify with `userId` | `$identify` | `$anon_distinct_id` = the merged anonymous id when this identify merged it (``DeliveryEvent/identityMerge``); `$set` = `traits` (always present) |
/// | identify without `userId` | `$set` | `$set` = `traits` (PostHog merges only on `$identify` from a user id) |
/// | alias that merged `previousId` | `$create_alias` | `distinct_id` = `userId` (kept), `alias` = `previousId` (merged into it) |
/// | alias that merged nothing | nothing | the gateway refused it or it names two users: no merge to tell |
/// | group | `$groupidentify` | `$group_type` = `traits.groupType`, default `company`; `$group_key` = `groupId`; `$group_set` = the other traits |
///
/// Merge calls come only from ``DeliveryEvent/identityMerge``, the merges the gateway accepted: an identify
/// that merely carries both ids (the gateway refused the merge: a shared device, a blocked id) gets no
/// `$anon_distinct_id`, since PostHog would merge the two people irreversibly. An event that carries a
/// merge but is neither an identify nor an alias is preceded by a merge `$identify` (`distinct_id` = the
/// user id, `$anon_distinct_id` = the anonymous id, empty `$set`, uuid from `messageId + "#$identify"`);
/// a ``DeliveryEvent/mergeOnly`` event of any type sends that merge `$identify` alone.
///
/// The objects depend on the event alone — never on the clock or the attempt — so a retry or a replay of
/// an event sends the same `distinct_id`, `uuid` and `timestamp`.
public enum PostHogEventMapping {
    /// The group type when `traits.groupType` is missing (Segment groups have no type; PostHog's needs one).
    public static let defaultGroupType = "company"

    /// Segment `context` paths and the PostHog property each fills (vendor-formats §3.2).
    public static let contextProperties: [(path: [String], property: String)] = [
        (["ip"], "$ip"),
        (["userAgent"], "$useragent"),
        (["locale"], "$locale"),
        (["timezone"], "$timezone"),
        (["os", "name"], "$os"),
        (["os", "version"], "$os_version"),
        (["device", "id"], "$device_id"),
        (["device", "manufacturer"], "$device_manufacturer"),
        (["device", "model"], "$device_model"),
        (["device", "name"], "$device_name"),
        (["app", "name"], "$app_name"),
        (["app", "version"], "$app_version"),
        (["app", "build"], "$app_build"),
        (["app", "namespace"], "$app_namespace"),
        (["screen", "width"], "$screen_width"),
        (["screen", "height"], "$screen_height"),
        (["screen", "density"], "$screen_density"),
        (["network", "carrier"], "$network_carrier"),
        (["campaign", "source"], "utm_source"),
        (["campaign", "medium"], "utm_medium"),
        (["campaign", "name"], "utm_campaign"),
        (["campaign", "term"], "utm_term"),
        (["campaign", "content"], "utm_content"),
        (["page", "url"], "$current_url"),
        (["page", "path"], "$pathname"),
        (["page", "referrer"], "$referrer"),
    ]

    /// The PostHog events for `event`, in sending order (one, or two when a merge adds a `$identify`).
    /// Throws when the message cannot become a PostHog event PostHog would keep.
    public static func events(for event: DeliveryEvent) throws(PostHogEventRejection) -> [JSONValue] {
        let message: JSONValue
        do {
            message = try event.message()
        } catch {
            throw PostHogEventRejection("the stored message is not valid JSON (\(error))")
        }
        guard let fields = message.objectValue else {
            throw PostHogEventRejection("the stored message is not an object")
        }
        let context = fields["context"]?.objectValue ?? JSONObject()
        let merge = event.identityMerge.flatMap { merge in
            merge.anonymousId.isEmpty || merge.userId.isEmpty || merge.anonymousId == merge.userId ? nil : merge
        }
        if event.mergeOnly {
            return merge.map {
                [mergeIdentify($0, messageId: event.messageId, timestamp: event.timestamp, context: context)]
            }
                ?? []
        }
        let userId = nonEmptyString(fields["userId"])
        let anonymousId = nonEmptyString(fields["anonymousId"])
        guard let distinctId = userId ?? anonymousId else {
            throw PostHogEventRejection("no userId or anonymousId (PostHog drops events without a distinct_id)")
        }
        let callProperties = fields["properties"]?.objectValue ?? JSONObject()
        let traits = fields["traits"]?.objectValue ?? JSONObject()
        let contextTraits = context["traits"]?.objectValue.flatMap { $0.isEmpty ? nil : $0 }

        let name: String
        var properties = JSONObject()
        var personSet: JSONObject?
        var pageFallback: JSONObject?
        switch event.type {
        case .track:
            guard let eventName = nonEmptyString(fields["event"]) else {
                throw PostHogEventRejection("a track without an event name (PostHog drops it)")
            }
            name = eventName
            properties = callProperties
            personSet = contextTraits
        case .page:
            name = "$pageview"
            properties = callProperties
            for key in ["name", "category"] where properties[key] == nil {
                if let value = nonEmptyString(fields[key]) { properties[key] = .string(value) }
            }
            pageFallback = callProperties
            personSet = contextTraits
        case .screen:
            name = "$screen"
            properties = callProperties
            if let screenName = nonEmptyString(fields["name"]) ?? nonEmptyString(callProperties["name"]) {
                properties["$screen_name"] = .string(screenName)
            }
            personSet = contextTraits
        case .identify:
            if let userId {
                name = "$identify"
                if let merge, merge.userId == userId { properties["$anon_distinct_id"] = .string(merge.anonymousId) }
            } else {
                name = "$set"
            }
            personSet = traits
        case .alias:
            guard let merge else { return [] }
            name = "$create_alias"
            properties["distinct_id"] = .string(merge.userId)
            properties["alias"] = .string(merge.anonymousId)
        case .group:
            guard let groupId = nonEmptyString(fields["groupId"]) else {
                throw PostHogEventRejection("a group call without groupId")
            }
            name = "$groupidentify"
            var groupSet = traits
            let groupType = nonEmptyString(traits["groupType"]) ?? defaultGroupType
            groupSet["groupType"] = nil
            properties["$group_type"] = .string(groupType)
            properties["$group_key"] = .string(groupId)
            properties["$group_set"] = .object(groupSet)
        }
        addContext(context, pageFallback: pageFallback, to: &properties)
        finish(&properties, context: context)

        var object = JSONObject()
        object["event"] = .string(name)
        object["distinct_id"] = .string(event.type == .alias ? (merge?.userId ?? distinctId) : distinctId)
        object["uuid"] = .string(PostHogEventId.uuid(messageId: event.messageId))
        object["timestamp"] = .string(event.timestamp.iso8601)
        object["properties"] = .object(properties)
        if let personSet { object["$set"] = .object(personSet) }

        // An identify or alias records the merge itself (unless an identify's merge names another user).
        guard let merge, event.type != .alias, event.type != .identify || merge.userId != userId else {
            return [.object(object)]
        }
        return [
            mergeIdentify(merge, messageId: event.messageId, timestamp: event.timestamp, context: context),
            .object(object),
        ]
    }

    /// The `$identify` that tells PostHog about an accepted merge, for an event whose own object does not.
    static func mergeIdentify(_ merge: IdentityMerge, messageId: String, timestamp: Timestamp, context: JSONObject)
        -> JSONValue
    {
        var mergeProperties = JSONObject([("$anon_distinct_id", .string(merge.anonymousId))])
        addContext(context, pageFallback: nil, to: &mergeProperties)
        finish(&mergeProperties, context: context)
        return .object(
            JSONObject([
                ("event", "$identify"), ("distinct_id", .string(merge.userId)),
                (
                    "uuid",
                    .string(PostHogEventId.uuidV5(namespace: PostHogEventId.namespace, name: messageId + "#$identify"))
                ),
                ("timestamp", .string(timestamp.iso8601)), ("properties", .object(mergeProperties)),
                ("$set", .object(JSONObject())),
            ]))
    }

    /// Adds the context properties the call did not set itself. For a page, `url`, `path` and `referrer`
    /// of its own properties come before `context.page`; `$host` (with port) and a missing `$pathname`
    /// are read from the resulting `$current_url`.
    static func addContext(_ context: JSONObject, pageFallback: JSONObject?, to properties: inout JSONObject) {
        let pageKeys = ["$current_url": "url", "$pathname": "path", "$referrer": "referrer"]
        for (path, property) in contextProperties where properties[property] == nil {
            if let pageFallback, let key = pageKeys[property], let value = pageFallback[key], !value.isNull {
                properties[property] = value
            } else if let value = lookup(context, path), !value.isNull {
                properties[property] = value
            }
        }
        guard let url = properties["$current_url"]?.stringValue, let parts = PostHogURLParts(url) else { return }
        if properties["$host"] == nil, !parts.host.isEmpty { properties["$host"] = .string(parts.host) }
        if properties["$pathname"] == nil { properties["$pathname"] = .string(parts.path) }
    }

    /// The properties every event ends with.
    static func finish(_ properties: inout JSONObject, context: JSONObject) {
        if context["ip"].map({ $0.isNull }) ?? true { properties["$geoip_disable"] = true }
        properties["$lib"] = "switchyard"
        properties["$lib_version"] = .string(SwitchyardVersion.current)
    }

    static func lookup(_ object: JSONObject, _ path: [String]) -> JSONValue? {
        var current = JSONValue.object(object)
        for key in path {
            guard let next = current[key] else { return nil }
            current = next
        }
        return current
    }

    static func nonEmptyString(_ value: JSONValue?) -> String? {
        guard let text = value?.stringValue, !text.isEmpty else { return nil }
        return text
    }
}

/// Host (with port) and path of an absolute URL such as `https://www.example.com:8443/pricing?x=1`.
private struct PostHogURLParts {
    var host: String
    var path: String

    init?(_ url: String) {
        guard let schemeEnd = url.firstRange(of: "://") else { return nil }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        host = String(authority.split(separator: "@", omittingEmptySubsequences: false).last ?? "")
        let afterAuthority = rest[authority.endIndex...]
        let path = afterAuthority.prefix { $0 != "?" && $0 != "#" }
        self.path = path.isEmpty ? "/" : String(path)
    }
}
