/// The six Segment calls.
public enum EventType: String, Sendable, CaseIterable, Hashable {
    case track, page, screen, identify, group, alias

    /// The warehouse table that holds events of this type.
    public var table: String {
        switch self {
        case .track: "tracks"
        case .page: "pages"
        case .screen: "screens"
        case .identify: "identifies"
        case .group: "groups"
        case .alias: "aliases"
        }
    }
}
