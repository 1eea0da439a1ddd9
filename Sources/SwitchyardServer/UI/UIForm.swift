import Foundation

/// The fields of an `application/x-www-form-urlencoded` body, as HTML forms post them.
struct UIForm: Sendable, Equatable {
    private(set) var fields: [(name: String, value: String)] = []

    init() {}

    /// Parses `a=1&b=two+words&c=%2F`; a malformed escape keeps its raw text rather than failing the form.
    init(urlEncoded text: String) {
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            fields.append((Self.decode(parts[0]), parts.count > 1 ? Self.decode(parts[1]) : ""))
        }
    }

    /// The first value posted under `name`.
    subscript(name: String) -> String? { fields.first { $0.name == name }?.value }

    static func == (lhs: UIForm, rhs: UIForm) -> Bool {
        lhs.fields.map(\.name) == rhs.fields.map(\.name) && lhs.fields.map(\.value) == rhs.fields.map(\.value)
    }

    private static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
