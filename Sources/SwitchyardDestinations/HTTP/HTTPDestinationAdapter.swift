import SwitchyardCore

/// The part of an HTTP destination that is specific to it (Vector's sink split): mapping events to
/// requests and reading the answers. Batching, sending, retries, dead letters and metrics are shared.
public protocol HTTPDestinationAdapter: Sendable {
    /// The requests that carry `batch`. Each lists the batch indexes it carries, so a classification can
    /// name failed events by their batch position. An event may be left out of every request (a vendor
    /// has no use for it); it then counts as delivered.
    func requests(for batch: DeliveryBatch, now: Timestamp) throws -> [OutgoingRequest]

    /// See ``Destination/recordsMerges``.
    var recordsMerges: Bool { get }

    /// Reads one answer. The default is `HTTPClassification.outcome`; indexes in `.deadLetter` are
    /// positions in `request.eventIndexes`' batch (not in the request).
    func classify(_ response: HTTPResult, for request: OutgoingRequest) -> DeliveryOutcome
}

extension HTTPDestinationAdapter {
    /// See ``Destination/recordsMerges``.
    public var recordsMerges: Bool { false }

    public func classify(_ response: HTTPResult, for request: OutgoingRequest) -> DeliveryOutcome {
        HTTPClassification.outcome(
            status: response.status, retryAfter: HTTPClassification.retryAfter(response.header("retry-after")),
            body: response.bodyText)
    }
}

/// One HTTP request an adapter wants sent.
public struct OutgoingRequest: Sendable, Equatable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Which events of the batch this request carries (batch positions).
    public var eventIndexes: [Int]

    public init(method: String = "POST", url: String, headers: [(name: String, value: String)], body: [UInt8], eventIndexes: [Int]) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.eventIndexes = eventIndexes
    }

    public static func == (lhs: OutgoingRequest, rhs: OutgoingRequest) -> Bool {
        lhs.method == rhs.method && lhs.url == rhs.url && lhs.body == rhs.body && lhs.eventIndexes == rhs.eventIndexes
            && lhs.headers.map { "\($0.name): \($0.value)" } == rhs.headers.map { "\($0.name): \($0.value)" }
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// An HTTP answer as adapters see it.
public struct HTTPResult: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public var bodyText: String { String(decoding: body.prefix(2000), as: UTF8.self) }
}
