import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// The one outbound HTTP client every HTTP destination shares: pooled connections, a timeout per request,
/// redirects never followed (a webhook receiver moving is an answer to surface, not to chase).
public final class HTTPSender: Sendable {
    let client: HTTPClient

    public init() {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool = .init(idleTimeout: .seconds(60))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Sends `request`. Throws only when no answer arrived (connection refused, timeout, TLS…).
    public func send(_ request: OutgoingRequest, timeout: Duration) async throws -> HTTPResult {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
        outgoing.body = .bytes(ByteBuffer(bytes: request.body))
        let response = try await client.execute(outgoing, timeout: .nanoseconds(timeout.wholeNanoseconds))
        // Answers are read for classification only; a huge one is cut rather than held in memory.
        var body: [UInt8] = []
        for try await chunk in response.body {
            if body.count < 1_000_000 { body += chunk.readableBytesView.prefix(1_000_000 - body.count) }
        }
        return HTTPResult(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: body)
    }

    public func shutdown() async {
        try? await client.shutdown()  // already shut down is fine
    }
}

