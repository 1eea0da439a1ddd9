import Foundation
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardTesting
import Testing

/// Everything a destination sends back is hostile (SPEC §2): a seeded random-mutation fuzz test of every
/// answer classifier — the default reading, Mixpanel, Amplitude (per-request and per-event), PostHog and
/// the webhook — fed real requests built from `destinations/*/fixtures/` and answers mutated from the
/// corpus in `Corpus/answers/`.
///
/// Every answer must end in one of the closed set of outcomes with sane values: retry delays between zero
/// and ``HTTPClassification/maximumRetryAfter``, dead-letter indexes inside the request, short reasons. A
/// trap fails the whole test process, which is the point. An input that breaks an invariant is written to
/// `Corpus/answers/found-<hash>.answer`: commit it, and it runs first on every later run.
///
/// Bounded in time: `SWITCHYARD_FUZZ_SECONDS` (default 20) of mutations after the corpus; the seed is
/// `SWITCHYARD_FUZZ_SEED` (default fixed, so CI is reproducible) and is printed on failure.
@Suite("Destination answers under fuzzing")
struct AnswerFuzzTests {
    static let corpusFolder = repositoryRoot() + "/Tests/SwitchyardDestinationsTests/Corpus/answers"

    @Test func everyCorpusAnswerAndItsMutationsClassifySanely() throws {
        let targets = try AnswerTarget.all()
        try #require(targets.count >= 4, "requests from the fixtures of every HTTP type")
        let corpus = try CorpusAnswer.load(from: Self.corpusFolder)
        try #require(corpus.count >= 20, "the corpus in \(Self.corpusFolder)")
        var failures = 0

        // The corpus as written, against every target: earlier failures stay fixed.
        for answer in corpus {
            for target in targets { failures += check(answer, target, label: answer.name) }
        }

        let environment = ProcessInfo.processInfo.environment
        let seed = environment["SWITCHYARD_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5357_4954_4348_5944
        let seconds = environment["SWITCHYARD_FUZZ_SECONDS"].flatMap { Double($0) } ?? 20
        var random = SplitMix64(seed: seed)
        let deadline = ContinuousClock.now + .milliseconds(Int64(min(max(seconds, 0), 3600) * 1000))
        var iterations = 0
        while ContinuousClock.now < deadline, failures < 5 {
            for _ in 0..<200 {
                var answer = corpus[Int.random(in: 0..<corpus.count, using: &random)]
                AnswerMutator.mutate(&answer, corpus: corpus, using: &random)
                let target = targets[Int.random(in: 0..<targets.count, using: &random)]
                failures += check(answer, target, label: "seed \(seed), iteration \(iterations)")
                iterations += 1
            }
        }
        #expect(failures == 0, "seed \(seed): \(failures) answers broke an invariant (saved under Corpus/answers)")
        #expect(iterations > 1000, "the fuzzer ran \(iterations) mutations")
    }

    /// The same kind of answers over real loopback HTTP, through each HTTP destination's whole delivery
    /// (the sender, the adapter, Amplitude's resend loop): every delivery ends, in a sane outcome.
    @Test func mutatedAnswersOverLoopbackEndInSaneOutcomes() async throws {
        let corpus = try CorpusAnswer.load(from: Self.corpusFolder)
        let fixtures = FixtureCase.all().filter { ["webhook", "mixpanel", "amplitude", "posthog"].contains($0.type) }
        try #require(!fixtures.isEmpty)
        let server = try await ScriptedHTTPServer.start()
        var random = SplitMix64(seed: 0x10_0BAC)
        var undelivered = 0
        for round in 0..<160 {
            let fixture = fixtures[round % fixtures.count]
            let input = try FixtureInput(
                fixture, settingsOverride: [(fixture.type == "webhook" ? "url" : "endpoint", .string(server.url))])
            // A real server sends a real status line; everything else about the answer is mutated.
            let replies = (0..<6).map { _ -> ScriptedHTTPServer.Reply in
                var answer = corpus[Int.random(in: 0..<corpus.count, using: &random)]
                AnswerMutator.mutate(&answer, corpus: corpus, using: &random)
                return .init(
                    min(max(answer.status, 200), 599), headers: answer.headers.map { ($0.name, $0.value) },
                    body: String(decoding: answer.body, as: UTF8.self))
            }
            server.program(replies, then: .ok)
            let destination = try DestinationRegistry.makeDestination(
                settings: input.settings,
                context: testContext(clock: ManualWallClock(input.now), maxBatchEvents: input.maxBatchEvents))
            let outcome = await destination.deliver(DeliveryBatch(events: input.events))
            if outcome != .delivered { undelivered += 1 }
            let problems = Self.problems(of: outcome, eventIndexes: Set(input.events.indices))
            #expect(problems.isEmpty, "\(fixture.type)/\(fixture.name), round \(round): \(problems) from \(outcome)")
        }
        #expect(undelivered > 40, "the mutated answers were read: \(undelivered) of 160 deliveries did not succeed")
        await server.stop()
    }

    /// The Retry-After reader alone: random text never traps and stays in range; valid dates read exactly.
    @Test func retryAfterIsTotalAndClamped() {
        var random = SplitMix64(seed: 7)
        let now = Timestamp(milliseconds: 1_764_547_200_000)  // 2025-12-01T00:00:00Z
        let maximum = HTTPClassification.maximumRetryAfter
        for _ in 0..<50_000 {
            let text = AnswerMutator.retryAfterValue(using: &random)
            if let delay = HTTPClassification.retryAfter(text, now: now) {
                #expect(delay >= .zero && delay <= maximum, "Retry-After \(text.debugDescription) gave \(delay)")
            }
        }
        // A date `offset` seconds from now reads as that offset, clamped to [0, maximum].
        for _ in 0..<5000 {
            let offset = Int64.random(in: -100_000...100_000, using: &random)
            let date = Date(timeIntervalSince1970: Double(now.milliseconds / 1000 + offset))
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
            let expected = Duration.seconds(min(max(offset, 0), 3600))
            #expect(HTTPClassification.retryAfter(formatter.string(from: date), now: now) == expected)
        }
        #expect(HTTPClassification.retryAfter("1e300", now: now) == nil)
        #expect(HTTPClassification.retryAfter("inf", now: now) == nil)
        #expect(HTTPClassification.retryAfter("-1", now: now) == nil)
        #expect(HTTPClassification.retryAfter("nan", now: now) == nil)
        #expect(HTTPClassification.retryAfter("99999999999999999999999", now: now) == maximum)
        #expect(HTTPClassification.retryAfter("Fri, 31 Dec 9999 23:59:59 GMT", now: now) == maximum)
        #expect(HTTPClassification.retryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now: now) == .zero)
        #expect(HTTPClassification.retryAfter("Sun Nov  6 08:49:37 2094", now: now) == maximum)
        #expect(HTTPClassification.retryAfter("Thu, 30 Feb 2026 00:00:00 GMT", now: now) == nil, "no 30 February")
        #expect(HTTPClassification.retryAfter("120", now: now) == .seconds(120))
    }

    /// Checks one answer against one target; returns 1 (and saves the answer) when an invariant broke.
    func check(_ answer: CorpusAnswer, _ target: AnswerTarget, label: String) -> Int {
        let result = HTTPResult(status: answer.status, headers: answer.headers, body: answer.body)
        var problems: [String] = []
        let outcome = target.adapter.classify(result, for: target.request)
        problems += Self.problems(of: outcome, eventIndexes: Set(target.request.eventIndexes))
        if let events = target.amplitudeEvents {
            problems += Self.problems(
                of: AmplitudeAnswer(result, events: events, useBatchAPI: false), count: events.count)
        }
        guard !problems.isEmpty else { return 0 }
        let path = answer.save(in: Self.corpusFolder)
        Issue.record("\(label), \(target.name): \(problems.joined(separator: "; ")); saved as \(path)")
        return 1
    }

    static func problems(of outcome: DeliveryOutcome, eventIndexes: Set<Int>) -> [String] {
        var problems: [String] = []
        func reason(_ text: String) {
            if text.utf8.count > 2048 { problems.append("a reason of \(text.utf8.count) bytes") }
        }
        switch outcome {
        case .delivered, .split:
            break
        case .retry(let after, let text, _):
            reason(text)
            if let after, after < .zero || after > HTTPClassification.maximumRetryAfter {
                problems.append("retry after \(after)")
            }
            var generator = SplitMix64(seed: 1)
            let policy = RetryPolicy()
            let delay = policy.delay(afterAttempt: 3, retryAfter: after, using: &generator)
            if delay < .zero || delay > max(policy.maxBackoff, .seconds(300)) { problems.append("delay \(delay)") }
        case .deadLetter(let indexes, let text, _):
            reason(text)
            if indexes.isEmpty { problems.append("a partial dead letter of nothing") }
            if !Set(indexes).isSubset(of: eventIndexes) { problems.append("dead-letter indexes \(indexes) outside the request") }
            if indexes != Array(Set(indexes)).sorted() { problems.append("indexes not sorted and unique: \(indexes)") }
        case .retrySome(let indexes, let after, let text, _):
            reason(text)
            if indexes.isEmpty { problems.append("a partial retry of nothing") }
            if !Set(indexes).isSubset(of: eventIndexes) { problems.append("retry indexes \(indexes) outside the request") }
            if indexes != Array(Set(indexes)).sorted() { problems.append("indexes not sorted and unique: \(indexes)") }
            if let after, after < .zero || after > HTTPClassification.maximumRetryAfter {
                problems.append("retry after \(after)")
            }
        case .deadLetterAll(let text, _), .disable(let text, _):
            reason(text)
        }
        return problems
    }

    static func problems(of answer: AmplitudeAnswer, count: Int) -> [String] {
        switch answer {
        case .accepted:
            return []
        case .rejected(let reasons, _):
            var problems: [String] = []
            if reasons.isEmpty { problems.append("a rejection of nothing") }
            if !reasons.keys.allSatisfy({ (0..<count).contains($0) }) { problems.append("rejected positions \(reasons.keys.sorted())") }
            if reasons.values.contains(where: { $0.utf8.count > 512 }) { problems.append("an over-long rejection reason") }
            return problems
        case .throttled(let waiting, let overQuota, let after):
            var problems: [String] = []
            if !(waiting + overQuota).allSatisfy({ (0..<count).contains($0) }) { problems.append("throttled positions outside the request") }
            if !Set(waiting).isDisjoint(with: overQuota) { problems.append("an event both waiting and over quota") }
            if after < .zero || after > HTTPClassification.maximumRetryAfter { problems.append("throttled for \(after)") }
            return problems
        case .request(let outcome):
            return problems(of: outcome, eventIndexes: Set(0..<count))
        }
    }
}

/// A request built from a fixture, and the classifier that reads answers to it.
struct AnswerTarget {
    var name: String
    var adapter: any HTTPDestinationAdapter
    var request: OutgoingRequest
    /// For Amplitude, the events the request carries (``AmplitudeAnswer`` reads answers per event).
    var amplitudeEvents: [AmplitudeEvent]?

