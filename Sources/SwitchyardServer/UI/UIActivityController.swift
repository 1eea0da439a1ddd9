import Foundation
import Hummingbird
import SwitchyardStore

/// `/`: the activity log with its Identified and Anonymous tabs (SPEC §6).
///
/// Query: `tab=identified|anonymous`, `cursor=` (an earlier page's cursor, as in `/api/activity`),
/// `type=` (an event type or an entry kind) and `name=` (part of an event name). The filter applies to
/// the page read from the store, which is then larger, so a filtered page may show few rows and still
/// offer older ones.
struct UIActivityController: Sendable {
    let identity: AdminIdentityController
    let renderer: UIRenderer

    static let pageSize = 50
    static let filteredPageSize = 200

    func addRoutes(to group: RouterGroup<UIRequestContext>) {
        group.get("/") { request, context in try await activity(request, context) }
    }

    func activity(_ request: Request, _ context: UIRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        let tab = query.get("tab") ?? "identified"
        let scope: ActivityScope
        switch tab {
        case "identified": scope = .identified
        case "anonymous": scope = .anonymous
        default: throw GatewayError(.badRequest, code: "invalid_tab", message: "tab must be identified or anonymous")
        }
        let type = query.get("type") ?? ""
        let name = (query.get("name") ?? "").trimmingCharacters(in: .whitespaces)
        let cursor = try AdminIdentityController.cursor(request)
        let filtering = !type.isEmpty || !name.isEmpty
        let page = try await storeCall {
            try await identity.store.activity(
                scope, before: cursor, limit: filtering ? Self.filteredPageSize : Self.pageSize)
        }
        let rows = page.items.map(ActivityRowView.init).filter { $0.matches(type: type, name: name) }
        let view = ActivityPageView(
            chrome: UIChrome(title: "Activity", onActivity: true, csrf: context.requireSession.csrfToken),
            tab: tab, type: type, name: name, rows: rows, scanned: page.items.count, cursor: cursor?.description,
            nextCursor: page.nextCursor?.description)
        return renderer.page("activity", view)
    }
}
