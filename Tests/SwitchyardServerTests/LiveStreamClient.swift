import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import Synchronization

/// A Server-Sent Events client over real HTTP for `GET /api/live`: reads the stream in the background
/// and keeps every message, so tests wait for a condition on what arrived.
final class LiveStreamClient: Sendable {
    struct Message: Sendable {
        var id: String?
        var event: String
        var data: String
        var json: JSONValue? { try? JSONValue.parse(data) }
    }

    let status: Int
    let reader: Task<Void, Never>

    /// Connects and returns once the response head arrived.
    static func connect(
        _ gateway: TestGateway, query: String = "", headers: [(String, String)] = [],
        token: String? = TestGateway.adminToken
    ) async throws -> LiveStreamClient {
        var request = HTTPClientRequest(url: gateway.baseURL + "/api/live" + (query.isEmpty ? "" : "?" + query))
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, deadline: .now() + .minutes(10))
        return LiveStreamClient(response: response)
    }

    init(response: HTTPClientResponse) {
        status = Int(response.status.code)
        let received = SharedMessages()
        reader = Task { [received] in
            var pending = ""
            do {
                for try await buffer in response.body {
                    let text = String(buffer: buffer)
                    received.raw.withLock { $0 += text }
                    pending += text
                    while let end = pending.range(of: "\n\n") {
                        let block = String(pending[..<end.lowerBound])
                        pending = String(pending[end.upperBound...])
                        if let message = Self.parse(block) { received.messages.withLock { $0.append(message) } }
                    }
                }
            } catch {
                // Cancelled by `close()`, or the gateway stopped: the messages so far stay readable.
            }
        }
        shared = received
    }

    /// What the reader task collected.
    final class SharedMessages: Sendable {
        let messages = Mutex<[Message]>([])
        let raw = Mutex<String>("")
    }

    let shared: SharedMessages

    var messages: [Message] { shared.messages.withLock { $0 } }
    var text: String { shared.raw.withLock { $0 } }

    static func parse(_ block: String) -> Message? {
        var id: String?
        var event = "message"
        var data: [String] = []
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(":") { continue }
            if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
            if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
        }
        return data.isEmpty ? nil : Message(id: id, event: event, data: data.joined(separator: "\n"))
    }

    /// Waits until a message satisfies `predicate` and returns it.
    @discardableResult
    func waitFor(
        timeout: Duration = .seconds(20), _ what: String = "a message", _ predicate: (Message) -> Bool
    ) async throws -> Message {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let found = messages.first(where: predicate) { return found }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw LiveStreamTimeout(what: what, received: messages.map { "\($0.event) \($0.data.prefix(200))" })
    }

    func close() {
        reader.cancel()
    }
}

struct LiveStreamTimeout: Error, CustomStringConvertible {
    var what: String
    var received: [String]
    var description: String { "no \(what) arrived; received:\n" + received.joined(separator: "\n") }
}
