import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore
import SwitchyardDelivery
import SwitchyardStore

/// `/api/destinations…`: status, dead letters, replay, re-enable (SPEC §6).
struct AdminDestinationsController: Sendable {
    let delivery: DeliveryService

    func addRoutes(to group: RouterGroup<GatewayRequestContext>) {
        group.get("destinations") { _, _ in try await list() }
        group.get("destinations/:name/dead-letters") { request, context in
            try await deadLetters(request, name: try AdminPath.parameter("name", context.parameters))
        }
        group.post("destinations/:name/replay") { request, context in
            try await replay(request, name: try AdminPath.parameter("name", context.parameters))
        }
        group.post("destinations/:name/enable") { _, context in
            let name = try AdminPath.parameter("name", context.parameters)
            try known(name)
            try await storeCall { try await delivery.enable(name) }
            return Response.json(Array(#"{"enabled":true}"#.utf8))
        }
    }

    func list() async throws -> Response {
        let statuses = try await storeCall { try await delivery.statuses() }
        let value: JSONValue = [
            "destinations": .array(statuses.map { status in
                [
                    "name": .string(status.name), "type": .string(status.type), "state": .string(status.state.rawValue),
                    "delivered": .number(String(status.delivered)), "failed": .number(String(status.failed)),
                    "retrying": .number(String(status.retrying)), "held": .number(String(status.held)),
                    "dropped": .number(String(status.dropped)), "hold_expired": .number(String(status.holdExpired)),
                    "dead_lettered": .number(String(status.deadLettered)),
                    "lag_events": .number(String(status.lagEvents)),
                    "lag_seconds": .number(String(format: "%.3f", status.lagSeconds)),
                    "last_error": status.lastError.map(JSONValue.string) ?? .null,
                    "delivered_by": status.deliveredBy.map(JSONValue.string) ?? .null,
                ]
            })
        ]
        return Response.json(value.bytes)
    }

    func deadLetters(_ request: Request, name: String) async throws -> Response {
        try known(name)
        let limit = min(max(request.uri.queryParameters.get("limit", as: Int.self) ?? 50, 1), 1000)
        let after = request.uri.queryParameters.get("cursor", as: Int64.self) ?? 0
        let (page, nextCursor) = try await deadLetterPage(of: name, after: after, limit: limit)
        let items: [JSONValue] = page.map { letter in
            [
                "id": .number(String(letter.id)), "messageId": .string(letter.event.event.messageId),
                "event": (try? JSONValue.parse(letter.event.event.body)) ?? .null,  // stored bodies are JSON; a damaged one shows as null
                "attempts": .number(String(letter.attempts)),
                "last_status": letter.lastStatus.map { .number(String($0)) } ?? .null,
                "last_error": .string(letter.lastError), "failed_at": .string(letter.failedAt.iso8601),
            ]
        }
        let next: JSONValue = nextCursor.map { .string(String($0)) } ?? .null
        return Response.json(JSONValue.object(JSONObject([("dead_letters", .array(items)), ("next_cursor", next)])).bytes)
    }

    /// Up to `limit` dead letters of `name` after the id `after`, oldest first, and the cursor of the next
    /// page (the last id shown) when there are more.
    func deadLetterPage(of name: String, after: Int64, limit: Int) async throws
        -> (letters: [DeadLetter], next: Int64?)
    {
        // One more than asked tells whether another page exists without counting.
        let letters = try await storeCall {
            try await delivery.store.deadLetters(of: name, after: after, limit: limit + 1)
        }
        let page = Array(letters.prefix(limit))
        return (page, letters.count > limit ? page.last?.id : nil)
    }

    func replay(_ request: Request, name: String) async throws -> Response {
        try known(name)
        var request = request
        let body = try await request.collectBody(upTo: 1_000_000)
        let json: JSONValue
        if body.readableBytes == 0 {
            json = [:]
        } else {
            do {
                json = try JSONValue.parse(body.readableBytesView)
            } catch {
                throw GatewayError(.badRequest, code: "invalid_json", message: "the replay body is not JSON: \(error)")
            }
        }
        let replayRequest: DeliveryService.ReplayRequest
        if let from = json["from"], let to = json["to"] {
            guard let fromText = from.stringValue, let start = Timestamp(iso8601: fromText), let toText = to.stringValue,
                let end = Timestamp(iso8601: toText), start <= end
            else {
                throw GatewayError(
                    .badRequest, code: "invalid_range", message: "from and to must be ISO-8601 times with from <= to")
            }
            replayRequest = .range(from: start, to: end)
        } else if let ids = json["ids"] {
            replayRequest = .deadLetters(ids: try Self.deadLetterIds(ids))
        } else if json.objectValue != nil, json["dead_letters"] == nil || json["dead_letters"] == true {
            replayRequest = .deadLetters(ids: nil)
        } else {
            throw GatewayError(
                .badRequest, code: "invalid_replay",
                message: "send {} or {\"dead_letters\":true}, {\"ids\":[...]}, or {\"from\":ISO,\"to\":ISO}")
        }
        let count = try await storeCall { try await delivery.replay(replayRequest, to: name) }
        return Response.json(Array("{\"replayed\":\(count)}".utf8))
    }

    /// The `ids` of a replay body: an array of whole numbers that fit a dead letter id (1 to 2^63 − 1).
    /// `1e300`, `1.5`, `-1` or a string is `400 invalid_ids`, never a trapping conversion.
    static func deadLetterIds(_ value: JSONValue) throws -> [Int64] {
        guard let list = value.arrayValue else {
            throw GatewayError(.badRequest, code: "invalid_ids", message: "ids must be an array of dead letter ids")
        }
        // One statement per request stays small; more ids take more requests (or `{}` for all of them).
        guard list.count <= maxReplayIds else {
            throw GatewayError(
                .badRequest, code: "invalid_ids",
                message: "at most \(maxReplayIds) ids per request; send the rest in further requests, or {} to replay all")
        }
        return try list.enumerated().map { index, item in
            guard let id = deadLetterId(item) else {
                throw GatewayError(
                    .badRequest, code: "invalid_ids",
                    message: "ids[\(index)] is not a dead letter id: ids are whole numbers from 1 to 9223372036854775807")
            }
            return id
        }
    }

    static let maxReplayIds = 10_000

    static func deadLetterId(_ value: JSONValue) -> Int64? {
        guard case .number(let text) = value else { return nil }
        // Plain digits are the usual form; `Int64(_:)` of text returns nil out of range, never traps.
        if let exact = Int64(text) { return exact > 0 ? exact : nil }
        // `1e3` or `2.0` still name a whole number; `Int64(exactly:)` is nil for fractions, 1e300 and inf.
        guard let double = Double(text), double.isFinite, let whole = Int64(exactly: double), whole > 0 else {
            return nil
        }
        return whole
    }

    func known(_ name: String) throws {
        guard delivery.isConfigured(name) else {
            throw GatewayError(.notFound, code: "unknown_destination", message: "no destination named \(name) in the config")
        }
    }
}
