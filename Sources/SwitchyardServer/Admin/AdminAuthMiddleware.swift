import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardConfig

/// Guards the admin API, the UI and `/metrics` (SPEC §6): every request needs the admin token, from any
/// address. There is no loopback exemption: a reverse proxy on the same host makes every caller loopback.
///
/// For the web UI (`browser` set) a browser, which cannot send a bearer header from a link, may present
/// the token once as `?token=` on a GET: it is answered with a redirect to the same page without the token
/// (so it leaves the address bar, the history and `Referer`), setting the `switchyard_admin` session
/// cookie that then authorizes it. The JSON API accepts neither: a cookie is sent by the browser on its
/// own, so it must never authorize a write that carries no CSRF token.
struct AdminAuthMiddleware<Context: RemoteAddressRequestContext>: RouterMiddleware {
    let access: AdminAccess
    /// The UI's session keys; nil for the JSON API (bearer only).
    var browser: UISessionKeys? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        try access.checkHost(request, remoteAddress: context.remoteAddress)
        if access.hasBearer(request) { return try await next(request, context) }
        guard let browser else { throw access.unauthorized(browser: false) }
        if request.method == .get || request.method == .head, let given = request.uri.queryParameters.get("token") {
            guard AdminAccess.constantTimeEqual(Array(given.utf8), Array(access.token.utf8)) else {
                throw access.unauthorized(browser: true)
            }
            let cookie = browser.mint().cookie(maxAge: browser.lifetimeSeconds, secure: AdminAccess.isHTTPS(request))
            return Response(
                status: .seeOther,
                headers: [
                    .location: AdminAccess.withoutToken(path: request.uri.path, query: request.uri.query),
                    .setCookie: cookie.description,
                ])
        }
        // Keyed from the token: only a browser that presented it was ever given a valid cookie.
        guard browser.session(from: request) != nil else { throw access.unauthorized(browser: true) }
        return try await next(request, context)
    }
}

/// The checks behind admin access, shared by the middleware, `/metrics`, `/readyz` and the UI.
struct AdminAccess: Sendable {
    /// The admin token in force (configured or generated).
    let token: String
    /// `server.listen`: a `Host` naming it is this gateway, whatever the name.
    let listen: ListenAddress

    /// Whether the request may see what only the admin API shows: it carries the bearer token.
    func isAdmin(_ request: Request) -> Bool { hasBearer(request) }

    func hasBearer(_ request: Request) -> Bool {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else { return false }
        return Self.constantTimeEqual(Array(header.dropFirst(7).utf8), Array(token.utf8))
    }

    /// Refuses `/metrics` without the bearer token, as the JSON API does.
    func requireAdmin(_ request: Request, remoteAddress: SocketAddress?) throws {
        try checkHost(request, remoteAddress: remoteAddress)
        guard hasBearer(request) else { throw unauthorized(browser: false) }
    }

    func unauthorized(browser: Bool) -> GatewayError {
        GatewayError(
            .unauthorized, code: "unauthorized",
            message: browser
                ? "open this page once as ?token=<admin token> (the log shows the sign-in URL at every start), "
                    + "or send Authorization: Bearer <admin token>"
                : "send Authorization: Bearer <admin token>: server.admin_token, or the token generated into the data "
                    + "folder's admin_token file when that is empty",
            headers: [.wwwAuthenticate: "Bearer realm=\"switchyard\""])
    }

    /// DNS rebinding: a page of another site whose name was re-pointed at 127.0.0.1 is same-origin with the
    /// admin pages and can send requests to them, naming its own site as `Host`. Such requests come from a
    /// browser on this machine (a loopback peer) without a proxy's forwarding headers, so those must name
    /// this machine: `localhost`, a loopback address, or the listen address's host. A reverse proxy that
    /// passes the public `Host` adds `X-Forwarded-For` (or `Forwarded`) and is let through to the token check.
    func checkHost(_ request: Request, remoteAddress: SocketAddress?) throws {
        guard Self.isLoopback(remoteAddress) else { return }
        let headers = request.headers
        let proxied =
            headers[HTTPField.Name("X-Forwarded-For")!] != nil  // a valid literal field name
            || headers[HTTPField.Name("Forwarded")!] != nil  // a valid literal field name
        if proxied { return }
        let authority = request.head.authority
        if Self.isLoopbackHost(authority) { return }
        if let host = authority.map(Self.hostName), host == listen.host.lowercased() { return }
        throw GatewayError(
            .forbidden, code: "forbidden",
            message: "this gateway answers admin requests from this machine only as localhost, a loopback address "
                + "or \(listen.host); a reverse proxy passing another Host must add X-Forwarded-For")
    }

    /// Whether the client reached us over HTTPS: the gateway itself speaks plain HTTP, so only a TLS proxy's
    /// `X-Forwarded-Proto: https` (or `Forwarded: proto=https`) says so. Trusting it is safe: all it does
    /// is mark the cookie `Secure`.
    static func isHTTPS(_ request: Request) -> Bool {
        if let proto = request.headers[HTTPField.Name("X-Forwarded-Proto")!],  // a valid literal field name
            proto.split(separator: ",").first?.trimmingCharacters(in: .whitespaces).lowercased() == "https"
        {
            return true
        }
        if let forwarded = request.headers[HTTPField.Name("Forwarded")!] {  // a valid literal field name
            let first = forwarded.split(separator: ",").first ?? ""
            return first.split(separator: ";").contains {
                $0.trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: "\"", with: "")
                    == "proto=https"
            }
        }
        return false
    }

    /// The request's path and query with every `token` parameter removed, the others kept as sent: where
    /// `?token=` sign-in redirects to. Always a path on this host (`//` would name another one).
    static func withoutToken(path requestPath: String, query: String?) -> String {
        var path = requestPath.isEmpty ? "/" : requestPath
        while path.hasPrefix("//") { path.removeFirst() }
        let kept = (query ?? "").split(separator: "&").filter { item in
            let name = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            return (String(name).removingPercentEncoding ?? String(name)) != "token"
        }
        return kept.isEmpty ? path : path + "?" + kept.joined(separator: "&")
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }

    /// The host of an HTTP authority, lowercased, without port or IPv6 brackets.
    static func hostName(_ authority: String) -> String {
        let host: Substring
        if authority.hasPrefix("[") {
            host = authority.dropFirst().prefix { $0 != "]" }
        } else {
            host = authority.prefix { $0 != ":" }
        }
        return host.lowercased()
    }

    /// Whether an HTTP authority (`Host`) names this machine: `localhost`, `127.x.x.x` or `[::1]`, any port.
    static func isLoopbackHost(_ authority: String?) -> Bool {
        guard let authority else { return false }
        return ListenAddress(host: hostName(authority), port: 0).isLoopback
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
