import AsyncHTTPClient
import CompressNIO
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Testing

/// Issue 11's ingest reproductions that need more than a status code: memory, CPU, what is stored.
/// The one-request cases (cut escapes, year-0 timestamps, duplicate keys, …) are in `BadInputTests`.
@Suite("Hostile ingest over real HTTP", .timeLimit(.minutes(3)))
struct HostileIngestTests {
    static func gzip(_ text: String) throws -> [UInt8] {
        var buffer = ByteBuffer(string: text)
        return Array(try buffer.compress(with: .gzip()).readableBytesView)
    }

    /// A 10 KB gzip body: 2,500 tiny events and a 370 KB batch-level context. With a wrong key it took RSS
    /// from 44 MB to 930 MB before the 401; with the right key each stored event was 105 KB.
    static func contextBomb() throws -> [UInt8] {
        let events = Array(repeating: #"{"type":"page","anonymousId":"a"}"#, count: 2500).joined(separator: ",")
        let context = "{\"pad\":\"" + String(repeating: "x", count: 370_000) + "\"}"
        return try gzip("{\"batch\":[\(events)],\"context\":\(context)}")
    }

    /// The child's peak resident memory (`VmHWM`), in KiB.
    static func peakMemoryKiB(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }

    static func post(_ port: Int, _ path: String, _ body: [UInt8], key: String?, headers: [(String, String)] = [])
        async throws -> (status: Int, body: String)
    {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        if let key { request.headers.add(name: "Authorization", value: "Basic " + Data("\(key):".utf8).base64EncodedString()) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1_000_000)
        return (Int(response.status.code), String(buffer: bytes))
    }

    /// A real `switchyard serve` process, so its memory is its own and not the test runner's.
    @Test func aContextBombNeverBloatsTheGateway() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-bomb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("switchyard.yaml")
        try TestGateway.config(directory).write(to: config, atomically: true, encoding: .utf8)
        let child = try await ChildGateway(config: config, workingDirectory: directory)
        defer { child.kill(SIGKILL) }

        let bomb = try Self.contextBomb()
        #expect(bomb.count < 20_000)
        let before = try Self.peakMemoryKiB(child.process.processIdentifier)
        for _ in 0..<4 {
            let unknown = try await Self.post(child.port, "/v1/batch", bomb, key: "wrong", headers: [("Content-Encoding", "gzip")])
            #expect(unknown.status == 401)
            let known = try await Self.post(
                child.port, "/v1/batch", bomb, key: TestGateway.writeKey, headers: [("Content-Encoding", "gzip")])
            #expect(known.status == 413, "\(known.body)")
            #expect(known.body.contains("event_too_large"))
        }
        let after = try Self.peakMemoryKiB(child.process.processIdentifier)
        // A 500 KB body is read, decompressed and scanned: a few MB. The bug took 900 MB.
        #expect(after - before < 60_000, "peak memory grew from \(before) KiB to \(after) KiB")

        let good = try await Self.post(
            child.port, "/v1/track", Array(#"{"userId":"u1","event":"After"}"#.utf8), key: TestGateway.writeKey)
        #expect(good.status == 200)
    }

    /// Two requests with a cut `\u` escape each spun a core forever; on two cores `/healthz` then stopped
    /// answering.
    @Test func cutEscapesDoNotTakeTheCPU() async throws {
        try await TestGateway.with { (gateway) async throws in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await gateway.post("/v1/track", #"{"a":"\u"#).status }
                }
                for try await status in group { #expect(status == 400) }
            }
            #expect(try await gateway.send("/healthz", method: .GET, auth: nil).status == 200)
        }
    }

    /// `"user\u0049d"` was passed as an unknown key, so an erased user's events were stored again.
    @Test func anEscapedUserIdIsSuppressedLikeAPlainOne() async throws {
        try await TestGateway.with { (gateway) async throws in
            #expect(try await gateway.post("/v1/track", #"{"userId":"x","event":"Before"}"#).status == 200)
            _ = try await gateway.store.erase("x", at: Timestamp(milliseconds: 1_800_000_000_000))
            #expect(try await gateway.store.eventCount() == 0)
            let escaped = try await gateway.post("/v1/track", #"{"user\u0049d":"x","event":"After"}"#)
            #expect(escaped.status == 200)
            #expect(try await gateway.store.eventCount() == 0, "a suppressed user's events are not stored")
            #expect(try await gateway.post("/v1/track", #"{"user\u0049d":"y","event":"Other"}"#).status == 200)
            let stored = try await gateway.storedEvents()
            #expect(stored.map(\.event.userId) == ["y"])
        }
    }

    /// A batch whose events carry what readers disagree on: the valid ones are stored, the others
    /// rejected by index, and everything stored is read identically by Python's `json` (the reference
    /// the warehouse's users load with) — one value per key, no lone surrogate, finite numbers.
    @Test func whatIsStoredReadsTheSameInPython() async throws {
        try await TestGateway.with { (gateway) async throws in
            let body = #"""
                {"batch":[
                  {"type":"track","userId":"u","event":"ok","properties":{"t":"a\udc00b","\ud800":1,"n":1e300}},
                  {"type":"track","userId":"u","event":"dup","properties":{"a":1,"a":2}},
                  {"type":"track","userId":"u","event":"big","properties":{"n":1e309}},
                  {"type":"track","userId":"u\ud83d","event":"lone"},
                  {"type":"track","user\u0049d":"v","\u0065vent":"escaped","context":{"\u0069p":"1.2.3.4"}}
                ],"context":{"ip":"9.9.9.9","app":{"name":"a\ud800"}}}
                """#
            let response = try await gateway.post("/v1/batch", body)
            #expect(response.status == 200, "\(response.text)")
            #expect(response.json?["success"] == true)
            #expect(response.json?["rejected"]?.arrayValue?.map { $0["error"] } == ["duplicate_key", "invalid_number", "invalid_unicode"])
            let stored = try await gateway.storedEvents()
            #expect(stored.map(\.event.eventName) == ["ok", "escaped"])
            let lines = stored.map { String(decoding: $0.event.body, as: UTF8.self) }.joined(separator: "\n")
            let check = """
                import json, sys
                def pairs(items):
                    keys = [k for k, _ in items]
                    assert len(keys) == len(set(keys)), keys
                    return dict(items)
                for line in sys.stdin:
                    event = json.loads(line, object_pairs_hook=pairs)
                    text = json.dumps(event, ensure_ascii=False)
                    text.encode("utf-8")  # a lone surrogate cannot be encoded
                    print(event["userId"], event["context"]["ip"], event["context"].get("app", {}).get("name"), event.get("properties", {}).get("t"))
                """
            let output = try Self.python(check, input: lines)
            #expect(output == "u 9.9.9.9 a\u{FFFD} a\u{FFFD}b\nv 1.2.3.4 a\u{FFFD} None\n")
        }
    }

    static func python(_ script: String, input: String) throws -> String {
        let result = try ProcessRun.run("python3", ["-c", script], input: Data(input.utf8))
        #expect(result.status == 0, "\(result.errors)")
        return result.output
    }

    /// Duplicate keys and lone-surrogate escapes were stored as sent and made whole warehouse files
    /// unloadable by DuckDB. Now the duplicates are refused, the surrogates replaced, escaped keys decoded,
    /// and the files of a hostile batch load with every stored row.
    @Test func warehouseFilesOfHostileEventsLoadInDuckDB() async throws {
        try await TestGateway.with(yaml: { WarehouseGatewayTests.yaml($0) }) { (gateway) async throws in
            let body = #"""
                {"batch":[
                  {"type":"track","userId":"u","event":"lone","messageId":"h1","properties":{"t":"a\udc00b","\ud800":1}},
                  {"type":"track","userId":"u","event":"dup","messageId":"h2","properties":{"a":1,"a":2}},
                  {"type":"track","user\u0049d":"v","\u0065vent":"escaped","messageId":"h3","resolvedUser\u0049d":"forged"},
                  {"type":"track","userId":"u","event":"big","messageId":"h4","properties":{"n":1e309}}
                ],"context":{"app":{"name":"a\ud800"}}}
                """#
            let response = try await gateway.post("/v1/batch", body)
            #expect(response.status == 200, "\(response.text)")
            #expect(response.json?["stored"] == 2)
            try await waitUntil { try await gateway.status("lake")?["delivered"] == 2 }
            let files = gateway.directory.appendingPathComponent("warehouse").path + "/website/tracks/dt=*/*.ndjson.gz"
            let rows = try DuckDB.query(
                "select messageId || ' ' || userId || ' ' || coalesce(resolvedUserId, '-') || ' ' || context.app.name "
                    + "from read_json_auto('\(files)', union_by_name=true) order by messageId")
            #expect(rows == "h1 u u a\u{FFFD}\nh3 v v a\u{FFFD}", "the sender's resolvedUserId is not the gateway's")
        }
    }
}
