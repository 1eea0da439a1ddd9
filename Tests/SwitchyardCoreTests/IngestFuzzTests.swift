import Foundation
import SwitchyardTesting
import Testing

@testable import SwitchyardCore

/// Seeded random-mutation fuzzing of the ingest parser, bounded in time so CI runs it on every change.
///
/// Inputs are mutations of the corpus in `Fuzz/corpus/ingest/` (which also holds every input that ever
/// broke the parser, run first as regression cases). For each input, on a single-event path and on
/// `/v1/batch`, the parser must end (no trap, no spin) within a bound that only a super-linear path
/// would exceed, and every event it accepts must be stored as JSON that Python's `json` (the reference)
/// reads with one value per key and the same ids. `SWITCHYARD_FUZZ_SECONDS` and
/// `SWITCHYARD_FUZZ_SEED` run it longer or from another seed; `scripts/fuzz` runs the libFuzzer target.
@Suite(.timeLimit(.minutes(3)))
struct IngestFuzzTests {
    static let corpusDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus/ingest")

    static func corpus() throws -> [[UInt8]] {
        let files = try FileManager.default.contentsOfDirectory(atPath: corpusDirectory.path).filter { !$0.hasPrefix(".") }.sorted()
        return try files.map { Array(try Data(contentsOf: corpusDirectory.appendingPathComponent($0))) }
    }

    let parser = IngestParser(rules: IngestRules(maxEventBytes: 4000, maxRequestBytes: 64_000, maxBatchEvents: 50))
    let now = Timestamp(milliseconds: 1_795_929_925_123)

    @Test func theCorpusParsesWithoutTrapping() throws {
        let corpus = try Self.corpus()
        #expect(corpus.count >= 9)
        var stored: [String] = []
        for input in corpus { try check(input, storing: &stored) }
        #expect(stored.count >= 4)
        try Self.checkWithPython(stored)
    }

    @Test func mutationsOfTheCorpusParseWithoutTrapping() throws {
        let environment = ProcessInfo.processInfo.environment
        let seconds = environment["SWITCHYARD_FUZZ_SECONDS"].flatMap(Double.init) ?? 20
        var random = SplitMix64(seed: environment["SWITCHYARD_FUZZ_SEED"].flatMap(UInt64.init) ?? 0x5EED_2026_1203)
        let corpus = try Self.corpus()
        let deadline = Date().addingTimeInterval(seconds)
        var runs = 0
        var stored: [String] = []
        while Date() < deadline {
            var input = corpus[Int(random.next() % UInt64(corpus.count))]
            for _ in 0...(random.next() % 4) { Self.mutate(&input, corpus: corpus, random: &random) }
            do {
                try check(input, storing: &stored)
            } catch {
                let saved = FileManager.default.temporaryDirectory.appendingPathComponent("ingest-fuzz-\(runs).json")
                try? Data(input).write(to: saved)
                Issue.record("input saved at \(saved.path) (add it to Fuzz/corpus/ingest): \(error)")
                return
            }
            runs += 1
        }
        #expect(runs > 100)
        #expect(stored.count > 100)
        try Self.checkWithPython(stored)
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    func check(_ input: [UInt8], storing stored: inout [String]) throws {
        for endpoint in [IngestEndpoint.single(.track), .batch] {
            let started = ContinuousClock.now
            let parsed = try? parser.parse(input, endpoint: endpoint, receivedAt: now, clientIP: "10.0.0.1")
            let elapsed = ContinuousClock.now - started
            // Inputs stay under 64 KB: a linear parse takes well under a millisecond, a quadratic one seconds.
            guard elapsed < .seconds(2) else { throw Failure(description: "parsing \(input.count) bytes took \(elapsed)") }
            for event in parsed?.events ?? [] { try checkStored(event, into: &stored) }
        }
        _ = try? JSONValue.parse(input)  // the tree parser the admin API and destinations use
    }

    /// What is stored must scan clean (one value per key, no lone surrogate, finite numbers) and fit the
    /// limit; it is kept for the reference check, with the ids the parser reported.
    func checkStored(_ event: NewEvent, into stored: inout [String]) throws {
        guard event.body.count <= parser.rules.maxEventBytes else {
            throw Failure(description: "stored \(event.body.count) bytes, over the limit")
        }
        try event.body.withUnsafeBufferPointer { bytes in
            var scanner = JSONScanner(bytes)
            _ = try scanner.scanDocument()
            guard scanner.findings.isEmpty else { throw Failure(description: "stored \(scanner.findings)") }
        }
        guard stored.count < 40_000 else { return }
        var ids = JSONWriter()
        ids.raw("[")
        ids.string(event.type.rawValue)
        ids.comma()
        ids.string(event.messageId)
        ids.comma()
        ids.optionalString(event.userId)
        ids.comma()
        ids.optionalString(event.anonymousId)
        ids.raw("]")
        stored.append(String(decoding: event.body, as: UTF8.self))
        stored.append(String(decoding: ids.bytes, as: UTF8.self))
    }

    /// Python's `json` (what most warehouse users load with; it compares keys by code point, as JavaScript
    /// and Go do) reads every stored event with one value per key and the ids the parser reported.
    static func checkWithPython(_ stored: [String]) throws {
        let script = """
            import json, sys
            def pairs(items):
                keys = [k for k, _ in items]
                if len(keys) != len(set(keys)): raise SystemExit("duplicate keys: %r" % keys)
                return dict(items)
            lines = sys.stdin.read().split("\\n")
            for body, ids in zip(lines[0::2], lines[1::2]):
                event = json.loads(body, object_pairs_hook=pairs)
                json.dumps(event, ensure_ascii=False).encode("utf-8")  # no lone surrogate survives
                seen = [event.get("type"), event.get("messageId"), event.get("userId"), event.get("anonymousId")]
                if seen != json.loads(ids): raise SystemExit("ids differ: %r vs %s in %s" % (seen, ids, body))
            print(len(lines) // 2)
            """
        let result = try ProcessRun.run("python3", ["-c", script], input: Data(stored.joined(separator: "\n").utf8))
        guard result.status == 0 else { throw Failure(description: "Python reads a stored event differently: \(result.errors)") }
        guard Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) == stored.count / 2 else {
            throw Failure(description: "Python read \(result.output) events of \(stored.count / 2)")
        }
    }

