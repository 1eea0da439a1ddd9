import HTTPTypes
import Hummingbird
import SwitchyardCore
import SwitchyardDelivery
import SwitchyardStore

/// The web UI (SPEC §6): server-rendered pages at `/`, `/people/…`, `/anonymous/…` and
/// `/destinations…` and `/live`, behind the admin API's auth, plus the stylesheet `/ui.css` and the Live
/// page's script `/live.js`.
///
/// Reads the same sources as the JSON API, through its controllers, rather than calling it over HTTP.
/// Every route runs in a `UIRequestContext` behind three middlewares, outermost first: HTML error pages,
/// `AdminAuthMiddleware` (bearer, `?token=` sign-in, or the session cookie; from any address), and
/// `UISessionMiddleware` (the session cookie and the CSRF check of every POST).
struct WebUI: Sendable {
    let identity: AdminIdentityController
    let destinations: AdminDestinationsController
    let access: AdminAccess
    let renderer: UIRenderer
    let sessions: UISessionKeys
    let live: UILiveController

    /// Loads the bundled templates and scripts; throws when they are missing or do not parse.
    init(
        store: any EventStore, delivery: DeliveryService, clock: any WallClock, access: AdminAccess, live: LiveHub,
        destinationNames: [String]
    ) throws {
        identity = AdminIdentityController(store: store, clock: clock)
        destinations = AdminDestinationsController(delivery: delivery)
        self.access = access
        renderer = try UIRenderer.bundled()
        sessions = UISessionKeys(adminToken: access.token, clock: clock)
        self.live = try UILiveController(
            stream: LiveStream(hub: live), destinationNames: destinationNames, renderer: renderer)
    }

    func addRoutes(to router: Router<GatewayRequestContext>) {
        let stylesheet = renderer.stylesheet
        // Public: it holds no data, and the sign-in page needs it before any credential is presented.
        router.get("ui.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "public, max-age=300"],
                body: ResponseBody(byteBuffer: stylesheet))
        }
        live.addPublicRoutes(to: router)
        let group = router.group(context: UIRequestContext.self)
            .add(middleware: UIErrorPageMiddleware(renderer: renderer))
            .add(middleware: AdminAuthMiddleware(access: access, browser: sessions))
            .add(middleware: UISessionMiddleware(keys: sessions))
        UIActivityController(identity: identity, renderer: renderer).addRoutes(to: group)
        UIPeopleController(identity: identity, renderer: renderer).addRoutes(to: group)
        UIDestinationsController(destinations: destinations, renderer: renderer).addRoutes(to: group)
        live.addRoutes(to: group)
    }
}
