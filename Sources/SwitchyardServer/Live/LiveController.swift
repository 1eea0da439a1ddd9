import Hummingbird
import NIOCore
import SwitchyardCore
import SwitchyardDelivery

/// `GET /api/live` and `POST /api/destinations/{name}/preview` (SPEC §6 "Live view").
struct LiveController: Sendable {
    let stream: LiveStream
    let delivery: DeliveryService
    let parser: IngestParser
    let clock: any WallClock
    /// The source previewed events are attributed to (the config's first), as if it had sent them.
    let previewSource: String

    func addRoutes(to group: RouterGroup<GatewayRequestContext>) {
        group.get("live") { request, _ in try stream.response(request) }
        group.post("destinations/:name/preview") { request, context in
            try await preview(request, name: try AdminPath.parameter("name", context.parameters))
        }
    }

    /// The body is one event (`{"type":"track",…}`) or a batch (`{"batch":[…]}`), validated and normalised
    /// as ingest would (a `receivedAt` in it is kept, so a stored message from the live view previews to
    /// the same request), then routed and encoded by the destination; nothing is sent or stored.
    func preview(_ request: Request, name: String) async throws -> Response {
        var request = request
        let body = Array(try await request.collectBody(upTo: parser.rules.maxRequestBytes).readableBytesView)
        let message: JSONValue
        do {
            message = try JSONValue.parse(body)
        } catch {
            throw GatewayError(.badRequest, code: "invalid_json", message: "the preview body is not JSON: \(error)")
        }
        let endpoint: IngestEndpoint
        if message["batch"] != nil {
            endpoint = .batch
        } else if let type = message["type"]?.stringValue.flatMap(EventType.init(rawValue:)) {
            endpoint = .single(type)
        } else {
            throw GatewayError(
                .badRequest, code: "invalid_event",
                message: "send one event with its \"type\" (track, page, screen, identify, group, alias) or {\"batch\":[…]}")
        }
        let receivedAt = message["receivedAt"]?.stringValue.flatMap(Timestamp.init(iso8601:)) ?? clock.now()
        let parsed: ParsedIngest
        do {
            parsed = try parser.parse(body, endpoint: endpoint, receivedAt: receivedAt, clientIP: nil)
        } catch {
            throw GatewayError.ingest(error)
        }
        if parsed.events.isEmpty {
            throw GatewayError(
                .badRequest, code: "invalid_batch", message: "no event of the batch is valid; see \"rejected\"",
                rejectedBody: IngestController.rejectedJSON(parsed.rejected))
        }
        var events = parsed.events
        for index in events.indices { events[index].source = previewSource }
        let result: DeliveryService.Preview
        do {
            result = try delivery.preview(events, to: name)
        } catch {
            let status: HTTPResponse.Status = error.code == "unknown_destination" ? .notFound : .badRequest
            throw GatewayError(status, code: error.code, message: error.message)
        }
        let value: JSONValue = .object(
            JSONObject([
                ("destination", .string(name)), ("routes", .array(result.routes)),
                ("requests", result.requests.map(JSONValue.array) ?? .null),
            ]))
        return Response.json(value.bytes)
    }
}