    static func all() throws -> [AnswerTarget] {
        var targets: [AnswerTarget] = []
        for fixture in FixtureCase.all() {
            let input = try FixtureInput(fixture)
            let batch = DeliveryBatch(events: input.events)
            let name = "\(fixture.type)/\(fixture.name)"
            switch fixture.type {
            case "webhook":
                let adapter = WebhookAdapter(settings: try cast(input.settings), maxBatchEvents: input.maxBatchEvents)
                targets += try adapter.requests(for: batch, now: input.now).map { AnswerTarget(name: name, adapter: adapter, request: $0) }
            case "mixpanel":
                let adapter = MixpanelAdapter(settings: try cast(input.settings))
                targets += try adapter.requests(for: batch, now: input.now).map { AnswerTarget(name: name, adapter: adapter, request: $0) }
            case "posthog":
                let adapter = PostHogAdapter(settings: try cast(input.settings))
                targets += try adapter.requests(for: batch, now: input.now).map { AnswerTarget(name: name, adapter: adapter, request: $0) }
            case "amplitude":
                let adapter = AmplitudeAdapter(settings: try cast(input.settings))
                for chunk in adapter.chunks(of: try adapter.events(for: batch)) where !chunk.isEmpty {
                    targets.append(
                        AnswerTarget(name: name, adapter: adapter, request: adapter.request(carrying: chunk), amplitudeEvents: chunk))
                }
            default:
                continue  // the warehouse answers nothing
            }
        }
        return targets
    }
}

/// One answer in the corpus: `STATUS\nName: value\n…\n\nBODY` (the body is raw bytes to the end).
struct CorpusAnswer: Sendable {
    var name: String
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    static func load(from folder: String) throws -> [CorpusAnswer] {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".answer") }.sorted()
        return try names.map { name in
            let bytes = try #require(FileManager.default.contents(atPath: folder + "/" + name), "read \(name)")
            return parse(Array(bytes), name: name)
        }
    }

    static func parse(_ bytes: [UInt8], name: String) -> CorpusAnswer {
        var lines: [String] = []
        var index = 0
        var lineStart = 0
        while index < bytes.count {
            if bytes[index] == 0x0A {
                let line = String(decoding: bytes[lineStart..<index], as: UTF8.self)
                index += 1
                lineStart = index
                if line.isEmpty && !lines.isEmpty { break }
                lines.append(line)
                continue
            }
            index += 1
        }
        if lineStart < bytes.count, lines.isEmpty { lines.append(String(decoding: bytes[lineStart...], as: UTF8.self)) }
        let body = index <= bytes.count && lineStart <= bytes.count ? Array(bytes[lineStart...]) : []
        let status = lines.first.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? 0
        let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        return CorpusAnswer(name: name, status: status, headers: headers, body: body)
    }

    var serialized: [UInt8] {
        var text = "\(status)\n"
        for header in headers { text += "\(header.name): \(header.value)\n" }
        return Array((text + "\n").utf8) + body
    }

    /// Writes the answer as `found-<hash>.answer` and returns the path.
    func save(in folder: String) -> String {
        let bytes = serialized
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let path = folder + "/found-" + String(hash, radix: 16) + ".answer"
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            return path + " (could not be written: add it by hand)"
        }
        return path
    }
}

