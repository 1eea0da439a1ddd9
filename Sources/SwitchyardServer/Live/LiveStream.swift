import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// `GET /api/live` (SPEC §6 "Live view"): the hub's items as Server-Sent Events, one `id:`, `event:` and
/// `data:` (one JSON object) per item, filtered by the query.
///
/// The stream is the subscriber's own bounded buffer drained into the connection: a client that stops
/// reading only stalls its own writes, and what it misses arrives as a `gap` item. A comment line every
/// ``keepAlive`` keeps proxies from closing a quiet stream and notices a client that went away.
struct LiveStream: Sendable {
    let hub: LiveHub
    static let keepAlive: Duration = .seconds(15)
    /// Longest filter value accepted; a glob is matched against every event name, so it stays short.
    static let maxFilterLength = 512

    /// The filters of the query, checked: an unknown `type` or an over-long value is `400 invalid_filter`.
    static func filter(_ request: Request) throws -> LiveFilter {
        let query = request.uri.queryParameters
        func value(_ name: String) throws -> String? {
            guard let raw = query[name[...]] else { return nil }
            let text = String(raw)
            guard text.utf8.count <= maxFilterLength else {
                throw GatewayError(
                    .badRequest, code: "invalid_filter", message: "\(name) is longer than \(maxFilterLength) bytes")
            }
            return text.isEmpty ? nil : text
        }
        var filter = LiveFilter(
            source: try value("source"), destination: try value("destination"), event: try value("event").map(Glob.init),
            user: try value("user"))
        if let type = try value("type") {
            guard let parsed = EventType(rawValue: type) else {
                throw GatewayError(
                    .badRequest, code: "invalid_filter",
                    message: "type must be one of " + EventType.allCases.map(\.rawValue).joined(separator: ", "))
            }
            filter.type = parsed
        }
        return filter
    }

    /// The id to resume after: the `Last-Event-ID` header (browsers send it when they reconnect) or the
    /// `last_event_id` query parameter (a first connection cannot set headers). Anything but plain digits
    /// that fit 64 bits is ignored — the stream then starts with new items — never trapped on.
    static func lastEventId(_ request: Request) -> UInt64? {
        let header = request.headers[HTTPField.Name("Last-Event-ID")!]  // a valid field name literal
        let text = header ?? request.uri.queryParameters["last_event_id"].map(String.init)
        guard let text, !text.isEmpty, text.utf8.count <= 20, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            return nil
        }
        return UInt64(text)  // nil past 2^64 − 1, never a trap
    }

    func response(_ request: Request) throws -> Response {
        let filter = try Self.filter(request)
        let subscription = hub.subscribe(filter: filter, lastEventId: Self.lastEventId(request))
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache",
            HTTPField.Name("X-Accel-Buffering")!: "no",  // a valid field name literal
        ]
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer { subscription.cancel() }
                // Sent at once so the client sees the stream open; `retry:` paces browser reconnects.
                try await writer.write(ByteBuffer(string: ": switchyard live view\nretry: 2000\n\n"))
                loop: while true {
                    switch await subscription.next(waitingAtMost: Self.keepAlive) {
                    case .item(let item):
                        try await writer.write(ByteBuffer(bytes: Self.message(item)))
                    case .idle:
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    case .finished:
                        break loop
                    }
                }
                try await writer.finish(nil)
            })
    }

    /// One SSE message. JSON has no line breaks outside strings except whitespace between tokens (a
    /// stored message keeps the sender's formatting inside objects), so each line becomes its own
    /// `data:` line, which clients join with a newline: still the same JSON.
    static func message(_ item: LiveItem) -> [UInt8] {
        let data = item.data  // made here for a deferred item
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 64)
        out += Array("id: \(item.id)\nevent: \(item.kind.rawValue)\n".utf8)
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            out += Array("data: ".utf8)
            out += line.filter { $0 != UInt8(ascii: "\r") }
            out.append(UInt8(ascii: "\n"))
        }
        out.append(UInt8(ascii: "\n"))
        return out
    }
}
