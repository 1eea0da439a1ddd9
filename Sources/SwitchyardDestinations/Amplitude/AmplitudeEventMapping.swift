import Foundation
import SwitchyardCore

/// Maps one stored Segment message to Amplitude HTTP V2 event objects (vendor-formats §2.2, §2.4, §2.5).
///
/// | Segment call | Amplitude events |
/// |---|---|
/// | track | `event_type` = `event`; `event_properties` = `properties`; revenue fields (below) |
/// | page, screen | `event_type` from `page_event_name` (``PageEventName``, or `[Amplitude] Page Viewed` / `[Amplitude] Screen Viewed`); `event_properties` = `properties` plus `name` and `category` of the call when `properties` lacks them |
/// | identify | `$identify` with `user_properties: {"$set": traits}` (`context.traits` when the call has no `traits`; no `user_properties` without either) |
/// | group | `$identify` with `groups: {T: groupId}` and `user_properties: {"$set": {T: groupId}}` (puts the user in the group), then, when the call has traits, `$groupidentify` with `groups: {T: groupId}` and `group_properties: {"$set": traits}`; `T` = `traits.groupType` when a string, else `group` |
/// | alias | the merge link (below) when the alias merged an anonymous id; otherwise nothing (Amplitude has no alias for user ids) |
///
/// Merges: an event carrying an accepted merge (``DeliveryEvent/identityMerge``) is preceded by a *merge
/// link*, a `$identify` with `user_id` = the merge's user id and `device_id` = `context.device.id`, else
/// the merged anonymous id (`insert_id` `messageId:merge`), unless one of the call's own events already
/// carries that pair. A ``DeliveryEvent/mergeOnly`` event sends the link alone. A merge the gateway
/// refused is never linked: with ``DeliveryEvent/anonymousIdUnlinked`` an event that has a `userId`
/// goes without `device_id`.
///
/// Every event: `user_id` = `userId`; `device_id` = `context.device.id`, else `anonymousId`; `time` =
/// the event's `timestamp` in epoch ms; `insert_id` = `messageId` (`messageId:groupidentify` for the
/// second event of a group call, so the two do not dedupe each other); `session_id` from
/// `integrations["Actions Amplitude"].session_id`, `integrations.Amplitude.session_id` or
/// `context.sessionId` (numbers only); `library` = `context.library.name/version`, else
/// `switchyard/<version>`. All but `$groupidentify` also carry the context fields: `app_version`
/// (`context.app.version`), `platform` (`context.device.type`, `ios`/`android` written `iOS`/`Android`;
/// `Web` for `analytics.js` without a device type), `os_name`, `os_version` (`context.os`),
/// `device_brand`, `device_manufacturer`, `device_model` (`context.device`), `carrier`
/// (`context.network.carrier`), `country`, `region`, `city`, `location_lat`, `location_lng`
/// (`context.location`), `language` (`context.locale`), `ip` (`context.ip`), `idfa` (iOS) or `adid`
/// (Android) from `context.device.advertisingId`, `user_agent` (`context.userAgent`).
///
/// Track revenue (only when `properties.revenue` or `properties.price` is a number): `price`,
/// `quantity`, `revenue`, `productId` (`productId` or `product_id`), `revenueType` (`revenueType` or
/// `revenue_type`), `currency` — copied, and left in `event_properties` too.
///
/// Ids are sent as they are: Amplitude itself rejects ids it considers invalid or shorter than
/// `min_id_length`, and the answer dead-letters exactly those events.
struct AmplitudeEventMapping: Sendable {
    let pageEventName: PageEventName

