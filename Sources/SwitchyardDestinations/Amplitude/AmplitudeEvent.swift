/// One Amplitude event object, encoded, with what reading Amplitude's answer needs to know about it.
///
/// A Segment call becomes zero, one or two of these (see ``AmplitudeEventMapping``); `batchIndex` ties
/// each back to the Segment event it was made from, so a rejection names the right dead letter.
public struct AmplitudeEvent: Sendable, Equatable {
    /// Position in the batch of the Segment event this was made from.
    public var batchIndex: Int
    /// `user_id` as sent; nil when the event has none.
    public var userId: String?
    /// `device_id` as sent; nil when the event has none. Amplitude's 429 names over-quota users and
    /// devices by these ids.
    public var deviceId: String?
    /// The event object exactly as it goes into `events`: compact JSON.
    public var json: [UInt8]

    public init(batchIndex: Int, userId: String?, deviceId: String?, json: [UInt8]) {
        self.batchIndex = batchIndex
        self.userId = userId
        self.deviceId = deviceId
        self.json = json
    }
}
