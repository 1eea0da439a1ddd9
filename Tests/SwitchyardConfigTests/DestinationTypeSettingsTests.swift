import SwitchyardConfig
import SwitchyardCore
import SwitchyardDestinations
import Testing

/// Each destination type's own settings, read through the loader.
@Suite struct DestinationTypeSettingsTests {
    /// Parses one destination whose lines (after `- name: d`) are `body`, indented by four spaces.
    func destination(_ body: String, environment: [String: String] = [:]) throws -> DestinationSettings {
        let indented = body.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        let config = try parseConfig(
            minimalSources + "\ndestinations:\n  - name: d\n" + indented + "\n",
            environment: environment
        )
        return try #require(config.destinations.first)
    }

    @Test func registryListsTheFiveTypes() {
        #expect(DestinationRegistry.catalog.typeNames == ["amplitude", "mixpanel", "posthog", "warehouse", "webhook"])
        #expect(DestinationRegistry.catalog.entry(for: "webhook")?.keys == WebhookSettings.keys)
    }

    @Test(arguments: [
        ("", "https://api.mixpanel.com"),
        ("region: us", "https://api.mixpanel.com"),
        ("region: eu", "https://api-eu.mixpanel.com"),
        ("region: in", "https://api-in.mixpanel.com"),
        ("region: eu\nendpoint: http://127.0.0.1:9000/mp/", "http://127.0.0.1:9000/mp"),
    ])
    func mixpanelBaseURLFollowsRegionThenEndpoint(_ lines: String, _ expected: String) throws {
        let settings = try #require(
            try destination("type: mixpanel\ntoken: tok\n" + lines).typeSettings as? MixpanelSettings
        )
        #expect(settings.baseURL == expected)
    }

    @Test(arguments: [
        ("", "https://api2.amplitude.com"),
        ("region: eu", "https://api.eu.amplitude.com"),
        ("endpoint: https://amplitude.internal.example.com", "https://amplitude.internal.example.com"),
    ])
    func amplitudeBaseURLFollowsRegionThenEndpoint(_ lines: String, _ expected: String) throws {
        let settings = try #require(
            try destination("type: amplitude\napi_key: key\n" + lines).typeSettings as? AmplitudeSettings
        )
        #expect(settings.baseURL == expected)
    }

    @Test func posthogDefaultsToUSCloudAndTakesAnEndpoint() throws {
        let cloud = try #require(try destination("type: posthog\napi_key: phc_abc").typeSettings as? PostHogSettings)
        #expect(cloud.baseURL == "https://us.i.posthog.com")
        #expect(cloud.apiKey == "phc_abc")
        let selfHosted = try #require(
            try destination("type: posthog\napi_key: phc_abc\nendpoint: https://ph.example.com/").typeSettings
                as? PostHogSettings
        )
        #expect(selfHosted.baseURL == "https://ph.example.com")
    }

    @Test func mixpanelAuthenticationChoices() throws {
        func auth(_ lines: String) throws -> MixpanelSettings.ImportAuth {
            try #require(try destination("type: mixpanel\ntoken: tok\n" + lines).typeSettings as? MixpanelSettings)
                .importAuth
        }
        #expect(try auth("") == .projectToken)
        #expect(try auth("secret: ${MP_SECRET:-}") == .projectToken)
        #expect(try auth("secret: api-secret") == .apiSecret("api-secret"))
        #expect(
            try auth("service_account: { username: sa.user, secret: sa-secret }\nproject_id: 12345")
                == .serviceAccount(username: "sa.user", secret: "sa-secret", projectID: "12345")
        )
        #expect(
            try auth("service_account: \"sa.user:sa-secret\"\nproject_id: \"12345\"")
                == .serviceAccount(username: "sa.user", secret: "sa-secret", projectID: "12345")
        )
        #expect(throws: ConfigError.self) { try auth("project_id: 12345") }
        #expect(throws: ConfigError.self) { try auth("secret: s\nservice_account: a:b\nproject_id: 1") }
    }

    @Test func mixpanelOptions() throws {
        let settings = try #require(
            try destination("type: mixpanel\ntoken: tok\nid_merge: original\npage_event_name: Viewed {name} Page")
                .typeSettings as? MixpanelSettings
        )
        #expect(settings.idMerge == .original)
        #expect(settings.pageEventName == .template("Viewed {name} Page"))
    }

    @Test(arguments: [
        (PageEventName.loaded, "Pricing", false, "Loaded a Page"),
        (PageEventName.loaded, "Home", true, "Loaded a Screen"),
        (PageEventName.viewedName, "Pricing", false, "Viewed Pricing"),
        (PageEventName.viewedName, nil, false, "Loaded a Page"),
        (PageEventName.template("Viewed {name} Page"), "Pricing", false, "Viewed Pricing Page"),
        (PageEventName.template("{name} / {name}"), "A", true, "A / A"),
        (PageEventName.template("Viewed {name} Page"), "", false, "Loaded a Page"),
    ])
    func pageEventNames(_ naming: PageEventName, _ name: String?, _ isScreen: Bool, _ expected: String) {
        #expect(naming.eventName(name: name, isScreen: isScreen) == expected)
    }

    @Test func amplitudeOptions() throws {
        let settings = try #require(
            try destination(
                "type: amplitude\napi_key: key\nuse_batch_api: true\nmin_id_length: 1\npage_event_name: viewed_name"
            )
            .typeSettings as? AmplitudeSettings
        )
        #expect(settings.useBatchAPI)
        #expect(settings.eventsPath == "/batch")
        #expect(settings.minIDLength == 1)
        #expect(settings.pageEventName == .viewedName)
    }

    @Test func webhookSecretsHeadersAndSigningKey() throws {
        let settings = try #require(
            try destination(
                """
                type: webhook
                url: https://crm.example.com/hook
                secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, "whsec_dGVzdA"]
                headers: { X-Env: production, Authorization: "Bearer abcdefghijklmnop" }
                """
            ).typeSettings as? WebhookSettings
        )
        #expect(settings.secrets.count == 2)
        #expect(settings.secrets[0].key.count == 24)
        #expect(settings.secrets[1].key == Array("test".utf8), "padding is optional, as in the reference libraries")
        #expect(settings.headers == ["X-Env": "production", "Authorization": "Bearer abcdefghijklmnop"])
    }

    @Test func webhookWithoutSecretIsUnsigned() throws {
        let settings = try #require(
            try destination("type: webhook\nurl: http://127.0.0.1:8080\nsecret: ${HOOK_SECRET:-}").typeSettings
                as? WebhookSettings
        )
        #expect(settings.secrets.isEmpty)
    }

    @Test(arguments: ["webhook-signature", "Content-Length", "bad header"])
    func webhookRefusesReservedAndInvalidHeaders(_ name: String) {
        let error = configError(
            minimalSources + "\ndestinations:\n  - name: d\n    type: webhook\n    url: https://x.example.com\n"
                + "    headers: { \"\(name)\": v }\n"
        )
        #expect(error?.line == 8)
        #expect(error?.keyPath == "destinations[0].headers.\(name)")
    }

    @Test func warehouseRotation() throws {
        let settings = try #require(
            try destination(
                "type: warehouse\npath: /var/lib/switchyard/warehouse\nrotate: { max_bytes: 8MiB, max_age: 30s }"
            )
            .typeSettings as? WarehouseSettings
        )
        #expect(settings.path == "/var/lib/switchyard/warehouse")
        #expect(settings.rotateMaxBytes == .mebibytes(8))
        #expect(settings.rotateMaxAge == .seconds(30))
    }

    @Test func typeSpecificKeysBelongToTheirTypeOnly() {
        let error = configError(
            minimalSources + "\ndestinations:\n  - name: d\n    type: posthog\n    api_key: k\n    region: eu\n"
        )
        #expect(
            error?.description == "test.yaml:8: destinations[0].region: unknown key; expected one of: anonymous, "
                + "api_key, batch, concurrency, enabled, endpoint, filter, hold_max_age, hold_ttl, name, rate_limit, retry, timeout, "
                + "type"
        )
    }
}
