import CompressNIO
import Crypto
import Foundation
import NIOCore
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardTesting
import Testing

/// One golden pair: `destinations/<type>/fixtures/<name>.input.json` and `<name>.expected.json`.
///
/// Input: `{"settings": {the destination's type keys, as in YAML}, "max_batch_events": 1, "now": ISO,
/// "events": [{sequence, source, messageId, type, receivedAt, timestamp, resolvedUserId, body, identityMerge?}]}`.
struct FixtureCase: Sendable, CustomTestStringConvertible {
    var type: String
    var name: String
    var folder: String

    var inputPath: String { folder + "/" + name + ".input.json" }
    var expectedPath: String { folder + "/" + name + ".expected.json" }
    var testDescription: String { "\(type)/\(name)" }

    /// Every fixture on disk, whatever the type.
    static func all() -> [FixtureCase] {
        let destinations = repositoryRoot() + "/destinations"
        let manager = FileManager.default
        // No destinations folder means no fixtures; `fixturesOfTheFinishedTypesExist` then fails loudly.
        let types = (try? manager.contentsOfDirectory(atPath: destinations)) ?? []
        var cases: [FixtureCase] = []
        for type in types.sorted() {
            let folder = destinations + "/" + type + "/fixtures"
            // A type without a fixtures folder yet simply has no cases.
            let names = (try? manager.contentsOfDirectory(atPath: folder)) ?? []
            for name in names.sorted() where name.hasSuffix(".input.json") {
                cases.append(FixtureCase(type: type, name: String(name.dropLast(".input.json".count)), folder: folder))
            }
        }
        return cases
    }
}

/// A fixture's input, decoded the same way for every type.
struct FixtureInput {
    var json: JSONValue
    var settings: any DestinationTypeSettings
    var maxBatchEvents: Int
    var now: Timestamp
    var events: [DeliveryEvent]

    init(_ fixture: FixtureCase, settingsOverride: [(String, JSONValue)] = []) throws {
        json = try readJSON(fixture.inputPath)
        guard var settingsJSON = json["settings"]?.objectValue else {
            throw FixtureFormatError(description: "\(fixture.inputPath): needs a settings object")
        }
        for (key, value) in settingsOverride { settingsJSON[key] = value }
        guard let entry = DestinationRegistry.catalog.entry(for: fixture.type) else {
            throw FixtureFormatError(description: "no destination type \(fixture.type) in DestinationRegistry.catalog")
        }
        var mapping = settingsJSON
        mapping["type"] = .string(fixture.type)
        settings = try entry.decode(configNode(.object(mapping)))
        maxBatchEvents = Int(json["max_batch_events"]?.doubleValue ?? 1)
        guard let nowText = json["now"]?.stringValue, let now = Timestamp(iso8601: nowText) else {
            throw FixtureFormatError(description: "\(fixture.inputPath): needs now (ISO-8601)")
        }
        self.now = now
        events = try (json["events"]?.arrayValue ?? []).map(deliveryEvent)
    }
}

typealias FixtureRunner = @Sendable (FixtureCase) async throws -> Void

@Suite struct FixtureTests {
    /// How each type's fixtures run — one entry per type. A type with fixtures on disk but no entry here
    /// fails `everyFixtureMatches`, so adding fixtures for a new type means adding its line.
    static let runners: [String: FixtureRunner] = [
        "webhook": { fixture in
            try runHTTPFixture(fixture) { input in
                WebhookAdapter(settings: try cast(input.settings), maxBatchEvents: input.maxBatchEvents)
            }
        },
        "warehouse": { fixture in try await runWarehouseFixture(fixture) },
        "mixpanel": { fixture in try runHTTPFixture(fixture) { input in GunzippedMixpanelAdapter(try cast(input.settings)) } },
        "amplitude": { fixture in try runHTTPFixture(fixture) { input in AmplitudeAdapter(settings: try cast(input.settings)) } },
        "posthog": { fixture in try runHTTPFixture(fixture) { input in GunzippedPostHogAdapter(try cast(input.settings)) } },
    ]

    @Test func fixturesOfTheFinishedTypesExist() {
        let types = Set(FixtureCase.all().map(\.type))
        #expect(types.isSuperset(of: ["webhook", "warehouse"]), "found fixtures for \(types.sorted())")
    }

    @Test(arguments: FixtureCase.all())
    func everyFixtureMatches(_ fixture: FixtureCase) async throws {
        let runner = try #require(
            Self.runners[fixture.type],
            "destinations/\(fixture.type)/fixtures has cases but FixtureTests.runners has no \(fixture.type) entry")
        try await runner(fixture)
    }
}

func cast<T>(_ settings: any DestinationTypeSettings, to: T.Type = T.self) throws -> T {
    guard let typed = settings as? T else { throw FixtureFormatError(description: "settings are not \(T.self)") }
    return typed
}

// MARK: - HTTP types

