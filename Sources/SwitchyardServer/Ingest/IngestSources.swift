import Foundation
import Synchronization
import SwitchyardCore

/// The configured sources, found by write key, each with its optional rate limit.
final class IngestSources: Sendable {
    final class Source: Sendable {
        let name: String
        let rateLimited: Bool
        let limiter: Mutex<TokenBucket>

        init(name: String, limiter: TokenBucket?) {
            self.name = name
            rateLimited = limiter != nil
            // Without a limit the bucket is never consulted.
            self.limiter = Mutex(limiter ?? TokenBucket(eventsPerSecond: 1))
        }
    }

    let byWriteKey: [String: Source]
    /// Each source by the `Authorization` header SDKs send for it, `Basic base64(writeKey + ":")`: a
    /// header that is exactly that is found without decoding it. Any other spelling is decoded.
    let byBasicHeader: [String: Source]
    let start = ContinuousClock.now

    init(_ sources: [(name: String, writeKey: String, rateLimit: Double?)]) {
        var byWriteKey: [String: Source] = [:]
        var byBasicHeader: [String: Source] = [:]
        for source in sources {
            let found = Source(name: source.name, limiter: source.rateLimit.map { TokenBucket(eventsPerSecond: $0) })
            byWriteKey[source.writeKey] = found
            byBasicHeader["Basic " + Data((source.writeKey + ":").utf8).base64EncodedString()] = found
        }
        self.byWriteKey = byWriteKey
        self.byBasicHeader = byBasicHeader
    }

    func source(writeKey: String) -> Source? { byWriteKey[writeKey] }

    /// The source of a usual `Authorization: Basic …` header; nil means: decode it (``IngestController/basicUsername(_:)``).
    func source(basicHeader: String) -> Source? { byBasicHeader[basicHeader] }

    /// nil when the source may send `count` events now; else how long to wait.
    func admit(_ source: Source, count: Int) -> Duration? {
        guard source.rateLimited else { return nil }
        let elapsed = ContinuousClock.now - start
        return source.limiter.withLock { $0.take(count, nowNanoseconds: elapsed.wholeNanoseconds) }
    }
}
