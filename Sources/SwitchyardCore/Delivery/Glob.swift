/// A shell-style pattern for event names and page paths: `*` matches any run of characters (also `/`),
/// `?` one character; everything else matches itself, case-sensitively.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    let characters: [Character]

    public init(_ pattern: String) {
        self.pattern = pattern
        characters = Array(pattern)
    }

    public var description: String { pattern }

    public func matches(_ text: String) -> Bool {
        let text = Array(text)
        // Iterative matcher with single-star backtracking: linear in practice, no recursion.
        var p = 0
        var t = 0
        var star = -1
        var starText = 0
        while t < text.count {
            if p < characters.count, characters[p] == "?" || characters[p] == text[t] {
                p += 1
                t += 1
            } else if p < characters.count, characters[p] == "*" {
                star = p
                starText = t
                p += 1
            } else if star >= 0 {
                p = star + 1
                starText += 1
                t = starText
            } else {
                return false
            }
        }
        while p < characters.count, characters[p] == "*" { p += 1 }
        return p == characters.count
    }
}
