import SwitchyardCore
import Testing

@Suite struct DurationTextTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)),
        ("30s", .seconds(30)),
        ("5m", .seconds(300)),
        ("4h", .seconds(14_400)),
        ("30d", .seconds(2_592_000)),
        ("0s", .zero),
        ("1h30m", .seconds(5400)),
        ("2m30s", .seconds(150)),
        ("1d12h", .seconds(129_600)),
        ("1s500ms", .milliseconds(1500)),
        ("86_400s", .seconds(86_400)),
    ])
    func parses(_ text: String, _ expected: Duration) {
        #expect(DurationText.parse(text) == expected)
    }

    @Test(arguments: [
        "", "30", "four hours", "4 h", "4H", "-5s", "1.5s", "forever", "30m1h", "1h1h", "5x", "ms", "s5", "_5s",
        "5_s", "1h 30m", "9999999999999999999d", "107000000d",
    ])
    func refuses(_ text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test(arguments: [
        (Duration.zero, "0s"),
        (.milliseconds(500), "500ms"),
        (.seconds(30), "30s"),
        (.seconds(300), "5m"),
        (.seconds(5400), "1h30m"),
        (.seconds(86_400), "1d"),
        (.seconds(30 * 86_400), "30d"),
        (.milliseconds(90_061_001), "1d1h1m1s1ms"),
        (.nanoseconds(1_000_400_000), "1s"),
    ])
    func formats(_ duration: Duration, _ expected: String) {
        #expect(DurationText.format(duration) == expected)
        #expect(duration.configText == expected)
    }

    @Test(arguments: ["500ms", "4h", "1h30m", "30d", "1d1h1m1s1ms"])
    func roundTrips(_ text: String) throws {
        let duration = try #require(DurationText.parse(text))
        #expect(DurationText.format(duration) == text)
    }
}

@Suite struct ByteSizeTests {
    @Test(arguments: [
        ("100B", 100),
        ("4096", 4096),
        ("512KB", 512_000),
        ("32KB", 32_000),
        ("500KB", 500_000),
        ("32KiB", 32_768),
        ("64MiB", 67_108_864),
        ("64 MiB", 67_108_864),
        ("1MB", 1_000_000),
        ("20GiB", 21_474_836_480),
        ("2GB", 2_000_000_000),
        ("1TiB", 1_099_511_627_776),
        ("1TB", 1_000_000_000_000),
        ("64mib", 67_108_864),
        ("512kb", 512_000),
        ("1.5GiB", 1_610_612_736),
        ("0.5KB", 500),
        ("1_000B", 1000),
        ("0", 0),
    ])
    func parses(_ text: String, _ bytes: Int) {
        #expect(ByteSize(parsing: text) == ByteSize(bytes: bytes))
    }

    @Test(arguments: [
        "", "big", "20 gigs", "-1KB", "1K", "1M", "KB", "1.5", "1.5B", "1.KB", "1..5KB", "1 KB/s",
        "99999999999TiB", "1e3", "_1KB",
    ])
    func refuses(_ text: String) {
        #expect(ByteSize(parsing: text) == nil)
    }

    @Test(arguments: [
        (0, "0B"),
        (100, "100B"),
        (1500, "1500B"),
        (32_000, "32KB"),
        (32_768, "32KiB"),
        (500_000, "500KB"),
        (1_048_576, "1MiB"),
        (67_108_864, "64MiB"),
        (21_474_836_480, "20GiB"),
        (2_000_000_000, "2GB"),
        (1_536, "1536B"),
    ])
    func describes(_ bytes: Int, _ expected: String) throws {
        let size = ByteSize(bytes: bytes)
        #expect(size.description == expected)
        #expect(ByteSize(parsing: size.description) == size)
    }

    @Test func ordersBySize() {
        #expect(ByteSize.kilobytes(32) < .kibibytes(32))
        #expect(ByteSize.mebibytes(1) > .megabytes(1))
        #expect(ByteSize.gibibytes(1).bytes == 1 << 30)
    }
}

@Suite struct SecretMaskTests {
    @Test(arguments: [
        ("", "(empty)"),
        ("short", "****"),
        ("eleven-char", "****"),
        ("twelve-chars", "****hars"),
        ("wk_live_4f9a8b7c6d5e4f3a", "****4f3a"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_…(masked)"),
        ("phc_abcdef", "phc_…(masked)"),
        ("whsec_", "****"),
    ])
    func masks(_ secret: String, _ expected: String) {
        #expect(SecretMask.mask(secret) == expected)
        if secret.count > 4 {
            #expect(!SecretMask.mask(secret).contains(secret))
        }
    }

    @Test(arguments: [
        ("https://hooks.example.com/services/T0/B0/XXXX", "https://hooks.example.com/…"),
        ("https://user:pw@crm.example.com:8443/hook?token=1", "https://crm.example.com:8443/…"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),
        ("postgres://switchyard:pw@db:5432/switchyard", "postgres://db:5432/…"),
        ("not a url at all", "**** all"),
    ])
    func masksURLs(_ url: String, _ expected: String) {
        #expect(SecretMask.maskURL(url) == expected)
    }
}

@Suite struct SecretRedactionTests {
    @Test func everyOccurrenceAndTheEscapedFormAreMasked() {
        let secret = "sk_live/abcdefghijklmnop"
        let text = #"{"a":"sk_live/abcdefghijklmnop","b":"sk_live\/abcdefghijklmnop","c":"xsk_live/abcdefghijklmnopx"}"#
        let redacted = SecretMask.redact(text, secrets: [secret, ""])
        #expect(!redacted.contains("abcdefghijklmnop"))
        #expect(redacted == #"{"a":"sk_…(masked)","b":"sk_…(masked)","c":"xsk_…(masked)x"}"#)
        #expect(SecretMask.redact("nothing here", secrets: [secret]) == "nothing here")
    }

