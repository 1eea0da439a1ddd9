import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardStore
import SwitchyardTesting
import Testing

/// The web UI over real HTTP (SPEC §6): pages, auth, the session cookie, CSRF, erase and replay forms.
/// What the pages look like and do in a browser is tested in Tests/browser/test_ui.py.
@Suite("The web UI")
struct UITests {
    func post(_ gateway: TestGateway, _ path: String, _ body: String) async throws {
        let response = try await gateway.post(path, body)
        #expect(response.status == 200, "\(response.text)")
    }

    /// anon-1 browses, identifies as user-1 (merging two events); anon-2 stays anonymous.
    func seed(_ gateway: TestGateway) async throws {
        try await post(gateway, "/v1/page", #"{"anonymousId":"anon-1","name":"Pricing","messageId":"p1"}"#)
        try await post(gateway, "/v1/track", #"{"anonymousId":"anon-1","event":"Plan Chosen","messageId":"t1"}"#)
        try await post(
            gateway, "/v1/identify",
            #"{"anonymousId":"anon-1","userId":"user-1","messageId":"i1","traits":{"plan":"pro","seats":3}}"#)
        try await post(gateway, "/v1/track", #"{"anonymousId":"anon-2","event":"Docs Opened","messageId":"t2"}"#)
    }

    @Test func theIdentifiedTabShowsTheMergeAndMarksEventsThatWereAnonymous() async throws {
        try await TestGateway.with { (gateway) async throws in
            try await seed(gateway)
            var browser = Browser(gateway)
            let page = try await browser.get("/")
            #expect(page.status == 200)
            #expect(page.headers["Content-Type"].first == "text/html; charset=utf-8")
            let merge = try #require(page.rows.first { $0.contains("badge-merge") }, "\(page.text)")
            #expect(merge.contains("2 events merged into the person"))
            #expect(merge.contains(#"href="/people/user-1""#))
            #expect(merge.contains(#"href="/anonymous/anon-1""#))
            let wasAnonymous = page.rows.filter { $0.contains("was anonymous") }
            #expect(wasAnonymous.count == 2)
            #expect(
                wasAnonymous.contains { $0.contains("Pricing") } && wasAnonymous.contains { $0.contains("Plan Chosen") }
            )
            #expect(page.rows.contains { $0.contains("merge trigger") && $0.contains("i1") })
            #expect(!page.text.contains("Docs Opened"), "anonymous events stay on the Anonymous tab")
            // Newest first: the identify and its merge come before the events it merged.
            let order = ["i1", "t1", "p1"].compactMap { page.text.range(of: ">\($0)<")?.lowerBound }
            #expect(order.count == 3 && order == order.sorted())
        }
    }

    @Test func theAnonymousTabListsOnlyUnmergedEvents() async throws {
        try await TestGateway.with { (gateway) async throws in
            try await seed(gateway)
            var browser = Browser(gateway)
            let page = try await browser.get("/?tab=anonymous")
            #expect(page.status == 200)
            let events = page.rows.filter { $0.contains("row-event") }
            #expect(events.count == 1)
            #expect(events.first?.contains("Docs Opened") == true)
            #expect(events.first?.contains(#"href="/anonymous/anon-2""#) == true)
            #expect(!page.text.contains("Plan Chosen"))
            #expect(try await browser.get("/?tab=everyone").status == 400)
        }
    }

    @Test func refusalsShowTheirReasonAndExplanation() async throws {
        try await TestGateway.with { (gateway) async throws in
            try await post(gateway, "/v1/identify", #"{"anonymousId":"shared","userId":"alice"}"#)
            try await post(gateway, "/v1/identify", #"{"anonymousId":"shared","userId":"bob"}"#)
            var browser = Browser(gateway)
            let refusal = try #require(try await browser.get("/").rows.first { $0.contains("badge-refused") })
            #expect(refusal.contains("merge refused"))
            #expect(refusal.contains("anonymous_id_taken"))
            #expect(refusal.contains(MergeRefusal.anonymousIdTaken.explanation))
        }
    }

    @Test func filtersByTypeAndEventName() async throws {
        try await TestGateway.with { (gateway) async throws in
            try await seed(gateway)
            var browser = Browser(gateway)
            let tracks = try await browser.get("/?tab=identified&type=track")
            #expect(tracks.rows.count == 1)
            #expect(tracks.rows.first?.contains("Plan Chosen") == true)
            let merges = try await browser.get("/?type=anonymous_merge")
            #expect(merges.rows.count == 1 && merges.rows.first?.contains("badge-merge") == true)
            let named = try await browser.get("/?name=pric")
            #expect(named.rows.count == 1 && named.rows.first?.contains("Pricing") == true)
            #expect(named.text.contains(#"value="pric""#), "the filter form keeps its value")
            let none = try await browser.get("/?name=nothing-like-this")
            #expect(none.rows.isEmpty)
            #expect(none.text.contains("No entry on this page matches the filter."))
        }
    }

    @Test func pagesThroughTheLogWithTheCursor() async throws {
        try await TestGateway.with { (gateway) async throws in
            let batch = (1...60).map { #"{"type":"track","userId":"u","event":"E\#($0)","messageId":"m\#($0)"}"# }
            #expect(try await gateway.post("/v1/batch", "{\"batch\":[\(batch.joined(separator: ","))]}").status == 200)
            var browser = Browser(gateway)
            let first = try await browser.get("/")
            #expect(first.rows.count == 50)
            let older = try #require(first.link(text: "Older »"))
            #expect(older.contains("cursor="))
            let second = try await browser.get(older)
            #expect(second.rows.count == 10)
            #expect(second.rows.contains { $0.contains(">m1<") })
            #expect(second.link(text: "Older »") == nil)
            #expect(second.link(text: "« Newest") != nil)
            #expect(try await browser.get("/?cursor=garbage").status == 400)
        }
    }

    @Test func thePersonPageShowsIdsTraitsAndMergedHistory() async throws {
        try await TestGateway.with { (gateway) async throws in
            try await seed(gateway)
            var browser = Browser(gateway)
            let page = try await browser.get("/people/user-1")
            #expect(page.status == 200)
            #expect(page.text.contains(#"<h1>Person <span class="id">user-1</span></h1>"#))
            #expect(page.text.contains(#"<a class="id" href="/anonymous/anon-1">anon-1</a>"#))
            #expect(page.text.contains(#"<th scope="row">plan</th><td>pro</td>"#))
            #expect(page.text.contains(#"<th scope="row">seats</th><td class="json">3</td>"#))
            for messageId in ["p1", "t1", "i1"] { #expect(page.rows.contains { $0.contains(">\(messageId)<") }) }
            #expect(page.rows.contains { $0.contains("badge-merge") })
            #expect(page.form(action: "/people/user-1/erase") != nil)
        }
    }

    @Test func anUnknownPersonGetsAFriendlyNotFoundPage() async throws {
        try await TestGateway.with { (gateway) async throws in
            var browser = Browser(gateway)
            let page = try await browser.get("/people/nobody")
            #expect(page.status == 404)
            #expect(page.headers["Content-Type"].first == "text/html; charset=utf-8")
            #expect(page.text.contains("<h1>Not found</h1>"))
            #expect(page.text.contains("No person has this user id."))
            #expect(page.text.contains(#"href="/""#))
            #expect(try await browser.get("/anonymous/never-seen").status == 404)
            #expect(try await browser.get("/destinations/no-such").status == 404)
        }
    }

    @Test func theAnonymousPageShowsTheVisitorsHistoryAndWhoItBecame() async throws {
        try await TestGateway.with { (gateway) async throws in
            try await seed(gateway)
            var browser = Browser(gateway)
            let merged = try await browser.get("/anonymous/anon-1")
            #expect(merged.status == 200)
            #expect(merged.text.contains(#"Merged into the person <a class="id" href="/people/user-1">user-1</a>"#))
            #expect(merged.rows.contains { $0.contains("Pricing") })
            let visitor = try await browser.get("/anonymous/anon-2")
            #expect(visitor.text.contains("Not merged into a person yet."))
            #expect(visitor.rows.count == 1)
        }
    }

    @Test func idsWithReservedCharactersAreEscapedAndRoundTrip() async throws {
        try await TestGateway.with { (gateway) async throws in
            try await post(
                gateway, "/v1/identify", #"{"anonymousId":"a <b>&\"x\"","userId":"ann/ex ample?é","messageId":"i1"}"#)
            var browser = Browser(gateway)
            let log = try await browser.get("/")
            #expect(log.text.contains(#"href="/people/ann%2Fex%20ample%3F%C3%A9">ann/ex ample?é</a>"#))
            #expect(log.text.contains("a &lt;b&gt;&amp;&quot;x&quot;"))
            #expect(!log.text.contains("<b>"))
            let person = try await browser.get("/people/ann%2Fex%20ample%3F%C3%A9")
            #expect(person.status == 200)
            #expect(person.text.contains(#"<span class="id">ann/ex ample?é</span>"#))
        }
    }

    @Test func servesTheStylesheetWithoutCredentials() async throws {
        try await TestGateway.with { (gateway) async throws in
            let css = try await gateway.send("/ui.css", method: .GET, auth: nil)
            #expect(css.status == 200)
            #expect(css.headers["Content-Type"].first == "text/css; charset=utf-8")
            #expect(css.text.contains("--mono"))
        }
    }

    @Test func pagesAreNeverCachedFramedOrScripted() async throws {
        try await TestGateway.with { (gateway) async throws in
            var browser = Browser(gateway)
            let page = try await browser.get("/destinations")
            #expect(page.headers["Cache-Control"].first == "no-store")
            let policy = try #require(page.headers["Content-Security-Policy"].first)
            #expect(policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"))
            #expect(!page.text.contains("<script"))
        }
    }

    // MARK: Auth

    @Test func aBrowserSignsInOnceWithTheQueryTokenAndKeepsACookie() async throws {
        try await TestGateway.with { (gateway) async throws in
            try await seed(gateway)
            var browser = Browser(gateway, signedIn: false)
            let anonymous = try await browser.get("/")
            #expect(anonymous.status == 401)
            #expect(anonymous.text.contains("Sign-in needed"))
            #expect(anonymous.headers["Set-Cookie"].isEmpty, "no session before the token")
            #expect(try await browser.get("/?token=wrong").status == 401)
            #expect(browser.cookie == nil)

            // The token leaves the address bar: a redirect to the same page, other parameters kept.
            let signIn = try await browser.get("/?tab=identified&token=\(TestGateway.adminToken)&type=track")
            #expect(signIn.status == 303)
            #expect(signIn.headers["Location"].first == "/?tab=identified&type=track")
            let setCookie = try #require(signIn.headers["Set-Cookie"].first)
            #expect(setCookie.hasPrefix("switchyard_admin="))
            #expect(setCookie.contains("HttpOnly"))
            #expect(setCookie.contains("SameSite=Strict"))
            #expect(setCookie.contains("Path=/"))
            #expect(!setCookie.contains("Secure"), "plain HTTP: a Secure cookie would never come back")
            let signedIn = try await browser.get("/")
            #expect(signedIn.status == 200)
            #expect(signedIn.rows.contains { $0.contains("badge-merge") })

            // The cookie alone now opens every page, and is not set again.
            let later = try await browser.get("/people/user-1")
            #expect(later.status == 200)
            #expect(later.headers["Set-Cookie"].isEmpty)
            #expect(try await browser.get("/destinations").status == 200)

            // The JSON API does not take the cookie: its writes have no CSRF token.
            let cookie = try #require(browser.cookie)
            let api = try await gateway.send("/api/activity", method: .GET, headers: [("Cookie", cookie)], auth: nil)
            #expect(api.status == 401)
        }
    }

    @Test func forgedOrForeignCookiesAreRefusedAndBearerStillWorks() async throws {
        try await TestGateway.with { (gateway) async throws in
            var browser = Browser(gateway, signedIn: false)
            _ = try await browser.get("/?token=\(TestGateway.adminToken)")
            let good = try #require(browser.cookie)
            let value = good.dropFirst("switchyard_admin=".count)
            let parts = value.split(separator: ".")
            let forged = [
                "switchyard_admin=\(parts[0]).\(parts[1]).\(String(repeating: "0", count: 64))",
                "switchyard_admin=\(parts[0]).ffffffffffffffffffffffffffffffff.\(parts[2])",
                "switchyard_admin=garbage",
            ]
            for cookie in forged {
                let response = try await gateway.send("/", method: .GET, headers: [("Cookie", cookie)], auth: nil)
                #expect(response.status == 401, "\(cookie)")
            }
            let bearer = try await gateway.send(
                "/destinations", method: .GET, headers: [("Authorization", "Bearer \(TestGateway.adminToken)")], auth: nil)
            #expect(bearer.status == 200)
        }
    }

    @Test func aSessionFromAnotherTokenIsNotAccepted() async throws {
        let cookie = try await TestGateway.with(yaml: { TestGateway.yaml(directory: $0, adminToken: "first-token") }) {
            (gateway) async throws in
            var browser = Browser(gateway, signedIn: false)
            _ = try await browser.get("/?token=first-token")
            return browser.cookie
        }
        let stale = try #require(cookie)
        try await TestGateway.with(yaml: { TestGateway.yaml(directory: $0, adminToken: "second-token") }) {
            (gateway) async throws in
            let response = try await gateway.send("/", method: .GET, headers: [("Cookie", stale)], auth: nil)
            #expect(response.status == 401)
        }
    }

    @Test(arguments: [
        ("127.0.0.1:8080", 200), ("localhost:8080", 200), ("LOCALHOST", 200), ("[::1]:8080", 200),
        ("127.1.2.3", 200), ("evil.example:8080", 403), ("127.0.0.1.evil.example", 403), ("[2001:db8::1]", 403),
    ])
    func fromThisMachineOnlyLoopbackHostNamesAreServed(host: String, status: Int) async throws {
        // DNS rebinding: a page of evil.example re-pointed at 127.0.0.1 talks to us under its own name.
        try await TestGateway.with { (gateway) async throws in
            for path in ["/", "/api/activity", "/metrics"] {
                let response = try await gateway.admin(path, headers: [("Host", host)])
                #expect(response.status == status, "\(path)")
            }
            // A reverse proxy passing the public Host says so with X-Forwarded-For, and the token decides.
            let proxied = try await gateway.admin(
                "/api/activity", headers: [("Host", host), ("X-Forwarded-For", "203.0.113.7")])
            #expect(proxied.status == 200)
        }
    }

    @Test func aSessionCookieExpiresAfterTwelveHours() async throws {
        let clock = ManualWallClock(Timestamp(iso8601: "2026-11-28T10:00:00Z")!)  // a valid literal
        try await TestGateway.with(
            clock: clock
        ) { (gateway) async throws in
            var browser = Browser(gateway, signedIn: false)
            _ = try await browser.get("/?token=\(TestGateway.adminToken)")
            #expect(try #require(browser.cookie).isEmpty == false)
            clock.advance(by: .seconds(11 * 3600))
            #expect(try await browser.get("/").status == 200)
            clock.advance(by: .seconds(2 * 3600))
            #expect(try await browser.get("/").status == 401)
        }
    }

    // MARK: Forms

    @Test func postsWithoutTheCSRFTokenAreRefusedAndChangeNothing() async throws {
        let receiver = try await ScriptedHTTPServer.start(then: .init(400, body: #"{"error":"bad field"}"#))
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: {
            DeliveryTests.yaml($0, destinations: DeliveryTests.webhook("hook", receiver.url))
        }) {
            (gateway) async throws in
            try await seed(gateway)
            try await waitUntil { try await gateway.status("hook")?["dead_lettered"] == 4 }
            receiver.program([], then: .ok)
            var browser = Browser(gateway)
            let person = try await browser.get("/people/user-1")
            let token = try #require(person.csrf)

            let altered = (token.first == "0" ? "1" : "0") + token.dropFirst()
            for form in [
                [("confirm", "yes")], [("confirm", "yes"), ("csrf", "")], [("confirm", "yes"), ("csrf", altered)],
            ] {
                let refused = try await browser.post("/people/user-1/erase", form)
                #expect(refused.status == 403)
                #expect(refused.text.contains("reload the page"))
            }
            #expect(try await gateway.admin("/api/people/user-1").status == 200, "nothing erased")

            let replay = try await browser.post("/destinations/hook/replay", [])
            #expect(replay.status == 403)
            // A token of another session is refused too.
            var other = Browser(gateway, signedIn: false)
            _ = try await other.get("/?token=\(TestGateway.adminToken)")
            #expect(try await other.post("/destinations/hook/replay", [("csrf", token)]).status == 403)
            #expect(try await gateway.status("hook")?["dead_lettered"] == 4, "nothing replayed")
            #expect(receiver.requests.count == 4)
        }
    }

    @Test func erasingThroughTheFormAsksForConfirmationThenRemovesThePerson() async throws {
        try await TestGateway.with { (gateway) async throws in
            try await seed(gateway)
            var browser = Browser(gateway)
            let person = try await browser.get("/people/user-1")
            let erase = try #require(person.form(action: "/people/user-1/erase"))
            #expect(!erase.contains("confirm"), "the person page's button only asks")

            let confirm = try await browser.post("/people/user-1/erase", [("csrf", try #require(person.csrf))])
            #expect(confirm.status == 200)
            #expect(confirm.text.contains("This person has 1 anonymous id."))
            let final = try #require(confirm.form(action: "/people/user-1/erase"))
            #expect(final.contains(#"name="confirm" value="yes""#))
            #expect(try await gateway.admin("/api/people/user-1").status == 200, "asking erases nothing")

            let done = try await browser.post(
                "/people/user-1/erase", [("csrf", try #require(confirm.csrf)), ("confirm", "yes")])
            #expect(done.status == 200)
            #expect(done.text.contains("3 events deleted"))
            #expect(try await gateway.admin("/api/people/user-1").status == 404)
            #expect(try await browser.get("/people/user-1").status == 404)
            let log = try await browser.get("/")
            #expect(log.rows.contains { $0.contains("badge-erasure") })
            // Erasure suppresses the user id, as DELETE /api/people does.
            try await post(gateway, "/v1/track", #"{"userId":"user-1","event":"Back","messageId":"late"}"#)
            #expect(try await gateway.storedEvents().contains { $0.event.messageId == "late" } == false)
        }
    }

    @Test func replayThroughTheFormRedeliversADeadLetter() async throws {
        let receiver = try await ScriptedHTTPServer.start(then: .init(400, body: #"{"error":"bad field"}"#))
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: {
            DeliveryTests.yaml($0, destinations: DeliveryTests.webhook("hook", receiver.url))
        }) {
            (gateway) async throws in
            try await post(gateway, "/v1/track", #"{"userId":"u1","event":"Paid","messageId":"m-1"}"#)
            await receiver.waitForRequests(1)
            try await waitUntil { try await gateway.status("hook")?["dead_lettered"] == 1 }
            try await waitUntil { try await gateway.status("hook")?["lag_events"] == 0 }

            var browser = Browser(gateway)
            let list = try await browser.get("/destinations")
            let row = try #require(list.rows.first { $0.contains(#"href="/destinations/hook""#) })
            #expect(row.contains("badge-active"))
            #expect(
                row.cells == [
                    "hook webhook", "active", "0", "0", "0", "0", "1", "0", "0.0", #"HTTP 400: {"error":"bad field"}"#,
                ])

            let detail = try await browser.get("/destinations/hook")
            let letter = try #require(detail.rows.first { $0.contains("m-1") })
            #expect(letter.contains("Paid"))
            #expect(letter.contains(">400<"))
            #expect(detail.form(action: "/destinations/hook/replay") != nil)

            receiver.program([], then: .ok)
            let replay = try await browser.post("/destinations/hook/replay", [("csrf", try #require(detail.csrf))])
            #expect(replay.status == 303)
            #expect(replay.headers["Location"].first == "/destinations/hook?replayed=1")
            let requests = await receiver.waitForRequests(2)
            #expect(requests.count == 2)
            #expect(requests[1].text.contains("m-1"))
            #expect(requests[1].headers["webhook-id"] == requests[0].headers["webhook-id"], "the same idempotency key")
            try await waitUntil { try await gateway.status("hook")?["delivered"] == 1 }

            let after = try await browser.get("/destinations/hook?replayed=1")
            #expect(after.text.contains("1 dead letter re-queued for delivery."))
            #expect(after.text.contains("No dead letters."))
        }
    }

    @Test func oneDeadLetterCanBeReplayedAlone() async throws {
        let receiver = try await ScriptedHTTPServer.start(then: .init(400))
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: {
            DeliveryTests.yaml($0, destinations: DeliveryTests.webhook("hook", receiver.url))
        }) {
            (gateway) async throws in
            try await post(gateway, "/v1/track", #"{"userId":"u1","event":"Paid","messageId":"m-1"}"#)
            try await post(gateway, "/v1/track", #"{"userId":"u1","event":"Paid","messageId":"m-2"}"#)
            try await waitUntil { try await gateway.status("hook")?["dead_lettered"] == 2 }
            receiver.program([], then: .ok)
            var browser = Browser(gateway)
            let detail = try await browser.get("/destinations/hook")
            let second = try #require(detail.rows.first { $0.contains("m-2") })
            let id = try #require(second.cells.first)
            let replay = try await browser.post(
                "/destinations/hook/replay", [("csrf", try #require(detail.csrf)), ("id", id)])
            #expect(replay.headers["Location"].first == "/destinations/hook?replayed=1")
            try await waitUntil { try await gateway.status("hook")?["delivered"] == 1 }
            #expect(receiver.requests.last?.text.contains("m-2") == true)
            let left = try await browser.get("/destinations/hook")
            #expect(left.rows.contains { $0.contains("m-1") })
            #expect(!left.rows.contains { $0.contains("m-2") })
        }
    }

    @Test func aDisabledDestinationCanBeEnabledFromItsPage() async throws {
        let receiver = try await ScriptedHTTPServer.start(script: [.init(410)])
        defer { Task { await receiver.stop() } }
        try await TestGateway.with(yaml: {
            DeliveryTests.yaml($0, destinations: DeliveryTests.webhook("hook", receiver.url))
        }) {
            (gateway) async throws in
            try await post(gateway, "/v1/track", #"{"userId":"u1","event":"Paid","messageId":"m-1"}"#)
            try await waitUntil { try await gateway.status("hook")?["state"] == "disabled" }
            var browser = Browser(gateway)
            let detail = try await browser.get("/destinations/hook")
            #expect(detail.text.contains("badge-disabled"))
            #expect(try await browser.get("/destinations").form(action: "/destinations/hook/enable") != nil)
            let enable = try await browser.post("/destinations/hook/enable", [("csrf", try #require(detail.csrf))])
            #expect(enable.status == 303)
            try await waitUntil { try await gateway.status("hook")?["delivered"] == 1 }
            let after = try await browser.get("/destinations/hook?enabled=1")
            #expect(after.text.contains("badge-active"))
            #expect(after.form(action: "/destinations/hook/enable") == nil)
        }
    }
}

/// A small browser: keeps the session cookie, does not follow redirects, reads forms and table rows.
/// Signed in, it also sends the admin token as a bearer header (as a script would); signed out, it has
/// only what a `?token=` sign-in gives it.
struct Browser {
    let base: String
    var cookie: String?
    let bearer: String?

    init(_ gateway: TestGateway, signedIn: Bool = true) {
        base = gateway.baseURL
        bearer = signedIn ? TestGateway.adminToken : nil
    }

    /// Its own client, because the shared one follows redirects and the tests look at the 303 itself.
    static let client = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))

    mutating func get(_ path: String) async throws -> HTMLPage {
        try await send(path, method: .GET, body: nil)
    }

    mutating func post(_ path: String, _ form: [(String, String)]) async throws -> HTMLPage {
        let body = form.map { "\(Self.encode($0))=\(Self.encode($1))" }.joined(separator: "&")
        return try await send(path, method: .POST, body: body)
    }

    private mutating func send(_ path: String, method: HTTPMethod, body: String?) async throws -> HTMLPage {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await Self.client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 10_000_000)
        if let set = response.headers["Set-Cookie"].first, let pair = set.split(separator: ";").first {
            cookie = String(pair)
        }
        return HTMLPage(
            status: Int(response.status.code), headers: response.headers, text: String(buffer: bytes))
    }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }
}

/// A page as the tests read it: plain string searches over the server's own markup.
struct HTMLPage {
    let status: Int
    let headers: HTTPHeaders
    let text: String

    /// The `<tr>…</tr>` rows of the page's table bodies.
    var rows: [String] {
        guard let body = text.range(of: "<tbody>") else { return [] }
        return text[body.upperBound...].components(separatedBy: "<tr").dropFirst()
            .map { "<tr" + $0 }.filter { $0.contains("<td") }
    }

    /// The CSRF token of the page's first form.
    var csrf: String? {
        guard let start = text.range(of: #"name="csrf" value=""#) else { return nil }
        return String(text[start.upperBound...].prefix { $0 != "\"" })
    }

    /// The `<form …>…</form>` posting to `action`.
    func form(action: String) -> String? {
        guard let start = text.range(of: #"<form method="post" action="\#(action)""#),
            let end = text.range(of: "</form>", range: start.upperBound..<text.endIndex)
        else { return nil }
        return String(text[start.lowerBound..<end.upperBound])
    }

    /// The `href` of the link whose text is `text`.
    func link(text linkText: String) -> String? {
        guard let end = text.range(of: "\">\(linkText)</a>") else { return nil }
        let before = text[..<end.lowerBound]
        guard let start = before.range(of: "href=\"", options: .backwards) else { return nil }
        return String(before[start.upperBound...]).replacingOccurrences(of: "&amp;", with: "&")
    }
}

extension String {
    /// The text of each `<td>` of a table row, tags removed, entities of the UI's escaping undone.
    var cells: [String] {
        components(separatedBy: "<td").dropFirst().map { cell in
            let content = cell.drop { $0 != ">" }.dropFirst()
            let inner = content.components(separatedBy: "</td>").first ?? ""
            var plain = ""
            var inTag = false
            for char in inner {
                if char == "<" {
                    inTag = true
                } else if char == ">" {
                    inTag = false
                } else if !inTag {
                    plain.append(char)
                }
            }
            return plain.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
                .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&#39;", with: "'")
                .replacingOccurrences(of: "&amp;", with: "&")
                .split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
    }
}
