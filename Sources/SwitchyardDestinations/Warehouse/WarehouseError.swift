/// Why the warehouse could not write or publish files.
///
/// `code` is stable snake_case (metric label, stored error); `message` names the path and the system's
/// reason (`No space left on device`, `Permission denied`) and never contains event payloads.
///
/// | code | meaning |
/// |---|---|
/// | `write_failed` | creating, writing, syncing or renaming a file or folder failed |
/// | `uncommitted_discarded` | an earlier write failed, so the open files were deleted with every event delivered since the last successful commit: deliver them again |
public struct WarehouseError: Error, CustomStringConvertible, Sendable, Equatable {
    public var code: String
    public var message: String

    public var description: String { message }

    static func writeFailed(_ what: String, path: String, errno code: Int32) -> WarehouseError {
        WarehouseError(code: "write_failed", message: "\(what) \(path) failed: \(systemMessage(code))")
    }

    static let uncommittedDiscarded = WarehouseError(
        code: "uncommitted_discarded",
        message: "a write failed, so the warehouse deleted its open files; the events delivered since the last "
            + "successful commit were not written and must be delivered again")
}
