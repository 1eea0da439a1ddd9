import HTTPTypes
import Hummingbird
import NIOCore

/// Gives every UI request a browser session and checks the CSRF token of every POST.
///
/// Runs after `AdminAuthMiddleware`, so a session is only ever minted for a request that was
/// authorized: the cookie it sets is then what authorizes the browser's later requests. A POST must carry the session's token in its `csrf` field, or it is refused with `403`
/// before any route runs — no UI route can forget the check.
struct UISessionMiddleware: RouterMiddleware {
    typealias Context = UIRequestContext
    let keys: UISessionKeys

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        let session = keys.session(from: request) ?? keys.mint()
        context.session = session
        var request = request
        if request.method == .post {
            let body = try await request.collectBody(upTo: context.maxUploadSize)
            context.form = UIForm(urlEncoded: String(buffer: body))
            guard keys.checkCSRF(context.form[UISession.csrfField], session: session) else {
                // A browser without a session yet gets one now, so reloading the form is enough to retry.
                var headers = HTTPFields()
                if session.isNew {
                    headers[.setCookie] =
                        session.cookie(maxAge: keys.lifetimeSeconds, secure: AdminAccess.isHTTPS(request)).description
                }
                throw GatewayError(
                    .forbidden, code: "csrf_token_invalid",
                    message: "this form was out of date or came from another page; reload the page and try again",
                    headers: headers)
            }
        }
        var response = try await next(request, context)
        if session.isNew {
            response.setCookie(session.cookie(maxAge: keys.lifetimeSeconds, secure: AdminAccess.isHTTPS(request)))
        }
        return response
    }
}
