/// What the config implies for admin access (SPEC §6): whether the listen address is loopback, the
/// development write key that must never face a network, and where a generated admin token is kept.
extension ListenAddress {
    /// Whether only this machine can connect: `localhost`, `127.x.x.x` or `::1`.
    /// `0.0.0.0`, `::` and every other address or name count as reachable from elsewhere.
    public var isLoopback: Bool {
        let name = host.lowercased()
        if name == "localhost" || name == "::1" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}

extension SourceSettings {
    /// The write key of the shipped default config: public in the repository, so it is refused on a
    /// listen address that is not loopback.
    public static let developmentWriteKey = "dev-website-key"
}

extension SwitchyardConfig {
    /// The folder that holds the gateway's own files: the SQLite file's folder, or `data/` (relative to
    /// the working directory, as the default SQLite path is) with PostgreSQL, which has no local files.
    public var dataDirectory: String {
        switch storage.backend {
        case .sqlite(let path):
            guard let slash = path.lastIndex(of: "/") else { return "." }
            return slash == path.startIndex ? "/" : String(path[..<slash])
        case .postgres:
            return "data"
        }
    }

    /// Where the admin token generated while `server.admin_token` is empty is kept (mode 0600).
    public var adminTokenFile: String {
        let directory = dataDirectory
        return (directory.hasSuffix("/") ? directory : directory + "/") + "admin_token"
    }
}
