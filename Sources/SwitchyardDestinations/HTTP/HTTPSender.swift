import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
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

    /// How long one connection attempt may take (a host that drops SYNs); a destination's shorter
    /// `timeout` cuts it shorter.
    public let connectTimeout: Duration

    public init(connectTimeout: Duration = .seconds(10)) {
        self.connectTimeout = min(max(connectTimeout, .milliseconds(1)), Self.maximumTimeout)
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout.connect = .nanoseconds(self.connectTimeout.wholeNanoseconds)
        configuration.connectionPool = .init(idleTimeout: .seconds(60))
        // A failed connect fails the request at once. The pool's default keeps reconnecting with its own
        // backoff until the connect timeout or the request's deadline, so a refused port cost up to a whole
        // `timeout` per attempt and the destination's `retry` backoff and `max_age` meant nothing; the
        // worker's retry is the backoff. Requests queued for the same host fail with it and are retried
        // the same way.
        configuration.connectionPool.retryConnectionEstablishment = false
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
        let connectTimeout = connectTimeout
        let prepared = outgoing
        // AsyncHTTPClient's own deadline ends when the head arrives; the race bounds the body too.
        // Cancelling the exchange cancels its request, which ends a body read that is waiting.
        return try await withThrowingTaskGroup(of: HTTPResult?.self) { group in
            group.addTask {
                let response: HTTPClientResponse
                do {
                    response = try await client.execute(prepared, timeout: .nanoseconds(limit.wholeNanoseconds))
                } catch {
                    throw HTTPSenderError(connecting: error, connectTimeout: connectTimeout) ?? error
                }
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
    /// Every address of the host refused the connection: nothing listens on the port (yet). Reported at
    /// once, so the destination's retry backoff decides when to try again.
    case connectionRefused
    /// The host name did not resolve.
    case unresolvedHost(String)
    /// The host did not accept the connection in time (a firewall dropping it, a host that is down).
    case connectTimedOut(Duration)

    public var description: String {
        switch self {
        case .timedOut(let limit):
            return
                "no complete answer within \(limit.configText) (the destination's timeout); raise `timeout` if it is this slow"
        case .connectionRefused:
            return "connection refused (nothing listens on that port)"
        case .unresolvedHost(let reason):
            return "the host name did not resolve (\(reason))"
        case .connectTimedOut(let limit):
            return "could not connect within \(limit.configText)"
        }
    }

    /// What a failure to connect means, told plainly; nil for other failures, which keep their own words.
    /// The host is the caller's to name (without the URL's credentials): these descriptions carry none.
    init?(connecting error: any Error, connectTimeout: Duration) {
        if let error = error as? NIOConnectionError {
            if error.connectionErrors.isEmpty, let dns = error.dnsAError ?? error.dnsAAAAError {
                self = .unresolvedHost("\(dns)")
                return
            }
            let refused = error.connectionErrors.allSatisfy { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }
            guard refused, !error.connectionErrors.isEmpty else { return nil }
            self = .connectionRefused
        } else if (error as? IOError)?.errnoCode == ECONNREFUSED {
            self = .connectionRefused
        } else if let error = error as? HTTPClientError, error == .connectTimeout {
            self = .connectTimedOut(connectTimeout)
        } else if let error = error as? ChannelError, case .connectTimeout = error {
            self = .connectTimedOut(connectTimeout)
        } else {
            return nil
        }
    }
}
