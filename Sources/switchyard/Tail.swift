import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardConfig
import SwitchyardCore
import SwitchyardServer

/// `switchyard tail` (SPEC §7): follows a running gateway's live view (`GET /api/live`), one line per item,
/// or with `--json` one JSON object per line. When the connection drops it reconnects with
/// `Last-Event-ID`, so nothing still in the gateway's buffer is lost (a `gap` line says what was).
///
/// Exit codes: 0 never (it runs until interrupted), 2 when the gateway refuses the admin token or the
/// filters, 78 for a config that does not load.
struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow a running gateway's live view: every event, routing decision and delivery.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "Gateway base URL; default: the config's server.listen.")
    var url: String?

    @Option(help: "Admin token; default: $SWITCHYARD_ADMIN_TOKEN, the config's, or the generated one in the data folder.")
    var token: String?

    @Option(help: "Only events of this source.")
    var source: String?

    @Option(help: "Only routes and deliveries of this destination (events still show).")
    var destination: String?

    @Option(help: "Only events of this type: track, page, screen, identify, group, alias.")
    var type: String?

    @Option(help: "Only events whose name matches this glob (Signed*).")
    var event: String?

    @Option(help: "Only items about this user id or anonymous id.")
    var user: String?

    @Flag(help: "Print each item as one JSON object per line: its data plus \"id\" and \"item\" (ingest, route, delivery, identity, gap).")
    var json = false

    func run() async throws {
        let config = try options.load()
        let base = url ?? "http://\(config.server.listen.host):\(config.server.listen.port)"
        guard let adminToken = resolvedToken(config) else {
            throw ValidationError(
                "no admin token: pass --token, set SWITCHYARD_ADMIN_TOKEN, or run on the gateway's machine "
                    + "(it keeps a generated token in \(config.adminTokenFile))")
        }
        var query: [String] = []
        for (name, value) in [("source", source), ("destination", destination), ("type", type), ("event", event), ("user", user)] {
            if let value { query.append("\(name)=\(Self.percentEncoded(value))") }
        }
        let address = base + "/api/live" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await follow(address, base: base, token: adminToken, client: client)
        } catch {
            try? await client.shutdown()  // exiting anyway; a failed shutdown changes nothing
            throw error
        }
    }

    /// Reads the stream, reconnecting with `Last-Event-ID` after the gateway went away; returns never.
    func follow(_ address: String, base: String, token adminToken: String, client: HTTPClient) async throws {
        var lastEventId: String?
        var backoff: Duration = .milliseconds(500)
        while true {
            var request = HTTPClientRequest(url: address)
            request.headers.add(name: "Authorization", value: "Bearer \(adminToken)")
            request.headers.add(name: "Accept", value: "text/event-stream")
            if let lastEventId { request.headers.add(name: "Last-Event-ID", value: lastEventId) }
            do {
                let response = try await client.execute(request, deadline: .distantFuture)
                switch response.status.code {
                case 200:
                    backoff = .milliseconds(500)
                    Self.note("following \(base)/api/live")
                    var parser = ServerSentEvents()
                    for try await buffer in response.body {
                        for message in parser.feed(Array(buffer.readableBytesView)) {
                            if let id = message.id { lastEventId = id }
                            Self.write(json ? Self.jsonLine(message) : LiveLine.text(message))
                        }
                    }
                    Self.note("the gateway closed the stream; reconnecting")
                case 401, 403:
                    Self.note("the gateway refused the admin token (HTTP \(response.status.code))")
                    throw ExitCode(2)
                default:
                    let body = try await response.body.collect(upTo: 100_000)
                    Self.note("HTTP \(response.status.code): \(String(buffer: body))")
                    if (400..<500).contains(response.status.code) { throw ExitCode(2) }
                }
            } catch let exit as ExitCode {
                throw exit
            } catch {
                Self.note("cannot reach \(base): \(error); retrying in \(backoff)")
            }
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(10))
        }
    }

    func resolvedToken(_ config: SwitchyardConfig) -> String? {
        if let token, !token.isEmpty { return token }
        if let fromEnvironment = ProcessInfo.processInfo.environment["SWITCHYARD_ADMIN_TOKEN"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        if let configured = config.server.adminToken { return configured }
        // The file a gateway generates its token into; unreadable or absent means there is none to use.
        return (try? AdminToken.read(path: config.adminTokenFile)) ?? nil
    }

    /// `{"id":…,"item":…, …its members}` on one line (`item`: a track has its own `event`, an identity entry its `kind`).
    static func jsonLine(_ message: ServerSentEvents.Message) -> String {
        let data = message.data.replacingOccurrences(of: "\n", with: " ")
        var head = "{\"id\":" + (message.id.map { JSONValue.string($0).text } ?? "null")
        head += ",\"item\":" + JSONValue.string(message.event).text
        let inner = data.drop { $0 == " " }.dropFirst()  // after the opening brace
        let rest = inner.drop { $0 == " " }
        return head + (rest.hasPrefix("}") ? "}" : "," + inner)
    }

    static func write(_ line: String) {
        // Unbuffered, line by line: `tail | grep` and tests see each item as it comes.
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func note(_ text: String) {
        FileHandle.standardError.write(Data("switchyard tail: \(text)\n".utf8))
    }

    static func percentEncoded(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~*")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}

/// A Server-Sent Events parser: bytes in, messages out (`id:`, `event:`, `data:` lines; comments skipped).
struct ServerSentEvents {
    struct Message {
        var id: String?
        var event: String
        var data: String
    }

    var line: [UInt8] = []
    var id: String?
    var event: String?
    var data: [String] = []

    mutating func feed(_ bytes: [UInt8]) -> [Message] {
        var messages: [Message] = []
        for byte in bytes {
            guard byte == UInt8(ascii: "\n") else {
                line.append(byte)
                continue
            }
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            let text = String(decoding: line, as: UTF8.self)
            line = []
            if text.isEmpty {
                if !data.isEmpty {
                    messages.append(Message(id: id, event: event ?? "message", data: data.joined(separator: "\n")))
                }
                event = nil
                data = []
                continue
            }
            if text.hasPrefix(":") { continue }
            let field = text.prefix { $0 != ":" }
            var value = text.dropFirst(field.count).dropFirst()
            if value.hasPrefix(" ") { value = value.dropFirst() }
            switch field {
            case "id": id = String(value)
            case "event": event = String(value)
            case "data": data.append(String(value))
            default: break
            }
        }
        return messages
    }
}

/// One human-readable line per live item.
enum LiveLine {
    static func text(_ message: ServerSentEvents.Message) -> String {
        guard let item = try? JSONValue.parse(message.data) else { return "\(message.event) \(message.data)" }
        func field(_ name: String) -> String { item[name]?.stringValue ?? "-" }
        let at = item["at"]?.stringValue.map { String($0.dropFirst(11).prefix(12)) } ?? "            "
        let kind = message.event.padding(toLength: 8, withPad: " ", startingAt: 0)
        switch message.event {
        case "ingest":
            let name = item["event"]?.stringValue ?? item["name"]?.stringValue
            return "\(at) \(kind) \(field("source")) \(field("type"))\(name.map { " \"\($0)\"" } ?? "") "
                + "user=\(field("userId")) anon=\(field("anonymousId")) resolved=\(field("resolvedUserId")) msg=\(field("messageId"))"
        case "route":
            let reason = item["reason"]?.stringValue.map { " (\($0))" } ?? ""
            return "\(at) \(kind) \(field("destination")) \(field("decision"))\(reason) msg=\(field("messageId"))"
        case "delivery":
            let ids = item["messageIds"]?.arrayValue?.compactMap(\.stringValue) ?? []
            var line = "\(at) \(kind) \(field("destination")) \(field("outcome")) attempt \(item["attempt"]?.text ?? "?")"
            if let request = item["request"], !request.isNull {
                line += " \(request["method"]?.stringValue ?? "") \(request["url"]?.stringValue ?? "")"
            }
            if let status = item["response"]?["status"] { line += " → \(status.text)" }
            if let error = item["error"]?.stringValue { line += " error: \(error)" }
            if let duration = item["durationMs"] { line += " in \(duration.text)ms" }
            return line + " msg=\(ids.joined(separator: ","))"
        case "identity":
            return "\(at) \(kind) \(field("kind")) anon=\(field("anonymousId")) user=\(field("userId"))"
                + (item["reason"]?.stringValue.map { " reason=\($0)" } ?? "")
        case "gap":
            return "\(at) \(kind) missed \(item["missed"]?.text ?? "?") items (the terminal read too slowly or was away)"
        default:
            return "\(at) \(kind) \(message.data)"
        }
    }
}
