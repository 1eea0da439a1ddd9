import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore
import SwitchyardDelivery

/// The **Live** page (SPEC §6 "Live view"): `/live` renders the filters and an empty table, `/live.js`
/// (served by the gateway: the page's policy allows scripts from 'self' only) follows `/live/stream`,
/// the same Server-Sent Events as `GET /api/live` but authorized by the UI's session cookie, since a
/// browser's EventSource cannot send a bearer header.
struct UILiveController: Sendable {
    let stream: LiveStream
    let destinationNames: [String]
    let renderer: UIRenderer
    let script: ByteBuffer

    /// Loads the bundled script; throws when the resource bundle lacks it.
    init(stream: LiveStream, destinationNames: [String], renderer: UIRenderer) throws {
        guard let url = Bundle.module.url(forResource: "live", withExtension: "js", subdirectory: "Assets") else {
            throw GatewayStartError(
                "Assets/live.js is missing from the resource bundle; keep the switchyard_SwitchyardServer.resources "
                    + "folder next to the switchyard executable")
        }
        self.stream = stream
        self.destinationNames = destinationNames
        self.renderer = renderer
        script = ByteBuffer(bytes: try Data(contentsOf: url))
    }

    /// `/live.js` is public like `/ui.css`: it holds no data.
    func addPublicRoutes(to router: Router<GatewayRequestContext>) {
        let script = script
        router.get("live.js") { _, _ in
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/javascript; charset=utf-8", .cacheControl: "no-cache",
                    .xContentTypeOptions: "nosniff",
                ],
                body: ResponseBody(byteBuffer: script))
        }
    }

    func addRoutes(to group: RouterGroup<UIRequestContext>) {
        group.get("live") { request, context in try page(request, context) }
        group.get("live/stream") { request, _ in try stream.response(request) }
    }

    func page(_ request: Request, _ context: UIRequestContext) throws -> Response {
        let filter = try LiveStream.filter(request)
        let view = LivePageView(
            chrome: UIChrome(title: "Live", onLive: true, csrf: context.requireSession.csrfToken),
            filter: LivePageView.Filter(
                source: filter.source ?? "", event: filter.event?.pattern ?? "", user: filter.user ?? ""),
            destinations: destinationNames.map { LivePageView.Option(name: $0, selected: $0 == filter.destination) },
            types: EventType.allCases.map { LivePageView.Option(name: $0.rawValue, selected: $0 == filter.type) },
            streamPath: "/live/stream")
        return renderer.page("live", view, scripts: true)
    }
}

/// What `live.mustache` shows.
struct LivePageView: Sendable {
    struct Filter: Sendable {
        var source: String
        var event: String
        var user: String
    }

    struct Option: Sendable {
        var name: String
        var selected: Bool
    }

    var chrome: UIChrome
    var filter: Filter
    var destinations: [Option]
    var types: [Option]
    var streamPath: String
}