/// The mutations: statuses, Retry-After values and JSON bodies, biased towards what breaks parsers.
enum AnswerMutator {
    static let statuses = [200, 201, 202, 204, 301, 302, 400, 401, 403, 404, 408, 410, 413, 422, 429, 500, 501, 502, 503, 504]
    static let numbers = [
        "1e300", "-1e300", "1e-300", "-1", "-0", "0", "1.5", "0.5", "2", "NaN", "Infinity", "-Infinity", "inf", "nan",
        "9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "9007199254740993", "4294967296", "1E400", "0x10", "1_000", "",
    ]
    static let tokens = [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800", "\\u0000", "null", "true", "false",
        "\"index\":", "\"failed_records\":[", "\"throttled_events\":[", "\"events_with_invalid_fields\":{\"f\":[",
        "\"silenced_events\":[", "\"exceeded_daily_quota_users\":{", "\"missing_field\":", "\"error\":", "\"status\":",
        "\"insert_id\":", "\"$insert_id\":", "\"code\":", String(repeating: "[", count: 300), String(repeating: "x", count: 3000),
        // One character of thousands of combining marks: cutting by characters keeps it whole.
        "e" + String(repeating: "\u{301}", count: 5000), "\"error\":\"e" + String(repeating: "\u{301}", count: 5000) + "\"",
    ]

