import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// This process's id among the nodes sharing a database or a warehouse path: host name and process id,
/// restricted to characters that are safe in file names.
public enum NodeIdentity {
    static let host: String = {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "node"
        let safe = host.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) || $0 == "-" ? Character($0) : "-" }
        return String(safe.prefix(32))
    }()

    public static let current: String = host + "-" + String(ProcessInfo.processInfo.processIdentifier)

    /// True for the id of a node of this host whose process is not running any more (killed, crashed): the
    /// next start takes its delivery leases at once instead of waiting for them to run out. A reused pid reads
    /// as alive, which only means waiting.
    @Sendable public static func isDefunct(_ node: String) -> Bool {
        guard node.hasPrefix(host + "-"), let pid = Int32(node.dropFirst(host.count + 1)), pid > 0,
            pid != ProcessInfo.processInfo.processIdentifier
        else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }
}
