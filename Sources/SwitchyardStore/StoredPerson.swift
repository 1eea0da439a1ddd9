import SwitchyardCore

extension Person {
    /// A person as both back ends store it: traits as the JSON object we wrote, first seen when created, and the
    /// times of its earliest and latest events (nil without events), which may widen that span.
    static func stored(
        userId: String, anonymousIds: [String], traitsJSON: [UInt8], firstSeen: Int64, earliestEvent: Int64?,
        latestEvent: Int64?
    ) -> Person {
        Person(
            userId: userId, anonymousIds: anonymousIds, traits: storedTraits(traitsJSON),
            firstSeen: Timestamp(milliseconds: min(firstSeen, earliestEvent ?? firstSeen)),
            lastSeen: Timestamp(milliseconds: max(latestEvent ?? firstSeen, firstSeen)))
    }

    /// Stored traits; they are JSON this gateway wrote, so anything else reads as none.
    static func storedTraits(_ json: [UInt8]) -> JSONObject {
        (try? JSONValue.parse(json))?.objectValue ?? JSONObject()
    }
}
