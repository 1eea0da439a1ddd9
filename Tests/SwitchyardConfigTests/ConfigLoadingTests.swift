import Foundation
import SwitchyardConfig
import SwitchyardCore
import SwitchyardDestinations
import Testing

@Suite struct ConfigLoadingTests {
    @Test func minimalConfigGetsEveryDefault() throws {
        let config = try parseConfig(minimalSources)
        #expect(config.file == "test.yaml")
        #expect(config.server.listen == ListenAddress(host: "127.0.0.1", port: 8088))
        #expect(config.server.adminToken == nil)
        #expect(config.server.corsOrigins == [])
        #expect(config.server.limits == IngestLimits())
        #expect(config.server.limits.maxEventSize.bytes == 32_000)
        #expect(config.server.limits.maxRequestSize.bytes == 500_000)
        #expect(config.server.limits.maxBatchEvents == 2500)
        #expect(config.server.dedupeWindow == .seconds(86_400))
        #expect(config.server.commitQueue == 50_000)
        #expect(config.server.shutdownGrace == .seconds(10))
        #expect(config.storage.backend == .sqlite(path: "data/switchyard.db"))
        #expect(config.storage.maxBacklog == .gibibytes(20))
        #expect(config.storage.synchronous == .full)
        #expect(config.retention.events == .seconds(30 * 86_400))
        #expect(config.sources.count == 1)
        #expect(config.sources[0].name == "website")
        #expect(config.sources[0].writeKey == "test-key")
        #expect(config.sources[0].rateLimit == nil)
        #expect(config.sources[0].line == 2)
        #expect(config.identity.anonymousTTL == .seconds(30 * 86_400))
        #expect(config.identity.lateWindow == nil)
        #expect(config.identity.allowUserMerge == false)
        #expect(config.identity.mergeOnAnyEvent == true)
        #expect(config.identity.blockedIDs == IdentitySettings.defaultBlockedIDs)
        #expect(config.identity.blockedIDs.count == 14)
        #expect(config.identity.maxAnonymousIDs == 100)
        #expect(config.destinations.isEmpty)
    }

