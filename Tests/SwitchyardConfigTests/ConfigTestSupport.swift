import SwitchyardConfig
import SwitchyardCore
import SwitchyardDestinations

/// Parses `yaml` as the file `test.yaml` with the production destination types.
func parseConfig(_ yaml: String, environment: [String: String] = [:]) throws -> SwitchyardConfig {
    try SwitchyardConfig.parse(
        yaml: yaml,
        file: "test.yaml",
        environment: environment,
        destinationTypes: DestinationRegistry.catalog
    )
}

/// The `ConfigError` that parsing `yaml` throws, or `nil` when it parses.
func configError(_ yaml: String, environment: [String: String] = [:]) -> ConfigError? {
    do {
        _ = try parseConfig(yaml, environment: environment)
        return nil
    } catch let error as ConfigError {
        return error
    } catch {
        return ConfigError(file: "?", line: -1, keyPath: "?", message: "not a ConfigError: \(error)")
    }
}

/// The smallest valid config: one source.
let minimalSources = """
    sources:
      - name: website
        write_key: test-key
    """

/// The repository root, found from this file's path (works through symlinked checkouts too).
func repositoryRoot(filePath: String = #filePath) -> String {
    var components = filePath.split(separator: "/", omittingEmptySubsequences: false)
    // …/Tests/SwitchyardConfigTests/ThisFile.swift → …
    components.removeLast(3)
    return components.joined(separator: "/")
}
