import CompressNIO
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import SwitchyardCore
import SwitchyardStore

/// The Segment-compatible ingest API (SPEC §2): `/v1/{track,page,screen,identify,group,alias,batch}` and
/// the one-letter forms. A `200` is sent only after the events are committed and synced.
struct IngestController: Sendable {
    let parser: IngestParser
    let sources: IngestSources
    let committer: GroupCommitter
    let clock: any WallClock
    let shutdownGate: ShutdownGate
    let metrics: GatewayMetrics

    /// Long and one-letter paths for each endpoint.
    static let paths: [(path: String, endpoint: IngestEndpoint, label: String)] = {
        var paths: [(String, IngestEndpoint, String)] = []
        let letters: [EventType: String] = [.track: "t", .page: "p", .screen: "s", .identify: "i", .group: "g", .alias: "a"]
        for type in EventType.allCases {
            paths.append(("/v1/\(type.rawValue)", .single(type), type.rawValue))
            paths.append(("/v1/\(letters[type]!)", .single(type), type.rawValue))  // every case has a letter
        }
        paths.append(("/v1/batch", .batch, "batch"))
        paths.append(("/v1/b", .batch, "batch"))
        return paths
    }()

    func addRoutes(to router: Router<GatewayRequestContext>) {
        for route in Self.paths {
            router.post(RouterPath(route.path)) { request, context in
                try await ingest(request, context: context, endpoint: route.endpoint, label: route.label)
            }
            for method in [HTTPRequest.Method.get, .put, .patch, .delete, .head] {
                router.on(RouterPath(route.path), method: method) { _, _ -> Response in
                    throw GatewayError(
                        .methodNotAllowed, code: "method_not_allowed", message: "use POST to send events",
                        headers: [.allow: "POST, OPTIONS"])
                }
            }
        }
    }

    func ingest(_ request: Request, context: GatewayRequestContext, endpoint: IngestEndpoint, label: String)
        async throws -> Response
    {
        let started = ContinuousClock.now
        var sourceName = "unknown"
        do {
            let response = try await handle(request, context: context, endpoint: endpoint, sourceName: &sourceName)
            metrics.request(source: sourceName, endpoint: label, status: 200, started: started)
            return response
        } catch {
            metrics.request(source: sourceName, endpoint: label, status: Int(error.status.code), started: started)
            throw error
        }
    }

    func handle(
        _ request: Request, context: GatewayRequestContext, endpoint: IngestEndpoint, sourceName: inout String
    ) async throws(GatewayError) -> Response {
        guard shutdownGate.isOpen else { throw GatewayError.shuttingDown }

        // A key in the header is checked before the body is read, so unknown senders cost nothing.
        var source: IngestSources.Source?
        if let header = request.headers[.authorization] {
            guard
                let found = sources.source(basicHeader: header)
                    ?? Self.basicUsername(header).flatMap({ sources.source(writeKey: $0) })
            else {
                throw GatewayError.unauthorized
            }
            source = found
            sourceName = found.name
        }

        let body = try await readBody(request)
        let receivedAt = clock.now()
        // Validate and find the write key first; normalising (and its allocations) waits for a known source.
        let scanned: IngestBody
        do {
            scanned = try parser.scan(body)
        } catch {
            metrics.rejected(source: sourceName, code: error.code.rawValue, count: 1)
            throw GatewayError.ingest(error)
        }
        if source == nil {
            guard let key = scanned.writeKey, let found = sources.source(writeKey: key) else {
                throw GatewayError.unauthorized
            }
            source = found
            sourceName = found.name
        }
        guard let source else { throw GatewayError.unauthorized }

        let parsed: ParsedIngest
        do {
            parsed = try parser.parse(
                scanned, endpoint: endpoint, receivedAt: receivedAt, clientIP: context.remoteAddress?.ipAddress)
        } catch {
            metrics.rejected(source: sourceName, code: error.code.rawValue, count: 1)
            throw GatewayError.ingest(error)
        }

        for (_, rejection) in parsed.rejected {
            metrics.rejected(source: source.name, code: rejection.code.rawValue, count: 1)
        }
        if parsed.events.isEmpty {
            throw GatewayError(
                .badRequest, code: "invalid_batch", message: "no event of the batch is valid; see \"rejected\"",
                rejectedBody: Self.rejectedJSON(parsed.rejected))
        }
        if let wait = sources.admit(source, count: parsed.events.count) {
            throw GatewayError.tooManyRequests(
                "source \(source.name) is over its rate limit", retryAfterSeconds: Int(wait.components.seconds) + 1)
        }

        var events = parsed.events
        for index in events.indices { events[index].source = source.name }
        let results: [AppendResult]
        do {
            results = try await committer.append(events)
        } catch {
            switch error {
            case .backpressure(let reason):
                metrics.backpressure(source: source.name)
                throw GatewayError.tooManyRequests("the gateway is busy: \(reason)", retryAfterSeconds: 1)
            case .shuttingDown:
                throw GatewayError.shuttingDown
            case .storage(let storeError):
                throw GatewayError(
                    .serviceUnavailable, code: storeError.code.rawValue,
                    message: "the events could not be stored; nothing was kept, retry later",
                    headers: [.retryAfter: "5"])
            }
        }
        metrics.stored(events, results: results)

        if parsed.rejected.isEmpty {
            return Response(status: .ok, headers: Self.jsonHeaders, body: ResponseBody(byteBuffer: Self.success))
        }
        var writer = JSONWriter()
        // `success` is true whenever the status is 200: the valid events are stored (SPEC §2).
        writer.raw("{\"success\":true,\"message\":")
        writer.string("\(parsed.rejected.count) of \(parsed.rejected.count + events.count) events were rejected; the others were stored")
        writer.raw(",\"stored\":")
        writer.integer(events.count)
        writer.raw(",\"rejected\":")
        writer.raw(Self.rejectedJSON(parsed.rejected))
        writer.raw("}")
        return Response.json(writer.bytes)
    }

