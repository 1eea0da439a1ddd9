import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `switchyard` command line, run as a real process.
@Suite("Command line", .serialized)
struct CLITests {
    struct Run {
        var status: Int32
        var output: String
        var errors: String
    }

    static func run(_ arguments: [String], in directory: URL, input: String? = nil) throws -> Run {
        let result = try ProcessRun.run(try ChildGateway.binary, arguments, in: directory, input: input.map { Data($0.utf8) })
        return Run(status: result.status, output: result.output, errors: result.errors)
    }

    func temporaryFolder() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func checkPrintsTheResolvedConfigWithSecretsMasked() throws {
        let directory = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
        sources:
          - name: website
            write_key: very-secret-write-key
        destinations:
          - name: hook
            type: webhook
            url: http://127.0.0.1:9/hook
            secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
        """.write(to: directory.appendingPathComponent("ok.yaml"), atomically: true, encoding: .utf8)
        let run = try Self.run(["check", "--config", "ok.yaml"], in: directory)
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("hook (webhook)"))
        #expect(!run.output.contains("very-secret-write-key"))
        #expect(!run.output.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
    }

    @Test func checkNamesTheFileLineAndKeyOfAMistake() throws {
        let directory = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
        sources:
          - name: website
            write_key: k
        destinations:
          - name: hook
            type: webhook
            url: http://127.0.0.1:9/hook
            retry: { max_age: four hours }
        """.write(to: directory.appendingPathComponent("bad.yaml"), atomically: true, encoding: .utf8)
        let run = try Self.run(["check", "--config", "bad.yaml"], in: directory)
        #expect(run.status == 78)
        #expect(run.errors.contains("bad.yaml:8: destinations[0].retry.max_age:"), "\(run.errors)")
        let serve = try Self.run(["serve", "--config", "bad.yaml"], in: directory)
        #expect(serve.status == 78, "serve refuses a bad config too")
    }

    @Test func versionPrintsTheVersion() throws {
        let run = try Self.run(["--version"], in: FileManager.default.temporaryDirectory)
        #expect(run.output.trimmingCharacters(in: .whitespacesAndNewlines) == SwitchyardVersion.current)
    }

    /// `send --url` may point at anything: an answer with an index no Int holds, or more rejections than
    /// events sent, is reported without trapping.
    @Test func sendSurvivesAHostileAnswer() async throws {
        let answer = #"{"success":true,"rejected":[{"index":1e300,"error":"x","message":"m"},{"index":-5},{"index":"a"}]}"#
        let server = try await ScriptedHTTPServer.start(then: .init(200, body: answer))
        defer { Task { await server.stop() } }
        let directory = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("switchyard.yaml")
        try """
        storage:
          sqlite: data/switchyard.db
        sources:
          - name: website
            write_key: cli-key
        """.write(to: config, atomically: true, encoding: .utf8)
        let send = try Self.run(
            ["send", "--config", config.path, "--url", server.url], in: directory,
            input: #"{"type":"track","userId":"u","event":"One"}"#)
        #expect(send.status == 1, "\(send.output) \(send.errors)")
        #expect(send.output.contains("event ? rejected: x: m"))
        #expect(send.output.contains("0 accepted, 1 rejected"))
    }

    @Test func sendPostsEventsAndReplayRequeuesDeadLetters() async throws {
        let receiver = try await ScriptedHTTPServer.start(then: .init(400, body: #"{"error":"nope"}"#))
        defer { Task { await receiver.stop() } }
        let directory = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("switchyard.yaml")
        try """
        server:
          listen: 127.0.0.1:0
        storage:
          sqlite: data/switchyard.db
        sources:
          - name: website
            write_key: cli-key
        destinations:
          - name: hook
            type: webhook
            url: \(receiver.url)/hook
            batch: { max_events: 1 }
        """.write(to: config, atomically: true, encoding: .utf8)

        let child = try await ChildGateway(config: config, workingDirectory: directory)
        let ndjson = """
            {"type":"track","userId":"u","event":"One","messageId":"c1"}
            {"type":"track","userId":"u","messageId":"bad"}
            {"type":"page","anonymousId":"a","messageId":"c2"}
            """
        let send = try Self.run(
            ["send", "--config", config.path, "--url", "http://127.0.0.1:\(child.port)"], in: directory, input: ndjson)
        #expect(send.status == 1, "one event was rejected: \(send.output)")
        #expect(send.output.contains("2 accepted, 1 rejected"))
        #expect(send.output.contains("event 1 rejected: missing_event"))
        await receiver.waitForRequests(2)
        try await waitUntil { Self.deadLetterCount(directory) == 2 }
        child.kill(SIGTERM)
        #expect(await child.waitForExit() == 0)

        let bad = try Self.run(["replay", "--config", config.path, "--destination", "nope", "--dead-letters"], in: directory)
        #expect(bad.status != 0)
        #expect(bad.errors.contains("no destination named nope"))
        let replay = try Self.run(["replay", "--config", config.path, "--destination", "hook", "--dead-letters"], in: directory)
        #expect(replay.status == 0, "\(replay.errors)")
        #expect(replay.output.contains("queued 2 events for hook"))

        receiver.program([], then: .ok)
        // Counted here: on a loaded machine the first run may have sent an attempt more than twice.
        let before = receiver.requests.count
        let restarted = try await ChildGateway(config: config, workingDirectory: directory)
        let requests = await receiver.waitForRequests(before + 2)
        #expect(requests.dropFirst(before).compactMap { try? JSONValue.parse($0.body)["messageId"]?.stringValue } == ["c1", "c2"])
        restarted.kill(SIGTERM)
        #expect(await restarted.waitForExit() == 0)
    }

    static func deadLetterCount(_ directory: URL) -> Int {
        guard
            let result = try? ProcessRun.run(
                "sqlite3", [directory.appendingPathComponent("data/switchyard.db").path, "select count(*) from dead_letters"]),
            result.status == 0
        else { return -1 }  // sqlite3 missing: .ci/run installs it
        let data = Array(result.output.utf8)
        return Int(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }
}
