/// A storage failure, with a stable `code` (metric label, API error) and a message that says what to check.
/// The description never contains event payloads.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The database could not be opened or answered with an I/O error.
        case unavailable = "storage_unavailable"
        /// The store was closed.
        case closed = "storage_closed"
        /// A stored row could not be read back (schema or data damage).
        case corrupt = "storage_corrupt"
        /// Another node holds the destination's delivery lease now; this node's round is not recorded.
        case leaseLost = "delivery_lease_lost"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
