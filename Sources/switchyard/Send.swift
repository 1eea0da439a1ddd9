import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardConfig
import SwitchyardCore

/// `switchyard send`: posts events from a file or standard input to a running gateway, for trying a config.
///
/// Input is a JSON array of events, one JSON object, or newline-delimited JSON. Events go to
/// `/v1/batch` in chunks; each event needs its `type`. Exit code 0 when every event was accepted, 1 when
/// some were rejected, 2 when the gateway could not be reached or refused the request.
struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send events from a file or stdin to a running gateway.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "Gateway base URL; default: the config's server.listen.")
    var url: String?

    @Option(help: "Source whose write key to use; default: the first source in the config.")
    var source: String?

    @Option(help: "Events per request.")
    var chunk: Int = 500

    @Argument(help: "File with events (JSON array, object or NDJSON); '-' or nothing reads stdin.")
    var file: String?

    func run() async throws {
        let config = try options.load()
        guard let sender = source.map({ name in config.sources.first { $0.name == name } }) ?? config.sources.first else {
            throw ValidationError("no source named \(source ?? "") in \(config.file)")
        }
        let base = url ?? "http://\(config.server.listen.host):\(config.server.listen.port)"
        let data: Data
        if let file, file != "-" {
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            data = contents
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        let events = try Self.events(in: Array(data))
        guard chunk > 0 else { throw ValidationError("--chunk must be at least 1") }

        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var sent = 0
        var rejected = 0
        var failed = false
        let credentials = Data("\(sender.writeKey):".utf8).base64EncodedString()
        for start in stride(from: 0, to: events.count, by: chunk) {
            let slice = events[start..<min(start + chunk, events.count)]
            var writer = JSONWriter()
            writer.raw("{\"batch\":[")
            for (index, event) in slice.enumerated() {
                if index > 0 { writer.comma() }
                event.write(to: &writer)
            }
            writer.raw("]}")
            var request = HTTPClientRequest(url: base + "/v1/batch")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Authorization", value: "Basic \(credentials)")
            request.body = .bytes(ByteBuffer(bytes: writer.bytes))
            do {
                let response = try await client.execute(request, timeout: .seconds(30))
                let body = try await response.body.collect(upTo: 10_000_000)
                let answer = try? JSONValue.parse(body.readableBytesView)  // a non-JSON answer is reported by status
                if response.status == .ok {
                    let refused = answer?["rejected"]?.arrayValue ?? []
                    // The answer is the gateway's, but the URL may point anywhere: count and index are read
                    // without trusting them (an index of 1e300 must not trap the CLI).
                    let counted = min(refused.count, slice.count)
                    rejected += counted
                    sent += slice.count - counted
                    for item in refused.prefix(counted) {
                        let position = item["index"]?.doubleValue.flatMap { Int(exactly: $0) }
                        let index = position.map { String($0 &+ start) } ?? "?"
                        print("event \(index) rejected: \(item["error"]?.stringValue ?? "?"): \(item["message"]?.stringValue ?? "")")
                    }
                } else {
                    failed = true
                    print("request failed: HTTP \(response.status.code) \(answer?["error"]?.stringValue ?? ""): \(answer?["message"]?.stringValue ?? "")")
                    break
                }
            } catch {
                failed = true
                print("cannot reach \(base): \(error)")
                break
            }
            FileHandle.standardError.write(Data("\rsent \(sent + rejected)/\(events.count)".utf8))
        }
        FileHandle.standardError.write(Data("\n".utf8))
        try await client.shutdown()
        print("\(sent) accepted, \(rejected) rejected")
        if failed { throw ExitCode(2) }
        if rejected > 0 { throw ExitCode(1) }
    }

    /// Splits the input into events: a JSON array, a single object, or one object per line.
    static func events(in bytes: [UInt8]) throws -> [JSONValue] {
        if let whole = try? JSONValue.parse(bytes) {  // not one document: try NDJSON below
            if let array = whole.arrayValue { return array }
            if let batch = whole["batch"]?.arrayValue { return batch }
            return [whole]
        }
        var events: [JSONValue] = []
        for (number, line) in bytes.split(separator: UInt8(ascii: "\n")).enumerated() {
            let trimmed = line.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
            if trimmed.isEmpty { continue }
            do {
                events.append(try JSONValue.parse(trimmed))
            } catch {
                throw ValidationError("line \(number + 1) is not JSON: \(error)")
            }
        }
        return events
    }
}
