import Testing

@testable import SwitchyardCore

@Suite struct RoutingTests {
    @Test(arguments: [
        ("Order *", "Order Completed", true), ("Order *", "Order", false), ("*", "", true), ("a?c", "abc", true),
        ("a?c", "ac", false), ("/docs/*", "/docs/a/b", true), ("*ed", "Signed Up", false), ("*Up", "Signed Up", true),
        ("a*b*c", "axxbyyc", true), ("a*b*c", "axxbyy", false), ("exact", "Exact", false),
    ])
    func globsMatch(_ pattern: String, _ text: String, _ expected: Bool) {
        #expect(Glob(pattern).matches(text) == expected)
    }

    func facts(_ body: String, type: EventType = .track, name: String? = "Order Completed", identified: Bool = true) -> RoutingFacts {
        RoutingFacts(type: type, eventName: name, identified: identified, body: Array(body.utf8))
    }

    @Test func readsIntegrationsAndPathsFromTheBody() {
        let page = facts(#"{"context":{"page":{"path":"/docs/a"}},"integrations":{"All":false,"hook":true,"mp":{"x":1}}}"#, type: .page)
        #expect(page.path == "/docs/a")
        #expect(page.integrations == ["All": false, "hook": true, "mp": true])
        #expect(facts(#"{"properties":{"path":"/p"}}"#, type: .page).path == "/p")
    }

    @Test(arguments: [
        (#"{}"#, true),
        (#"{"integrations":{"All":false}}"#, false),
        (#"{"integrations":{"All":false,"hook":true}}"#, true),
        (#"{"integrations":{"hook":false}}"#, false),
        (#"{"integrations":{"Webhook":false}}"#, false),
        (#"{"integrations":{"webhook":false,"hook":true}}"#, true),
        (#"{"integrations":{"Mixpanel":false}}"#, true),
    ])
    func integrationsSwitchDestinations(_ body: String, _ routed: Bool) {
        #expect(EventFilter().accepts(facts(body), destination: "hook", type: "webhook") == routed)
    }

    @Test func filtersByTypeNameIdentityAndPath() {
        let order = facts("{}")
        #expect(EventFilter(types: [.track]).accepts(order, destination: "d", type: "t"))
        #expect(!EventFilter(types: [.page]).accepts(order, destination: "d", type: "t"))
        #expect(EventFilter(events: [Glob("Order *")]).accepts(order, destination: "d", type: "t"))
        #expect(!EventFilter(events: [Glob("Signup")]).accepts(order, destination: "d", type: "t"))
        #expect(!EventFilter(excludeEvents: [Glob("Order*")]).accepts(order, destination: "d", type: "t"))
        #expect(!EventFilter(identified: false).accepts(order, destination: "d", type: "t"))
        #expect(EventFilter(identified: false).accepts(facts("{}", identified: false), destination: "d", type: "t"))
        let identify = facts("{}", type: .identify, name: nil)
        #expect(EventFilter(events: [Glob("Order *")]).accepts(identify, destination: "d", type: "t"), "name filters leave unnamed calls alone")
        let docs = facts(#"{"context":{"page":{"path":"/docs/x"}}}"#, type: .page, name: nil)
        #expect(EventFilter(paths: [Glob("/docs/*")]).accepts(docs, destination: "d", type: "t"))
        #expect(!EventFilter(paths: [Glob("/blog/*")]).accepts(docs, destination: "d", type: "t"))
        #expect(EventFilter(paths: [Glob("/blog/*")]).accepts(order, destination: "d", type: "t"), "path filters apply to pages")
    }
}

@Suite struct RetryPolicyTests {
    struct Fixed: RandomNumberGenerator {
        var value: UInt64
        mutating func next() -> UInt64 { value }
    }

    @Test func ceilingDoublesUpToTheMaximum() {
        let policy = RetryPolicy()
        #expect(policy.ceiling(afterAttempt: 1) == .seconds(1))
        #expect(policy.ceiling(afterAttempt: 2) == .seconds(2))
        #expect(policy.ceiling(afterAttempt: 5) == .seconds(16))
        #expect(policy.ceiling(afterAttempt: 9) == .seconds(256))
        #expect(policy.ceiling(afterAttempt: 10) == .seconds(300))
        #expect(policy.ceiling(afterAttempt: 1000) == .seconds(300))
    }

    @Test func jitterStaysUnderTheCeiling() {
        let policy = RetryPolicy()
        var generator = SystemRandomNumberGenerator()
        for attempt in 1...12 {
            let delay = policy.delay(afterAttempt: attempt, retryAfter: nil, using: &generator)
            #expect(delay >= .zero && delay <= policy.ceiling(afterAttempt: attempt))
        }
    }

    @Test func retryAfterIsHonouredAndClamped() {
        let policy = RetryPolicy(maxBackoff: .seconds(10))
        var generator = Fixed(value: 0)
        #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(2), using: &generator) == .seconds(2))
        #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(100), using: &generator) == .seconds(100))
        #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(86400), using: &generator) == .seconds(300))
    }

    @Test func givesUpAfterMaxAgeOrAttempts() {
        let start = Timestamp(milliseconds: 0)
        let policy = RetryPolicy(maxAge: .seconds(3600), maxAttempts: 5)
        #expect(!policy.givesUp(attempts: 4, firstAttempt: start, now: start + .seconds(3599)))
        #expect(policy.givesUp(attempts: 4, firstAttempt: start, now: start + .seconds(3600)))
        #expect(policy.givesUp(attempts: 5, firstAttempt: start, now: start))
        #expect(!RetryPolicy().givesUp(attempts: 10_000, firstAttempt: start, now: start + .seconds(60)))
    }
}

@Suite struct HTTPClassificationTests {
    @Test(arguments: [
        (200, "delivered"), (204, "delivered"), (301, "dead"), (400, "dead"), (401, "dead"), (404, "dead"),
        (408, "retry"), (410, "disable"), (413, "split"), (429, "retry"), (500, "retry"), (501, "dead"),
        (502, "retry"), (503, "retry"), (504, "retry"),
        // Not a final HTTP status: a broken proxy; sending again may meet a working one.
        (0, "retry"), (100, "retry"), (199, "retry"), (600, "retry"), (999, "retry"), (-1, "retry"), (Int.max, "retry"),
    ])
    func followsTheDocumentedTable(_ status: Int, _ expected: String) {
        let outcome = HTTPClassification.outcome(status: status, retryAfter: nil)
        let kind: String
        switch outcome {
        case .delivered: kind = "delivered"
        case .retry, .retrySome: kind = "retry"
        case .split: kind = "split"
        case .deadLetter, .deadLetterAll: kind = "dead"
        case .disable: kind = "disable"
        }
        #expect(kind == expected)
    }

    @Test func readsRetryAfterSeconds() {
        #expect(HTTPClassification.retryAfter("2") == .seconds(2))
        #expect(HTTPClassification.retryAfter(" 1.5 ") == .milliseconds(1500))
        #expect(HTTPClassification.retryAfter(nil) == nil)
    }

    @Test func readsRetryAfterDatesRelativeToNow() {
        let now = Timestamp(milliseconds: 1_445_412_480_000)  // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(HTTPClassification.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now: now) == .zero)
        #expect(HTTPClassification.retryAfter("Wed, 21 Oct 2015 07:30:00 GMT", now: now) == .seconds(120))
        #expect(HTTPClassification.retryAfter("Wednesday, 21-Oct-15 07:29:00 GMT", now: now) == .seconds(60))
        #expect(HTTPClassification.retryAfter("Wed Oct 21 07:28:30 2015", now: now) == .seconds(30))
        #expect(HTTPClassification.retryAfter("Tue, 20 Oct 2015 07:28:00 GMT", now: now) == .zero, "a past date: now")
        #expect(HTTPClassification.retryAfter("Fri, 31 Dec 9999 23:59:59 GMT", now: now) == HTTPClassification.maximumRetryAfter)
        #expect(HTTPClassification.retryAfter("Wed, 21 Oct 2015 25:00:00 GMT", now: now) == nil)
    }

    /// SPEC §2: hostile values are ignored or clamped, never trapped on (`Int64(1e300 * 1000)` used to).
    @Test(arguments: ["1e300", "inf", "-inf", "nan", "-1", "0x10", "1.", ".5", "1,5", "5 s", "", "   "])
    func ignoresRetryAfterGarbage(_ text: String) {
        #expect(HTTPClassification.retryAfter(text) == nil)
    }

    @Test func clampsHugeRetryAfterToTheMaximum() {
        #expect(HTTPClassification.retryAfter("3601") == HTTPClassification.maximumRetryAfter)
        #expect(HTTPClassification.retryAfter(String(repeating: "9", count: 60)) == HTTPClassification.maximumRetryAfter)
        #expect(HTTPClassification.retryAfter(String(repeating: "9", count: 65)) == nil, "over-long text is not read")
        var generator = SystemRandomNumberGenerator()
        let policy = RetryPolicy(maxBackoff: .seconds(10))
        #expect(policy.delay(afterAttempt: 1, retryAfter: HTTPClassification.maximumRetryAfter, using: &generator) == .seconds(300))
        #expect(policy.delay(afterAttempt: 1, retryAfter: .zero - .seconds(5), using: &generator) == .zero)
    }

    /// Backoff ceilings never overflow, whatever the attempt count or configured durations.
    @Test func backoffCeilingsAreTotal() {
        let huge = RetryPolicy(initialBackoff: .seconds(Int64.max / 2), maxBackoff: .seconds(Int64.max), maxAge: .seconds(1))
        #expect(huge.ceiling(afterAttempt: Int.max) > .zero)
        let normal = RetryPolicy()
        #expect(normal.ceiling(afterAttempt: 1) == .seconds(1))
        #expect(normal.ceiling(afterAttempt: 5) == .seconds(16))
        #expect(normal.ceiling(afterAttempt: Int.max) == .seconds(300))
        #expect(normal.ceiling(afterAttempt: Int.min) == .seconds(1))
    }
}
