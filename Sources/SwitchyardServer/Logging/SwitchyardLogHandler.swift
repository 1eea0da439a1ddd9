#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging
import SwitchyardCore

/// Structured logs: readable text on a terminal, one JSON object per line otherwise (SPEC §7).
/// Writes to standard error; metadata values are never payloads (house style §5).
public struct SwitchyardLogHandler: LogHandler {
    public enum Format: Sendable {
        case text
        case json

        /// Text when standard error is a terminal, JSON otherwise.
        public static var automatic: Format { isatty(STDERR_FILENO) != 0 ? .text : .json }
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let format: Format

    public init(label: String, format: Format = .automatic, level: Logger.Level = .info) {
        self.label = label
        self.format = format
        logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let time = SystemWallClock().now().iso8601
        var line: String
        switch format {
        case .text:
            line = "\(time) \(event.level.rawValue.uppercased()) \(label): \(event.message)"
            for key in merged.keys.sorted() { line += " \(key)=\(merged[key]!)" }  // key comes from the dictionary
        case .json:
            var writer = JSONWriter()
            writer.raw("{\"time\":")
            writer.string(time)
            writer.raw(",\"level\":")
            writer.string(event.level.rawValue)
            writer.raw(",\"logger\":")
            writer.string(label)
            writer.raw(",\"message\":")
            writer.string("\(event.message)")
            for key in merged.keys.sorted() {
                writer.comma()
                writer.key(key)
                writer.string("\(merged[key]!)")  // key comes from the dictionary
            }
            writer.raw("}")
            line = String(decoding: writer.bytes, as: UTF8.self)
        }
        line += "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
