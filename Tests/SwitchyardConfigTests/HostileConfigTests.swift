import SwitchyardConfig
import SwitchyardCore
import Testing

/// Whole config files with absurd values: each is a config error naming file, line and key, never a trap
/// later (SPEC §2: config values are hostile too).
@Suite struct HostileConfigTests {
    static func destination(_ line: String) -> String {
        """
        \(minimalSources)
        destinations:
          - name: hook
            type: webhook
            url: http://127.0.0.1:9/in
            \(line)
        """
    }

    @Test(arguments: [
        ("batch: { max_events: 9223372036854775807 }", "destinations[0].batch.max_events: must be between 1 and 100000, got 9223372036854775807"),
        ("concurrency: 9223372036854775807", "destinations[0].concurrency: must be between 1 and 1000, got 9223372036854775807"),
        ("concurrency: 99999999999999999999", #"destinations[0].concurrency: expected a whole number, got "99999999999999999999""#),
        ("timeout: 99999999999999999d", #"destinations[0].timeout: expected a duration of at most 100 years (36500d), got "99999999999999999d""#),
        ("timeout: 1e300s", #"destinations[0].timeout: expected a duration like 4h, got "1e300s""#),
        ("retry: { max_backoff: 36501d }", #"destinations[0].retry.max_backoff: expected a duration of at most 100 years (36500d), got "36501d""#),
        ("rate_limit: 1e400", #"destinations[0].rate_limit: expected a number, got "1e400""#),
        ("batch: { max_bytes: 99999999999999999999TB }", #"destinations[0].batch.max_bytes: expected a size like 64MiB, got "99999999999999999999TB""#),
    ])
    func absurdDestinationValues(_ line: String, _ message: String) {
        let error = configError(Self.destination(line))
        #expect(error?.description == "test.yaml:8: " + message)
    }

    @Test func theLargestAcceptedValuesBuildAConfig() throws {
        let config = try parseConfig(
            Self.destination("batch: { max_events: 100000, max_wait: 36500d }\n    concurrency: 1000\n    timeout: 36500d\n    rate_limit: 1e-300"))
        let destination = try #require(config.destinations.first)
        #expect(destination.batch.maxEvents == 100_000)
        #expect(destination.concurrency == 1000)
        #expect(destination.timeout == DurationText.maximum)
        var bucket = TokenBucket(eventsPerSecond: try #require(destination.rateLimit))
        #expect(bucket.take(1, nowNanoseconds: 0) == nil)
        #expect(bucket.take(1, nowNanoseconds: 1) == .seconds(86_400), "a wait of 10^300 s is capped at a day")
    }
}
