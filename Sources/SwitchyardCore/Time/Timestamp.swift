#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A point in time as milliseconds since the Unix epoch, UTC — the resolution Segment timestamps carry.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    /// The first instant ISO-8601 text with a four-digit year can name: 0001-01-01T00:00:00.000Z.
    public static let earliest = Timestamp(milliseconds: -62_135_596_800_000)
    /// The last: 9999-12-31T23:59:59.999Z.
    public static let latest = Timestamp(milliseconds: 253_402_300_799_999)

    /// Whether the instant can be written as ISO-8601 text with a four-digit year (years 0001–9999).
    public var isRepresentable: Bool { self >= Self.earliest && self <= Self.latest }

    // Saturating: a duration from the config or a stored value can be far larger than any real date.
    public static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(milliseconds: lhs.milliseconds.saturatingAdd(rhs.milliseconds))
    }

    public static func - (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(milliseconds: lhs.milliseconds.saturatingSubtract(rhs.milliseconds))
    }

    public static func - (lhs: Timestamp, rhs: Timestamp) -> Duration {
        .milliseconds(lhs.milliseconds.saturatingSubtract(rhs.milliseconds))
    }

    /// ISO-8601 text, always UTC with milliseconds: `2026-11-29T05:25:25.000Z`.
    public var description: String { iso8601 }

    /// Instants outside years 0001–9999 (never accepted at ingest) are written as the nearest of those.
    public var iso8601: String {
        var bytes = [UInt8](repeating: 0, count: 24)
        let milliseconds = min(max(self.milliseconds, Self.earliest.milliseconds), Self.latest.milliseconds)
        let days = floorDiv(milliseconds, 86_400_000)
        let msOfDay = milliseconds - days * 86_400_000
        let (year, month, day) = Self.civil(fromDays: days)
        func put(_ value: Int64, _ offset: Int, _ width: Int) {
            var value = value
            for index in stride(from: offset + width - 1, through: offset, by: -1) {
                bytes[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
        }
        put(year, 0, 4)
        bytes[4] = UInt8(ascii: "-")
        put(month, 5, 2)
        bytes[7] = UInt8(ascii: "-")
        put(day, 8, 2)
        bytes[10] = UInt8(ascii: "T")
        put(msOfDay / 3_600_000, 11, 2)
        bytes[13] = UInt8(ascii: ":")
        put(msOfDay / 60_000 % 60, 14, 2)
        bytes[16] = UInt8(ascii: ":")
        put(msOfDay / 1000 % 60, 17, 2)
        bytes[19] = UInt8(ascii: ".")
        put(msOfDay % 1000, 20, 3)
        bytes[23] = UInt8(ascii: "Z")
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The UTC calendar date, `YYYY-MM-DD` (the warehouse partition).
    public var utcDate: String { String(iso8601.prefix(10)) }

    /// Parses ISO-8601 date-time text: `YYYY-MM-DD[T ]HH:MM[:SS[.fff…]][Z|±HH:MM|±HHMM]`.
    /// Text without a zone is read as UTC. Returns nil for anything else, including instants outside
    /// years 0001–9999 once the zone is applied. Total and linear in the text's length.
    public init?(iso8601 text: String) {
        var text = text
        guard let value = text.withUTF8({ Self.parse($0) }) else { return nil }
        milliseconds = value
    }

    static func parse(_ s: UnsafeBufferPointer<UInt8>) -> Int64? {
        var index = 0
        func number(_ width: Int) -> Int64? {
            guard index + width <= s.count else { return nil }
            var value: Int64 = 0
            for offset in 0..<width {
                let byte = s[index + offset]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            index += width
            return value
        }
        func expect(_ char: UInt8) -> Bool {
            guard index < s.count, s[index] == char else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect(UInt8(ascii: "-")), let month = number(2), expect(UInt8(ascii: "-")),
            let day = number(2)
        else { return nil }
        guard index < s.count, s[index] == UInt8(ascii: "T") || s[index] == UInt8(ascii: "t") || s[index] == 0x20
        else { return nil }
        index += 1
        guard let hour = number(2), expect(UInt8(ascii: ":")), let minute = number(2) else { return nil }
        var second: Int64 = 0
        var millis: Int64 = 0
        if expect(UInt8(ascii: ":")) {
            guard let value = number(2) else { return nil }
            second = value
            if index < s.count, s[index] == UInt8(ascii: ".") || s[index] == UInt8(ascii: ",") {
                index += 1
                var digits = 0
                while index < s.count, s[index] >= UInt8(ascii: "0"), s[index] <= UInt8(ascii: "9") {
                    if digits < 3 { millis = millis * 10 + Int64(s[index] - UInt8(ascii: "0")) }
                    digits += 1
                    index += 1
                }
                guard digits > 0 else { return nil }
                if digits < 3 { for _ in digits..<3 { millis *= 10 } }
            }
        }
        var offsetMinutes: Int64 = 0
        if index < s.count {
            switch s[index] {
            case UInt8(ascii: "Z"), UInt8(ascii: "z"): index += 1
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                let sign: Int64 = s[index] == UInt8(ascii: "-") ? -1 : 1
                index += 1
                guard let zoneHour = number(2) else { return nil }
                _ = expect(UInt8(ascii: ":"))
                let zoneMinute = number(2) ?? 0
                guard zoneHour < 24, zoneMinute < 60 else { return nil }
                offsetMinutes = sign * (zoneHour * 60 + zoneMinute)
            default: return nil
            }
        }
        guard index == s.count else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60,
            second < 61
        else { return nil }
        guard year >= 1 else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let value = ((days * 24 + hour) * 60 + minute - offsetMinutes) * 60_000 + min(second, 59) * 1000 + millis
        guard Timestamp(milliseconds: value).isRepresentable else { return nil }
        return value
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's days_from_civil / civil_from_days.
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

@inline(__always)
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }

extension Duration {
    /// Whole milliseconds, truncated; saturates at `Int64`'s bounds (about 292 million years).
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds.saturatingMultiply(1000).saturatingAdd(attoseconds / 1_000_000_000_000_000)
    }

    /// Whole nanoseconds, truncated (metrics timers, NIO time amounts, token buckets); saturates at
    /// `Int64`'s bounds (about 292 years).
    public var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds.saturatingMultiply(1_000_000_000).saturatingAdd(attoseconds / 1_000_000_000)
    }
}

extension Int64 {
    /// `self + other`, clamped to `Int64`'s range instead of trapping.
    @inlinable
    public func saturatingAdd(_ other: Int64) -> Int64 {
        let (value, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : value
    }

    /// `self - other`, clamped to `Int64`'s range instead of trapping.
    @inlinable
    public func saturatingSubtract(_ other: Int64) -> Int64 {
        let (value, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : value
    }

    /// `self * other`, clamped to `Int64`'s range instead of trapping.
    @inlinable
    public func saturatingMultiply(_ other: Int64) -> Int64 {
        let (value, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? ((self < 0) == (other < 0) ? .max : .min) : value
    }
}

/// Where "now" comes from. Injected so enrichment, retention and retries are tested with a manual clock.
public protocol WallClock: Sendable {
    func now() -> Timestamp
}

/// The system's real-time clock.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(milliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }
}
