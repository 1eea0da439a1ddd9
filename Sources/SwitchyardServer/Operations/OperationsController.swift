import Hummingbird
import NIOCore
import Prometheus
import SwitchyardStore

/// `/healthz` (the process answers), `/readyz` (the store answers) and `/metrics` (Prometheus text).
struct OperationsController: Sendable {
    let store: any EventStore
    let registry: PrometheusCollectorRegistry

    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("/healthz") { _, _ in
            Response.json(Array(#"{"status":"ok"}"#.utf8))
        }
        router.get("/readyz") { _, _ in
            do {
                try await store.checkReachable()
                return Response.json(Array(#"{"status":"ready"}"#.utf8))
            } catch let error as StoreError {
                throw GatewayError(.serviceUnavailable, code: error.code.rawValue, message: error.message)
            }
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }
}
