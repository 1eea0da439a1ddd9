import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// The one outbound HTTP client every HTTP destination shares: pooled connections, redirects never
/// followed (a webhook receiver moving is an answer to surface, not to chase).
///
/// What a destination sends back is untrusted (SPEC §2): the destination's `timeout` bounds the whole
/// exchange — connecting, sending, the answer's head and its body — and only the first
/// ``maximumBodyBytes`` of an answer are kept; the rest is not read (the connection is closed instead
/// of drained, so a never-ending body costs nothing).
public final class HTTPSender: Sendable {
    let client: HTTPClient

    /// How much of an answer's body is read: enough for every vendor's error report.
    public static let maximumBodyBytes = 64 * 1024

    /// The longest timeout honoured; longer configured ones are cut to this so deadline arithmetic stays
    /// in range.
    static let maximumTimeout: Duration = .seconds(24 * 3600)

    public init() {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool = .init(idleTimeout: .seconds(60))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Sends `request` and reads the answer, all within `timeout`. Throws only when no whole answer arrived
    /// in time (connection refused, timeout, TLS, a body cut off…) or the task was cancelled.
    public func send(_ request: OutgoingRequest, timeout: Duration) async throws -> HTTPResult {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
        outgoing.body = .bytes(ByteBuffer(bytes: request.body))
        let limit = min(max(timeout, .milliseconds(1)), Self.maximumTimeout)
        let client = client
        let prepared = outgoing
        // AsyncHTTPClient's own deadline ends when the head arrives; the race bounds the body too.
        // Cancelling the exchange cancels its request, which ends a body read that is waiting.
        return try await withThrowingTaskGroup(of: HTTPResult?.self) { group in
            group.addTask {
                let response = try await client.execute(prepared, timeout: .nanoseconds(limit.wholeNanoseconds))
                let body = try await Self.prefix(of: response.body, upTo: Self.maximumBodyBytes)
                return HTTPResult(
                    status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                    body: body)
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                throw HTTPSenderError.timedOut(limit)
            }
            return result
        }
    }

    /// The first `limit` bytes of `body`. Stops reading there: dropping the rest ends the request.
    static func prefix(of body: HTTPClientResponse.Body, upTo limit: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await chunk in body {
            bytes += chunk.readableBytesView.prefix(limit - bytes.count)
            if bytes.count >= limit { break }
        }
        return bytes
    }

    public func shutdown() async {
        try? await client.shutdown()  // already shut down is fine
    }
}

/// Why an exchange with a destination gave no answer.
public enum HTTPSenderError: Error, CustomStringConvertible, Equatable {
    /// The whole exchange, answer body included, took longer than the destination's `timeout`.
    case timedOut(Duration)

    public var description: String {
        switch self {
        case .timedOut(let limit):
            return "no complete answer within \(limit.configText) (the destination's timeout); raise `timeout` if it is this slow"
        }
    }
}
