import SwitchyardCore
import SwitchyardDestinations
import Testing

/// The live view shows request bodies masked and cut at 16 KB, masking only about what it shows.
@Suite struct ShownRequestTests {
    static let secret = "api-key-0123456789abcdef0123456789"

    @Test func aLongBodyIsCutWithEverySecretMaskedWhereverMasksMoveTheCut() {
        let limit = OutgoingRequest.shownBodyLimit
        // Many secrets first: masking shortens the text, pulling later bytes into what is shown.
        var body = String(repeating: "\"\(Self.secret)\",", count: 2_000)
        body += String(repeating: "x", count: 100) + Self.secret + String(repeating: "y", count: 50_000)
        let shown = OutgoingRequest.shownText(Array(body.utf8), secrets: [Self.secret])
        #expect(!shown.contains(Self.secret))
        #expect(!shown.contains("0123456789abcdef"))
        #expect(shown.hasSuffix("…[cut: \(body.utf8.count) bytes in all]"))
        #expect(shown.utf8.count <= limit + 64)
    }

    @Test(arguments: [-40, -20, -1, 0, 1, 20])
    func aSecretStraddlingTheCutIsMaskedWhole(_ offset: Int) {
        let limit = OutgoingRequest.shownBodyLimit
        let body = String(repeating: "a", count: limit + offset) + Self.secret + String(repeating: "b", count: 1_000)
        let shown = OutgoingRequest.shownText(Array(body.utf8), secrets: [Self.secret])
        for length in 8...Self.secret.count {
            #expect(!shown.contains(Self.secret.prefix(length)), "\(length) characters of the secret shown")
        }
    }

    @Test func aShortBodyIsShownWholeAndMasked() {
        let body = #"{"key":"\#(Self.secret)","n":1}"#
        #expect(OutgoingRequest.shownText(Array(body.utf8), secrets: [Self.secret]) == #"{"key":"****6789","n":1}"#)
        #expect(OutgoingRequest.shownText([], secrets: [Self.secret]) == "")
    }

    /// A cut never splits a multi-byte character.
    @Test func theCutFallsOnACharacterBoundary() {
        let body = String(repeating: "é", count: OutgoingRequest.shownBodyLimit)
        let shown = OutgoingRequest.shownText(Array(body.utf8), secrets: [])
        #expect(shown.hasPrefix(String(repeating: "é", count: OutgoingRequest.shownBodyLimit / 2)))
        #expect(!shown.contains("\u{FFFD}"))
    }

    /// The live view keeps a request until a subscriber reads it: only a prefix of its body, which shows the
    /// same as the whole body would.
    @Test(arguments: [0, 100, 16 * 1024, 40_000, 1_000_000])
    func aKeptBodyIsBoundedAndShowsWhatTheWholeBodyShows(_ size: Int) {
        let body = Array(String(repeating: "x", count: size / 2).utf8) + Array(Self.secret.utf8)
            + Array(String(repeating: "y", count: size / 2).utf8)
        let kept = ShownBody(body, secrets: [Self.secret])
        #expect(kept.count == body.count)
        #expect(kept.prefix.count <= 2 * (OutgoingRequest.shownBodyLimit + 2 * (Self.secret.utf8.count + 1)))
        #expect(kept.shown(secrets: [Self.secret]) == OutgoingRequest.shownText(body, secrets: [Self.secret]))
    }

    @Test func aKeptBodyOfSecretsStillMasksThemAndSaysHowLongItWas() {
        let body = Array(String(repeating: "\"\(Self.secret)\",", count: 20_000).utf8)
        let shown = ShownBody(body, secrets: [Self.secret]).shown(secrets: [Self.secret])
        #expect(!shown.contains("0123456789abcdef"))
        #expect(shown.hasSuffix("…[cut: \(body.count) bytes in all]"))
        #expect(shown.utf8.count <= OutgoingRequest.shownBodyLimit + 64)
    }

    @Test func aKeptRequestIsShownMasked() {
        let request = OutgoingRequest(
            url: "https://hooks.example.com/T0/\(Self.secret)",
            headers: [("Authorization", "Bearer \(Self.secret)"), ("Content-Type", "application/json")],
            body: Array(#"{"key":"\#(Self.secret)"}"#.utf8), eventIndexes: [0])
        let shown = request.kept(secrets: [Self.secret]).shown(secrets: [Self.secret])
        let text = String(decoding: shown.bytes, as: UTF8.self)
        #expect(!text.contains("0123456789abcdef"))
        #expect(text.contains(#"****6789"#))
        #expect(text.contains("https://hooks.example.com/T0/****6789"))
    }
}
