import SwitchyardCore

/// Names of sources and destinations. They appear in URLs (`/api/destinations/{name}`), metric labels
/// and warehouse folders (`<path>/<source>/…`), so they are limited to 1–64 letters, digits, `.`, `_`
/// and `-`, starting with a letter or digit.
enum ConfigName {
    static func read(_ node: ConfigNode) throws -> String {
        let name = try node.nonEmptyString()
        guard isValid(name) else {
            throw node.expected("a name of letters, digits, '.', '_' or '-' starting with a letter or digit")
        }
        return name
    }

    static func isValid(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first.isNumber, name.count <= 64 else {
            return false
        }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
    }
}
