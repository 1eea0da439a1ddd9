import Hummingbird
import SwitchyardCore
import SwitchyardStore

/// `/people/{userId}`, its erase form, and `/anonymous/{anonymousId}` (SPEC §6).
///
/// Erasing takes two POSTs: the button on the person page asks for a confirmation page, whose own
/// button (`confirm=yes`) erases through the same call as `DELETE /api/people/{userId}`.
struct UIPeopleController: Sendable {
    let identity: AdminIdentityController
    let renderer: UIRenderer

    static let pageSize = 50

    func addRoutes(to group: RouterGroup<UIRequestContext>) {
        group.get("people/:userId") { request, context in
            try await person(request, context, userId: try Self.parameter("userId", context))
        }
        group.post("people/:userId/erase") { _, context in
            try await erase(context, userId: try Self.parameter("userId", context))
        }
        group.get("anonymous/:anonymousId") { request, context in
            try await anonymous(request, context, anonymousId: try Self.parameter("anonymousId", context))
        }
    }

    func person(_ request: Request, _ context: UIRequestContext, userId: String) async throws -> Response {
        guard let person = try await storeCall({ try await identity.store.person(userId) }) else {
            throw GatewayError(
                .notFound, code: "unknown_person",
                message: "No person has this user id. It may have been erased, or never identified.")
        }
        let cursor = try AdminIdentityController.cursor(request)
        let history = try await storeCall {
            try await identity.store.activity(.person(userId: userId), before: cursor, limit: Self.pageSize)
        }
        let view = PersonPageView(
            chrome: UIChrome(title: "Person \(person.userId)", csrf: context.requireSession.csrfToken),
            requested: userId, person: person, history: history, cursor: cursor)
        return renderer.page("person", view)
    }

    func erase(_ context: UIRequestContext, userId: String) async throws -> Response {
        var view = ErasePageView(
            chrome: UIChrome(title: "Erase \(userId)", csrf: context.requireSession.csrfToken), userId: userId,
            personHref: UIPath.person(userId), eraseHref: UIPath.erase(userId), known: false, anonymousIdCount: "",
            done: false, deletedText: "")
        if context.form["confirm"] == "yes" {
            let deleted = try await identity.erase(userId)
            view.chrome.title = "Erased \(userId)"
            view.done = true
            view.known = deleted != nil
            view.deletedText = ActivityRowView.count(deleted ?? 0, "event")
        } else {
            let person = try await storeCall { try await identity.store.person(userId) }
            view.known = person != nil
            view.anonymousIdCount = ActivityRowView.count(person?.anonymousIds.count ?? 0, "anonymous id")
        }
        return renderer.page("erase", view)
    }

    func anonymous(_ request: Request, _ context: UIRequestContext, anonymousId: String) async throws -> Response {
        let cursor = try AdminIdentityController.cursor(request)
        let history = try await storeCall {
            try await identity.store.activity(.anonymousId(anonymousId), before: cursor, limit: Self.pageSize)
        }
        if history.items.isEmpty, cursor == nil {
            throw GatewayError(
                .notFound, code: "unknown_anonymous_id",
                message:
                    "Nothing is stored for this anonymous id. Anonymous events that never merge expire after identity.anonymous_ttl."
            )
        }
        let view = AnonymousPageView(
            chrome: UIChrome(title: "Visitor \(anonymousId)", csrf: context.requireSession.csrfToken),
            anonymousId: anonymousId, history: history, cursor: cursor)
        return renderer.page("anonymous", view)
    }

    /// A path parameter, percent-decoded: ids are arbitrary strings and links encode them.
    static func parameter(_ name: String, _ context: UIRequestContext) throws -> String {
        try AdminPath.parameter(name, context.parameters)
    }
}
