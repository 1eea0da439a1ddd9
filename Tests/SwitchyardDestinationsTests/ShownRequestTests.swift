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
}
