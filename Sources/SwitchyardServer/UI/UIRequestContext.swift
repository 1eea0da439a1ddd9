import Hummingbird
import NIOCore

/// The request context of the web UI's routes: the gateway's context plus the browser session and, for a
/// POST, the form that `UISessionMiddleware` already read and checked.
struct UIRequestContext: ChildRequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?
    /// Set by `UISessionMiddleware` before any UI route runs.
    var session: UISession?
    /// The posted form of a POST (its CSRF token already checked); empty for a GET.
    var form = UIForm()

    init(context: GatewayRequestContext) throws {
        coreContext = context.coreContext
        remoteAddress = context.remoteAddress
    }

    /// UI forms hold a token and an id or two; nothing larger is ever posted.
    var maxUploadSize: Int { 16 * 1024 }

    /// The session of this request; UI routes only run behind `UISessionMiddleware`.
    var requireSession: UISession {
        guard let session else { fatalError("internal inconsistency: a UI route ran without UISessionMiddleware") }
        return session
    }
}
