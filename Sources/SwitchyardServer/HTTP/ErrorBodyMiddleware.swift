import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Turns every error that reaches the edge into SPEC §2's JSON body, so no client ever sees an empty
/// or HTML error: unknown paths become `404 not_found`, unexpected failures `500 internal_error`
/// (logged, with no payload in the message).
struct ErrorBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as GatewayError {
            throw error
        } catch let error as HTTPError {
            let code: String
            switch error.status {
            case .notFound: code = "not_found"
            case .methodNotAllowed: code = "method_not_allowed"
            case .contentTooLarge: code = "request_too_large"
            case .unauthorized: code = "unauthorized"
            case .badRequest: code = "bad_request"
            default: code = "http_\(error.status.code)"
            }
            let message =
                error.status == .notFound
                ? "no route for \(request.method) \(request.uri.path)" : (error.body ?? error.status.reasonPhrase)
            throw GatewayError(error.status, code: code, message: message, headers: error.headers)
        } catch is NIOTooManyBytesError {
            throw GatewayError(.contentTooLarge, code: "request_too_large", message: "the request body is too large")
        } catch {
            context.logger.error("request failed", metadata: ["switchyard.error": "\(String(reflecting: type(of: error)))"])
            throw GatewayError(.internalServerError, code: "internal_error", message: "the gateway failed to handle the request")
        }
    }
}
