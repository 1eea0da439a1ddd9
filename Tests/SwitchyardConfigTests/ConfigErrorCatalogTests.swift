import SwitchyardConfig
import SwitchyardCore
import Testing

/// Bad configs and the exact one-line error each must produce (`FILE:LINE: key.path: message`).
@Suite struct ConfigErrorCatalogTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var yaml: String
        var environment: [String: String] = [:]
        var expected: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "unknown top-level key",
            yaml: """
                server:
                  listen: 127.0.0.1:8088
                sourcez: []
                """,
            expected:
                "test.yaml:3: sourcez: unknown key; expected one of: destinations, identity, retention, server, "
                + "sources, storage"
        ),
        Case(
            name: "unknown nested key",
            yaml: """
                sources: [{name: website, write_key: k}]
                server:
                  limits:
                    max_event_sise: 1KB
                """,
            expected:
                "test.yaml:4: server.limits.max_event_sise: unknown key; expected one of: max_batch_events, "
                + "max_event_size, max_request_size"
        ),
        Case(
            name: "unknown key in a destination",
            yaml: """
                sources: [{name: website, write_key: k}]
                destinations:
                  - name: crm
                    type: webhook
                    url: https://crm.example.com/hook
                    secert: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
                """,
            expected: "test.yaml:6: destinations[0].secert: unknown key; expected one of: anonymous, batch, "
                + "concurrency, enabled, filter, headers, hold_max_age, hold_ttl, name, rate_limit, retry, secret, secrets, "
                + "timeout, type, url"
        ),
        Case(
            name: "hold_max_age that is not a positive duration",
            yaml: """
                sources: [{name: website, write_key: k}]
                destinations:
                  - name: crm
                    type: webhook
                    url: https://crm.example.com/hook
                    anonymous: hold
                    hold_max_age: 0s
                """,
            expected: "test.yaml:7: destinations[0].hold_max_age: must be greater than 0"
        ),
        Case(
            name: "unknown key in a type's nested mapping",
            yaml: """
                sources: [{name: website, write_key: k}]
                destinations:
                  - name: warehouse
                    type: warehouse
                    path: data/warehouse
                    rotate:
                      max_size: 1MiB
                """,
            expected: "test.yaml:7: destinations[0].rotate.max_size: unknown key; expected one of: max_age, max_bytes"
        ),
        Case(
            name: "a string where a list belongs",
            yaml: """
                \(minimalSources)
                server:
                  cors_origins: https://www.example.com
                """,
            expected: "test.yaml:5: server.cors_origins: expected a list, got \"https://www.example.com\""
        ),
        Case(
            name: "a list where a mapping belongs",
            yaml: """
                \(minimalSources)
                server: [listen]
                """,
            expected: "test.yaml:4: server: expected a mapping, got a list"
        ),
        Case(
            name: "bad duration (the house-style example)",
            yaml: """
                sources: [{name: website, write_key: k}]
                destinations:
                  - name: warehouse
                    type: warehouse
                    path: data/warehouse
                  - name: crm-hook
                    type: webhook
                    url: https://crm.example.com/hook
                    retry:
                      max_age: four hours
                """,
            expected: "test.yaml:10: destinations[1].retry.max_age: expected a duration like 4h, got \"four hours\""
        ),
        Case(
            name: "bare number as a duration",
            yaml: """
                \(minimalSources)
                retention:
                  events: 30
                """,
            expected: "test.yaml:5: retention.events: expected a duration like 4h, got \"30\""
        ),
        Case(
            name: "bad size",
            yaml: """
                \(minimalSources)
                storage:
                  max_backlog: 20 gigs
                """,
            expected: "test.yaml:5: storage.max_backlog: expected a size like 64MiB, got \"20 gigs\""
        ),
        Case(
            name: "a lease too short to renew",
            yaml: """
                \(minimalSources)
                storage:
                  postgres: postgres://switchyard@db:5432/events
                  lease_ttl: 500ms
                """,
            expected: "test.yaml:6: storage.lease_ttl: must be at least 1s"
        ),
        Case(
            name: "a connection wait too short for a connection to open",
            yaml: """
                \(minimalSources)
                storage:
                  postgres: postgres://switchyard@db:5432/events
                  connection_wait: 10ms
                """,
            expected: "test.yaml:6: storage.connection_wait: must be at least 100ms"
        ),
        Case(
            name: "a pool of no connections",
            yaml: """
                \(minimalSources)
                storage:
                  postgres: postgres://switchyard@db:5432/events
                  max_connections: 0
                """,
            expected: "test.yaml:6: storage.max_connections: must be between 1 and 1000, got 0"
        ),
        Case(
            name: "a database URL of another scheme",
            yaml: """
                \(minimalSources)
                storage:
                  postgres: mysql://db/events
                """,
            // The URL may carry a password, so the message does not repeat it.
            expected: "test.yaml:5: storage.postgres: expected an absolute postgres or postgresql URL, got a value"
        ),
        Case(
            name: "missing write_key points at the source's line",
            yaml: """
                server:
                  listen: 127.0.0.1:8088
                sources:
                  - name: website
                """,
            expected: "test.yaml:4: sources[0].write_key: required key is missing"
        ),
        Case(
            name: "empty write_key",
            yaml: """
                sources:
                  - name: website
                    write_key: ${WEBSITE_WRITE_KEY:-}
                """,
            expected: "test.yaml:3: sources[0].write_key: must not be empty"
        ),
        Case(
            name: "no sources",
            yaml: """
                server:
                  listen: 127.0.0.1:8088
                """,
            expected: "test.yaml:1: sources: at least one source is required (a name and a write_key)"
        ),
        Case(
            name: "missing webhook url",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: crm-hook
                    type: webhook
                """,
            expected: "test.yaml:5: destinations[0].url: required key is missing"
        ),
        Case(
            name: "missing mixpanel token",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: product-analytics
                    type: mixpanel
                    anonymous: hold
                """,
            expected: "test.yaml:5: destinations[0].token: required key is missing"
        ),
        Case(
            name: "duplicate destination name, at the second one",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: warehouse
                    type: warehouse
                    path: data/a
                  - name: warehouse
                    type: warehouse
                    path: data/b
                """,
            expected:
                "test.yaml:8: destinations[1].name: duplicate destination name \"warehouse\"; first used at line 5"
        ),
        Case(
            name: "duplicate source name, at the second one",
            yaml: """
                sources:
                  - name: website
                    write_key: a
                  - name: website
                    write_key: b
                """,
            expected: "test.yaml:4: sources[1].name: duplicate source name \"website\"; first used at line 2"
        ),
        Case(
            name: "write key shared by two sources, not echoed",
            yaml: """
                sources:
                  - name: website
                    write_key: shared-key-123
                  - name: app
                    write_key: shared-key-123
                """,
            expected: "test.yaml:5: sources[1].write_key: this write key is already used by source \"website\""
        ),
        Case(
            name: "unknown destination type",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: seg
                    type: segment
                """,
            expected: "test.yaml:6: destinations[0].type: unknown destination type \"segment\"; "
                + "expected one of: amplitude, mixpanel, posthog, warehouse, webhook"
        ),
        Case(
            name: "unset environment variable",
            yaml: """
                sources:
                  - name: website
                    write_key: ${WEBSITE_WRITE_KEY}
                """,
            expected: "test.yaml:3: sources[0].write_key: environment variable WEBSITE_WRITE_KEY is not set"
        ),
        Case(
            name: "unclosed variable reference",
            yaml: """
                \(minimalSources)
                server:
                  listen: ${LISTEN
                """,
            expected: "test.yaml:5: server.listen: unclosed ${ in the value; write $${ for a literal ${"
        ),
        Case(
            name: "bad enum value",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: warehouse
                    type: warehouse
                    path: data/warehouse
                    anonymous: maybe
                """,
            expected: "test.yaml:8: destinations[0].anonymous: expected one of: forward, hold, drop; got \"maybe\""
        ),
        Case(
            name: "bad event type in a filter",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: warehouse
                    type: warehouse
                    path: data/warehouse
                    filter: { types: [track, click] }
                """,
            expected: "test.yaml:8: destinations[0].filter.types[1]: expected one of: track, page, screen, "
                + "identify, group, alias; got \"click\""
        ),
        Case(
            name: "both secret and secrets",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: crm-hook
                    type: webhook
                    url: https://crm.example.com/hook
                    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
                    secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]
                """,
            expected: "test.yaml:9: destinations[0].secrets: set either secret or secrets, not both"
        ),
        Case(
            name: "secret without whsec_, not echoed",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: crm-hook
                    type: webhook
                    url: https://crm.example.com/hook
                    secret: ${CRM_HOOK_SECRET}
                """,
            environment: ["CRM_HOOK_SECRET": "hunter2-plain-password"],
            expected: "test.yaml:8: destinations[0].secret: expected a Standard Webhooks secret: whsec_ followed "
                + "by base64, got a value"
        ),
        Case(
            name: "whsec_ secret that is not base64",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: crm-hook
                    type: webhook
                    url: https://crm.example.com/hook
                    secrets:
                      - whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
                      - whsec_not*base64!
                """,
            expected: "test.yaml:10: destinations[0].secrets[1]: expected a Standard Webhooks secret: whsec_ "
                + "followed by base64, got a value"
        ),
        Case(
            name: "webhook url that is not http, not echoed",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: crm-hook
                    type: webhook
                    url: ftp://files.example.com/token-abc
                """,
            expected: "test.yaml:7: destinations[0].url: expected an absolute http or https URL, got a value"
        ),
        Case(
            name: "bad listen address",
            yaml: """
                \(minimalSources)
                server:
                  listen: localhost
                """,
            expected:
                "test.yaml:5: server.listen: expected HOST:PORT like 127.0.0.1:8088 or [::1]:8088, got \"localhost\""
        ),
        Case(
            name: "YAML 1.1 yes is not a boolean here",
            yaml: """
                \(minimalSources)
                identity:
                  allow_user_merge: yes
                """,
            expected: "test.yaml:5: identity.allow_user_merge: expected true or false, got \"yes\""
        ),
        Case(
            name: "late_window accepts a duration or forever only",
            yaml: """
                \(minimalSources)
                identity:
                  late_window: never
                """,
            expected: "test.yaml:5: identity.late_window: expected a duration like 5m, or forever, got \"never\""
        ),
        Case(
            name: "number out of range",
            yaml: """
                \(minimalSources)
                server:
                  limits: { max_batch_events: 0 }
                """,
            expected: "test.yaml:5: server.limits.max_batch_events: must be at least 1, got 0"
        ),
        Case(
            name: "sqlite and postgres together",
            yaml: """
                \(minimalSources)
                storage:
                  sqlite: data/switchyard.db
                  postgres: postgres://switchyard:pw@db:5432/switchyard
                """,
            expected: "test.yaml:6: storage.postgres: set either sqlite or postgres, not both"
        ),
        Case(
            name: "initial backoff above max backoff",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: warehouse
                    type: warehouse
                    path: data/warehouse
                    retry: { initial_backoff: 10m, max_backoff: 5m }
                """,
            expected: "test.yaml:8: destinations[0].retry.initial_backoff: initial_backoff (10m) must not exceed "
                + "max_backoff (5m)"
        ),
        Case(
            name: "mixpanel service account without project_id",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: mp
                    type: mixpanel
                    token: tok
                    service_account: { username: sa.user, secret: sa-secret }
                """,
            expected:
                "test.yaml:5: destinations[0].project_id: required key is missing: service_account needs project_id"
        ),
        Case(
            name: "mixpanel region outside the list",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: mp
                    type: mixpanel
                    token: tok
                    region: asia
                """,
            expected: "test.yaml:8: destinations[0].region: expected one of: us, eu, in; got \"asia\""
        ),
        Case(
            name: "page_event_name that is neither a word nor a template",
            yaml: """
                \(minimalSources)
                destinations:
                  - name: amp
                    type: amplitude
                    api_key: key
                    page_event_name: Page Viewed
                """,
            expected: "test.yaml:8: destinations[0].page_event_name: expected loaded, viewed_name, amplitude or a template "
                + "containing {name}, got \"Page Viewed\""
        ),
        Case(
            name: "source name with a slash",
            yaml: """
                sources:
                  - name: web/site
                    write_key: k
                """,
            expected: "test.yaml:2: sources[0].name: expected a name of letters, digits, '.', '_' or '-' starting "
                + "with a letter or digit, got \"web/site\""
        ),
        Case(
            name: "duplicate YAML key, at the second one",
            yaml: """
                \(minimalSources)
                server:
                  listen: 127.0.0.1:8088
                  listen: 127.0.0.1:9000
                """,
            expected: "test.yaml:6: duplicate key \"listen\"; each key may appear only once in a mapping"
        ),
        Case(
            name: "bare null in a string list",
            yaml: """
                \(minimalSources)
                identity:
                  blocked_ids: [guest, null]
                """,
            expected: "test.yaml:5: identity.blocked_ids[1]: expected a string, got nothing (write \"null\" or \"\" "
                + "in quotes)"
        ),
        Case(
            name: "destination written as a bare name",
            yaml: """
                \(minimalSources)
                destinations:
                  - warehouse
                """,
            expected: "test.yaml:5: destinations[0]: expected a mapping, got \"warehouse\""
        ),
        Case(
            name: "malformed variable name",
            yaml: """
                \(minimalSources)
                storage:
                  sqlite: data/${1DB}.sqlite
                """,
            expected: "test.yaml:5: storage.sqlite: malformed variable reference; expected ${NAME} or "
                + "${NAME:-default}"
        ),
        Case(
            name: "top level that is not a mapping",
            yaml: """
                - server
                - sources
                """,
            expected: "test.yaml:1: expected a mapping of sections (server, storage, sources, …) at the top level"
        ),
    ]

    @Test(arguments: cases)
    func reportsFileLineKeyPathAndMessage(_ badCase: Case) throws {
        let error = try #require(configError(badCase.yaml, environment: badCase.environment))
        #expect(error.description == badCase.expected)
    }

    @Test func secretValuesNeverAppearInErrors() throws {
        let secret = "hunter2-plain-password"
        for badCase in Self.cases {
            let error = configError(badCase.yaml, environment: badCase.environment)
            #expect(error?.description.contains(secret) == false)
        }
        let webhookURL = try #require(Self.cases.first { $0.name.hasPrefix("webhook url") })
        #expect(configError(webhookURL.yaml)?.description.contains("token-abc") == false)
    }

    @Test func yamlSyntaxErrorsCarryTheirLine() throws {
        let yaml = """
            sources:
              - name: website
                write_key: k
            server:
              listen: "127.0.0.1:8088
            storage: {}
            """
        let error = try #require(configError(yaml))
        #expect(error.file == "test.yaml")
        #expect(error.line == 5, "an unclosed quote is reported where it opens, not at the end of the file")
        #expect(error.keyPath == "")
        #expect(error.message.hasPrefix("invalid YAML: "))
        #expect(error.description.hasPrefix("test.yaml:5: invalid YAML: "))
    }

    @Test func unclosedFlowListIsReportedWhereItOpens() throws {
        let error = try #require(configError("server: {}\nsources: [a, b\n"))
        #expect(error.line == 2)
        #expect(error.message.hasPrefix("invalid YAML: "))
    }

    @Test func undefinedAliasIsASyntaxError() throws {
        let error = try #require(configError(minimalSources + "\nserver:\n  listen: *address\n"))
        #expect(error.description == "test.yaml:5: invalid YAML: found undefined alias")
    }

    @Test func byteOrderMarkIsIgnored() throws {
        let config = try parseConfig("\u{FEFF}" + minimalSources)
        #expect(config.sources.count == 1)
    }

    @Test func badIndentationIsASyntaxErrorAtItsLine() throws {
        let yaml = """
            sources:
              - name: website
                write_key: k
             server: {}
            """
        let error = try #require(configError(yaml))
        #expect(error.line == 4)
        #expect(error.message.hasPrefix("invalid YAML: "))
    }
}
