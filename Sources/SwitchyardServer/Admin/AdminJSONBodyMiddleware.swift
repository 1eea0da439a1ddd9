import Foundation
import HTTPTypes
import Hummingbird

/// Requests under `/api` that change state must say `Content-Type: application/json` (SPEC §6), else
/// `415 unsupported_media_type`.
///
/// The threat is cross-site request forgery with a "simple" request: a page on another site can make a
/// browser POST `text/plain`, form-encoded or multipart bodies anywhere without asking first, but a JSON
/// content type makes the browser ask with a CORS preflight, which `/api` never grants. (The API also
/// accepts only the bearer header, never the UI's cookie; this is the second lock.)
///
/// A `DELETE` with no body may omit the header: browsers cannot send a cross-site `DELETE` without that
/// same preflight, and `curl -X DELETE` sends no content type. A `DELETE` with a body is held to the rule.
struct AdminJSONBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        switch request.method {
        case .post, .put, .patch:
            try Self.requireJSON(request)
        case .delete where Self.hasBody(request):
            try Self.requireJSON(request)
        default:
            break
        }
        return try await next(request, context)
    }

    static func hasBody(_ request: Request) -> Bool {
        if request.headers[.transferEncoding] != nil { return true }
        guard let length = request.headers[.contentLength] else { return false }
        return length.trimmingCharacters(in: .whitespaces) != "0"
    }

    static func requireJSON(_ request: Request) throws {
        let mediaType = request.headers[.contentType]?.split(separator: ";", maxSplits: 1).first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/json" else {
            throw GatewayError(
                .unsupportedMediaType, code: "unsupported_media_type",
                message: "admin API requests that change state need Content-Type: application/json (a body of {} will do)")
        }
    }
}

/// Path parameters as the client meant them (SPEC §6): the router hands segments over still
/// percent-encoded, so `/api/people/alice%40example.com` names `alice@example.com`.
enum AdminPath {
    /// The percent-decoded path parameter `name`; `400 invalid_path` when its encoding is malformed.
    static func parameter(_ name: String, _ parameters: Parameters) throws -> String {
        let raw = try parameters.require(name)
        guard let decoded = decode(raw) else {
            throw GatewayError(
                .badRequest, code: "invalid_path",
                message: "the \(name) in the path is not valid percent-encoded UTF-8; write % as %25")
        }
        return decoded
    }

    /// Decodes `%XX` escapes once (`%2540` is `%40`); nil for a `%` without two hex digits or bytes that are
    /// not UTF-8. `+` stays a plus: only query strings use it for a space.
    static func decode(_ segment: String) -> String? {
        guard segment.utf8.contains(UInt8(ascii: "%")) else { return segment }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(segment.utf8.count)
        var iterator = segment.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
