// libFuzzer entry point for the ingest scanner and parser. `scripts/fuzz` compiles it together with
// Sources/SwitchyardCore into one module named SwitchyardCore (so no `import`), with the fuzzer and AddressSanitizer runtimes.
//
// Every input goes through the scanner, the tree parser and the ingest parser on a single-event path and
// on `/v1/batch`. A trap, a hang (`-timeout=`), a leak or an out-of-bounds access is a finding: save the
// input under Fuzz/corpus/ingest/ and `swift test --filter IngestFuzzTests` runs it on every CI run.
// What is stored must also scan without findings (one value per key, no lone surrogate, finite numbers).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIngest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let parser = IngestParser(rules: IngestRules(maxEventBytes: 4000, maxRequestBytes: 64_000, maxBatchEvents: 50))
    let now = Timestamp(milliseconds: 1_795_929_925_123)
    _ = try? JSONValue.parse(input)
    for endpoint in [IngestEndpoint.single(.track), .batch] {
        guard let parsed = try? parser.parse(input, endpoint: endpoint, receivedAt: now, clientIP: "10.0.0.1") else { continue }
        for event in parsed.events {
            event.body.withUnsafeBufferPointer { bytes in
                var scanner = JSONScanner(bytes)
                guard (try? scanner.scanDocument()) != nil, scanner.findings.isEmpty else {
                    fatalError("stored an event that readers disagree on: \(String(decoding: event.body, as: UTF8.self))")
                }
            }
        }
    }
    return 0
}
