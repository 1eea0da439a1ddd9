import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SwitchyardConfig
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardServer
import SwitchyardStore

/// A real gateway on a free loopback port, with its store in a fresh temporary folder.
struct TestGateway {
    let gateway: Gateway
    let port: Int
    let directory: URL
    let group: ServiceGroup
    let runTask: Task<Void, any Error>

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var store: any EventStore { gateway.store }

    static let writeKey = "test-write-key"
    /// The `server.admin_token` of every test config: `admin(...)` sends it.
    static let adminToken = "test-admin-token-4242"

    static func yaml(directory: URL, extra: String = "", adminToken: String = TestGateway.adminToken) -> String {
        """
        server:
          listen: 127.0.0.1:0
          admin_token: \(adminToken)
          cors_origins: ["http://site.test"]
        \(extra)
        storage:
          sqlite: \(directory.path)/switchyard.db
        sources:
          - name: website
            write_key: \(writeKey)
          - name: backend
            write_key: backend-key
        destinations: []
        """
    }

    /// A gateway config on a free port with its store in `directory` and the `website` source.
    /// `sourceExtra` adds lines to that source (indented 4), `sections` adds top-level sections.
    static func config(
        _ directory: URL, sourceExtra: String = "", sections: String = "", destinations: String = "  []"
    ) -> String {
        """
        server:
          listen: 127.0.0.1:0
          admin_token: \(adminToken)
        storage:
          sqlite: \(directory.path)/switchyard.db
        sources:
          - name: website
            write_key: \(writeKey)
        \(sourceExtra)
        \(sections)
        destinations:
        \(destinations)
        """
    }

    static func start(
        yaml makeYAML: (URL) -> String = { yaml(directory: $0) }, clock: any WallClock = SystemWallClock(),
        live: LiveHub = LiveHub()
    ) async throws -> TestGateway {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = try SwitchyardConfig.parse(
            yaml: makeYAML(directory), file: "test.yaml", environment: [:], destinationTypes: DestinationRegistry.catalog)
        var logger = Logger(label: "switchyard-test")
        // SWITCHYARD_TEST_LOG_LEVEL=debug shows what the gateways of a failing test did.
        logger.logLevel = ProcessInfo.processInfo.environment["SWITCHYARD_TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let gateway = try await Gateway.build(config: config, clock: clock, logger: logger, live: live) { port in
            portContinuation.yield(port)
        }
        let group = gateway.serviceGroup(signals: [])
        let runTask = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        return TestGateway(gateway: gateway, port: port, directory: directory, group: group, runTask: runTask)
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await runTask.value
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `body` against a fresh gateway and always stops it.
    static func with<T>(
        yaml: (URL) -> String = { TestGateway.yaml(directory: $0) }, clock: any WallClock = SystemWallClock(),
        live: LiveHub = LiveHub(), _ body: (TestGateway) async throws -> T
    ) async throws -> T {
        let gateway = try await start(yaml: yaml, clock: clock, live: live)
        do {
            let result = try await body(gateway)
            try await gateway.stop()
            return result
        } catch {
            try? await gateway.stop()
            throw error
        }
    }

    func post(
        _ path: String, _ body: String, headers: [(String, String)] = [], auth: String? = TestGateway.writeKey
    ) async throws -> TestResponse {
        try await send(path, method: .POST, body: Array(body.utf8), headers: headers, auth: auth)
    }

    func send(
        _ path: String, method: HTTPMethod, body: [UInt8]? = nil, headers: [(String, String)] = [],
        auth: String? = TestGateway.writeKey
    ) async throws -> TestResponse {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        // A connection per request: gateways with short idle timeouts or a small connection cap close pooled
        // connections, and the shared client could pick one in the instant it closes (remoteConnectionClosed).
        request.headers.add(name: "Connection", value: "close")
        if let auth {
            request.headers.add(name: "Authorization", value: "Basic " + Data("\(auth):".utf8).base64EncodedString())
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 10_000_000)
        return TestResponse(
            status: Int(response.status.code), headers: response.headers, body: Array(bytes.readableBytesView))
    }

    /// A request to the admin API, the UI or `/metrics` with the test configs' admin token; a body is sent
    /// as `application/json`, as the admin API requires for changes.
    func admin(
        _ path: String, method: HTTPMethod = .GET, body: String? = nil, headers: [(String, String)] = []
    ) async throws -> TestResponse {
        var all = [("Authorization", "Bearer \(TestGateway.adminToken)")]
        if body != nil { all.append(("Content-Type", "application/json")) }
        return try await send(path, method: method, body: body.map { Array($0.utf8) }, headers: all + headers, auth: nil)
    }

    func storedEvents() async throws -> [StoredEvent] {
        try await store.events(after: 0, limit: 1_000_000)
    }
}

struct TestResponse {
    let status: Int
    let headers: HTTPHeaders
    let body: [UInt8]

    var json: JSONValue? { try? JSONValue.parse(body) }
    var errorCode: String? { json?["error"]?.stringValue }
    var text: String { String(decoding: body, as: UTF8.self) }
}