    /// The Amplitude events for `event`, in order; empty when the call has nothing for Amplitude.
    ///
    /// Depends on the event alone — never on the clock or the attempt — so every send of one event
    /// (retry, replay) carries the same ids and `insert_id`.
    func events(for event: DeliveryEvent, batchIndex: Int) throws(JSONSyntaxError) -> [AmplitudeEvent] {
        let message = try event.message()
        let context = message["context"] ?? .null
        let userId = Self.text(message["userId"])
        let contextDevice = Self.text(context["device"]?["id"])
        var deviceId = contextDevice ?? Self.text(message["anonymousId"])
        // Amplitude links a device_id to the user_id it arrives with. The gateway refused to merge this
        // anonymous id into the user (a shared device, a blocked id), so the device must not travel
        // with the user id.
        if event.anonymousIdUnlinked, userId != nil { deviceId = nil }
        let base = Base(
            message: message, context: context, userId: userId, deviceId: deviceId,
            time: event.timestamp.milliseconds, insertId: event.messageId)
        let link = mergeLink(for: event, message: message, context: context, deviceOfCall: contextDevice)

        if event.mergeOnly {
            return link.map { [$0.encoded(batchIndex: batchIndex)] } ?? []
        }
        var events = callEvents(for: event, message: message, base: base, batchIndex: batchIndex)
        if let link, event.type != .alias,
            !events.contains(where: { $0.userId == link.base.userId && $0.deviceId == link.base.deviceId })
        {
            events.insert(link.encoded(batchIndex: batchIndex), at: 0)
        }
        return events
    }

    /// The `$identify` that links the merged anonymous id's device to the user, for an event that
    /// carries an accepted merge (``DeliveryEvent/identityMerge``); nil otherwise.
    ///
    /// `device_id` is `context.device.id` of the call when it has one (the device id this mapping gave
    /// the anonymous events of that device), else the merged anonymous id. `insert_id` is the alias's
    /// `messageId` (the link is all an alias sends), else `messageId:merge`, so the link never dedupes
    /// against the call's own event.
    func mergeLink(for event: DeliveryEvent, message: JSONValue, context: JSONValue, deviceOfCall: String?)
        -> MergeLink?
    {
        guard let merge = event.identityMerge, !merge.anonymousId.isEmpty, !merge.userId.isEmpty,
            merge.anonymousId != merge.userId
        else { return nil }
        return MergeLink(
            base: Base(
                message: message, context: context, userId: merge.userId,
                deviceId: deviceOfCall ?? merge.anonymousId, time: event.timestamp.milliseconds,
                insertId: event.type == .alias ? event.messageId : event.messageId + ":merge"))
    }

    /// A merge's linking `$identify`, before encoding.
    struct MergeLink {
        var base: Base

        func encoded(batchIndex: Int) -> AmplitudeEvent {
            var object = base.start(eventType: "$identify")
            base.addContext(to: &object)
            base.finish(&object)
            return base.encoded(object, batchIndex: batchIndex)
        }
    }

    /// The events of the call itself (no merge link).
    func callEvents(for event: DeliveryEvent, message: JSONValue, base: Base, batchIndex: Int) -> [AmplitudeEvent] {
        let context = base.context
        switch event.type {
        case .track:
            var object = base.start(eventType: Self.text(message["event"]) ?? "")
            object["event_properties"] = Self.nonEmpty(message["properties"]?.objectValue)
            base.addContext(to: &object)
            Self.addRevenue(from: message["properties"], to: &object)
            base.finish(&object)
            return [base.encoded(object, batchIndex: batchIndex)]

        case .page, .screen:
            let isScreen = event.type == .screen
            var object = base.start(eventType: pageEventType(name: Self.text(message["name"]), isScreen: isScreen))
            object["event_properties"] = Self.nonEmpty(pageProperties(message, isScreen: isScreen))
            base.addContext(to: &object)
            base.finish(&object)
            return [base.encoded(object, batchIndex: batchIndex)]

        case .identify:
            var object = base.start(eventType: "$identify")
            // Older mobile SDKs put an identify's traits in `context.traits` only.
            if let traits = Self.nonEmpty(message["traits"]?.objectValue)
                ?? Self.nonEmpty(context["traits"]?.objectValue)
            {
                object["user_properties"] = ["$set": traits]
            }
            base.addContext(to: &object)
            base.finish(&object)
            return [base.encoded(object, batchIndex: batchIndex)]

        case .group:
            guard let groupId = Self.text(message["groupId"]) else { return [] }
            let traits = Self.nonEmpty(message["traits"]?.objectValue)
            let groupType = Self.text(message["traits"]?["groupType"]) ?? "group"
            let groups = JSONValue.object(JSONObject([(groupType, .string(groupId))]))

            var membership = base.start(eventType: "$identify")
            membership["user_properties"] = ["$set": groups]
            membership["groups"] = groups
            base.addContext(to: &membership)
            base.finish(&membership)
            var events = [base.encoded(membership, batchIndex: batchIndex)]
            if let traits {
                var properties = base.start(eventType: "$groupidentify", insertId: event.messageId + ":groupidentify")
                properties["groups"] = groups
                properties["group_properties"] = ["$set": traits]
                base.finish(&properties)
                events.append(base.encoded(properties, batchIndex: batchIndex))
            }
            return events

        case .alias:
            // Amplitude has no alias for user ids; an alias that merged an anonymous id sends its merge
            // link, which `events(for:batchIndex:)` builds from `identityMerge`.
            let link = mergeLink(
                for: event, message: message, context: context, deviceOfCall: Self.text(context["device"]?["id"]))
            return link.map { [$0.encoded(batchIndex: batchIndex)] } ?? []
        }
    }

