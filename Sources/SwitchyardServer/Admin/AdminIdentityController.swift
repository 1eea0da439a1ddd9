import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore
import SwitchyardStore

/// The activity log and people (SPEC §6): `/api/activity`, `/api/people/{userId}…`,
/// `/api/anonymous/{anonymousId}/activity`.
struct AdminIdentityController: Sendable {
    let store: any EventStore
    let clock: any WallClock

    func addRoutes(to group: RouterGroup<GatewayRequestContext>) {
        group.get("activity") { request, _ in
            let scope: ActivityScope
            switch request.uri.queryParameters.get("tab") ?? "identified" {
            case "identified": scope = .identified
            case "anonymous": scope = .anonymous
            default:
                throw GatewayError(.badRequest, code: "invalid_tab", message: "tab must be identified or anonymous")
            }
            return try await page(scope, request)
        }
        group.get("people/:userId") { _, context in
            let userId = try AdminPath.parameter("userId", context.parameters)
            guard let person = try await storeCall({ try await store.person(userId) }) else {
                throw GatewayError(.notFound, code: "unknown_person", message: "no person with this user id")
            }
            return Response.json(Self.json(person).bytes)
        }
        group.get("people/:userId/activity") { request, context in
            try await page(.person(userId: try AdminPath.parameter("userId", context.parameters)), request)
        }
        group.get("anonymous/:anonymousId/activity") { request, context in
            try await page(.anonymousId(try AdminPath.parameter("anonymousId", context.parameters)), request)
        }
        group.delete("people/:userId") { _, context in
            let userId = try AdminPath.parameter("userId", context.parameters)
            let deleted = try await erase(userId)
            let body: JSONValue = [
                "erased": .bool(deleted != nil), "events_deleted": .number(String(deleted ?? 0)), "suppressed": true,
            ]
            return Response.json(body.bytes)
        }
        group.post("people/:userId/unsuppress") { _, context in
            let userId = try AdminPath.parameter("userId", context.parameters)
            let lifted = try await storeCall { try await store.unsuppress(userId) }
            return Response.json(JSONValue.object(JSONObject([("unsuppressed", .bool(lifted))])).bytes)
        }
    }

    /// Erases the person and suppresses the user id (SPEC §3); the API's `DELETE` and the UI's erase form.
    /// Returns the events deleted, or nil when the user id was unknown (it is suppressed anyway).
    func erase(_ userId: String) async throws -> Int? {
        try await storeCall { try await store.erase(userId, at: clock.now()) }
    }

    /// The `cursor` query parameter: absent or empty for the newest page, else an earlier `next_cursor`.
    static func cursor(_ request: Request) throws -> ActivityCursor? {
        guard let text = request.uri.queryParameters.get("cursor"), !text.isEmpty else { return nil }
        guard let cursor = ActivityCursor(text) else {
            throw GatewayError(
                .badRequest, code: "invalid_cursor", message: "cursor must be a next_cursor value from an earlier page")
        }
        return cursor
    }

    func page(_ scope: ActivityScope, _ request: Request) async throws -> Response {
        let limit = min(max(request.uri.queryParameters.get("limit", as: Int.self) ?? 50, 1), 500)
        let cursor = try Self.cursor(request)
        let page = try await storeCall { try await store.activity(scope, before: cursor, limit: limit) }
        let body = JSONValue.object(
            JSONObject([
                ("entries", .array(page.items.map(Self.json))),
                ("next_cursor", page.nextCursor.map { .string($0.description) } ?? .null),
            ]))
        return Response.json(body.bytes)
    }

    static func json(_ item: ActivityItem) -> JSONValue {
        switch item {
        case .event(let stored):
            let event = stored.event
            var object = JSONObject([
                ("kind", "event"), ("at", .string(event.receivedAt.iso8601)), ("type", .string(event.type.rawValue)),
                ("messageId", .string(event.messageId)), ("source", .string(event.source)),
                ("userId", event.userId.map(JSONValue.string) ?? .null),
                ("anonymousId", event.anonymousId.map(JSONValue.string) ?? .null),
                ("resolvedUserId", stored.resolvedUserId.map(JSONValue.string) ?? .null),
                ("timestamp", .string(event.timestamp.iso8601)), ("receivedAt", .string(event.receivedAt.iso8601)),
                ("wasAnonymous", .bool(stored.wasAnonymous)),
            ])
            switch event.type {
            case .track: object["event"] = event.eventName.map(JSONValue.string) ?? .null
            case .page, .screen: object["name"] = event.eventName.map(JSONValue.string) ?? .null
            default: break
            }
            return .object(object)
        case .entry(let entry):
            var object = JSONObject([
                ("kind", .string(entry.kind.rawValue)), ("at", .string(entry.at.iso8601)),
                ("anonymousId", entry.anonymousId.map(JSONValue.string) ?? .null),
                ("userId", entry.userId.map(JSONValue.string) ?? .null),
                ("messageId", entry.messageId.map(JSONValue.string) ?? .null),
            ])
            switch entry.kind {
            case .anonymousMerge: object["eventsMerged"] = .number(String(entry.eventsMerged))
            case .personMerge:
                object["mergedUserId"] = entry.mergedUserId.map(JSONValue.string) ?? .null
                object["eventsMerged"] = .number(String(entry.eventsMerged))
            case .mergeRefused:
                object["reason"] = entry.reason.map { .string($0.rawValue) } ?? .null
                object["explanation"] = entry.reason.map { .string($0.explanation) } ?? .null
                if let merged = entry.mergedUserId { object["mergedUserId"] = .string(merged) }
            case .erasure: object["eventsDeleted"] = .number(String(entry.eventsMerged))
            }
            return .object(object)
        }
    }

    static func json(_ person: Person) -> JSONValue {
        .object(
            JSONObject([
                ("userId", .string(person.userId)), ("anonymousIds", .array(person.anonymousIds.map(JSONValue.string))),
                ("traits", .object(person.traits)), ("firstSeen", .string(person.firstSeen.iso8601)),
                ("lastSeen", .string(person.lastSeen.iso8601)),
            ]))
    }
}
