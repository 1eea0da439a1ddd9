import Hummingbird
import NIOCore
import Prometheus
import SwitchyardStore

/// `/healthz` (the process answers), `/readyz` (the store answers) and `/metrics` (Prometheus text, behind
/// the admin token).
struct OperationsController: Sendable {
    let store: any EventStore
    let registry: PrometheusCollectorRegistry
    /// The admin token: who may read `/metrics` and why the store is unreachable (see `/readyz`).
    let access: AdminAccess

    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("/healthz") { _, _ in
            Response.json(Array(#"{"status":"ok"}"#.utf8))
        }
        // Probes need only the status; the reason names the database (host, port, user, its own errors), so
        // it is shown to callers with the admin token and kept from everyone else (a probe needs no token).
        router.get("/readyz") { request, context in
            do {
                try await store.checkReachable()
                return Response.json(Array(#"{"status":"ready"}"#.utf8))
            } catch let error as StoreError {
                let message =
                    access.isAdmin(request)
                    ? error.message
                    : "the store is not reachable; the reason is in the log, and on /readyz for admin callers"
                throw GatewayError(.serviceUnavailable, code: error.code.rawValue, message: message)
            }
        }
        // Counters name sources, destinations and their errors: admin data, behind the token like `/api`.
        router.get("/metrics") { request, context in
            try access.requireAdmin(request, remoteAddress: context.remoteAddress)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }
}