    @Test func destinationCommonKeysDefault() throws {
        let config = try parseConfig(
            """
            \(minimalSources)
            destinations:
              - name: warehouse
                type: warehouse
                path: data/warehouse
            """
        )
        let destination = try #require(config.destinations.first)
        #expect(destination.name == "warehouse")
        #expect(destination.type == "warehouse")
        #expect(destination.enabled)
        #expect(destination.anonymous == .forward)
        #expect(destination.holdTTL == .seconds(30 * 86_400))
        #expect(destination.filter == EventFilterSettings())
        #expect(destination.filter.acceptsEverything)
        #expect(destination.batch == BatchSettings(maxEvents: 100, maxBytes: .mebibytes(1), maxWait: .seconds(1)))
        #expect(destination.concurrency == 1)
        #expect(destination.rateLimit == nil)
        #expect(
            destination.retry
                == RetrySettings(
                    initialBackoff: .seconds(1), maxBackoff: .seconds(300), maxAge: .seconds(14_400), maxAttempts: nil
                )
        )
        #expect(destination.timeout == .seconds(10))
        #expect(destination.line == 5)
        #expect(destination.node.path == "destinations[0]")
        let warehouse = try #require(destination.typeSettings as? WarehouseSettings)
        #expect(warehouse.path == "data/warehouse")
        #expect(warehouse.rotateMaxBytes == .mebibytes(64))
        #expect(warehouse.rotateMaxAge == .seconds(300))
    }

    @Test func everyCommonKeyIsRead() throws {
        let config = try parseConfig(
            """
            \(minimalSources)
            destinations:
              - name: crm-hook
                type: webhook
                url: http://127.0.0.1:9000/hook
                enabled: false
                anonymous: hold
                hold_ttl: 7d
                hold_max_age: 2d
                filter:
                  types: [track, identify]
                  events: ["Order *"]
                  exclude_events: ["Order Test*"]
                  paths: ["/checkout/*"]
                  identified: true
                batch: { max_events: 1, max_bytes: 256KiB, max_wait: 250ms }
                concurrency: 4
                rate_limit: 2.5
                retry: { initial_backoff: 500ms, max_backoff: 1m, max_age: 1h30m, max_attempts: 8 }
                timeout: 15s
            """
        )
        let destination = try #require(config.destinations.first)
        #expect(!destination.enabled)
        #expect(destination.anonymous == .hold)
        #expect(destination.holdTTL == .seconds(7 * 86_400))
        #expect(destination.holdMaxAge == .seconds(2 * 86_400))
        #expect(
            destination.filter
                == EventFilterSettings(
                    types: ["track", "identify"],
                    events: ["Order *"],
                    excludeEvents: ["Order Test*"],
                    paths: ["/checkout/*"],
                    identified: true
                )
        )
        #expect(
            destination.batch == BatchSettings(maxEvents: 1, maxBytes: .kibibytes(256), maxWait: .milliseconds(250)))
        #expect(destination.concurrency == 4)
        #expect(destination.rateLimit == 2.5)
        #expect(
            destination.retry
                == RetrySettings(
                    initialBackoff: .milliseconds(500), maxBackoff: .seconds(60), maxAge: .seconds(5400), maxAttempts: 8
                )
        )
        #expect(destination.timeout == .seconds(15))
    }

    @Test func serverAndStorageSettingsAreRead() throws {
        let config = try parseConfig(
            """
            \(minimalSources)
            server:
              listen: "[::1]:0"
              admin_token: s3cret-admin-token
              cors_origins: ["https://www.example.com/", "*"]
              limits: { max_event_size: 64KiB, max_request_size: 1MB, max_batch_events: 500 }
              dedupe_window: 12h
              max_pending_events: 10_000
              shutdown_grace: 30s
            storage:
              postgres: postgres://switchyard:pw@db.internal:5432/switchyard
              max_backlog: 1.5GiB
              lease_ttl: 4s
              connection_wait: 2500ms
              max_connections: 3
            """
        )
        #expect(config.server.listen == ListenAddress(host: "::1", port: 0))
        #expect(config.server.listen.description == "[::1]:0")
        #expect(config.server.adminToken == "s3cret-admin-token")
        #expect(config.server.corsOrigins == ["https://www.example.com", "*"])
        #expect(
            config.server.limits
                == IngestLimits(maxEventSize: .kibibytes(64), maxRequestSize: .megabytes(1), maxBatchEvents: 500)
        )
        #expect(config.server.dedupeWindow == .seconds(12 * 3600))
        #expect(config.server.commitQueue == 10_000)
        #expect(config.server.shutdownGrace == .seconds(30))
        #expect(config.storage.backend == .postgres(url: "postgres://switchyard:pw@db.internal:5432/switchyard"))
        #expect(config.storage.maxBacklog.bytes == 1_610_612_736)
        #expect(config.storage.leaseTTL == .seconds(4))
        #expect(config.storage.connectionWait == .milliseconds(2500))
        #expect(config.storage.maxConnections == 3)
    }

    @Test func identitySettingsAreRead() throws {
        let config = try parseConfig(
            """
            \(minimalSources)
            identity:
              anonymous_ttl: 7d
              late_window: 5m
              allow_user_merge: true
              merge_on_any_event: false
              blocked_ids: ["", "guest", "null"]
              max_anonymous_ids: 10
            """
        )
        #expect(config.identity.anonymousTTL == .seconds(7 * 86_400))
        #expect(config.identity.lateWindow == .seconds(300))
        #expect(config.identity.allowUserMerge)
        #expect(!config.identity.mergeOnAnyEvent)
        #expect(config.identity.blockedIDs == ["", "guest", "null"])
        #expect(config.identity.maxAnonymousIDs == 10)
    }

    @Test func interpolationUsesTheEnvironmentAndDefaults() throws {
        let yaml = """
            server:
              listen: ${HOST:-127.0.0.1}:${PORT:-8088}
              admin_token: ${SWITCHYARD_ADMIN_TOKEN:-}
              cors_origins: ["https://${SITE_HOST:-www.example.com}"]
            storage:
              sqlite: $${NOT_A_VARIABLE}/db.sqlite
            sources:
              - name: website
                write_key: ${WEBSITE_WRITE_KEY:-${FALLBACK_KEY:-dev-website-key}}
            """
        let defaults = try parseConfig(yaml)
        #expect(defaults.server.listen == ListenAddress(host: "127.0.0.1", port: 8088))
        #expect(defaults.server.adminToken == nil)
        #expect(defaults.server.corsOrigins == ["https://www.example.com"])
        #expect(defaults.storage.backend == .sqlite(path: "${NOT_A_VARIABLE}/db.sqlite"))
        #expect(defaults.sources[0].writeKey == "dev-website-key")

        let set = try parseConfig(
            yaml,
            environment: [
                "HOST": "0.0.0.0", "PORT": "9090", "SWITCHYARD_ADMIN_TOKEN": "admin-token-value",
                "SITE_HOST": "shop.example.org", "FALLBACK_KEY": "fallback-key", "NOT_A_VARIABLE": "x",
            ]
        )
        #expect(set.server.listen == ListenAddress(host: "0.0.0.0", port: 9090))
        #expect(set.server.adminToken == "admin-token-value")
        #expect(set.server.corsOrigins == ["https://shop.example.org"])
        #expect(set.storage.backend == .sqlite(path: "${NOT_A_VARIABLE}/db.sqlite"))
        #expect(set.sources[0].writeKey == "fallback-key")

        let empty = try parseConfig(yaml, environment: ["WEBSITE_WRITE_KEY": "", "FALLBACK_KEY": "f"])
        #expect(empty.sources[0].writeKey == "f", "an empty variable takes the :- default")
    }

    @Test func interpolatedValuesAreNotReparsedAsYAML() throws {
        let config = try parseConfig(
            minimalSources + "\nserver:\n  admin_token: ${TOKEN}\n",
            environment: ["TOKEN": "a: b, [c] # not a comment"]
        )
        #expect(config.server.adminToken == "a: b, [c] # not a comment")
    }

    @Test func fullExampleParses() throws {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let config = try SwitchyardConfig.load(
            path: repositoryRoot() + "/config/examples/full.yaml",
            environment: [
                "MIXPANEL_TOKEN": "mixpanel-project-token", "CRM_HOOK_URL": "https://crm.example.com/hooks/switchyard",
                "CRM_HOOK_SECRET": secret,
            ],
            destinationTypes: DestinationRegistry.catalog
        )
        #expect(config.server.corsOrigins == ["https://www.example.com"])
        #expect(config.storage.maxBacklog == .gibibytes(20))
        #expect(config.sources.map(\.name) == ["website"])
        #expect(config.destinations.map(\.name) == ["warehouse", "product-analytics", "crm-hook"])
        #expect(config.destinations.map(\.type) == ["warehouse", "mixpanel", "webhook"])

        let mixpanel = config.destinations[1]
        #expect(mixpanel.anonymous == .hold)
        #expect(mixpanel.filter.types == ["track", "page", "identify"])
        let mixpanelSettings = try #require(mixpanel.typeSettings as? MixpanelSettings)
        #expect(mixpanelSettings.token == "mixpanel-project-token")
        #expect(mixpanelSettings.baseURL == "https://api.mixpanel.com")
        #expect(mixpanelSettings.idMerge == .simplified)
        #expect(mixpanelSettings.pageEventName == .loaded)
        #expect(mixpanelSettings.importAuth == .projectToken)

        let webhook = config.destinations[2]
        #expect(webhook.batch.maxEvents == 100)
        #expect(webhook.batch.maxWait == .seconds(1))
        #expect(webhook.retry.maxAge == .seconds(4 * 3600))
        let webhookSettings = try #require(webhook.typeSettings as? WebhookSettings)
        #expect(webhookSettings.url == "https://crm.example.com/hooks/switchyard")
        #expect(webhookSettings.secrets.map(\.text) == [secret])
        #expect(webhookSettings.secrets.first?.key.count == 24)
    }

    @Test func repositoryDefaultConfigParsesWithNoEnvironment() throws {
        let config = try SwitchyardConfig.load(
            path: repositoryRoot() + "/config/switchyard.yaml",
            environment: [:],
            destinationTypes: DestinationRegistry.catalog
        )
        #expect(config.server.listen == .loopbackDefault)
        #expect(config.server.adminToken == nil)
        #expect(config.storage.backend == .sqlite(path: "data/switchyard.db"))
        #expect(config.sources.map(\.writeKey) == ["dev-website-key"])
        #expect(config.identity.blockedIDs == IdentitySettings.defaultBlockedIDs)
        #expect(config.identity.lateWindow == nil)
        #expect(config.destinations.map(\.type) == ["warehouse"])
        let warehouse = try #require(config.destinations.first?.typeSettings as? WarehouseSettings)
        #expect(warehouse.path == "data/warehouse")
    }

    @Test func repositoryDefaultConfigTakesTheEnvironment() throws {
        let config = try SwitchyardConfig.load(
            path: repositoryRoot() + "/config/switchyard.yaml",
            environment: ["WEBSITE_WRITE_KEY": "prod-key-1234567", "SWITCHYARD_ADMIN_TOKEN": "admin"],
            destinationTypes: DestinationRegistry.catalog
        )
        #expect(config.sources.map(\.writeKey) == ["prod-key-1234567"])
        #expect(config.server.adminToken == "admin")
    }

    @Test func missingFileIsAConfigErrorNamingThePath() throws {
        let path = "/nonexistent/switchyard-\(UInt64.random(in: 0...UInt64.max)).yaml"
        let error = try #require(
            throws: ConfigError.self,
            performing: {
                try SwitchyardConfig.load(path: path, environment: [:], destinationTypes: DestinationRegistry.catalog)
            }
        )
        #expect(error.file == path)
        #expect(error.line == 0)
        #expect(error.description == "\(path): config file not found")
    }

    @Test func loadedFileErrorsNameThePathAsGiven() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-config-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }  // best-effort cleanup of a temp folder
        let path = directory.appendingPathComponent("bad.yaml").path
        try Data("sources:\n  - name: website\n    write_key: k\n    colour: blue\n".utf8).write(
            to: URL(fileURLWithPath: path))
        let error = try #require(
            throws: ConfigError.self,
            performing: {
                try SwitchyardConfig.load(path: path, environment: [:], destinationTypes: DestinationRegistry.catalog)
            }
        )
        #expect(
            error.description
                == "\(path):4: sources[0].colour: unknown key; expected one of: name, rate_limit, write_key")
        #expect(
            throws: ConfigError.self,
            performing: {
                try SwitchyardConfig.load(
                    path: directory.path, environment: [:], destinationTypes: DestinationRegistry.catalog
                )
            }
        )
    }

    @Test func emptyFileNeedsASource() throws {
        let error = try #require(configError(""))
        #expect(error.description == "test.yaml:1: sources: at least one source is required (a name and a write_key)")
    }

    @Test func emptyDestinationsAndNullSectionsAreAllowed() throws {
        let config = try parseConfig(minimalSources + "\nserver:\nidentity: ~\ndestinations: []\n")
        #expect(config.destinations.isEmpty)
        #expect(config.server.listen == .loopbackDefault)
    }

    @Test func aCustomCatalogDecidesWhichTypesExist() throws {
        let yaml = minimalSources + "\ndestinations:\n  - { name: wh, type: warehouse, path: x }\n"
        let error = try #require(
            throws: ConfigError.self,
            performing: {
                try SwitchyardConfig.parse(
                    yaml: yaml, file: "t.yaml", environment: [:], destinationTypes: DestinationTypeCatalog()
                )
            }
        )
        #expect(
            error.description
                == "t.yaml:5: destinations[0].type: unknown destination type \"warehouse\"; "
                + "no destination types are registered"
        )
    }
}
