import Testing

@testable import SwitchyardCore

@Suite struct TimestampTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("1970-01-01T00:00:00.001Z", 1),
        ("2026-11-29T05:25:25.123Z", 1_795_929_925_123),
        ("2026-11-29T06:25:25.123+01:00", 1_795_929_925_123),
        ("2026-11-29T00:25:25.123-0500", 1_795_929_925_123),
        ("2026-11-29T05:25:25.123456Z", 1_795_929_925_123),
        ("2026-11-29T05:25:25.1Z", 1_795_929_925_100),
        ("2026-11-29 05:25:25Z", 1_795_929_925_000),
        ("2026-11-29T05:25:25", 1_795_929_925_000),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000),
        ("1969-12-31T23:59:59.999Z", -1),
    ])
    func parsesISO8601(_ text: String, _ milliseconds: Int64) {
        #expect(Timestamp(iso8601: text)?.milliseconds == milliseconds)
    }

    @Test(arguments: [
        "", "2026-11-29", "yesterday", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
        "2026-11-29T25:00:00Z", "2026-11-29T05:25:25.Z", "2026-11-29T05:25:25Q", "1732857925",
    ])
    func rejectsOtherText(_ text: String) {
        #expect(Timestamp(iso8601: text) == nil)
    }

    @Test(arguments: [Int64(0), 1_795_929_925_123, -1, 951_782_400_000, 253_402_300_799_999])
    func formatsAndParsesBack(_ milliseconds: Int64) {
        let timestamp = Timestamp(milliseconds: milliseconds)
        #expect(Timestamp(iso8601: timestamp.iso8601) == timestamp)
    }

    @Test func formatsUTCWithMilliseconds() {
        #expect(Timestamp(milliseconds: 1_795_929_925_123).iso8601 == "2026-11-29T05:25:25.123Z")
        #expect(Timestamp(milliseconds: 1_795_929_925_123).utcDate == "2026-11-29")
    }
}