    /// Longer secrets first: one that contains another is hidden whole, as the String version did.
    @Test func aSecretInsideAnotherIsHiddenWhole() {
        let redacted = SecretMask.redact("token=abcd1234abcd1234XYZ", secrets: ["abcd1234abcd1234", "abcd1234abcd1234XYZ"])
        #expect(redacted == "token=****4XYZ")
    }

    /// Byte search is total on any bytes, including invalid UTF-8 and a needle at the very end.
    @Test func bytesAtTheEdgesAndInvalidUTF8() {
        let secret = "s3cr3t-value-123"
        let bytes: [UInt8] = [0xFF, 0xC3] + Array(secret.utf8) + [0x80] + Array(secret.utf8)
        let redacted = SecretMask.redact(bytes: bytes, secrets: [secret])
        #expect(redacted == [0xFF, 0xC3] + Array("****-123".utf8) + [0x80] + Array("****-123".utf8))
        #expect(SecretMask.redact(bytes: Array("s3cr".utf8), secrets: [secret]) == Array("s3cr".utf8))
    }
}

@Suite struct ConfigNodeReaderTests {
    /// `retry:` at line 3 holding `max_age` at line 4, inside `destinations[1]` at line 2.
    let destination = ConfigNode(
        .mapping([
            ("name", ConfigNode(.scalar("crm-hook"), line: 2, path: "destinations[1].name", file: "c.yaml")),
            (
                "retry",
                ConfigNode(
                    .mapping([
                        (
                            "max_age",
                            ConfigNode(
                                .scalar("four hours"), line: 4, path: "destinations[1].retry.max_age", file: "c.yaml"
                            )
                        )
                    ]),
                    line: 3,
                    path: "destinations[1].retry",
                    file: "c.yaml"
                )
            ),
            ("token", ConfigNode(.scalar("t0ps3cret"), line: 5, path: "destinations[1].token", file: "c.yaml")),
            ("enabled", ConfigNode(.null, line: 6, path: "destinations[1].enabled", file: "c.yaml")),
        ]),
        line: 2,
        path: "destinations[1]",
        file: "c.yaml"
    )

    @Test func errorsNameFileLineAndKeyPath() throws {
        let retry = try destination.mapping().mapping("retry")
        let error = try #require(throws: ConfigError.self) { try retry.duration("max_age", default: .seconds(1)) }
        #expect(
            error.description
                == "c.yaml:4: destinations[1].retry.max_age: expected a duration like 4h, got \"four hours\""
        )
    }

