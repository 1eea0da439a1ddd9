import ArgumentParser
import Foundation
import Logging
import SwitchyardConfig
import SwitchyardCore
import SwitchyardServer
import SwitchyardStore

/// `switchyard replay`: queues dead letters or a time range of stored events for a destination again.
///
/// It writes to the store directly, so it works whether or not the gateway runs; a running gateway picks
/// the queue up within a second (and re-enables the destination if it was disabled).
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-deliver a destination's dead letters, or stored events of a time range.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "The destination's name in the config.")
    var destination: String

    @Flag(help: "Replay every dead letter of the destination.")
    var deadLetters = false

    @Option(name: .customLong("id"), help: "Replay only this dead letter (repeatable).")
    var ids: [Int64] = []

    @Option(help: "Start of the time range (ISO-8601, by receivedAt).")
    var from: String?

    @Option(help: "End of the time range (ISO-8601, inclusive).")
    var to: String?

    func validate() throws {
        let byRange = from != nil || to != nil
        guard deadLetters || !ids.isEmpty || byRange else {
            throw ValidationError("say what to replay: --dead-letters, --id N, or --from T --to T")
        }
        guard !(byRange && (deadLetters || !ids.isEmpty)) else {
            throw ValidationError("--from/--to and --dead-letters/--id are different replays; run them separately")
        }
        if byRange {
            guard let from, Timestamp(iso8601: from) != nil else { throw ValidationError("--from must be an ISO-8601 time like 2026-11-29T00:00:00Z") }
            guard let to, Timestamp(iso8601: to) != nil else { throw ValidationError("--to must be an ISO-8601 time like 2026-11-29T23:59:59Z") }
        }
    }

    func run() async throws {
        let config = try options.load()
        guard config.destinations.contains(where: { $0.name == destination }) else {
            throw ValidationError(
                "no destination named \(destination) in \(config.file); configured: \(config.destinations.map(\.name).joined(separator: ", "))")
        }
        let store = try await Gateway.openStore(config: config, logger: Logger(label: "switchyard"))
        defer { Task { try? await store.close() } }
        let count: Int
        if let from = from.flatMap(Timestamp.init(iso8601:)), let to = to.flatMap(Timestamp.init(iso8601:)) {
            count = try await store.enqueueReplay(for: destination, receivedFrom: from, to: to)
        } else {
            count = try await store.requeueDeadLetters(of: destination, ids: ids.isEmpty ? nil : ids)
        }
        try await store.setDisabled(destination, reason: nil)
        try await store.close()
        print("queued \(count) events for \(destination)")
    }
}
