import Foundation
import Logging
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardTesting
import Testing

/// The repository root, found from this file's path: …/Tests/SwitchyardDestinationsTests/ThisFile.swift → ….
func repositoryRoot(filePath: String = #filePath) -> String {
    var components = filePath.split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(3)
    return components.joined(separator: "/")
}

/// One sender for the whole test process: an `HTTPClient` must be shut down before it is released, and a
/// global is never released. The destinations built here never send through it.
let sharedSender = HTTPSender()

/// A context for building destinations in tests.
func testContext(
    name: String = "test", nodeId: String = "node-a", clock: any WallClock, logger: Logger = quietLogger,
    maxBatchEvents: Int = 100
) -> DestinationContext {
    DestinationContext(
        name: name, nodeId: nodeId, sender: sharedSender, clock: clock, logger: logger, timeout: .seconds(15),
        maxBatchEvents: maxBatchEvents)
}

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// A logger that keeps what is logged, to check warnings.
final class CapturedLogs: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    let entries = Locked<[Entry]>([])

    var logger: Logger {
        Logger(label: "test") { _ in Handler(logs: self) }
    }

    struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged: [String: String] = [:]
            for (key, value) in metadata { merged[key] = "\(value)" }
            for (key, value) in event.metadata ?? [:] { merged[key] = "\(value)" }
            let entry = Entry(level: event.level, message: "\(event.message)", metadata: merged)
            logs.entries.withLock { $0.append(entry) }
        }
    }
}

/// A fresh folder under the system's temporary folder; the caller removes it.
func makeTemporaryFolder(_ prefix: String = "switchyard-destinations") throws -> String {
    var base = NSTemporaryDirectory()
    while base.hasSuffix("/") { base.removeLast() }
    let path = base + "/\(prefix)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeFolder(_ path: String) {
    // Read-only test folders are made writable first so cleanup cannot fail on them.
    _ = try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    try? FileManager.default.removeItem(atPath: path)  // best effort: a leftover temp folder is harmless
}

/// Every regular file under `root` whose name ends in `suffix`, as paths relative to `root`, sorted.
/// Hidden files are included, so a test can tell `.x.tmp` from `x`.
func files(under root: String, endingIn suffix: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
    var found: [String] = []
    while let relative = walker.nextObject() as? String {
        var isDirectory: ObjCBool = false
        if relative.hasSuffix(suffix),
            FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory),
            !isDirectory.boolValue
        {
            found.append(relative)
        }
    }
    return found.sorted()
}

/// A config node equivalent to a JSON value, as the YAML loader would build it: scalars keep their text.
func configNode(_ value: JSONValue, path: String = "destinations[0]") -> ConfigNode {
    switch value {
    case .null: return ConfigNode(.null, line: 1, path: path, file: "fixture.json")
    case .bool(let flag): return ConfigNode(.scalar(flag ? "true" : "false"), line: 1, path: path, file: "fixture.json")
    case .number(let text), .string(let text):
        return ConfigNode(.scalar(text), line: 1, path: path, file: "fixture.json")
    case .array(let elements):
        let nodes = elements.enumerated().map { configNode($1, path: ConfigNode.elementPath(path, index: $0)) }
        return ConfigNode(.sequence(nodes), line: 1, path: path, file: "fixture.json")
    case .object(let object):
        let entries = object.members.map {
            (key: $0.key, node: configNode($0.value, path: ConfigNode.childPath(path, key: $0.key)))
        }
        return ConfigNode(.mapping(entries), line: 1, path: path, file: "fixture.json")
    }
}

struct FixtureFormatError: Error, CustomStringConvertible {
    var description: String
}

/// A `DeliveryEvent` from a fixture's event object. `body` is a JSON object (stored as its compact text)
/// or a string (stored byte for byte, to test bodies as ingest may copy them); `identityMerge`, `mergeOnly`,
/// `anonymousIdUnlinked` (booleans) and `heldForSeconds` are optional.
func deliveryEvent(_ value: JSONValue) throws -> DeliveryEvent {
    func string(_ key: String) throws -> String {
        guard let text = value[key]?.stringValue else { throw FixtureFormatError(description: "event needs \(key)") }
        return text
    }
    func time(_ key: String) throws -> Timestamp {
        guard let time = Timestamp(iso8601: try string(key)) else {
            throw FixtureFormatError(description: "event \(key) is not ISO-8601")
        }
        return time
    }
    guard let type = EventType(rawValue: try string("type")) else { throw FixtureFormatError(description: "bad type") }
    let body: [UInt8]
    switch value["body"] {
    case .string(let text): body = Array(text.utf8)
    case .some(let object): body = object.bytes
    case .none: throw FixtureFormatError(description: "event needs body")
    }
    var merge: IdentityMerge?
    if let fields = value["identityMerge"], !fields.isNull {
        guard let anonymousId = fields["anonymousId"]?.stringValue, let userId = fields["userId"]?.stringValue,
            let mergedAt = fields["mergedAt"]?.stringValue.flatMap({ Timestamp(iso8601: $0) }),
            let messageId = fields["messageId"]?.stringValue
        else { throw FixtureFormatError(description: "identityMerge needs anonymousId, userId, mergedAt, messageId") }
        merge = IdentityMerge(anonymousId: anonymousId, userId: userId, mergedAt: mergedAt, messageId: messageId)
    }
    let heldFor = value["heldForSeconds"]?.doubleValue.map { Duration.seconds($0) }
    return DeliveryEvent(
        sequence: Int64(value["sequence"]?.doubleValue ?? 0), source: try string("source"),
        messageId: try string("messageId"), type: type, receivedAt: try time("receivedAt"),
        timestamp: try time("timestamp"), resolvedUserId: value["resolvedUserId"]?.stringValue, body: body,
        identityMerge: merge, mergeOnly: value["mergeOnly"]?.boolValue ?? false, heldFor: heldFor,
        anonymousIdUnlinked: value["anonymousIdUnlinked"]?.boolValue ?? false)
}

func readJSON(_ path: String) throws -> JSONValue {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw FixtureFormatError(description: "cannot read \(path)")
    }
    return try JSONValue.parse(Array(data))
}

/// Runs `executable` with `arguments`; returns its exit status and standard output.
func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
    let result = try ProcessRun.run(executable, arguments)
    return (result.status, result.output, result.errors)
}
