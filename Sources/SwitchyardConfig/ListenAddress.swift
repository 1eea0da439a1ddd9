/// The address the HTTP server binds: `HOST:PORT`, IPv6 hosts in brackets (`[::1]:8088`).
///
/// `host` is stored without brackets, ready for a bind call; `description` adds them back.
/// Port `0` (an ephemeral port, for tests) is allowed; ports above 65535 and bracketless IPv6 are not.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP literal, without brackets (`127.0.0.1`, `::1`, `localhost`, `0.0.0.0`).
    public var host: String
    /// TCP port, `0...65535`; `0` lets the system choose.
    public var port: Int

    /// `127.0.0.1:8088`, the default `server.listen`.
    public static let loopbackDefault = ListenAddress(host: "127.0.0.1", port: 8088)

    /// Creates an address. Precondition: `0...65535 ~= port`.
    public init(host: String, port: Int) {
        precondition((0...65535).contains(port), "a TCP port is 0...65535")
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:8088`, `[::1]:0` or `localhost:80`, or returns `nil`.
    public init?(parsing text: String) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].first == ":" else {
                return nil
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            // An IPv6 literal must be bracketed, or its last group would read as the port.
            guard !hostPart.contains(":") else { return nil }
        }
        guard !hostPart.isEmpty, !hostPart.contains(where: { $0.isWhitespace || $0 == "/" }),
            !portPart.isEmpty, portPart.allSatisfy({ $0.isASCII && $0.isNumber }), portPart.count <= 5,
            let port = Int(portPart), port <= 65535
        else { return nil }
        self.init(host: String(hostPart), port: port)
    }

    /// `host:port`, with brackets around an IPv6 host.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
