import Testing

@testable import SwitchyardCore

@Suite struct TokenBucketTests {
    @Test func allowsUpToTheRateThenAsksToWait() {
        var bucket = TokenBucket(eventsPerSecond: 10)
        #expect(bucket.take(10, nowNanoseconds: 0) == nil)
        let wait = bucket.take(1, nowNanoseconds: 0)
        #expect(wait != nil)
        #expect(wait! > .zero && wait! <= .milliseconds(100))
        // Half a second refills five events.
        #expect(bucket.take(5, nowNanoseconds: 500_000_000) == nil)
        #expect(bucket.take(1, nowNanoseconds: 500_000_000) != nil)
    }

    @Test func aBatchLargerThanTheBucketPassesOnceThenPaysItsDebt() {
        var bucket = TokenBucket(eventsPerSecond: 100)
        #expect(bucket.take(500, nowNanoseconds: 0) == nil)
        #expect(bucket.take(1, nowNanoseconds: 3_000_000_000) != nil)  // 400 in debt, 300 refilled
        #expect(bucket.take(1, nowNanoseconds: 4_100_000_000) == nil)
    }

    /// Config values are hostile too: `rate_limit: 1e-300` used to trap converting the wait to Int64.
    @Test(arguments: [1e-300, Double.leastNonzeroMagnitude, 1e-9, 1e300, Double.greatestFiniteMagnitude])
    func anyFiniteRateGivesAWaitInRange(_ rate: Double) {
        var bucket = TokenBucket(eventsPerSecond: rate)
        for now: Int64 in [0, 1, Int64.max, 0, Int64.min, Int64.max] {
            if let wait = bucket.take(Int.max, nowNanoseconds: now) {
                #expect(wait >= .zero && wait <= .seconds(86_400))
            }
        }
    }
}
