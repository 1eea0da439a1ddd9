/// Durations as the config file writes them: `500ms`, `30s`, `5m`, `4h`, `30d`, and combinations
/// from the largest unit down such as `1h30m` or `2m30s`.
///
/// Units (lowercase only, so `m` is unambiguously minutes): `ms` = millisecond, `s` = second,
/// `m` = minute, `h` = hour, `d` = day (86,400 s; no calendar, no DST). Amounts are whole numbers
/// (`_` may group digits: `86_400s`). Refused: a bare number (`30`: which unit?), negative amounts,
/// fractions (write `1500ms`, not `1.5s`), a unit twice or out of order (`30m1h`), spaces, and totals
/// past 100 years (`36500d`). `forever` is not a duration; keys that accept it (`identity.late_window`)
/// check for it before calling ``parse(_:)``.
public enum DurationText {
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ]

    /// The longest duration accepted: 100 years. Config values are hostile too (`99999999999999999d`):
    /// this keeps every later conversion — to nanoseconds, added to a clock reading or a timestamp —
    /// well inside `Int64`, with room to spare (a hard limit of `Int64.max` nanoseconds is 292 years).
    public static let maximum: Duration = .seconds(100 * 365 * 86_400)
    private static let maximumMilliseconds: Int64 = 100 * 365 * 86_400_000

    /// Parses `text` (e.g. `4h`, `1h30m`, `500ms`), or returns `nil` when it is not a duration.
    public static func parse(_ text: String) -> Duration? {
        parse(text, maximum: maximumMilliseconds)
    }

    /// Whether `text` is written as a duration but is longer than ``maximum`` (`99999999999999999d`), so
    /// an error can say so rather than ask for a duration.
    public static func isTooLong(_ text: String) -> Bool {
        parse(text) == nil && parse(text, maximum: .max, overflowIsTooLong: true) != nil
    }

    private static func parse(_ text: String, maximum: Int64, overflowIsTooLong: Bool = false) -> Duration? {
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        var total: Int64 = 0
        var lastUnitIndex = -1
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && ($0.isNumber || $0 == "_") }
            guard let amount = parseAmount(digits) ?? (overflowIsTooLong && isWholeNumber(digits) ? .max : nil) else {
                return nil
            }
            rest = rest.dropFirst(digits.count)
            let letters = rest.prefix { $0.isASCII && $0.isLetter }
            guard let unitIndex = units.firstIndex(where: { $0.suffix == letters }),
                unitIndex > lastUnitIndex
            else { return nil }
            rest = rest.dropFirst(letters.count)
            lastUnitIndex = unitIndex
            let (product, overflowed) = amount.multipliedReportingOverflow(by: units[unitIndex].milliseconds)
            guard !overflowed, product <= maximum - total else {
                // Keep reading for the form; the value is past any limit.
                guard overflowIsTooLong else { return nil }
                total = maximum
                continue
            }
            total += product
        }
        return .milliseconds(total)
    }

    /// Writes `duration` back in the config's notation: `0s`, `500ms`, `4h`, `1h30m`, `30d`.
    ///
    /// Millisecond resolution: anything finer is dropped (`1.0004s` → `1s`). Negative durations are
    /// written with a leading `-`, which ``parse(_:)`` refuses; config values are never negative.
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if seconds < 0 || (seconds == 0 && attoseconds < 0) {
            return "-" + format(.zero - duration)
        }
        let milliseconds = seconds.multipliedReportingOverflow(by: 1000)
        guard !milliseconds.overflow else { return "\(seconds)s" }
        var remaining = milliseconds.partialValue + attoseconds / 1_000_000_000_000_000
        guard remaining > 0 else { return "0s" }
        var text = ""
        for unit in units where remaining >= unit.milliseconds {
            text += "\(remaining / unit.milliseconds)\(unit.suffix)"
            remaining %= unit.milliseconds
        }
        return text
    }

    private static func isWholeNumber(_ digits: Substring) -> Bool {
        guard let first = digits.first, first != "_", digits.last != "_" else { return false }
        return digits.allSatisfy { $0.isASCII && ($0.isNumber || $0 == "_") }
    }

    private static func parseAmount(_ digits: Substring) -> Int64? {
        guard let first = digits.first, first != "_", digits.last != "_" else { return nil }
        return Int64(digits.filter { $0 != "_" })
    }
}

extension Duration {
    /// This duration in the config file's notation, e.g. `4h` or `1h30m` (see ``DurationText``).
    public var configText: String { DurationText.format(self) }
}
