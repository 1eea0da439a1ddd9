import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore
import SwitchyardStore

/// An error answered as SPEC §2's JSON body: `{"success":false,"error":CODE,"message":...}`.
///
/// `code` is stable snake_case (also a metric label); `message` says how to fix the cause and never
/// contains payload values or secrets.
public struct GatewayError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var headers: HTTPFields
    /// A JSON array listing refused batch elements, for `400 invalid_batch`.
    var rejectedBody: [UInt8]?

    public init(
        _ status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:],
        rejectedBody: [UInt8]? = nil
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.rejectedBody = rejectedBody
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var writer = JSONWriter()
        writer.raw("{\"success\":false,\"error\":")
        writer.string(code)
        writer.raw(",\"message\":")
        writer.string(message)
        if let rejectedBody {
            writer.raw(",\"rejected\":")
            writer.raw(rejectedBody)
        }
        writer.raw("}")
        return Response.json(writer.bytes, status: status, headers: headers)
    }

    static func ingest(_ rejection: IngestRejection) -> GatewayError {
        GatewayError(
            rejection.isSizeLimit ? .contentTooLarge : .badRequest, code: rejection.code.rawValue,
            message: rejection.message)
    }

    static func tooManyRequests(_ message: String, retryAfterSeconds: Int) -> GatewayError {
        GatewayError(
            .tooManyRequests, code: "rate_limited", message: message,
            headers: [.retryAfter: String(retryAfterSeconds)])
    }

    static let unauthorized = GatewayError(
        .unauthorized, code: "unauthorized",
        message: "missing or unknown write key; send it as the HTTP Basic username or as \"writeKey\" in the body",
        headers: [.wwwAuthenticate: "Basic realm=\"switchyard\""])

    static let shuttingDown = GatewayError(
        .serviceUnavailable, code: "shutting_down", message: "the gateway is shutting down; retry on another node or later",
        headers: [.retryAfter: "5", .connection: "close"])
}

extension Response {
    /// A JSON response from bytes already encoded.
    static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Runs a store call for a route, answering a storage failure as `503` with the store's error code.
func storeCall<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as StoreError {
        throw GatewayError(.serviceUnavailable, code: error.code.rawValue, message: error.message, headers: [.retryAfter: "5"])
    }
}