/// Compares the adapter's requests with `expected.json`: `[{"method","url","headers":{…},"body",
/// "event_indexes"?}]`. Headers compare in order, names and values exactly. A JSON `body` must equal the
/// request body byte for byte in compact form; a string `body` byte for byte as written.
func runHTTPFixture(
    _ fixture: FixtureCase, makeAdapter: (FixtureInput) throws -> any HTTPDestinationAdapter
) throws {
    let input = try FixtureInput(fixture)
    let adapter = try makeAdapter(input)
    let requests = try adapter.requests(for: DeliveryBatch(events: input.events), now: input.now)
    let expected = try #require(try readJSON(fixture.expectedPath).arrayValue, "expected.json must be an array")
    #expect(requests.count == expected.count, "request count")
    for (index, (request, want)) in zip(requests, expected).enumerated() {
        #expect(request.method == want["method"]?.stringValue, "request \(index) method")
        #expect(request.url == want["url"]?.stringValue, "request \(index) url")
        let wantHeaders = (want["headers"]?.objectValue?.members ?? []).map {
            "\($0.key): \($0.value.stringValue ?? "?")"
        }
        #expect(request.headers.map { "\($0.name): \($0.value)" } == wantHeaders, "request \(index) headers")
        let wantBody: [UInt8]
        switch want["body"] {
        case .string(let text): wantBody = Array(text.utf8)
        case .some(let value): wantBody = value.bytes
        case .none: wantBody = []
        }
        #expect(
            request.body == wantBody,
            "request \(index) body:\n got  \(String(decoding: request.body, as: UTF8.self))\n want \(String(decoding: wantBody, as: UTF8.self))"
        )
        if let indexes = want["event_indexes"]?.arrayValue {
            #expect(
                request.eventIndexes == indexes.compactMap { $0.doubleValue.map { Int($0) } },
                "request \(index) event indexes")
        }
    }
}

// MARK: - Warehouse

/// Delivers the events as one batch to a warehouse in a temporary folder, commits
/// with force, and compares with `expected.json`: `{"files": {"<source>/<table>/dt=<date>": [line, …]},
/// "manifest": [{"folder","rows","min_timestamp","max_timestamp"}]}` (file names are random, so folders key
/// them). A line given as an object must equal the written line in compact form; as a string, exactly. The
/// manifest's `bytes` and `sha256` are checked against the files themselves.
func runWarehouseFixture(_ fixture: FixtureCase) async throws {
    let root = try makeTemporaryFolder()
    defer { removeFolder(root) }
    let input = try FixtureInput(fixture, settingsOverride: [("path", .string(root))])
    let clock = ManualWallClock(input.now)
    let destination = try DestinationRegistry.makeDestination(
        settings: input.settings, context: testContext(name: "warehouse", clock: clock))
    let warehouse = try #require(destination as? WarehouseDestination)
    #expect(await warehouse.deliver(DeliveryBatch(events: input.events)) == .delivered)
    #expect(try await warehouse.commit(force: true))
    await warehouse.shutdown()

    let expected = try readJSON(fixture.expectedPath)
    let dataFiles = files(under: root, endingIn: ".ndjson.gz")
    #expect(files(under: root, endingIn: ".tmp").isEmpty, "no temporary file is left")
    var byFolder: [String: String] = [:]
    for path in dataFiles {
        let folder = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        #expect(byFolder[folder] == nil, "one file per folder in one rotation: \(folder)")
        byFolder[folder] = path
    }
    let wantFiles = expected["files"]?.objectValue?.members ?? []
    #expect(byFolder.keys.sorted() == wantFiles.map(\.key).sorted(), "folders written")
    for (folder, wantLines) in wantFiles {
        guard let path = byFolder[folder] else { continue }
        let lines = try gunzipLines(root + "/" + path)
        let want = (wantLines.arrayValue ?? []).map { line -> String in
            if case .string(let text) = line { return text }
            return line.text
        }
        #expect(lines == want, "lines of \(folder)")
        for line in lines { _ = try JSONValue.parse(line) }  // every line is valid JSON on its own
    }

    let manifests = files(under: root + "/_manifests", endingIn: ".json")
    #expect(manifests.count == 1, "one manifest per rotation")
    let manifest = try readJSON(root + "/_manifests/" + (manifests.first ?? ""))
    let entries = manifest["files"]?.arrayValue ?? []
    let wantManifest = expected["manifest"]?.arrayValue ?? []
    #expect(entries.count == wantManifest.count, "manifest entries")
    for (entry, want) in zip(entries, wantManifest) {
        let path = entry["path"]?.stringValue ?? ""
        #expect(path.hasPrefix((want["folder"]?.stringValue ?? "?") + "/"), "manifest path \(path)")
        #expect(entry["rows"] == want["rows"], "rows of \(path)")
        #expect(entry["min_timestamp"] == want["min_timestamp"], "min_timestamp of \(path)")
        #expect(entry["max_timestamp"] == want["max_timestamp"], "max_timestamp of \(path)")
        let bytes = try #require(FileManager.default.contents(atPath: root + "/" + path))
        #expect(entry["bytes"] == .number(String(bytes.count)), "bytes of \(path)")
        #expect(entry["sha256"]?.stringValue == sha256Hex(Array(bytes)), "sha256 of \(path)")
    }
    let stem = String((manifests.first ?? "").dropLast(".json".count))
    #expect(
        entries.contains { ($0["path"]?.stringValue ?? "").hasSuffix("/" + stem + ".ndjson.gz") },
        "manifest named after a file")
}

/// The lines of a gzip NDJSON file (each without its `\n`), decompressed with CompressNIO.
func gunzipLines(_ path: String) throws -> [String] {
    let data = try #require(FileManager.default.contents(atPath: path))
    var compressed = ByteBuffer(bytes: Array(data))
    let plain = try compressed.decompress(with: .gzip())
    let text = String(buffer: plain)
    #expect(text.hasSuffix("\n"), "\(path) ends with a newline")
    return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}