    /// The answer to nearly every request, made once.
    static let success = ByteBuffer(string: #"{"success":true}"#)
    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    /// Collects the body within `server.limits.max_request_size`, decompressing gzip; the limit applies to
    /// the decompressed size, so a gzip bomb is refused after `max_request_size` bytes of output.
    func readBody(_ request: Request) async throws(GatewayError) -> [UInt8] {
        let limit = parser.rules.maxRequestBytes
        let tooLarge = GatewayError(
            .contentTooLarge, code: "request_too_large",
            message: "the request body is larger than \(limit) bytes (server.limits.max_request_size)")
        var buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        } catch {
            throw GatewayError(.badRequest, code: "invalid_body", message: "the request body could not be read")
        }
        if let encoding = request.headers[.contentEncoding]?.lowercased(), encoding != "identity" {
            guard encoding == "gzip" || encoding == "x-gzip" || encoding == "deflate" else {
                throw GatewayError(
                    .unsupportedMediaType, code: "unsupported_encoding",
                    message: "Content-Encoding \(encoding) is not supported; send gzip or no encoding")
            }
            do {
                buffer = try buffer.decompress(with: encoding == "deflate" ? .zlib() : .gzip(), maxSize: limit)
            } catch let error as CompressNIOError where error == .bufferOverflow {
                throw tooLarge
            } catch {
                throw GatewayError(
                    .badRequest, code: "invalid_gzip", message: "the body is not valid \(encoding) data")
            }
        }
        // The decompressor's limit is on its output buffer, which it may round up; the rule is on the bytes.
        guard buffer.readableBytes <= limit else { throw tooLarge }
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    /// The username of an HTTP Basic `Authorization` header (the write key; the password is empty).
    static func basicUsername(_ header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
            let text = String(data: data, encoding: .utf8)
        else { return nil }
        let key = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
        return key?.isEmpty == false ? key : nil
    }

    static func rejectedJSON(_ rejected: [(index: Int, rejection: IngestRejection)]) -> [UInt8] {
        var writer = JSONWriter()
        writer.raw("[")
        for (position, item) in rejected.enumerated() {
            if position > 0 { writer.comma() }
            writer.raw("{\"index\":")
            writer.integer(item.index)
            writer.raw(",\"error\":")
            writer.string(item.rejection.code.rawValue)
            writer.raw(",\"message\":")
            writer.string(item.rejection.message)
            writer.raw("}")
        }
        writer.raw("]")
        return writer.bytes
    }
}
