import Foundation
import NIOHTTP1
import SwitchyardCore
import SwitchyardStore
import Testing

/// SPEC §2 "Hostile input", HTTP: head, body and idle deadlines, a connection cap and `431` for an
/// oversized head, over raw TCP on loopback (an HTTP client would never misbehave like this).
///
/// Deadlines are 1–2 s here; every wait for the gateway's reaction allows 20 s, so a loaded CI machine
/// passes while a gateway without the limit (which never closes) still fails.
@Suite("HTTP server limits over raw TCP", .timeLimit(.minutes(3)))
struct HTTPLimitsTests {
    static let patience = Duration.seconds(20)

    static func yaml(_ server: String) -> (URL) -> String {
        { TestGateway.yaml(directory: $0, extra: server) }
    }

    static let credentials = "Basic " + Data("\(TestGateway.writeKey):".utf8).base64EncodedString()

    /// The gateway still serves: `/healthz` and a valid event both answer `200`.
    static func expectServing(_ gateway: TestGateway, id: String) async throws {
        #expect(try await gateway.send("/healthz", method: .GET, auth: nil).status == 200)
        let event = try await gateway.post("/v1/track", #"{"userId":"u1","event":"Paid","messageId":"\#(id)"}"#)
        #expect(event.status == 200)
    }

    /// `switchyard_http_limits_total{limit=LIMIT}` from `/metrics`, or nil when it is not there.
    static func limitCount(_ gateway: TestGateway, _ limit: String) async throws -> Int? {
        let prefix = #"switchyard_http_limits_total{limit="\#(limit)"} "#
        let metrics = try await gateway.admin("/metrics").text
        return metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) }
    }

    static func expectJSONError(_ response: RawResponse?, status: Int, code: String) {
        #expect(response?.status == status)
        #expect(response?.headers["content-type"] == "application/json")
        #expect(response?.headers["connection"] == "close")
        let body = response.flatMap { try? JSONValue.parse($0.body) }
        #expect(body?["success"] == .bool(false))
        #expect(body?["error"]?.stringValue == code)
        #expect(body?["message"]?.stringValue?.isEmpty == false)
    }

    /// Slowloris: heads sent a byte a second get `408 request_timeout` and a closed connection after
    /// `server.timeouts.head`, while other clients are served all along.
    @Test func aHeadSentAByteASecondGets408AfterTheHeadTimeout() async throws {
        try await TestGateway.with(yaml: Self.yaml("  timeouts: { head: 2s }")) { gateway in
            let head = "POST /v1/track HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
            let slow = try (0..<3).map { _ in try RawConnection(port: gateway.port) }
            let served = Task {
                try await Task.sleep(for: .milliseconds(500))
                try await Self.expectServing(gateway, id: "during-slowloris")
            }
            var sent = 0
            let deadline = ContinuousClock.now + Self.patience
            while ContinuousClock.now < deadline, slow.contains(where: { !$0.closedByPeer }) {
                for connection in slow where connection.received.isEmpty && !connection.closedByPeer {
                    let byte = head.utf8.dropFirst(sent).prefix(1)
                    if !byte.isEmpty { try await connection.send(String(decoding: byte, as: UTF8.self)) }
                }
                sent += 1
                let nextByte = ContinuousClock.now + .seconds(1)
                while ContinuousClock.now < nextByte {
                    for connection in slow { connection.poll() }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            try await served.value
            for connection in slow {
                #expect(connection.closedByPeer)
                #expect(connection.elapsed >= .milliseconds(1900))
                #expect(connection.responses.count == 1)
                Self.expectJSONError(connection.responses.first, status: 408, code: "request_timeout")
            }
            try await Self.expectServing(gateway, id: "after-slowloris")
            #expect(try await gateway.storedEvents().map(\.event.messageId).sorted() == ["after-slowloris", "during-slowloris"])
            #expect(try await Self.limitCount(gateway, "head_timeout") == 3)
        }
    }

    /// A body that stops halfway gets `408` after `server.timeouts.body`; the part that came is never
    /// taken for the whole body (nothing is stored from it).
    @Test func aBodyThatStopsHalfwayGets408AfterTheBodyTimeout() async throws {
        try await TestGateway.with(yaml: Self.yaml("  timeouts: { body: 1s }")) { gateway in
            let body = #"{"userId":"u1","event":"Cut","messageId":"cut-1","properties":{"note":"padding padding"}}"#
            let connection = try RawConnection(port: gateway.port)
            try await connection.send(
                "POST /v1/track HTTP/1.1\r\nHost: gateway.test\r\nAuthorization: \(Self.credentials)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
                    + String(body.prefix(body.count / 2)))
            #expect(try await connection.waitForClose(upTo: Self.patience))
            #expect(connection.elapsed >= .milliseconds(900))
            #expect(connection.responses.count == 1)
            Self.expectJSONError(connection.responses.first, status: 408, code: "request_timeout")
            try await Self.expectServing(gateway, id: "after-cut")
            #expect(try await gateway.storedEvents().map(\.event.messageId) == ["after-cut"])
            #expect(try await Self.limitCount(gateway, "body_timeout") == 1)
        }
    }

    /// A keep-alive connection left idle after its response is closed quietly after
    /// `server.timeouts.idle`; one that never sends a byte is closed quietly after the head timeout.
    @Test func idleAndSilentConnectionsAreClosedQuietly() async throws {
        try await TestGateway.with(yaml: Self.yaml("  timeouts: { head: 1s, idle: 1s }")) { gateway in
            let idle = try RawConnection(port: gateway.port)
            let silent = try RawConnection(port: gateway.port)
            try await idle.send("GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
            #expect(try await idle.wait(upTo: Self.patience) { $0.responses.count == 1 })
            let answered = ContinuousClock.now
            #expect(try await idle.waitForClose(upTo: Self.patience))
            // The idle clock starts when the gateway sent the answer, which a loaded machine hands to this
            // client later (0.82 s seen): the bound only shows the close is the timeout, not immediate.
            #expect(ContinuousClock.now - answered >= .milliseconds(300))
            #expect(idle.responses.map(\.status) == [200])
            #expect(idle.received.count == RawResponse.encodedLength(of: idle.received))

            #expect(try await silent.waitForClose(upTo: Self.patience))
            #expect(silent.elapsed >= .milliseconds(900))
            #expect(silent.received.isEmpty)
            try await Self.expectServing(gateway, id: "after-idle")
        }
    }

    /// A keep-alive connection is served again and again while it keeps within its deadlines (5 s each,
    /// ten times the pause between requests: a loaded full run stalled a 500 ms pause past 2 s).
    @Test func aKeepAliveConnectionWithinItsDeadlinesIsServedRepeatedly() async throws {
        try await TestGateway.with(yaml: Self.yaml("  timeouts: { head: 5s, body: 5s, idle: 5s }")) { gateway in
            let connection = try RawConnection(port: gateway.port)
            for round in 1...3 {
                try await connection.send("GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
                #expect(try await connection.wait(upTo: Self.patience) { $0.responses.count == round })
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(connection.responses.map(\.status) == [200, 200, 200])
            #expect(!connection.closedByPeer)
        }
    }

    /// A client that asks for responses and never reads them (slow read) is closed after
    /// `server.timeouts.idle` of a full write buffer, while others are served.
    @Test func aClientThatNeverReadsItsResponsesIsClosedAfterTheIdleTimeout() async throws {
        try await TestGateway.with(yaml: Self.yaml("  timeouts: { idle: 1s }")) { gateway in
            let reader = try RawConnection(port: gateway.port, receiveBuffer: 4096)
            // 300 pipelined requests for the 35 KB client script: about 10 MB, more than the socket buffers.
            _ = try await reader.send(String(repeating: "GET /analytics.js HTTP/1.1\r\nHost: gateway.test\r\n\r\n", count: 300))
            try await Task.sleep(for: .seconds(3))
            try await Self.expectServing(gateway, id: "during-slow-read")
            // Only now does the client read: the gateway has closed the connection long before all came.
            #expect(try await reader.waitForClose(upTo: Self.patience))
            #expect(reader.responses.count < 300)
            // Counted as the gateway closes; read until it shows (a loaded machine read 0 at the first try).
            var count = try await Self.limitCount(gateway, "response_unread") ?? 0
            let deadline = ContinuousClock.now + Self.patience
            while count < 1, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                count = try await Self.limitCount(gateway, "response_unread") ?? 0
            }
            #expect(count >= 1)
        }
    }

    /// 100 KB of headers (NIO's parser stops at 80 KB) get `431 header_too_large` as JSON instead of a
    /// dropped connection; a head that is not HTTP gets `400 bad_request`; the gateway serves on.
    @Test func anOversizedHeadGets431AndGarbageGets400() async throws {
        try await TestGateway.with { gateway in
            let large = try RawConnection(port: gateway.port)
            try await large.send(
                "GET /healthz HTTP/1.1\r\nHost: gateway.test\r\nX-Padding: \(String(repeating: "a", count: 100_000))\r\n\r\n")
            #expect(try await large.waitForClose(upTo: Self.patience))
            #expect(large.responses.count == 1)
            Self.expectJSONError(large.responses.first, status: 431, code: "header_too_large")

            let garbage = try RawConnection(port: gateway.port)
            try await garbage.send("\u{1}\u{2}NOT HTTP\r\n\r\n")
            #expect(try await garbage.waitForClose(upTo: Self.patience))
            Self.expectJSONError(garbage.responses.first, status: 400, code: "bad_request")

            try await Self.expectServing(gateway, id: "after-431")
            #expect(try await Self.limitCount(gateway, "header_too_large") == 1)
            #expect(try await Self.limitCount(gateway, "bad_request") == 1)
        }
    }

    /// Past `server.max_connections` a new connection is closed at once, unanswered; the established
    /// ones are served as before, and once one closes a new connection is served again.
    @Test func theConnectionCapRefusesTheNinthConnectionUntilOneCloses() async throws {
        try await TestGateway.with(yaml: Self.yaml("  max_connections: 8\n  timeouts: { head: 60s, idle: 60s }")) { gateway in
            var established: [RawConnection] = []
            for _ in 0..<8 {
                let connection = try RawConnection(port: gateway.port)
                try await connection.send("GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
                #expect(try await connection.wait(upTo: Self.patience) { $0.responses.count == 1 })
                established.append(connection)
            }

            let ninth = try RawConnection(port: gateway.port)
            try await ninth.send("GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
            // Well before the 60 s head deadline: closed for the cap, not for slowness.
            #expect(try await ninth.waitForClose(upTo: Self.patience))
            #expect(ninth.received.isEmpty)

            try await established[0].send("GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
            #expect(try await established[0].wait(upTo: Self.patience) { $0.responses.count == 2 })
            #expect(established[0].responses.map(\.status) == [200, 200])

            established.removeLast()  // closes it; the gateway counts it gone once it sees the close
            var servedAgain = false
            let deadline = ContinuousClock.now + Self.patience
            while !servedAgain, ContinuousClock.now < deadline {
                let next = try RawConnection(port: gateway.port)
                _ = try await next.send("GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
                _ = try await next.wait(upTo: Self.patience) { $0.responses.count == 1 || $0.closedByPeer }
                servedAgain = next.responses.first?.status == 200
                if !servedAgain { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(servedAgain)
            // Free the slots, then read the count: the gateway sees closes asynchronously, so a request sent
            // at once could still find the cap reached and be closed unanswered.
            established.removeAll()
            var count: Int?
            while count == nil, ContinuousClock.now < deadline + Self.patience {
                count = try? await Self.limitCount(gateway, "max_connections")
                if count == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(count.map { $0 >= 1 } == true)
        }
    }
}

extension RawResponse {
    /// The number of bytes the complete responses at the start of `bytes` take.
    static func encodedLength(of bytes: [UInt8]) -> Int {
        var length = 0
        var rest = bytes[...]
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        for response in parseAll(bytes) {
            guard let headEnd = rest.firstRange(of: separator) else { break }
            let size = rest.distance(from: rest.startIndex, to: headEnd.upperBound) + response.body.count
            length += size
            rest = rest.dropFirst(size)
        }
        return length
    }
}
