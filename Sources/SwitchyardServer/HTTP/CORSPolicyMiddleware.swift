import HTTPTypes
import Hummingbird

/// CORS for the browser origins named in `server.cors_origins` (`"*"` allows any), on the paths browsers
/// of other sites are meant to call: ingest (`/v1/…`) and `/analytics.js`.
///
/// Every other path — the admin API, the UI, `/metrics` — gets no CORS header at all, whatever the
/// `Origin` (SPEC §6): a page of an allowed site must never read admin data with a visitor's credentials,
/// and an `OPTIONS` preflight there is not answered, so browsers refuse cross-site JSON writes.
///
/// Hummingbird's `CORSMiddleware` takes one origin; sites usually have several (www, app, staging), so this
/// checks the request's `Origin` against the list and echoes it back. Preflights from other origins get a
/// `204` without CORS headers, which the browser treats as a refusal.
struct CORSPolicyMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowAny: Bool
    let origins: Set<String>

    init(origins: [String]) {
        allowAny = origins.contains("*")
        self.origins = Set(origins.map { $0.lowercased() })
    }

    func allowed(_ origin: String) -> Bool {
        allowAny || origins.contains(origin.lowercased())
    }

    /// Whether `path` is one that sites' browsers call cross-origin.
    static func isPublic(_ path: String) -> Bool {
        path.hasPrefix("/v1/") || path == "/analytics.js"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let origin = request.headers[.origin], Self.isPublic(request.uri.path) else {
            return try await next(request, context)
        }
        let permitted = allowed(origin)
        if request.method == .options {
            var headers: HTTPFields = [:]
            if permitted {
                headers[.accessControlAllowOrigin] = origin
                headers[.accessControlAllowMethods] = "POST, GET, OPTIONS"
                headers[.accessControlAllowHeaders] =
                    request.headers[.accessControlRequestHeaders] ?? "Content-Type, Authorization, Content-Encoding"
                headers[.accessControlAllowCredentials] = "true"
                headers[.accessControlMaxAge] = "86400"
            }
            headers[.vary] = "Origin"
            return Response(status: .noContent, headers: headers)
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        if permitted {
            response.headers[.accessControlAllowOrigin] = origin
            response.headers[.accessControlAllowCredentials] = "true"
        }
        response.headers[.vary] = "Origin"
        return response
    }
}