    @Test func missingRequiredKeysPointAtTheParentMapping() throws {
        let error = try #require(throws: ConfigError.self) { try destination.mapping().string("url") }
        #expect(error.description == "c.yaml:2: destinations[1].url: required key is missing")
        let nested = try #require(throws: ConfigError.self) {
            try destination.mapping().mapping("rotate").string("path")
        }
        #expect(nested.description == "c.yaml:2: destinations[1].rotate.path: required key is missing")
    }

    @Test func secretValuesAreNotEchoed() throws {
        let error = try #require(throws: ConfigError.self) { try destination.mapping().int("token", default: 1) }
        #expect(error.description == "c.yaml:5: destinations[1].token: expected a whole number, got a value")
    }

    @Test func nullTakesTheDefault() throws {
        #expect(try destination.mapping().bool("enabled", default: true))
        #expect(try destination.mapping().optionalString("enabled") == nil)
        #expect(try destination.mapping().contains("enabled") == false)
    }

    @Test func unknownKeysAreRefusedInFileOrder() throws {
        let error = try #require(throws: ConfigError.self) {
            try destination.mapping().rejectUnknownKeys(allowed: ["name", "enabled"])
        }
        #expect(error.description == "c.yaml:3: destinations[1].retry: unknown key; expected one of: enabled, name")
    }

    @Test func errorDescriptionLeavesOutUnknownParts() {
        #expect(ConfigError(file: "a.yaml", line: 0, keyPath: "", message: "m").description == "a.yaml: m")
        #expect(ConfigError(file: "a.yaml", line: 3, keyPath: "", message: "m").description == "a.yaml:3: m")
        #expect(ConfigError(file: "a.yaml", line: 3, keyPath: "k", message: "m").description == "a.yaml:3: k: m")
    }

    enum Color: String, CaseIterable { case red, green }

    @Test func scalarReaders() throws {
        func node(_ text: String, path: String = "x") -> ConfigNode {
            ConfigNode(.scalar(text), line: 1, path: path, file: "f")
        }
        #expect(try node("50_000").int() == 50_000)
        #expect(try node("-1").int() == -1)
        #expect(throws: ConfigError.self) { try node("0x10").int() }
        #expect(throws: ConfigError.self) { try node("70000").int(in: 0...65535) }
        #expect(try node("TRUE").bool())
        #expect(try node("0.5").positiveNumber() == 0.5)
        #expect(throws: ConfigError.self) { try node("0").positiveNumber() }
        #expect(try node("green").choice(Color.self) == .green)
        #expect(try node("https://api.example.com/v1/").baseURL() == "https://api.example.com/v1")
        #expect(throws: ConfigError.self) { try node("https://api.example.com/?a=1").baseURL() }
        #expect(throws: ConfigError.self) { try node("api.example.com").url() }
        #expect(throws: ConfigError.self) { try node("https://").url() }
        #expect(node("abc", path: "a.secrets[0]").isSecret)
        #expect(node("abc", path: "destinations[0].headers.X-Env").isSecret)
        #expect(node("abc", path: "sources[0].write_key").isSecret)
        #expect(!node("abc", path: "destinations[0].retry.max_age").isSecret)
        #expect(node("abc", path: "a.b").key == "b")
    }

    @Test func valueEqualityKeepsMappingOrder() {
        let a = ConfigNode.Value.mapping([
            ("a", ConfigNode(.null, line: 1, path: "a", file: "")),
            ("b", ConfigNode(.null, line: 2, path: "b", file: "")),
        ])
        let b = ConfigNode.Value.mapping([
            ("b", ConfigNode(.null, line: 2, path: "b", file: "")),
            ("a", ConfigNode(.null, line: 1, path: "a", file: "")),
        ])
        #expect(a == a)
        #expect(a != b)
    }
}

/// Config values are hostile too (SPEC §2): absurd numbers, durations and sizes are config errors,
/// never traps in a later conversion.
@Suite struct HostileConfigValueTests {
    func node(_ text: String) -> ConfigNode {
        ConfigNode(.scalar(text), line: 7, path: "destinations[0].timeout", file: "c.yaml")
    }

    @Test(arguments: [
        "99999999999999999d", "36501d", "1e300s", "9999999999999999999999s", "106751991167300d", "2562047788015215h",
        "9223372036854775807ms", "1e3s", "infs", "NaNs", "0x10s", "1_0000000000000000000000000d",
    ])
    func absurdDurationsAreRefused(_ text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func durationsStopAtAHundredYears() throws {
        #expect(DurationText.parse("36500d") == DurationText.maximum)
        #expect(DurationText.parse("36499d23h59m59s999ms") != nil)
        let tooLong = try #require(throws: ConfigError.self) { try node("99999999999999999d").duration() }
        #expect(
            tooLong.description
                == #"c.yaml:7: destinations[0].timeout: expected a duration of at most 100 years (36500d), got "99999999999999999d""#)
        let notADuration = try #require(throws: ConfigError.self) { try node("1e300s").duration() }
        #expect(notADuration.description == #"c.yaml:7: destinations[0].timeout: expected a duration like 4h, got "1e300s""#)
        // The longest accepted duration converts without trapping, on every path a config value takes.
        let maximum = DurationText.maximum
        #expect(maximum.wholeNanoseconds > 0 && maximum.milliseconds > 0)
        #expect((Timestamp(milliseconds: 0) + maximum).milliseconds == maximum.milliseconds)
        #expect(RetryPolicy(initialBackoff: maximum, maxBackoff: maximum, maxAge: maximum).ceiling(afterAttempt: 1000) == maximum)
    }

    @Test(arguments: [
        "99999999999999999999TB", "1e300KB", "9223372036854775807TiB", "18446744073709551616", "8388608TiB",
        "9223372036854775808", "1.99999999999999999999TiB0", "infKB", "nanB", "-0KB",
    ])
    func absurdSizesAreRefused(_ text: String) {
        #expect(ByteSize(parsing: text) == nil)
    }

    @Test func absurdNumbersAreConfigErrors() throws {
        for text in ["99999999999999999999", "-9223372036854775809", "1e300", "0x10", "1.5"] {
            let error = try #require(throws: ConfigError.self) { try node(text).int() }
            #expect(error.description.hasPrefix("c.yaml:7: destinations[0].timeout: expected a whole number"))
        }
        for text in ["1e400", "-1e400", "nan", "inf", "-0", "0", "-1"] {
            #expect(throws: ConfigError.self) { try node(text).positiveNumber() }
        }
        // Tiny and huge rates are finite and accepted; the token bucket keeps its waits in range.
        #expect(try node("1e-300").positiveNumber() == 1e-300)
        #expect(try node("1e300").positiveNumber() == 1e300)
    }
}
