import AsyncHTTPClient
import CompressNIO
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardStore
import Testing

/// SPEC §2's bad inputs, each over real HTTP: the status, the error code, a message, and that nothing
/// was stored; then a valid event still goes through.
@Suite("Bad input over real HTTP", .timeLimit(.minutes(3)))
struct BadInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var path = "/v1/track"
        var method: HTTPMethod = .POST
        var body: [UInt8]
        var headers: [(String, String)] = []
        var auth: String? = TestGateway.writeKey
        var status: Int
        var code: String
        var testDescription: String { name }

        init(
            _ name: String, path: String = "/v1/track", method: HTTPMethod = .POST, _ body: String,
            headers: [(String, String)] = [], auth: String? = TestGateway.writeKey, status: Int, code: String
        ) {
            self.init(name, path: path, method: method, bytes: Array(body.utf8), headers: headers, auth: auth, status: status, code: code)
        }

        init(
            _ name: String, path: String = "/v1/track", method: HTTPMethod = .POST, bytes: [UInt8],
            headers: [(String, String)] = [], auth: String? = TestGateway.writeKey, status: Int, code: String
        ) {
            self.name = name
            self.path = path
            self.method = method
            self.body = bytes
            self.headers = headers
            self.auth = auth
            self.status = status
            self.code = code
        }
    }

    static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        var buffer = ByteBuffer(bytes: bytes)
        return Array((try! buffer.compress(with: .gzip())).readableBytesView)
    }

    static let event = #"{"userId":"u1","event":"e"}"#
    static let hugeProperties = String(repeating: "x", count: 33_000)

    static let cases: [Case] = [
        Case("invalid JSON", #"{"userId":"u1","event":"#, status: 400, code: "invalid_json"),
        Case("empty body", "", status: 400, code: "invalid_json"),
        Case("a JSON array on a single-event path", "[\(event)]", status: 400, code: "invalid_json"),
        Case("invalid UTF-8", bytes: [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D], status: 400, code: "invalid_json"),
        Case("nesting deeper than 64", "{\"userId\":\"u\",\"event\":\"e\",\"properties\":" + String(repeating: "[", count: 80) + String(repeating: "]", count: 80) + "}", status: 400, code: "invalid_json"),
        Case("neither userId nor anonymousId", #"{"event":"e"}"#, status: 400, code: "missing_id"),
        Case("only blocked id values", #"{"userId":"undefined","anonymousId":"00000000-0000-0000-0000-000000000000","event":"e"}"#, status: 400, code: "missing_id"),
        Case("track without event", #"{"userId":"u1"}"#, status: 400, code: "missing_event"),
        Case("alias without previousId", path: "/v1/alias", #"{"userId":"u1"}"#, status: 400, code: "missing_previous_id"),
        Case("group without groupId", path: "/v1/group", #"{"userId":"u1"}"#, status: 400, code: "missing_group_id"),
        Case("userId of the wrong type", #"{"userId":{"id":1},"event":"e"}"#, status: 400, code: "invalid_type"),
        Case("properties that are not an object", #"{"userId":"u1","event":"e","properties":[1,2]}"#, status: 400, code: "invalid_type"),
        Case("timestamp that is not ISO-8601", #"{"userId":"u1","event":"e","timestamp":"last tuesday"}"#, status: 400, code: "invalid_timestamp"),
        Case("sentAt as a number", #"{"userId":"u1","event":"e","sentAt":1732857925}"#, status: 400, code: "invalid_timestamp"),
        Case("messageId over 100 characters", "{\"userId\":\"u1\",\"event\":\"e\",\"messageId\":\"\(String(repeating: "m", count: 101))\"}", status: 400, code: "invalid_message_id"),
        Case("no write key", event, auth: nil, status: 401, code: "unauthorized"),
        Case("unknown write key in the header", event, auth: "nope", status: 401, code: "unauthorized"),
        Case("unknown write key in the body", #"{"writeKey":"nope","userId":"u1","event":"e"}"#, auth: nil, status: 401, code: "unauthorized"),
        Case("malformed Authorization header", event, headers: [("Authorization", "Basic !!!")], auth: nil, status: 401, code: "unauthorized"),
        Case("a single event over 32 KB", "{\"userId\":\"u1\",\"event\":\"e\",\"properties\":{\"p\":\"\(hugeProperties)\"}}", status: 413, code: "event_too_large"),
        Case("a body over 500 KB", path: "/v1/batch", "{\"batch\":[" + Array(repeating: "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"\(String(repeating: "e", count: 1000))\"}", count: 600).joined(separator: ",") + "]}", status: 413, code: "request_too_large"),
        Case("a gzip bomb", path: "/v1/batch", bytes: gzip(Array(("{\"batch\":[], \"pad\":\"" + String(repeating: "0", count: 5_000_000) + "\"}").utf8)), headers: [("Content-Encoding", "gzip")], status: 413, code: "request_too_large"),
        Case("more than 2,500 events in a batch", path: "/v1/batch", "{\"batch\":[" + Array(repeating: "{\"type\":\"page\",\"anonymousId\":\"a\"}", count: 2501).joined(separator: ",") + "]}", status: 413, code: "too_many_events"),
        Case("a batch whose every event is invalid", path: "/v1/batch", #"{"batch":[{"type":"track","userId":"u"},{"type":"page"}]}"#, status: 400, code: "invalid_batch"),
        Case("batch that is not an array", path: "/v1/batch", #"{"batch":{"type":"track"}}"#, status: 400, code: "invalid_batch"),
        Case("an empty batch", path: "/v1/batch", #"{"batch":[]}"#, status: 400, code: "empty_batch"),
        Case("corrupt gzip", bytes: [0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03, 0xFF, 0xFF, 0xFF, 0xFF], headers: [("Content-Encoding", "gzip")], status: 400, code: "invalid_gzip"),
        Case("gzip that is not gzip", event, headers: [("Content-Encoding", "gzip")], status: 400, code: "invalid_gzip"),
        // zlib reports a cut-off stream as output so far, so the cut shows up as incomplete JSON.
        Case("truncated gzip", bytes: Array(gzip(Array(event.utf8)).prefix(15)), headers: [("Content-Encoding", "gzip")], status: 400, code: "invalid_json"),
        Case("an unsupported Content-Encoding", event, headers: [("Content-Encoding", "br")], status: 415, code: "unsupported_encoding"),
        // Issue 11's reproductions: each once trapped, spun or was stored in a form readers disagree on.
        Case("a \\u escape cut off at the end", #"{"a":"\u"#, status: 400, code: "invalid_json"),
        Case("a year-0 timestamp", #"{"userId":"u1","event":"e","timestamp":"0000-01-01T00:00:00+01:00"}"#, status: 400, code: "invalid_timestamp"),
        Case("a year-0 timestamp with an unknown write key", #"{"writeKey":"nope","userId":"u1","event":"e","timestamp":"0000-01-01T00:00:00+01:00"}"#, auth: nil, status: 401, code: "unauthorized"),
        Case("a sentAt in year 9999", #"{"userId":"u1","event":"e","timestamp":"2026-11-29T00:00:00Z","sentAt":"9999-12-31T23:59:59Z"}"#, status: 400, code: "invalid_timestamp"),
        Case("a duplicate key", #"{"userId":"u1","event":"e","event":"f"}"#, status: 400, code: "duplicate_key"),
        Case("a key that repeats another once decoded", #"{"userId":"u1","user\u0049d":"u2","event":"e"}"#, status: 400, code: "duplicate_key"),
        Case("a lone surrogate in userId", #"{"userId":"u\ud800","event":"e"}"#, status: 400, code: "invalid_unicode"),
        Case("a number no double holds", #"{"userId":"u1","event":"e","properties":{"n":1e400}}"#, status: 400, code: "invalid_number"),
        Case("a batch context larger than an event", path: "/v1/batch", "{\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\"}],\"context\":{\"p\":\"\(hugeProperties)\"}}", status: 413, code: "event_too_large"),
        Case("a gzip body of 600 KB", path: "/v1/batch", bytes: gzip(Array(("{\"batch\":[], \"pad\":\"" + String(repeating: "0", count: 600_000) + "\"}").utf8)), headers: [("Content-Encoding", "gzip")], status: 413, code: "request_too_large"),
        Case("an unknown path", path: "/v1/nope", event, status: 404, code: "not_found"),
        Case("the wrong method", method: .GET, "", status: 405, code: "method_not_allowed"),
    ]

    @Test(arguments: cases)
    func isRefusedWithAClearErrorAndNothingStored(_ badCase: Case) async throws {
        try await TestGateway.with { (gateway) async throws in
            let before = try await gateway.store.eventCount()
            let response = try await gateway.send(
                badCase.path, method: badCase.method, body: badCase.body, headers: badCase.headers, auth: badCase.auth)
            #expect(response.status == badCase.status, "\(response.text)")
            #expect(response.errorCode == badCase.code, "\(response.text)")
            #expect(response.json?["success"] == false)
            #expect((response.json?["message"]?.stringValue ?? "").count > 10, "a human message explains the error")
            #expect(try await gateway.store.eventCount() == before)

            let good = try await gateway.post("/v1/track", #"{"userId":"u1","event":"After","messageId":"after-1"}"#)
            #expect(good.status == 200)
            #expect(try await gateway.storedEvents().map(\.event.messageId) == ["after-1"])
        }
    }
}
