import Crypto
import HTTPTypes
import Hummingbird
import NIOCore

/// Guards the admin API and UI (SPEC §6): with `server.admin_token` set, requests need
/// `Authorization: Bearer <token>`; without one, only loopback clients are served.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let token {
            guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer "),
                Self.constantTimeEqual(Array(header.dropFirst(7).utf8), Array(token.utf8))
            else {
                throw GatewayError(
                    .unauthorized, code: "unauthorized", message: "the admin API needs Authorization: Bearer <server.admin_token>",
                    headers: [.wwwAuthenticate: "Bearer realm=\"switchyard\""])
            }
        } else {
            guard Self.isLoopback(context.remoteAddress) else {
                throw GatewayError(
                    .forbidden, code: "forbidden",
                    message: "the admin API answers loopback clients only while server.admin_token is not set")
            }
        }
        return try await next(request, context)
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
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
