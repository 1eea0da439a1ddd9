import Crypto
import HTTPTypes
import Hummingbird
import NIOCore

/// Guards the admin API and UI (SPEC §6): with `server.admin_token` set, requests need
/// `Authorization: Bearer <token>`; without one, only loopback clients are served.
///
/// For the web UI (`browser` set) a browser, which cannot send a bearer header from a link, may also
/// present the token once as `?token=`, or the `switchyard_admin` session cookie that
/// `UISessionMiddleware` then sets. The JSON API accepts neither: its writes carry no CSRF token, so a
/// cookie must never authorize them.
struct AdminAuthMiddleware<Context: RemoteAddressRequestContext>: RouterMiddleware {
    let token: String?
    /// The UI's session keys; nil for the JSON API (bearer only).
    var browser: UISessionKeys? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let token {
            guard isAuthorized(request, token: token) else {
                throw GatewayError(
                    .unauthorized, code: "unauthorized",
                    message: browser == nil
                        ? "the admin API needs Authorization: Bearer <server.admin_token>"
                        : "open this page once as ?token=<server.admin_token>, "
                            + "or send Authorization: Bearer <server.admin_token>",
                    headers: [.wwwAuthenticate: "Bearer realm=\"switchyard\""])
            }
        } else {
            guard AdminAccess.isLoopback(context.remoteAddress) else {
                throw GatewayError(
                    .forbidden, code: "forbidden",
                    message: "the admin API answers loopback clients only while server.admin_token is not set")
            }
            // A page of another site whose name was re-pointed at 127.0.0.1 (DNS rebinding) would be
            // same-origin with the UI and could read its CSRF tokens; its requests name that site as Host.
            if browser != nil, !AdminAccess.isLoopbackHost(request.head.authority) {
                throw GatewayError(
                    .forbidden, code: "forbidden",
                    message: "without server.admin_token the UI answers only as localhost or a loopback address")
            }
        }
        return try await next(request, context)
    }

    private func isAuthorized(_ request: Request, token: String) -> Bool {
        let expected = Array(token.utf8)
        if AdminAccess.hasBearer(request, token: token) { return true }
        guard let browser else { return false }
        if let given = request.uri.queryParameters.get("token"),
            AdminAccess.constantTimeEqual(Array(given.utf8), expected)
        {
            return true
        }
        // Keyed from the token: only a browser that presented it was ever given a valid cookie.
        return browser.session(from: request) != nil
    }
}

/// The checks behind admin access, shared by the middleware and the UI's CSRF check.
enum AdminAccess {
    /// Whether the request may see what only the admin API shows: the bearer token when one is set,
    /// else a loopback client (the admin API's own rule, without the UI's cookie).
    static func isAdmin(_ request: Request, remoteAddress: SocketAddress?, token: String?) -> Bool {
        guard let token else { return isLoopback(remoteAddress) }
        return hasBearer(request, token: token)
    }

    static func hasBearer(_ request: Request, token: String) -> Bool {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else { return false }
        return constantTimeEqual(Array(header.dropFirst(7).utf8), Array(token.utf8))
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }

    /// Whether an HTTP authority (`Host`) names this machine: `localhost`, `127.x.x.x` or `[::1]`, any port.
    static func isLoopbackHost(_ authority: String?) -> Bool {
        guard let authority else { return false }
        let host: Substring
        if authority.hasPrefix("[") {
            host = authority.dropFirst().prefix { $0 != "]" }
        } else {
            host = authority.prefix { $0 != ":" }
        }
        let name = host.lowercased()
        if name == "localhost" || name == "::1" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Compares without an early exit, so the time taken says nothing about the token.
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        // Hash first so lengths differ only in a digest both sides have.
        let a = Array(SHA256.hash(data: lhs))
        let b = Array(SHA256.hash(data: rhs))
        var difference: UInt8 = 0
        for index in 0..<a.count { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
