/// What routing needs to know of an event, read once from its body and shared by every destination.
public struct RoutingFacts: Sendable, Equatable {
    public var type: EventType
    /// `event` of a track, `name` of a page or screen.
    public var eventName: String?
    /// `context.page.path`, else `properties.path` (pages).
    public var path: String?
    /// Whether the event carries a user id (directly or resolved by identity).
    public var identified: Bool
    /// The `integrations` object's boolean members; `All` included.
    public var integrations: [String: Bool]

    public init(type: EventType, eventName: String?, path: String?, identified: Bool, integrations: [String: Bool]) {
        self.type = type
        self.eventName = eventName
        self.path = path
        self.identified = identified
        self.integrations = integrations
    }

    /// Reads the facts from a normalised message (which ingest validated, so scanning cannot fail; a body
    /// that is not an object yields facts with no integrations and no path).
    public init(type: EventType, eventName: String?, identified: Bool, body: [UInt8]) {
        self.init(type: type, eventName: eventName, path: nil, identified: identified, integrations: [:])
        body.withUnsafeBufferPointer { bytes in
            var scanner = JSONScanner(bytes)
            guard let document = try? scanner.scanDocument(), bytes[document.lowerBound] == UInt8(ascii: "{") else {
                return  // not an object: nothing to route on beyond the columns
            }
            for member in scanner.members(ofObjectIn: document) {
                if JSONText.key(bytes, member.key, equals: "integrations"), bytes[member.value.lowerBound] == UInt8(ascii: "{") {
                    for entry in scanner.members(ofObjectIn: member.value) {
                        switch bytes[entry.value.lowerBound] {
                        case UInt8(ascii: "t"): integrations[JSONText.decodeString(bytes, entry.key)] = true
                        case UInt8(ascii: "f"): integrations[JSONText.decodeString(bytes, entry.key)] = false
                        default: integrations[JSONText.decodeString(bytes, entry.key)] = true  // settings object: on
                        }
                    }
                } else if JSONText.key(bytes, member.key, equals: "context"), bytes[member.value.lowerBound] == UInt8(ascii: "{") {
                    if let page = Self.member(bytes, scanner, member.value, "page"),
                        let path = Self.member(bytes, scanner, page, "path"),
                        bytes[path.lowerBound] == UInt8(ascii: "\"")
                    {
                        self.path = JSONText.decodeString(bytes, path)
                    }
                } else if JSONText.key(bytes, member.key, equals: "properties"), self.path == nil,
                    bytes[member.value.lowerBound] == UInt8(ascii: "{"),
                    let path = Self.member(bytes, scanner, member.value, "path"), bytes[path.lowerBound] == UInt8(ascii: "\"")
                {
                    self.path = JSONText.decodeString(bytes, path)
                }
            }
        }
    }

    static func member(
        _ bytes: UnsafeBufferPointer<UInt8>, _ scanner: borrowing JSONScanner, _ object: Range<Int>, _ name: String
    ) -> Range<Int>? {
        guard bytes[object.lowerBound] == UInt8(ascii: "{") else { return nil }
        return scanner.members(ofObjectIn: object).last { JSONText.decodeString(bytes, $0.key) == name }?.value
    }
}

/// A destination's `filter` plus the `integrations` switch (SPEC §4).
///
/// `integrations`: a member named exactly like the destination, or like its type in any case
/// (`"Mixpanel": false` for a `mixpanel` destination), decides; the destination's own name wins over its
/// type. Otherwise `"All": false` switches it off. Everything else routes.
public struct EventFilter: Sendable {
    public var types: Set<EventType>?
    public var events: [Glob]
    public var excludeEvents: [Glob]
    public var paths: [Glob]
    public var identified: Bool?

    public init(types: Set<EventType>? = nil, events: [Glob] = [], excludeEvents: [Glob] = [], paths: [Glob] = [], identified: Bool? = nil) {
        self.types = types
        self.events = events
        self.excludeEvents = excludeEvents
        self.paths = paths
        self.identified = identified
    }

    public func accepts(_ facts: RoutingFacts, destination: String, type destinationType: String) -> Bool {
        decision(facts, destination: destination, type: destinationType) == .accepted
    }

    /// Why the destination takes an event or not, for the live view's `route` items.
    public enum Decision: Sendable, Equatable {
        case accepted
        /// The destination's `filter` leaves it out; the reason names the filter key.
        case filtered(reason: String)
        /// The event's `integrations` object switches the destination off.
        case switchedOff(reason: String)
    }

    public func decision(_ facts: RoutingFacts, destination: String, type destinationType: String) -> Decision {
        if let types, !types.contains(facts.type) {
            return .filtered(reason: "filter.types does not include \(facts.type.rawValue)")
        }
        if let identified, identified != facts.identified {
            return .filtered(reason: identified ? "filter.identified: true and the event is anonymous" : "filter.identified: false and the event is identified")
        }
        if !events.isEmpty {
            // Names filter events that have names (track, page, screen); identify and the rest pass.
            if let name = facts.eventName, !events.contains(where: { $0.matches(name) }) {
                return .filtered(reason: "filter.events matches no name like \(name.debugDescription)")
            }
            if facts.eventName == nil, facts.type == .track { return .filtered(reason: "filter.events and the track has no event name") }
        }
        if let name = facts.eventName, let glob = excludeEvents.first(where: { $0.matches(name) }) {
            return .filtered(reason: "filter.exclude_events matches it (\(glob.pattern))")
        }
        if !paths.isEmpty, facts.type == .page {
            guard let path = facts.path, paths.contains(where: { $0.matches(path) }) else {
                return .filtered(reason: "filter.paths matches no path like \((facts.path ?? "(none)").debugDescription)")
            }
        }
        if !Self.integrationsAllow(facts.integrations, destination: destination, type: destinationType) {
            if facts.integrations[destination] == false { return .switchedOff(reason: "integrations.\(destination) is false") }
            if let byType = facts.integrations.first(where: { $0.key.lowercased() == destinationType.lowercased() }), !byType.value {
                return .switchedOff(reason: "integrations.\(byType.key) is false")
            }
            return .switchedOff(reason: "integrations.All is false")
        }
        return .accepted
    }

    static func integrationsAllow(_ integrations: [String: Bool], destination: String, type: String) -> Bool {
        if integrations.isEmpty { return true }
        if let own = integrations[destination] { return own }
        if let byType = integrations.first(where: { $0.key.lowercased() == type.lowercased() })?.value { return byType }
        return integrations["All"] ?? true
    }
}