    /// Fragments that reach the parser's edge cases quickly.
    static let tokens: [[UInt8]] = [
        "\\u", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\u0049", "1e400", "-1e309", "1e308", "0.0", "-",
        "\"userId\":\"x\",", "\"user\\u0049d\":\"x\",", "\"a\":1,\"a\":2", "\"timestamp\":\"0000-01-01T00:00:00+01:00\",",
        "\"sentAt\":\"9999-12-31T23:59:59Z\",", "\"batch\":[", "{", "}", "[", "]", "\"", ",", ":", "null", "true",
        "\u{FEFF}", "\u{7F}", "\"context\":{\"ip\":1},", "\"type\":\"identify\",",
    ].map { Array($0.utf8) } + [[0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0x00], [0xF4, 0x90, 0x80, 0x80]]

    static func mutate(_ input: inout [UInt8], corpus: [[UInt8]], random: inout SplitMix64) {
        func position(_ extra: Int = 1) -> Int { Int(random.next() % UInt64(input.count + extra)) }
        switch random.next() % 7 {
        case 0 where !input.isEmpty:  // flip a bit
            input[position(0)] ^= UInt8(1 << (random.next() % 8))
        case 1:  // insert a token
            input.insert(contentsOf: tokens[Int(random.next() % UInt64(tokens.count))], at: position())
        case 2 where !input.isEmpty:  // delete a run
            let start = position(0)
            input.removeSubrange(start..<min(input.count, start + 1 + Int(random.next() % 16)))
        case 3 where !input.isEmpty:  // repeat a run (long objects, deep nesting)
            let start = position(0)
            let run = Array(input[start..<min(input.count, start + 1 + Int(random.next() % 64))])
            let times = 1 + Int(random.next() % 32)
            guard input.count + run.count * times < 60_000 else { return }
            for _ in 0..<times { input.insert(contentsOf: run, at: start) }
        case 4:  // splice in part of another corpus entry
            let other = corpus[Int(random.next() % UInt64(corpus.count))]
            guard !other.isEmpty else { return }
            let start = Int(random.next() % UInt64(other.count))
            input.insert(contentsOf: other[start..<min(other.count, start + 1 + Int(random.next() % 128))], at: position())
        case 5 where !input.isEmpty:  // cut the end
            input.removeSubrange(position(0)...)
        default:  // replace a byte by a structural one
            guard !input.isEmpty else { return }
            let structural: [UInt8] = Array("{}[]\",:\\0123456789eE+-.tfnu ".utf8)
            input[position(0)] = structural[Int(random.next() % UInt64(structural.count))]
        }
    }
}
