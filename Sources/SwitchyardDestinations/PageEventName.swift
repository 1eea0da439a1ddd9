import SwitchyardCore

/// How page and screen calls are named for vendors that only have named events (Mixpanel,
/// Amplitude): the `page_event_name` setting.
///
/// | setting                       | page named `Pricing`   | page without a name |
/// | ----------------------------- | ---------------------- | ------------------- |
/// | `loaded` (default)            | `Loaded a Page`        | `Loaded a Page`     |
/// | `viewed_name`                 | `Viewed Pricing`       | `Loaded a Page`     |
/// | template `Viewed {name} Page` | `Viewed Pricing Page`  | `Loaded a Page`     |
///
/// Screens read the same with `Screen` for `Page`. A template must contain `{name}`; every
/// occurrence is replaced.
public enum PageEventName: Sendable, Equatable {
    /// `Loaded a Page` / `Loaded a Screen` (Segment classic and RudderStack).
    case loaded
    /// `Viewed {name}` (Segment Actions).
    case viewedName
    /// A template containing `{name}`, e.g. `Viewed {name} Page`.
    case template(String)

    /// Reads `page_event_name` from `mapping`; `loaded` when absent.
    static func read(_ mapping: ConfigMapping) throws -> PageEventName {
        guard let node = mapping["page_event_name"] else { return .loaded }
        switch try node.string() {
        case "loaded": return .loaded
        case "viewed_name": return .viewedName
        case let text where text.contains("{name}"): return .template(text)
        default: throw node.expected("loaded, viewed_name or a template containing {name}")
        }
    }

    /// The setting as written in the config.
    public var configText: String {
        switch self {
        case .loaded: return "loaded"
        case .viewedName: return "viewed_name"
        case .template(let template): return template
        }
    }

    /// The event name for a page (`isScreen == false`) or screen call whose `name` is `name`.
    public func eventName(name: String?, isScreen: Bool) -> String {
        let fallback = isScreen ? "Loaded a Screen" : "Loaded a Page"
        guard let name, !name.isEmpty else { return fallback }
        switch self {
        case .loaded: return fallback
        case .viewedName: return "Viewed \(name)"
        case .template(let template): return template.replacing("{name}", with: name)
        }
    }
}
