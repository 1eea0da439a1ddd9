/// A number of bytes, as the config file writes sizes: `100B`, `512KB`, `500KB`, `64MiB`, `20GiB`.
///
/// Units, case-insensitive: `B` = 1; decimal `KB` = 1000, `MB` = 1000², `GB` = 1000³, `TB` = 1000⁴;
/// binary `KiB` = 1024, `MiB` = 1024², `GiB` = 1024³, `TiB` = 1024⁴. A bare whole number is bytes.
/// One space between number and unit is allowed (`64 MiB`), `_` may group digits, and a decimal
/// fraction is allowed with a unit (`1.5GiB`), rounded down to whole bytes. Refused: negative sizes,
/// other units (`K`, `M`, `kb/s`), and sizes past `Int.max`.
public struct ByteSize: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The size in bytes; never negative.
    public var bytes: Int

    /// Creates a size of `bytes` bytes. Precondition: `bytes >= 0`.
    public init(bytes: Int) {
        precondition(bytes >= 0, "a ByteSize is never negative")
        self.bytes = bytes
    }

    /// `n` × 1000 bytes.
    public static func kilobytes(_ n: Int) -> ByteSize { ByteSize(bytes: n * 1000) }
    /// `n` × 1024 bytes.
    public static func kibibytes(_ n: Int) -> ByteSize { ByteSize(bytes: n * 1024) }
    /// `n` × 1000² bytes.
    public static func megabytes(_ n: Int) -> ByteSize { ByteSize(bytes: n * 1_000_000) }
    /// `n` × 1024² bytes.
    public static func mebibytes(_ n: Int) -> ByteSize { ByteSize(bytes: n * 1_048_576) }
    /// `n` × 1000³ bytes.
    public static func gigabytes(_ n: Int) -> ByteSize { ByteSize(bytes: n * 1_000_000_000) }
    /// `n` × 1024³ bytes.
    public static func gibibytes(_ n: Int) -> ByteSize { ByteSize(bytes: n * 1_073_741_824) }

    /// Units by their lowercased suffix; the table ``description`` also writes from.
    private static let units: [(suffix: String, multiplier: Int)] = [
        ("TiB", 1 << 40), ("TB", 1_000_000_000_000),
        ("GiB", 1 << 30), ("GB", 1_000_000_000),
        ("MiB", 1 << 20), ("MB", 1_000_000),
        ("KiB", 1 << 10), ("KB", 1000),
        ("B", 1),
    ]

    /// Parses `text` such as `64MiB`, `500KB` or `4096`, or returns `nil` when it is not a size.
    public init?(parsing text: String) {
        var number = Substring(text)
        var multiplier = 1
        let unitText = number.reversed().prefix { $0.isASCII && $0.isLetter }
        if !unitText.isEmpty {
            let suffix = String(unitText.reversed()).lowercased()
            guard let unit = Self.units.first(where: { $0.suffix.lowercased() == suffix }) else { return nil }
            multiplier = unit.multiplier
            number = number.dropLast(unitText.count)
            if number.last == " " { number = number.dropLast() }
        }
        let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = Self.digits(parts[0]) else { return nil }
        var (bytes, overflow) = whole.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        if parts.count == 2 {
            // A fraction needs a unit bigger than a byte and at least one digit after the point.
            let fractionDigits = parts[1]
            guard multiplier > 1, !fractionDigits.isEmpty,
                fractionDigits.allSatisfy({ $0.isASCII && $0.isNumber })
            else { return nil }
            // Nine digits are finer than a byte for every unit up to TiB; the rest would round away.
            var fraction = 0
            var scale = 1
            for digit in fractionDigits.utf8.prefix(9) {
                fraction = fraction * 10 + Int(digit - UInt8(ascii: "0"))
                scale *= 10
            }
            // Split so neither product can overflow: (m / scale) × fraction < m, and the remainder
            // term is below 10^9 × 10^9.
            let fractional = (multiplier / scale) * fraction + (multiplier % scale) * fraction / scale
            (bytes, overflow) = bytes.addingReportingOverflow(fractional)
            guard !overflow else { return nil }
        }
        self.init(bytes: bytes)
    }

    /// The size in the config's notation, choosing the unit that writes it exactly with the smallest
    /// number: `32KB`, `64MiB`, `20GiB`, `1500B`, `0B`. Parsing the result gives back the same size.
    public var description: String {
        var best = "\(bytes)B"
        var bestNumber = bytes
        for unit in Self.units where unit.multiplier > 1 && bytes > 0 && bytes % unit.multiplier == 0 {
            let number = bytes / unit.multiplier
            if number < bestNumber {
                best = "\(number)\(unit.suffix)"
                bestNumber = number
            }
        }
        return best
    }

    public static func < (lhs: ByteSize, rhs: ByteSize) -> Bool { lhs.bytes < rhs.bytes }

    /// Whole-number digits with optional `_` grouping (not leading or trailing), as an `Int`.
    private static func digits(_ text: Substring) -> Int? {
        guard let first = text.first, first.isASCII, first.isNumber, text.last != "_",
            text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "_") })
        else { return nil }
        return Int(text.filter { $0 != "_" })
    }
}