    func pageEventType(name: String?, isScreen: Bool) -> String {
        if pageEventName == AmplitudeSettings.amplitudePageViewed {
            return isScreen ? "[Amplitude] Screen Viewed" : "[Amplitude] Page Viewed"
        }
        return pageEventName.eventName(name: name, isScreen: isScreen)
    }

    /// `properties` plus the call's `name` and `category` where `properties` lacks them, and with the
    /// Amplitude naming the `[Amplitude] …` properties Amplitude's SDKs send with page and screen views.
    func pageProperties(_ message: JSONValue, isScreen: Bool) -> JSONObject {
        var properties = message["properties"]?.objectValue ?? JSONObject()
        for key in ["name", "category"] where properties[key] == nil {
            if let value = Self.text(message[key]) { properties[key] = .string(value) }
        }
        guard pageEventName == AmplitudeSettings.amplitudePageViewed else { return properties }
        if isScreen {
            if let name = Self.text(message["name"]) { properties["[Amplitude] Screen Name"] = .string(name) }
            return properties
        }
        let page = message["context"]?["page"]
        func pick(_ key: String) -> String? { Self.text(message["properties"]?[key]) ?? Self.text(page?[key]) }
        if let url = pick("url") {
            if let components = URLComponents(string: url), let host = components.host {
                properties["[Amplitude] Page Domain"] = .string(host)
            }
            properties["[Amplitude] Page Location"] = .string(url)
            properties["[Amplitude] Page URL"] = .string(Self.withoutQuery(url))
        }
        if let path = pick("path") { properties["[Amplitude] Page Path"] = .string(path) }
        if let title = pick("title") { properties["[Amplitude] Page Title"] = .string(title) }
        return properties
    }

    /// `url` without its query and fragment, as Amplitude's `[Amplitude] Page URL`.
    static func withoutQuery(_ url: String) -> String {
        String(url.prefix { $0 != "?" && $0 != "#" })
    }

    static func addRevenue(from properties: JSONValue?, to object: inout JSONObject) {
        guard let properties, Self.number(properties["revenue"]) != nil || Self.number(properties["price"]) != nil
        else { return }
        object["price"] = number(properties["price"])
        object["quantity"] = number(properties["quantity"])
        object["revenue"] = number(properties["revenue"])
        object["productId"] = (text(properties["productId"]) ?? text(properties["product_id"])).map(JSONValue.string)
        object["revenueType"] =
            (text(properties["revenueType"]) ?? text(properties["revenue_type"])).map(JSONValue.string)
        object["currency"] = text(properties["currency"]).map(JSONValue.string)
    }

