import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardConfig
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardStore
import SwitchyardTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Admin access over real HTTP (SPEC §6): the token is always required, from any address and through a
/// proxy; the generated token file; `?token=` sign-in; JSON content type for changes; no CORS; decoded
/// path parameters; total body parsing; the development key off loopback; owner-only files.
@Suite("Admin access")
struct AdminAccessTests {
    static let adminPaths = [
        "/api/activity", "/api/destinations", "/api/people/u1", "/", "/destinations", "/people/u1", "/metrics",
    ]

    @Test func withoutTheTokenEveryAdminPathIsRefusedEvenFromLoopback() async throws {
        try await TestGateway.with { (gateway) async throws in
            for path in Self.adminPaths {
                let none = try await gateway.send(path, method: .GET, auth: nil)
                #expect(none.status == 401, "\(path)")
                #expect(none.headers["WWW-Authenticate"].first == #"Bearer realm="switchyard""#, "\(path)")
                let wrong = try await gateway.send(
                    path, method: .GET, headers: [("Authorization", "Bearer not-the-token")], auth: nil)
                #expect(wrong.status == 401, "\(path)")
                // The write key is no admin credential either.
                #expect(try await gateway.send(path, method: .GET).status == 401, "\(path)")
            }
            #expect(try await gateway.send("/api/activity", method: .GET, auth: nil).errorCode == "unauthorized")
            #expect(try await gateway.admin("/api/activity").status == 200)
            #expect(try await gateway.admin("/metrics").status == 200)
            #expect(try await gateway.send("/healthz", method: .GET, auth: nil).status == 200, "probes need no token")
            #expect(try await gateway.send("/readyz", method: .GET, auth: nil).status == 200)
        }
    }

