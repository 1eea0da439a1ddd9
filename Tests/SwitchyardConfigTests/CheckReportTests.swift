import SwitchyardConfig
import SwitchyardCore
import SwitchyardDestinations
import Testing

@Suite struct CheckReportTests {
    static let secrets = [
        "WEBSITE_WRITE_KEY": "wk_live_4f9a8b7c6d5e4f3a",
        "APP_WRITE_KEY": "short-key",
        "SWITCHYARD_ADMIN_TOKEN": "admin-token-0123456789",
        "DATABASE_URL": "postgres://switchyard:db-password-xyz@db.internal:5432/switchyard",
        "MIXPANEL_TOKEN": "mixpanel-token-abcdef123456",
        "MIXPANEL_SA_SECRET": "sa-secret-zyxwvu987654",
        "CRM_HOOK_URL": "https://hooks.example.com/services/T000/B000/hook-path-token",
        "CRM_HOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "CRM_AUTH": "Bearer header-credential-42",
        "AMPLITUDE_KEY": "amplitude-key-8765432109",
        "POSTHOG_KEY": "phc_posthogprojectkey1234567",
    ]

    static let yaml = """
        server:
          admin_token: ${SWITCHYARD_ADMIN_TOKEN}
        storage:
          postgres: ${DATABASE_URL}
        sources:
          - name: website
            write_key: ${WEBSITE_WRITE_KEY}
          - name: app
            write_key: ${APP_WRITE_KEY}
            rate_limit: 50
        destinations:
          - name: product-analytics
            type: mixpanel
            token: ${MIXPANEL_TOKEN}
            service_account: { username: sa.user, secret: "${MIXPANEL_SA_SECRET}" }
            project_id: 42
            anonymous: hold
            filter: { types: [track, page, identify] }
          - name: crm-hook
            type: webhook
            url: ${CRM_HOOK_URL}
            secret: ${CRM_HOOK_SECRET}
            headers: { Authorization: "${CRM_AUTH}" }
          - name: amp
            type: amplitude
            api_key: ${AMPLITUDE_KEY}
            enabled: false
          - name: ph
            type: posthog
            api_key: ${POSTHOG_KEY}
          - name: warehouse
            type: warehouse
            path: data/warehouse
        """

    func report() throws -> String {
        CheckReport(config: try parseConfig(Self.yaml, environment: Self.secrets)).description
    }

    @Test func noSecretAppearsWhole() throws {
        let text = try report()
        for (name, secret) in Self.secrets {
            #expect(!text.contains(secret), "\(name) leaked into the check report")
        }
        for fragment in [
            "db-password-xyz", "hook-path-token", "header-credential-42", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ] {
            #expect(!text.contains(fragment))
        }
    }

    @Test func secretsAreShownMasked() throws {
        let text = try report()
        #expect(text.contains("admin_token: ****6789"))
        #expect(text.contains("  - website: write_key ****4f3a"))
        #expect(text.contains("  - app: write_key ****, rate_limit 50/s"))
        #expect(text.contains("postgres: postgres://db.internal:5432/…\n  lease_ttl: 10s\n  connection_wait: 10s\n  max_connections: 8\n"))
        #expect(text.contains("token: ****3456"))
        #expect(text.contains("service account sa.user (secret ****7654), project 42"))
        #expect(text.contains("url: https://hooks.example.com/…"))
        #expect(text.contains("whsec_…(masked)"))
        #expect(text.contains("headers.Authorization: ****l-42"))
        #expect(text.contains("api_key: phc_…(masked)"))
    }

    @Test func everyDestinationIsListedWithItsSettings() throws {
        let text = try report()
        #expect(text.contains("destinations: 5"))
        #expect(text.contains("  - product-analytics (mixpanel)"))
        #expect(text.contains("  - amp (amplitude, disabled)"))
        #expect(text.contains("      anonymous: hold"))
        #expect(text.contains("      hold_ttl: 30d"))
        #expect(text.contains("      filter: types [track, page, identify]"))
        #expect(text.contains("      batch: max_events 100, max_bytes 1MiB, max_wait 1s"))
        #expect(text.contains("      retry: initial_backoff 1s, max_backoff 5m, max_age 4h, max_attempts unlimited"))
        #expect(text.contains("      base_url: https://api.mixpanel.com"))
        #expect(text.contains("      path: data/warehouse"))
        #expect(text.contains("      rotate: max_bytes 64MiB, max_age 5m"))
    }

    @Test func defaultConfigReport() throws {
        let config = try parseConfig(minimalSources)
        #expect(
            CheckReport(config: config).lines == [
                "config: test.yaml",
                "server:",
                "  listen: 127.0.0.1:8088",
                "  admin_token: not set; generated at first start and kept in data/admin_token (mode 0600)",
                "  cors_origins: none",
                "  limits: max_event_size 32KB, max_request_size 500KB, max_batch_events 2500",
                "  dedupe_window: 1d",
                "  max_pending_events: 50000",
                "  shutdown_grace: 10s",
                "  max_connections: 4096",
                "  timeouts: head 10s, body 30s, idle 1m",
                "storage:",
                "  sqlite: data/switchyard.db",
                "  synchronous: full",
                "  max_backlog: 20GiB",
                "retention:",
                "  events: 30d",
                "sources: 1",
                "  - website: write_key ****",
                "identity:",
                "  enabled: true",
                "  anonymous_ttl: 30d",
                "  late_window: forever",
                "  allow_user_merge: false",
                "  merge_on_any_event: true",
                "  blocked_ids: \"\", \"anonymous\", \"null\", \"undefined\", \"nil\", \"none\", \"0\", \"-1\", "
                    + "\"guest\", \"unknown\", \"n/a\", \"NaN\", \"[object Object]\", "
                    + "\"00000000-0000-0000-0000-000000000000\"",
                "  max_anonymous_ids: 100",
                "destinations: 0",
            ]
        )
    }
}
