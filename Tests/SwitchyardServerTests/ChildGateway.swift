import Foundation
import SwitchyardCore
import SwitchyardTesting
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A `switchyard serve` child process, for tests that kill it for real.
final class ChildGateway: Sendable {
    let process: ChildProcess
    let port: Int
    let stderrLines: Locked<[String]>

    /// The executable built next to the tests (`swift build` puts it in the same folder).
    static var binary: URL {
        get throws {
            if let path = ProcessInfo.processInfo.environment["SWITCHYARD_BINARY"] {
                return URL(fileURLWithPath: path)
            }
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            for candidate in [".build/debug/switchyard", ".build/release/switchyard"] {
                let url = root.appendingPathComponent(candidate)
                if FileManager.default.isExecutableFile(atPath: url.path) { return url }
            }
            throw ChildError("the switchyard executable is not built; run `swift build` before `swift test` (scripts/test does)")
        }
    }

    struct ChildError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Starts `switchyard serve --config CONFIG` and waits until it logs the port it listens on.
    init(config: URL, workingDirectory: URL) async throws {
        let stderr = try ChildPipe()
        let lines = Locked<[String]>([])
        stderrLines = lines
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        process = try ChildProcess(
            try Self.binary.path,
            ["serve", "--config", config.path] + (ProcessInfo.processInfo.environment["SWITCHYARD_CHILD_DEBUG"] != nil ? ["--log-level", "debug"] : []),
            directory: workingDirectory.path, stderr: .descriptor(stderr.writeEnd))
        stderr.closeWrite()
        // A blocking reader thread on the raw descriptor (it keeps the pipe alive until the child's end).
        Thread.detachNewThread {
            var pending: [UInt8] = []
            while true {
                let data = ChildPipe.readChunk(stderr.readEnd)
                if data.isEmpty { break }
                pending.append(contentsOf: data)
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    lines.withLock { $0.append(line) }
                    if let json = try? JSONValue.parse(line), json["message"] == "switchyard is listening",  // other lines are not ours to parse
                        let address = json["switchyard.address"]?.stringValue,
                        let port = address.split(separator: ":").last.flatMap({ Int($0) })
                    {
                        portContinuation.yield(port)
                    }
                }
            }
            portContinuation.finish()
        }
        var iterator = portStream.makeAsyncIterator()
        guard let port = await iterator.next() else {
            let output = lines.withLock { $0.joined(separator: "\n") }
            throw ChildError("switchyard serve exited before listening:\n\(output)")
        }
        self.port = port
    }

    var log: String { stderrLines.withLock { $0.joined(separator: "\n") } }

    func kill(_ signal: Int32) {
        _ = Glibc.kill(process.processIdentifier, signal)
    }

    /// Waits for the process to end and returns its exit status.
    func waitForExit() async -> Int32 {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                self.process.waitUntilExit()
                continuation.resume(returning: self.process.terminationStatus)
            }
        }
    }
}
