/// The settings of one destination type (`webhook`, `mixpanel`, …), decoded from its config entry.
///
/// The loader handles the keys every destination takes (`name`, `type`, `enabled`, `anonymous`,
/// `hold_ttl`, `filter`, `batch`, `concurrency`, `rate_limit`, `retry`, `timeout`); a type declares
/// only its own keys. Contract:
/// - ``keys`` lists every key the type reads besides the common ones; the loader rejects any other
///   key before calling ``init(node:)``, so the initializer need not check for unknown top-level keys
///   (it does check inside its own nested mappings, e.g. `rotate`).
/// - ``init(node:)`` receives the whole destination mapping and throws ``ConfigError`` located with
///   the node's readers (``ConfigMapping``), never echoing secret values.
/// - ``summary`` is what `switchyard check` prints: one line per setting, secrets masked with
///   ``SecretMask``, never whole.
public protocol DestinationTypeSettings: Sendable {
    /// The `type:` word, e.g. `webhook`.
    static var type: String { get }
    /// The type's own keys, besides the common ones.
    static var keys: Set<String> { get }
    /// Decodes the type's keys from the destination's mapping node.
    init(node: ConfigNode) throws
    /// Resolved settings for display, secrets masked.
    var summary: [(key: String, value: String)] { get }
    /// Every secret value the settings hold — tokens, API keys and secrets, signing secrets, header values,
    /// credentials in URLs — exactly as they may appear in a request the destination sends, so the live
    /// view can mask each with ``SecretMask`` wherever it shows that request (SPEC §6).
    var secretValues: [String] { get }
}
