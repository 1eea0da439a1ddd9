import Foundation

/// This process's id among the nodes sharing a database or a warehouse path: host name and process id,
/// restricted to characters that are safe in file names.
public enum NodeIdentity {
    public static let current: String = {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "node"
        let safe = host.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) || $0 == "-" ? Character($0) : "-" }
        return String(safe.prefix(32)) + "-" + String(ProcessInfo.processInfo.processIdentifier)
    }()
}