    static func mutate(_ answer: inout CorpusAnswer, corpus: [CorpusAnswer], using random: inout SplitMix64) {
        answer.name = "mutation"
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            switch Int.random(in: 0..<10, using: &random) {
            case 0:
                answer.status = Bool.random(using: &random) ? statuses.randomElement(using: &random)! : randomStatus(using: &random)
            case 1, 2:
                answer.headers.removeAll { $0.name.lowercased() == "retry-after" }
                answer.headers.append(("Retry-After", retryAfterValue(using: &random)))
            default:
                mutateBody(&answer.body, corpus: corpus, using: &random)
            }
        }
        // The sender reads at most this much; larger bodies never reach a classifier.
        if answer.body.count > HTTPSender.maximumBodyBytes { answer.body.removeLast(answer.body.count - HTTPSender.maximumBodyBytes) }
    }

    static func randomStatus(using random: inout SplitMix64) -> Int {
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return Int.random(in: 100..<600, using: &random)
        case 1: return Int.random(in: -1000...100_000, using: &random)
        case 2: return [0, 1, 99, 600, 999, Int.max, Int.min, Int(Int32.max)].randomElement(using: &random)!
        default: return statuses.randomElement(using: &random)!
        }
    }

    static func retryAfterValue(using random: inout SplitMix64) -> String {
        switch Int.random(in: 0..<6, using: &random) {
        case 0:
            return numbers.randomElement(using: &random)!
        case 1:
            let digits = Int.random(in: 1...40, using: &random)
            return String((0..<digits).map { _ in Character(String(Int.random(in: 0...9, using: &random))) })
        case 2:
            // An HTTP-date with every field drawn from a range wider than valid.
            let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Xyz", "Sunday"]
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Foo", "jan"]
            let day = Int.random(in: -1...40, using: &random)
            let year = [0, 1, 70, 94, 1969, 1970, 2026, 9999, 10000, 99999].randomElement(using: &random)!
            let time = "\(Int.random(in: 0...30, using: &random)):\(Int.random(in: 0...70, using: &random)):\(Int.random(in: 0...70, using: &random))"
            let month = months.randomElement(using: &random)!
            let weekday = days.randomElement(using: &random)!
            switch Int.random(in: 0..<3, using: &random) {
            case 0: return "\(weekday), \(day) \(month) \(year) \(time) GMT"
            case 1: return "\(weekday), \(day)-\(month)-\(year % 100) \(time) GMT"
            default: return "\(weekday) \(month) \(day) \(time) \(year)"
            }
        case 3:
            let length = Int.random(in: 0...80, using: &random)
            return String(decoding: (0..<length).map { _ in UInt8.random(in: 0x20...0x7E, using: &random) }, as: UTF8.self)
        case 4:
            return " \t" + numbers.randomElement(using: &random)! + " "
        default:
            return "\(Double.random(in: -1e6...1e6, using: &random))"
        }
    }

    static func mutateBody(_ body: inout [UInt8], corpus: [CorpusAnswer], using random: inout SplitMix64) {
        let position = body.isEmpty ? 0 : Int.random(in: 0...body.count, using: &random)
        switch Int.random(in: 0..<8, using: &random) {
        case 0:
            if !body.isEmpty { body[Int.random(in: 0..<body.count, using: &random)] = UInt8.random(in: 0...255, using: &random) }
        case 1:
            body.insert(contentsOf: tokens.randomElement(using: &random)!.utf8, at: position)
        case 2:
            // Replace the number at or after `position` with a hostile one.
            guard let start = body[position...].firstIndex(where: { (0x30...0x39).contains($0) }) else { fallthrough }
            let end = body[start...].firstIndex { !(0x30...0x39).contains($0) && $0 != UInt8(ascii: ".") } ?? body.count
            body.replaceSubrange(start..<end, with: numbers.randomElement(using: &random)!.utf8)
        case 3:
            body.removeLast(body.count - position)
        case 4:
            let end = Int.random(in: position...body.count, using: &random)
            let slice = body[position..<end]
            body.insert(contentsOf: Array(slice), at: Int.random(in: 0...body.count, using: &random))
        case 5:
            let other = corpus.randomElement(using: &random)!.body
            let start = other.isEmpty ? 0 : Int.random(in: 0..<other.count, using: &random)
            body.insert(contentsOf: other[start...], at: position)
        case 6:
            // A long list of indexes, as a hostile vendor might claim.
            let count = Int.random(in: 1...2000, using: &random)
            let list = (0..<count).map { _ in numbers.randomElement(using: &random)! }.joined(separator: ",")
            body.insert(contentsOf: Array("[\(list)]".utf8), at: position)
        default:
            if !body.isEmpty { body.remove(at: Int.random(in: 0..<body.count, using: &random)) }
        }
    }
}

/// A small seeded generator, so a failing run can be repeated exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