    /// A non-empty string, or a number's text (apps send versions and ids as either); nil otherwise.
    static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text) where !text.isEmpty: return text
        case .number(let text): return text
        default: return nil
        }
    }

    /// The value when it is a JSON number, else nil.
    static func number(_ value: JSONValue?) -> JSONValue? {
        if case .number = value { return value }
        return nil
    }

    static func nonEmpty(_ object: JSONObject?) -> JSONValue? {
        guard let object, !object.isEmpty else { return nil }
        return .object(object)
    }

    /// What every event of one Segment message shares.
    struct Base {
        var message: JSONValue
        var context: JSONValue
        var userId: String?
        var deviceId: String?
        var time: Int64
        var insertId: String

        /// The identifying head of an event, in the order Amplitude documents it.
        func start(eventType: String, insertId: String? = nil) -> JSONObject {
            var object = JSONObject()
            object["user_id"] = userId.map(JSONValue.string)
            object["device_id"] = deviceId.map(JSONValue.string)
            object["event_type"] = .string(eventType)
            object["time"] = .number(String(time))
            object["insert_id"] = .string(insertId ?? self.insertId)
            object["session_id"] = sessionId
            return object
        }

        var sessionId: JSONValue? {
            let integrations = message["integrations"]
            return AmplitudeEventMapping.number(integrations?["Actions Amplitude"]?["session_id"])
                ?? AmplitudeEventMapping.number(integrations?["Amplitude"]?["session_id"])
                ?? AmplitudeEventMapping.number(context["sessionId"])
        }

        func addContext(to object: inout JSONObject) {
            func text(_ value: JSONValue?) -> JSONValue? { AmplitudeEventMapping.text(value).map(JSONValue.string) }
            let device = context["device"]
            let location = context["location"]
            object["app_version"] = text(context["app"]?["version"])
            let platform = self.platform
            object["platform"] = platform.map(JSONValue.string)
            object["os_name"] = text(context["os"]?["name"])
            object["os_version"] = text(context["os"]?["version"])
            object["device_brand"] = text(device?["brand"])
            object["device_manufacturer"] = text(device?["manufacturer"])
            object["device_model"] = text(device?["model"])
            object["carrier"] = text(context["network"]?["carrier"])
            object["country"] = text(location?["country"])
            object["region"] = text(location?["region"])
            object["city"] = text(location?["city"])
            object["location_lat"] = AmplitudeEventMapping.number(location?["latitude"])
            object["location_lng"] = AmplitudeEventMapping.number(location?["longitude"])
            object["language"] = text(context["locale"])
            object["ip"] = text(context["ip"])
            switch platform {
            case "iOS": object["idfa"] = text(device?["advertisingId"])
            case "Android": object["adid"] = text(device?["advertisingId"])
            default: break
            }
            object["user_agent"] = text(context["userAgent"])
        }

        /// `context.device.type` with the two mobile platforms written as Amplitude writes them; `Web`
        /// for analytics.js, which sends no device type (as Segment does).
        var platform: String? {
            if let type = AmplitudeEventMapping.text(context["device"]?["type"]) {
                switch type.lowercased() {
                case "ios": return "iOS"
                case "android": return "Android"
                default: return type
                }
            }
            return AmplitudeEventMapping.text(context["library"]?["name"]) == "analytics.js" ? "Web" : nil
        }

        /// Appends the fields every event ends with.
        func finish(_ object: inout JSONObject) {
            object["library"] = .string(library)
        }

        /// `name/version` of the SDK that sent the event, as Amplitude's own SDKs write `library`.
        var library: String {
            let library = context["library"]
            guard let name = AmplitudeEventMapping.text(library?["name"]) else {
                return "switchyard/\(SwitchyardVersion.current)"
            }
            guard let version = AmplitudeEventMapping.text(library?["version"]) else { return name }
            return name + "/" + version
        }

        func encoded(_ object: JSONObject, batchIndex: Int) -> AmplitudeEvent {
            AmplitudeEvent(
                batchIndex: batchIndex, userId: object["user_id"]?.stringValue,
                deviceId: object["device_id"]?.stringValue, json: JSONValue.object(object).bytes)
        }
    }
}
