import SwitchyardCore

/// Replaces `${VAR}` and `${VAR:-default}` in every scalar value of a config tree.
///
/// - `${VAR}`: the variable's value; an unset variable is an error
///   (`environment variable VAR is not set`). A set but empty variable gives `""`.
/// - `${VAR:-default}`: the variable's value when set and non-empty, else `default` (which may be
///   empty, and may itself contain `${OTHER}`).
/// - `$${` is a literal `${`; a `$` not followed by `{` is kept as it is.
/// - Names are `[A-Za-z_][A-Za-z0-9_]*`. Keys are never interpolated, only values.
///
/// Runs after YAML parsing, so lines stay those of the file and a value can never inject YAML.
/// Errors never quote the text around a reference (it may be a secret), only the variable name.
enum EnvironmentInterpolation {
    static func resolve(_ node: ConfigNode, environment: [String: String]) throws -> ConfigNode {
        var node = node
        switch node.value {
        case .scalar(let text):
            if text.contains("$") {
                node.value = .scalar(try interpolate(text, at: node, environment: environment))
            }
        case .mapping(let entries):
            node.value = .mapping(
                try entries.map { ($0.key, try resolve($0.node, environment: environment)) }
            )
        case .sequence(let elements):
            node.value = .sequence(try elements.map { try resolve($0, environment: environment) })
        case .null:
            break
        }
        return node
    }

    static func interpolate(_ text: String, at node: ConfigNode, environment: [String: String]) throws -> String {
        var result = ""
        var index = text.startIndex
        while index < text.endIndex {
            let rest = text[index...]
            if rest.hasPrefix("$${") {
                result += "${"
                index = text.index(index, offsetBy: 3)
            } else if rest.hasPrefix("${") {
                let bodyStart = text.index(index, offsetBy: 2)
                guard let close = matchingBrace(in: text, from: bodyStart) else {
                    throw node.error("unclosed ${ in the value; write $${ for a literal ${")
                }
                result += try substitute(text[bodyStart..<close], at: node, environment: environment)
                index = text.index(after: close)
            } else {
                result.append(text[index])
                index = text.index(after: index)
            }
        }
        return result
    }

    /// The `}` that closes a `${` whose body starts at `start`, counting nested `${…}` in defaults.
    private static func matchingBrace(in text: String, from start: String.Index) -> String.Index? {
        var depth = 0
        var index = start
        while index < text.endIndex {
            if text[index...].hasPrefix("${") {
                depth += 1
                index = text.index(index, offsetBy: 2)
                continue
            }
            if text[index] == "}" {
                if depth == 0 { return index }
                depth -= 1
            }
            index = text.index(after: index)
        }
        return nil
    }

    private static func substitute(
        _ body: Substring,
        at node: ConfigNode,
        environment: [String: String]
    ) throws -> String {
        let name: Substring
        var defaultText: Substring? = nil
        if let separator = body.firstRange(of: ":-") {
            name = body[..<separator.lowerBound]
            defaultText = body[separator.upperBound...]
        } else {
            name = body
        }
        guard isValidName(name) else {
            throw node.error("malformed variable reference; expected ${NAME} or ${NAME:-default}")
        }
        if let defaultText {
            if let value = environment[String(name)], !value.isEmpty {
                return value
            }
            return try interpolate(String(defaultText), at: node, environment: environment)
        }
        guard let value = environment[String(name)] else {
            throw node.error("environment variable \(name) is not set")
        }
        return value
    }

    private static func isValidName(_ name: Substring) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first == "_" else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }
}
