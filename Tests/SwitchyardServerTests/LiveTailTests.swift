import SwitchyardTesting
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SwitchyardCore
import SwitchyardServer
import Synchronization
import Testing

/// `switchyard tail` (SPEC §7) run as a real process against a real gateway.
@Suite("switchyard tail", .serialized)
struct LiveTailTests {
    final class Output: Sendable {
        /// Bytes, decoded when read: a character split between two reads stays whole.
        let bytes = Mutex<[UInt8]>([])
        var value: String { bytes.withLock { String(decoding: $0, as: UTF8.self) } }
    }

    /// Starts `switchyard tail` with `arguments` against `gateway` and returns its growing standard output.
    static func tail(_ gateway: TestGateway, _ arguments: [String]) throws -> (ChildProcess, Output) {
        let config = gateway.directory.appendingPathComponent("tail.yaml")
        try TestGateway.yaml(directory: gateway.directory).write(to: config, atomically: true, encoding: .utf8)
        let output = Output()
        let pipe = try ChildPipe()
        let process = try ChildProcess(
            try ChildGateway.binary.path,
            ["tail", "--config", config.path, "--url", gateway.baseURL, "--token", TestGateway.adminToken] + arguments,
            stdout: .descriptor(pipe.writeEnd))
        pipe.closeWrite()
        // A blocking reader thread on the raw descriptor: Foundation's readabilityHandler is unreliable on
        // Linux, and `availableData` traps when a read is interrupted (EINTR), which a loaded machine sees.
        Thread.detachNewThread {
            while true {
                let chunk = ChildPipe.readChunk(pipe.readEnd)
                if chunk.isEmpty { break }
                output.bytes.withLock { $0 += chunk }
            }
        }
        return (process, output)
    }

    @Test func tailPrintsASentEventAsJSONAndAsText() async throws {
        try await TestGateway.with { gateway in
            let (json, jsonOutput) = try Self.tail(gateway, ["--json", "--user", "tail-user"])
            let (text, textOutput) = try Self.tail(gateway, [])
            defer {
                for process in [json, text] where process.isRunning {
                    process.terminate()
                    process.waitUntilExit()
                }
            }
            try await waitUntil { gateway.gateway.live.subscriberCount == 2 }
            let other = #"{"userId":"someone-else","event":"Paid","messageId":"tail-other"}"#
            #expect(try await gateway.post("/v1/track", other).status == 200)
            let mine = #"{"userId":"tail-user","event":"Signed Up","messageId":"tail-1"}"#
            #expect(try await gateway.post("/v1/track", mine).status == 200)

            try await waitUntil { jsonOutput.value.contains("tail-1") && textOutput.value.contains("tail-1") }
            let lines = jsonOutput.value.split(separator: "\n").map(String.init)
            let item = try #require(lines.compactMap { try? JSONValue.parse($0) }.first { $0["messageId"] == "tail-1" })
            #expect(item["item"] == "ingest")
            #expect(item["id"]?.stringValue.flatMap { UInt64($0) } != nil)
            #expect(item["message"]?["event"] == "Signed Up")
            #expect(!jsonOutput.value.contains("tail-other"), "--user filters")

            let line = try #require(textOutput.value.split(separator: "\n").first { $0.contains("msg=tail-1") })
            #expect(line.contains("ingest"))
            #expect(line.contains("website track \"Signed Up\""))
        }
    }

    @Test func aRefusedTokenEndsTailWithExitCode2() async throws {
        try await TestGateway.with { gateway in
            let config = gateway.directory.appendingPathComponent("tail.yaml")
            try TestGateway.yaml(directory: gateway.directory).write(to: config, atomically: true, encoding: .utf8)
            let process = try ChildProcess(
                try ChildGateway.binary.path,
                ["tail", "--config", config.path, "--url", gateway.baseURL, "--token", "wrong-token"])
            try await waitUntil { !process.isRunning }
            #expect(process.terminationStatus == 2)
        }
    }
}
