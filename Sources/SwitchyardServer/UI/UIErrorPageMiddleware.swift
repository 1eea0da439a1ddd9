import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Answers a UI request's failure with an HTML page instead of the API's JSON body: same status, same
/// headers (a `WWW-Authenticate` challenge, a fresh session cookie), the error's message in words.
struct UIErrorPageMiddleware: RouterMiddleware {
    typealias Context = UIRequestContext
    let renderer: UIRenderer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as GatewayError {
            return page(error.status, error.message, headers: error.headers, context: context)
        } catch let error as HTTPError {
            return page(error.status, error.body ?? error.status.reasonPhrase, headers: error.headers, context: context)
        } catch is NIOTooManyBytesError {
            return page(.contentTooLarge, "The form is larger than any this UI sends.", headers: [:], context: context)
        } catch {
            context.logger.error(
                "ui request failed", metadata: ["switchyard.error": "\(String(reflecting: type(of: error)))"])
            return page(.internalServerError, "The gateway failed to show this page.", headers: [:], context: context)
        }
    }

    private func page(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields, context: Context)
        -> Response
    {
        let view = ErrorPageView(
            chrome: UIChrome(title: ErrorPageView.heading(status), csrf: context.session?.csrfToken ?? ""),
            status: Int(status.code), heading: ErrorPageView.heading(status), message: message,
            signIn: status == .unauthorized)
        return renderer.page("error", view, status: status, headers: headers)
    }
}

/// A failed UI request.
struct ErrorPageView: Sendable {
    var chrome: UIChrome
    var status: Int
    var heading: String
    var message: String
    /// A 401: explain how a browser signs in.
    var signIn: Bool

    static func heading(_ status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "Not found"
        case .unauthorized: "Sign-in needed"
        case .forbidden: "Refused"
        case .badRequest: "Bad request"
        case .serviceUnavailable: "Storage unavailable"
        default: "Something went wrong"
        }
    }
}