    @Test func aReverseProxyOnTheSameHostGetsNoExemption() async throws {
        try await TestGateway.with { (gateway) async throws in
            let proxy = try await LoopbackTCPProxy.start(forwardingTo: gateway.port)
            defer { Task { await proxy.stop() } }
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(redirectConfiguration: .disallow))
            defer { Task { try? await client.shutdown() } }
            func get(_ path: String, token: String?) async throws -> Int {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(proxy.port)\(path)")
                if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
                let response = try await client.execute(request, timeout: .seconds(30))
                _ = try await response.body.collect(upTo: 10_000_000)
                return Int(response.status.code)
            }
            for path in Self.adminPaths {
                #expect(try await get(path, token: nil) == 401, "\(path) through the proxy")
            }
            // The proxy does forward: with the token the same paths answer.
            #expect(try await get("/api/activity", token: TestGateway.adminToken) == 200)
            #expect(try await get("/metrics", token: TestGateway.adminToken) == 200)
        }
    }

    @Test func anEmptyTokenIsGeneratedOnceKeptOwnerOnlyReusedAndLogged() async throws {
        let directory = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("switchyard.yaml")
        try """
        server:
          listen: 127.0.0.1:0
          admin_token: ""
        storage:
          sqlite: \(directory.path)/data/switchyard.db
        sources:
          - name: website
            write_key: \(TestGateway.writeKey)
        destinations: []
        """.write(to: config, atomically: true, encoding: .utf8)
        let tokenFile = directory.path + "/data/admin_token"

        let first = try await ChildGateway(config: config, workingDirectory: directory)
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(token.count == 43, "32 random bytes in base64url")
        #expect(token.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(Self.mode(tokenFile) == 0o600)
        #expect(Self.mode(directory.path + "/data") == 0o700)
        for file in ["switchyard.db", "switchyard.db-wal", "switchyard.db-shm"] {
            #expect(Self.mode(directory.path + "/data/" + file) == 0o600, "\(file)")
        }
        #expect(first.log.contains("http://127.0.0.1:\(first.port)/?token=\(token)"), "\(first.log)")
        #expect(try await Self.status(first.port, "/api/destinations", token: nil) == 401)
        #expect(try await Self.status(first.port, "/api/destinations", token: token) == 200)
        first.kill(SIGTERM)
        #expect(await first.waitForExit() == 0)

        let second = try await ChildGateway(config: config, workingDirectory: directory)
        defer { second.kill(SIGKILL) }
        #expect(try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .newlines) == token)
        #expect(second.log.contains("http://127.0.0.1:\(second.port)/?token=\(token)"), "logged at every start")
        #expect(try await Self.status(second.port, "/api/destinations", token: token) == 200)

        // `check` says where the token comes from, masked.
        let check = try CLITests.run(["check", "--config", config.path], in: directory)
        #expect(check.status == 0)
        #expect(check.output.contains("admin_token: ****\(token.suffix(4)) (generated, kept in \(tokenFile))"))
        #expect(!check.output.contains(token))
    }

    @Test func aKeptTokenFileIsUsedAndMadeOwnerOnlyAndAnEmptyOneStopsTheStart() async throws {
        try await TestGateway.with(yaml: { directory in
            // Restored from a backup with the group's read bit: the gateway takes it back.
            let file = directory.path + "/admin_token"
            _ = FileManager.default.createFile(
                atPath: file, contents: Data("kept-token-0123456789\n".utf8), attributes: [.posixPermissions: 0o644])
            return TestGateway.yaml(directory: directory, adminToken: "\"\"")
        }) { (gateway) async throws in
            #expect(Self.mode(gateway.directory.path + "/admin_token") == 0o600)
            let response = try await gateway.send(
                "/api/activity", method: .GET, headers: [("Authorization", "Bearer kept-token-0123456789")], auth: nil)
            #expect(response.status == 200)
            #expect(try await gateway.admin("/api/activity").status == 401, "the config's token is not set")
        }
        await #expect {
            try await TestGateway.with(yaml: { directory in
                _ = FileManager.default.createFile(atPath: directory.path + "/admin_token", contents: Data("\n".utf8))
                return TestGateway.yaml(directory: directory, adminToken: "\"\"")
            }) { _ in }
        } throws: { error in
            "\(error)".contains("is empty or holds more than one word; delete it to have a new token generated")
        }
    }

    @Test func signingInWithTheQueryTokenRedirectsWithoutItAndSetsTheCookie() async throws {
        try await TestGateway.with { (gateway) async throws in
            var browser = Browser(gateway, signedIn: false)
            let signIn = try await browser.get("/destinations?token=\(TestGateway.adminToken)&x=1")
            #expect(signIn.status == 303)
            #expect(signIn.headers["Location"].first == "/destinations?x=1")
            let cookie = try #require(signIn.headers["Set-Cookie"].first)
            #expect(cookie.contains("HttpOnly") && !cookie.contains("Secure"))
            #expect(try await browser.get("/destinations?x=1").status == 200)
            // Only the token left: the bare path.
            var other = Browser(gateway, signedIn: false)
            #expect(try await other.get("/people/u1?token=\(TestGateway.adminToken)").headers["Location"].first == "/people/u1")
        }
    }

    @Test(arguments: [("X-Forwarded-Proto", "https"), ("Forwarded", "for=203.0.113.7;proto=https")])
    func behindAnHTTPSProxyTheCookieIsSecure(header: String, value: String) async throws {
        try await TestGateway.with { (gateway) async throws in
            let signIn = try await Browser.client.execute(
                {
                    var request = HTTPClientRequest(url: gateway.baseURL + "/?token=\(TestGateway.adminToken)")
                    request.headers.add(name: header, value: value)
                    return request
                }(), timeout: .seconds(30))
            #expect(signIn.status == .seeOther)
            let cookie = try #require(signIn.headers["Set-Cookie"].first)
            #expect(cookie.contains("Secure"))
            // A bearer request to the UI that mints a session marks it Secure as well.
            let page = try await gateway.admin("/destinations", headers: [(header, value)])
            #expect(page.headers["Set-Cookie"].first?.contains("Secure") == true)
        }
    }

    @Test func changesThroughTheAPINeedAJSONContentType() async throws {
        try await TestGateway.with(yaml: {
            DeliveryTests.yaml($0, destinations: DeliveryTests.webhook("hook", "http://127.0.0.1:9"))
        }) { (gateway) async throws in
            let bearer = ("Authorization", "Bearer \(TestGateway.adminToken)")
            for (path, method) in [
                ("/api/destinations/hook/replay", HTTPMethod.POST), ("/api/destinations/hook/enable", .POST),
                ("/api/people/u1/unsuppress", .POST),
            ] {
                for type in [nil, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
                    let headers = [bearer] + (type.map { [("Content-Type", $0)] } ?? [])
                    let response = try await gateway.send(
                        path, method: method, body: Array("{}".utf8), headers: headers, auth: nil)
                    #expect(response.status == 415, "\(path) \(type ?? "none")")
                    #expect(response.errorCode == "unsupported_media_type")
                }
                let json = try await gateway.send(
                    path, method: method, body: Array("{}".utf8),
                    headers: [bearer, ("Content-Type", "Application/JSON; charset=utf-8")], auth: nil)
                #expect(json.status == 200, "\(path): \(json.text)")
            }
            // A DELETE without a body needs none (browsers cannot send one cross-site without a preflight).
            #expect(try await gateway.admin("/api/people/u1", method: .DELETE).status == 200)
            let withBody = try await gateway.send(
                "/api/people/u1", method: .DELETE, body: Array("x".utf8),
                headers: [bearer, ("Content-Type", "text/plain")], auth: nil)
            #expect(withBody.status == 415)
        }
    }

    @Test func adminPathsSendNoCORSHeadersWhateverTheOrigin() async throws {
        try await TestGateway.with { (gateway) async throws in
            for origin in ["http://site.test", "http://evil.example"] {
                for path in Self.adminPaths {
                    let response = try await gateway.admin(path, headers: [("Origin", origin)])
                    #expect(response.status == 200 || response.status == 404, "\(path)")
                    #expect(!Self.hasCORS(response.headers), "\(path) from \(origin)")
                    let preflight = try await gateway.send(
                        path, method: .OPTIONS,
                        headers: [
                            ("Origin", origin), ("Access-Control-Request-Method", "DELETE"),
                            ("Access-Control-Request-Headers", "authorization, content-type"),
                        ], auth: nil)
                    #expect(!Self.hasCORS(preflight.headers), "preflight \(path) from \(origin)")
                }
            }
            // Ingest keeps CORS for the configured site.
            let ingest = try await gateway.post(
                "/v1/track", #"{"userId":"u1","event":"e"}"#, headers: [("Origin", "http://site.test")])
            #expect(ingest.headers["Access-Control-Allow-Origin"].first == "http://site.test")
        }
    }

    @Test func pathParametersArePercentDecoded() async throws {
        try await TestGateway.with { (gateway) async throws in
            for event in [
                #"{"type":"identify","userId":"alice@example.com","anonymousId":"a/1 x","messageId":"m1"}"#,
                #"{"type":"track","userId":"alice@example.com","event":"Paid","messageId":"m2"}"#,
                #"{"type":"identify","userId":"a%40b","messageId":"m3"}"#,
            ] {
                #expect(try await gateway.post("/v1/batch", "{\"batch\":[\(event)]}").status == 200)
            }
            #expect(try await gateway.admin("/api/people/alice%40example.com").json?["userId"] == "alice@example.com")
            let history = try await gateway.admin("/api/anonymous/a%2F1%20x/activity").json?["entries"]?.arrayValue
            #expect(history?.isEmpty == false)
            let entries = try await gateway.admin("/api/people/alice%40example.com/activity").json?["entries"]?.arrayValue
            #expect((entries?.count ?? 0) >= 2)
            // Decoded once: %2540 is the literal id "a%40b", not alice.
            #expect(try await gateway.admin("/api/people/a%2540b").json?["userId"] == "a%40b")
            // The UI's pages decode the same way.
            #expect(try await gateway.admin("/people/alice%40example.com").status == 200)

            let erase = try await gateway.admin("/api/people/alice%40example.com", method: .DELETE)
            #expect(erase.status == 200)
            #expect(erase.json?["erased"] == true)
            #expect((erase.json?["events_deleted"]?.doubleValue ?? 0) >= 2)
            #expect(try await gateway.admin("/api/people/alice%40example.com").status == 404)
            #expect(try await gateway.storedEvents().allSatisfy { $0.event.userId != "alice@example.com" })
            #expect(try await gateway.storedEvents().contains { $0.event.userId == "a%40b" }, "the other id stays")

            // Sent byte for byte: HTTP clients would re-encode a malformed escape.
            for bad in [
                "/api/people/a%ZZ", "/api/people/a%4", "/api/people/%FF%FE", "/api/anonymous/x%/activity",
                "/api/destinations/%C3/dead-letters",
            ] {
                let response = try await Self.rawGET(gateway.port, bad)
                #expect(response.hasPrefix("HTTP/1.1 400"), "\(bad): \(response)")
                #expect(response.contains(#""error":"invalid_path""#), "\(bad)")
            }
            #expect(try await Self.rawGET(gateway.port, "/people/a%ZZ").hasPrefix("HTTP/1.1 400"))
            #expect(try await Self.rawGET(gateway.port, "/destinations/%ZZ").hasPrefix("HTTP/1.1 400"))
        }
    }

    @Test(arguments: [
        #"{"ids":[1e300]}"#, #"{"ids":[-1e300]}"#, #"{"ids":[1.5]}"#, #"{"ids":[-1]}"#, #"{"ids":[0]}"#,
        #"{"ids":["1"]}"#, #"{"ids":[9223372036854775808]}"#, #"{"ids":[1e19]}"#, #"{"ids":1}"#, #"{"ids":[null]}"#,
    ])
    func replayIdsThatAreNotDeadLetterIdsAreRefused(body: String) async throws {
        try await TestGateway.with(yaml: {
            DeliveryTests.yaml($0, destinations: DeliveryTests.webhook("hook", "http://127.0.0.1:9"))
        }) { (gateway) async throws in
            let response = try await gateway.admin("/api/destinations/hook/replay", method: .POST, body: body)
            #expect(response.status == 400, "\(response.text)")
            #expect(response.errorCode == "invalid_ids")
            #expect(try await gateway.send("/healthz", method: .GET).status == 200)
            #expect(try await gateway.post("/v1/track", #"{"userId":"u1","event":"After"}"#).status == 200)
            let whole = try await gateway.admin(
                "/api/destinations/hook/replay", method: .POST, body: #"{"ids":[1, 2e0, 9223372036854775807]}"#)
            #expect(whole.json == ["replayed": 0])
            let tooMany = "{\"ids\":[" + Array(repeating: "1", count: 10_001).joined(separator: ",") + "]}"
            let refused = try await gateway.admin("/api/destinations/hook/replay", method: .POST, body: tooMany)
            #expect(refused.status == 400 && refused.errorCode == "invalid_ids")
        }
    }

    @Test func hugeOrMalformedPagingParametersAreBoundedOrRefused() async throws {
        try await TestGateway.with(yaml: {
            DeliveryTests.yaml($0, destinations: DeliveryTests.webhook("hook", "http://127.0.0.1:9"))
        }) { (gateway) async throws in
            for path in [
                "/api/activity?limit=1000000000000", "/api/activity?limit=-5", "/api/activity?limit=1e300",
                "/api/destinations/hook/dead-letters?limit=1000000000000",
                "/api/destinations/hook/dead-letters?cursor=99999999999999999999",
                "/api/people/u1/activity?limit=99999999999999999999999",
            ] {
                #expect(try await gateway.admin(path).status == 200, "\(path)")
            }
            #expect(try await gateway.admin("/api/activity?cursor=e1e300.a1").errorCode == "invalid_cursor")
            let range = try await gateway.admin(
                "/api/destinations/hook/replay", method: .POST, body: #"{"from":"0000-01-01T00:00:00+01:00","to":1e300}"#)
            #expect(range.status == 400)
            #expect(try await gateway.send("/healthz", method: .GET).status == 200)
        }
    }

    @Test func theDevelopmentWriteKeyIsRefusedOffLoopback() throws {
        let yaml = """
            server:
              listen: 0.0.0.0:0
            sources:
              - name: website
                write_key: dev-website-key
            """
        #expect {
            try SwitchyardConfig.parse(
                yaml: yaml, file: "test.yaml", environment: [:], destinationTypes: DestinationRegistry.catalog)
        } throws: { error in
            "\(error)".hasPrefix("test.yaml:5: sources[0].write_key: the development write key dev-website-key is public")
        }
        // The process refuses to start, with the config errors' exit code.
        let directory = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("switchyard.yaml")
        try (yaml + "\nstorage:\n  sqlite: \(directory.path)/data/switchyard.db\n")
            .write(to: config, atomically: true, encoding: .utf8)
        let serve = try CLITests.run(["serve", "--config", config.path], in: directory)
        #expect(serve.status == 78)
        #expect(serve.errors.contains("switchyard.yaml:5: sources[0].write_key: the development write key"))
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/data"), "nothing created")
        // On loopback it stays the zero-setup default.
        for listen in ["127.0.0.1:8088", "localhost:8088", "\"[::1]:8088\""] {
            #expect(throws: Never.self) {
                try SwitchyardConfig.parse(
                    yaml: yaml.replacingOccurrences(of: "0.0.0.0:0", with: listen), file: "test.yaml",
                    environment: [:], destinationTypes: DestinationRegistry.catalog)
            }
        }
    }

    @Test(arguments: [(nil as String?, 0o600, 0o700), ("\"0640\"", 0o640, 0o750), ("0644", 0o644, 0o755)])
    func warehouseFilesAreOwnerOnlyUnlessFileModeSaysOtherwise(fileMode: String?, file: Int, folder: Int) async throws {
        try await TestGateway.with(yaml: { WarehouseGatewayTests.yaml($0, extra: fileMode.map { "    file_mode: \($0)" } ?? "") }) {
            (gateway) async throws in
            #expect(try await gateway.post("/v1/track", #"{"userId":"u1","event":"Paid"}"#).status == 200)
            let warehouse = gateway.directory.appendingPathComponent("warehouse").path
            try await waitUntil {
                FileManager.default.subpaths(atPath: warehouse + "/_manifests")?.contains { $0.hasSuffix(".json") }
                    == true
            }
            let entries = try #require(FileManager.default.subpaths(atPath: warehouse))
            #expect(Self.mode(warehouse) == folder)
            var files = 0
            for entry in entries {
                let path = warehouse + "/" + entry
                if entry.hasSuffix(".ndjson.gz") || entry.hasSuffix(".json") {
                    #expect(Self.mode(path) == file, "\(entry)")
                    files += 1
                } else {
                    #expect(Self.mode(path) == folder, "\(entry)")
                }
            }
            #expect(files >= 2, "a data file and its manifest")
            // The gateway's own files, whatever the warehouse's mode.
            #expect(Self.mode(gateway.directory.path + "/switchyard.db") == 0o600)
        }
    }

    @Test(arguments: ["0400", "0500", "0o1777", "0999", "rw-r-----", "06400"])
    func aFileModeThatLocksOutTheOwnerOrIsNotOctalIsAConfigError(mode: String) throws {
        let yaml = """
            sources:
              - name: website
                write_key: k
            destinations:
              - name: lake
                type: warehouse
                path: /tmp/lake
                file_mode: "\(mode)"
            """
        #expect {
            try SwitchyardConfig.parse(
                yaml: yaml, file: "test.yaml", environment: [:], destinationTypes: DestinationRegistry.catalog)
        } throws: { error in
            "\(error)".hasPrefix("test.yaml:8: destinations[0].file_mode: expected octal permissions")
        }
    }

    // MARK: Helpers

    static func temporaryFolder() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-admin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// The permission bits of `path`, or -1 when it cannot be read.
    static func mode(_ path: String) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { return -1 }
        return Int(info.st_mode & 0o7777)
    }

    /// A GET with the admin token over a plain socket, the path sent exactly as given; the whole answer.
    static func rawGET(_ port: Int, _ path: String) async throws -> String {
        let connection = try RawConnection(port: port)
        _ = try await connection.send(
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(TestGateway.adminToken)\r\nConnection: close\r\n\r\n")
        _ = try await connection.waitForClose(upTo: .seconds(30))
        return String(decoding: connection.received, as: UTF8.self)
    }

    static func hasCORS(_ headers: HTTPHeaders) -> Bool {
        headers.contains { $0.name.lowercased().hasPrefix("access-control-") }
    }

    static func status(_ port: Int, _ path: String, token: String?) async throws -> Int {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 10_000_000)
        return Int(response.status.code)
    }
}
