import Hummingbird
import NIOCore
import Prometheus
import SwitchyardStore

/// `/healthz` (the process answers), `/readyz` (the store answers) and `/metrics` (Prometheus text).
struct OperationsController: Sendable {
    let store: any EventStore
    let registry: PrometheusCollectorRegistry
    /// `server.admin_token`: who may read why the store is unreachable (see `/readyz`).
    let adminToken: String?

    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("/healthz") { _, _ in
            Response.json(Array(#"{"status":"ok"}"#.utf8))
        }
        // Probes need only the status; the reason names the database (host, port, user, its own errors), so
        // it is shown to those the admin API would answer and kept from everyone else on a public listener.
        router.get("/readyz") { request, context in
            do {
                try await store.checkReachable()
                return Response.json(Array(#"{"status":"ready"}"#.utf8))
            } catch let error as StoreError {
                let message =
                    AdminAccess.isAdmin(request, remoteAddress: context.remoteAddress, token: adminToken)
                    ? error.message
                    : "the store is not reachable; the reason is in the log, and on /readyz for admin callers"
                throw GatewayError(.serviceUnavailable, code: error.code.rawValue, message: message)
            }
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }
}
