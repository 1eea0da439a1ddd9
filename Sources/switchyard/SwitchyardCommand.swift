import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SwitchyardConfig
import SwitchyardCore
import SwitchyardDestinations
import SwitchyardServer

@main
struct SwitchyardCommand: AsyncParsableCommand {
    static let version = SwitchyardVersion.current

    static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "A self-hosted event gateway for Segment-format analytics events.",
        version: version,
        subcommands: [Serve.self, Check.self, Send.self, Replay.self, Tail.self])
}

/// Options shared by the commands that read the config file.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "The config file.")
    var config: String = "config/switchyard.yaml"

    func load() throws -> SwitchyardConfig {
        do {
            return try SwitchyardConfig.load(path: config, destinationTypes: DestinationRegistry.catalog)
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { SwitchyardLogHandler(label: $0, level: level) }
        let config = try options.load()
        let logger = Logger(label: "switchyard")
        let gateway: Gateway
        do {
            gateway = try await Gateway.build(config: config, logger: logger) { port in
                logger.info(
                    "switchyard is listening",
                    metadata: [
                        "switchyard.address": "\(config.server.listen.host):\(port)",
                        "switchyard.config": "\(config.file)",
                    ])
            }
        } catch let error as GatewayStartError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(78)
        }
        try await gateway.serviceGroup().run()
        logger.info("switchyard stopped")
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the config file and print what it resolves to, secrets masked.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try options.load()
        // Only when the config leaves the token empty: the report then says which generated token is in use.
        let generated =
            config.server.adminToken == nil ? try? AdminToken.read(path: config.adminTokenFile) : nil
        print(CheckReport(config: config, generatedAdminToken: generated ?? nil))
    }
}
