import SwitchyardConfig
import SwitchyardCore
import Testing

/// `server.timeouts` and `server.max_connections` (SPEC §2, "Hostile input"): defaults that serve
/// without them, and errors that name the key for values that would switch the protection off.
@Suite struct ServerLimitsConfigTests {
    func server(_ lines: String) -> String {
        """
        \(minimalSources)
        server:
        \(lines)
        """
    }

    @Test func defaultsServeWithoutTheKeys() throws {
        let config = try parseConfig(minimalSources)
        #expect(config.server.timeouts == ServerTimeouts(head: .seconds(10), body: .seconds(30), idle: .seconds(60)))
        #expect(config.server.maxConnections == 4096)
    }

    @Test func everyKeyIsRead() throws {
        let config = try parseConfig(server("  max_connections: 8\n  timeouts: { head: 1500ms, body: 2m, idle: 1h }"))
        #expect(config.server.maxConnections == 8)
        #expect(config.server.timeouts == ServerTimeouts(head: .milliseconds(1500), body: .seconds(120), idle: .seconds(3600)))
    }

    @Test func aPartialTimeoutsSectionKeepsTheOtherDefaults() throws {
        let config = try parseConfig(server("  timeouts:\n    body: 5s"))
        #expect(config.server.timeouts == ServerTimeouts(body: .seconds(5)))
    }

    @Test(arguments: [
        ("  timeouts: { head: 0s }", "server.timeouts.head", "from 1ms to 1h"),
        ("  timeouts: { idle: 2h }", "server.timeouts.idle", "from 1ms to 1h"),
        ("  timeouts: { body: 30 }", "server.timeouts.body", "a duration"),
        ("  timeouts: { body: -1s }", "server.timeouts.body", "a duration"),
        ("  timeouts: { header: 5s }", "server.timeouts.header", ""),
        ("  timeouts: 10s", "server.timeouts", ""),
        ("  max_connections: 0", "server.max_connections", "between 1 and 1000000"),
        ("  max_connections: 2000000", "server.max_connections", "between 1 and 1000000"),
        ("  max_connections: many", "server.max_connections", "a whole number"),
    ])
    func badValuesAreErrorsNamingTheKey(lines: String, keyPath: String, message: String) throws {
        let error = try #require(configError(server(lines)))
        #expect(error.keyPath == keyPath)
        #expect(error.line > 0)
        #expect(error.message.contains(message))
    }
}
