/// The default reading of an HTTP answer (SPEC §4, house style §2), which adapters override where their
/// vendor documents otherwise:
///
/// | status | outcome |
/// |---|---|
/// | 2xx | delivered |
/// | 408, 429, 5xx except 501 | retry (honouring `Retry-After`) |
/// | 413 | split the batch |
/// | 410 | disable the destination |
/// | 3xx | dead letter (redirects are never followed) |
/// | other 4xx, 501 | dead letter |
/// | anything else (1xx as a final answer, 0, 600 and up) | retry: not an HTTP answer we can act on |
///
/// Everything a destination sends back is untrusted (SPEC §2): statuses, headers and bodies are read
/// totally — every input ends in one of these outcomes, never a trap.
public enum HTTPClassification {
    /// The longest wait a destination's `Retry-After` can ask for: one hour. Larger values (a huge
    /// number of seconds, a date far ahead) are read as this; `RetryPolicy` clamps further to
    /// `max(max_backoff, 5 min)`.
    public static let maximumRetryAfter: Duration = .seconds(3600)

    public static func outcome(status: Int, retryAfter: Duration?, body: String = "") -> DeliveryOutcome {
        let detail = body.isEmpty ? "" : ": \(excerpt(body))"
        switch status {
        case 200..<300: return .delivered
        case 408, 429: return .retry(after: retryAfter, reason: "HTTP \(status)\(detail)", status: status)
        case 501: return .deadLetterAll(reason: "HTTP 501 not implemented\(detail)", status: status)
        case 500..<600: return .retry(after: retryAfter, reason: "HTTP \(status)\(detail)", status: status)
        case 413: return .split
        case 410: return .disable(reason: "HTTP 410: the endpoint is gone\(detail)", status: status)
        case 300..<400: return .deadLetterAll(reason: "HTTP \(status): redirects are not followed\(detail)", status: status)
        case 400..<500: return .deadLetterAll(reason: "HTTP \(status)\(detail)", status: status)
        default:
            // Not a final HTTP status: a broken proxy or server. Sending again may meet a working one.
            return .retry(after: nil, reason: "HTTP \(status) is not a valid answer\(detail)", status: status)
        }
    }

    /// The start of a destination's text as a reason quotes it: at most `limit` Unicode scalars. Cut by
    /// scalars, not characters: one character can carry any number of combining marks, and reasons are
    /// stored with every dead letter.
    public static func excerpt(_ text: some StringProtocol, limit: Int = 200) -> String {
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: text.unicodeScalars.prefix(limit))
        return String(scalars)
    }

    /// Reads `Retry-After` (RFC 9110 §10.2.3): delay-seconds (`120`; a fraction such as `1.5` is accepted
    /// to the millisecond) or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`, and the obsolete RFC 850
    /// and asctime forms), relative to `now`. The result is between zero (a date in the past) and
    /// ``maximumRetryAfter``. Anything else — negative numbers, exponents (`1e300`), `inf`, `nan`,
    /// impossible dates, over-long text — is ignored (nil): the pipeline's own backoff applies.
    public static func retryAfter(_ header: String?, now: Timestamp = SystemWallClock().now()) -> Duration? {
        guard let header else { return nil }
        let text = Array(header.utf8.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed())
        // Both forms are short; a longer value is garbage and not worth scanning.
        guard !text.isEmpty, text.count <= 64 else { return nil }
        let maximum = maximumRetryAfter.milliseconds
        if let milliseconds = delayMilliseconds(text, maximum: maximum) { return .milliseconds(milliseconds) }
        if let date = httpDateMilliseconds(text) {
            let (delta, overflow) = date.subtractingReportingOverflow(now.milliseconds)
            if overflow { return delta < 0 ? .milliseconds(maximum) : .zero }  // wrapped: the sign is flipped
            return .milliseconds(min(max(delta, 0), maximum))
        }
        return nil
    }

    /// `DIGITS[.DIGITS]` as milliseconds, clamped to `maximum`; nil for anything else.
    static func delayMilliseconds(_ text: [UInt8], maximum: Int64) -> Int64? {
        var index = 0
        var whole: Int64 = 0
        var clamped = false
        while index < text.count, isDigit(text[index]) {
            // Past the maximum the exact value no longer matters; stop accumulating before it can overflow.
            if !clamped {
                whole = whole * 10 + Int64(text[index] - 0x30)
                if whole > maximum { clamped = true }
            }
            index += 1
        }
        guard index > 0 else { return nil }
        var fraction: Int64 = 0
        if index < text.count {
            guard text[index] == UInt8(ascii: "."), index + 1 < text.count else { return nil }
            index += 1
            var scale: Int64 = 100
            while index < text.count, isDigit(text[index]) {
                fraction += Int64(text[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            guard index == text.count else { return nil }
        }
        if clamped || whole > maximum / 1000 { return maximum }
        return min(whole * 1000 + fraction, maximum)
    }

    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// An HTTP-date in any of the three forms RFC 9110 §5.6.7 says recipients accept, as milliseconds since
    /// the epoch; nil when it is not one or names an impossible date.
    ///
    /// - IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
    /// - RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT` (two-digit years: 70–99 are 19xx, 00–69 are 20xx)
    /// - asctime: `Sun Nov  6 08:49:37 1994`
    static func httpDateMilliseconds(_ text: [UInt8]) -> Int64? {
        let tokens = text.split { $0 == 0x20 || $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "-") }
        guard tokens.count == 5 || tokens.count == 6, tokens[0].allSatisfy(isLetter) else { return nil }
        let day: Int64?
        let month: Int64?
        let year: Int64?
        let time: ArraySlice<UInt8>
        if tokens.count == 6 {
            guard tokens[5].elementsEqual("GMT".utf8) else { return nil }
            day = number(tokens[1], maxDigits: 2)
            month = monthNumber(tokens[2])
            let yearDigits = tokens[3].count
            guard yearDigits == 2 || yearDigits == 4, let written = number(tokens[3], maxDigits: 4) else { return nil }
            year = yearDigits == 4 ? written : (written < 70 ? 2000 + written : 1900 + written)
            time = tokens[4]
        } else {
            month = monthNumber(tokens[1])
            day = number(tokens[2], maxDigits: 2)
            time = tokens[3]
            year = tokens[4].count == 4 ? number(tokens[4], maxDigits: 4) : nil
        }
        let clock = time.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard let day, let month, let year, clock.count == 3,
            let hour = number(clock[0], maxDigits: 2), let minute = number(clock[1], maxDigits: 2),
            let second = number(clock[2], maxDigits: 2),
            (1...9999).contains(year), (1...daysIn(month: month, year: year)).contains(day),
            hour < 24, minute < 60, second <= 60
        else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        // Years 1–9999 keep this far inside Int64.
        return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    private static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A }

    /// 1 to `maxDigits` ASCII digits.
    private static func number(_ digits: ArraySlice<UInt8>, maxDigits: Int) -> Int64? {
        guard !digits.isEmpty, digits.count <= maxDigits, digits.allSatisfy(isDigit) else { return nil }
        return digits.reduce(0) { $0 * 10 + Int64($1 - 0x30) }
    }

    private static func monthNumber(_ name: ArraySlice<UInt8>) -> Int64? {
        guard name.count == 3, name.allSatisfy(isLetter) else { return nil }
        let lowered = String(decoding: name.map { $0 | 0x20 }, as: UTF8.self)
        return monthNames.firstIndex(of: lowered).map { Int64($0 + 1) }
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    private static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
