import Hummingbird
import SwitchyardDelivery

/// `/destinations` and `/destinations/{name}` (SPEC §6): status, counters, lag, dead letters, and the
/// Replay and Enable buttons, which call the same operations as `POST /api/destinations/{name}/replay`
/// and `…/enable`.
struct UIDestinationsController: Sendable {
    let destinations: AdminDestinationsController
    let renderer: UIRenderer

    static let pageSize = 50

    var delivery: DeliveryService { destinations.delivery }

    func addRoutes(to group: RouterGroup<UIRequestContext>) {
        group.get("destinations") { _, context in try await list(context) }
        group.get("destinations/:name") { request, context in
            try await detail(request, context, name: try UIPeopleController.parameter("name", context))
        }
        group.post("destinations/:name/replay") { _, context in
            try await replay(context, name: try UIPeopleController.parameter("name", context))
        }
        group.post("destinations/:name/enable") { _, context in
            let name = try UIPeopleController.parameter("name", context)
            try destinations.known(name)
            try await storeCall { try await delivery.enable(name) }
            return UIRenderer.redirect(to: UIPath.with(UIPath.destination(name), query: [("enabled", "1")]))
        }
    }

    func list(_ context: UIRequestContext) async throws -> Response {
        let statuses = try await storeCall { try await delivery.statuses() }
        let view = DestinationsPageView(
            chrome: UIChrome(title: "Destinations", onDestinations: true, csrf: context.requireSession.csrfToken),
            destinations: statuses.map(DestinationRowView.init))
        return renderer.page("destinations", view)
    }

    func detail(_ request: Request, _ context: UIRequestContext, name: String) async throws -> Response {
        try destinations.known(name)
        guard let status = try await storeCall({ try await delivery.statuses() }).first(where: { $0.name == name })
        else {
            throw GatewayError(
                .notFound, code: "unknown_destination", message: "no destination with this name in the config")
        }
        let query = request.uri.queryParameters
        let after = query.get("cursor", as: Int64.self) ?? 0
        let (letters, next) = try await destinations.deadLetterPage(of: name, after: after, limit: Self.pageSize)
        var notice: String?
        if let replayed = query.get("replayed", as: Int.self) {
            notice = ActivityRowView.count(replayed, "dead letter") + " re-queued for delivery."
        } else if query.get("enabled") != nil {
            notice = "The destination is enabled again; its backlog is being delivered."
        }
        let view = DestinationPageView(
            chrome: UIChrome(
                title: "Destination \(name)", onDestinations: true, csrf: context.requireSession.csrfToken),
            status: status, letters: letters, after: after, next: next, notice: notice)
        return renderer.page("destination", view)
    }

    /// Replays every dead letter (`{}` in the API), or the one whose `id` the form names.
    func replay(_ context: UIRequestContext, name: String) async throws -> Response {
        try destinations.known(name)
        let ids = context.form["id"].flatMap { Int64($0) }.map { [$0] }
        let count = try await storeCall { try await delivery.replay(.deadLetters(ids: ids), to: name) }
        return UIRenderer.redirect(to: UIPath.with(UIPath.destination(name), query: [("replayed", String(count))]))
    }
}
