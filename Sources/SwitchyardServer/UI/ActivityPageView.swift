import SwitchyardCore

/// The activity log page (`/`): the Identified and Anonymous tabs, the filter, one page of rows.
struct ActivityPageView: Sendable {
    /// One choice of the type filter.
    struct Option: Sendable {
        var value: String
        var label: String
        var selected: Bool
    }

    /// One tab of the page.
    struct Tab: Sendable {
        var label: String
        var href: String
        var current: Bool
    }

    var chrome: UIChrome
    var tabs: [Tab]
    /// The current tab's value, kept by the filter form.
    var tab: String
    var eventTypes: [Option]
    var entryKinds: [Option]
    var filterName: String
    var filtering: Bool
    var clearHref: String
    /// "Matches on this page: 3 of 200" while filtering.
    var matchText: String
    var table: ActivityTableView

    init(
        chrome: UIChrome, tab: String, type: String, name: String, rows: [ActivityRowView], scanned: Int,
        cursor: String?, nextCursor: String?
    ) {
        self.chrome = chrome
        self.tab = tab
        let keep: [(String, String?)] = [("type", type), ("name", name)]
        tabs = [("identified", "Identified"), ("anonymous", "Anonymous")].map { value, label in
            Tab(label: label, href: UIPath.with(UIPath.activity, query: [("tab", value)] + keep), current: value == tab)
        }
        eventTypes = EventType.allCases.map {
            Option(value: $0.rawValue, label: $0.rawValue, selected: $0.rawValue == type)
        }
        entryKinds = [
            ("anonymous_merge", "anonymous merge"), ("person_merge", "person merge"),
            ("merge_refused", "merge refused"),
            ("erasure", "erasure"),
        ].map { Option(value: $0, label: $1, selected: $0 == type) }
        filterName = name
        filtering = !type.isEmpty || !name.isEmpty
        clearHref = UIPath.with(UIPath.activity, query: [("tab", tab)])
        matchText = "Matches on this page: \(rows.count) of \(scanned)"
        let here: [(String, String?)] = [("tab", tab)] + keep
        table = ActivityTableView(
            rows: rows, showPerson: true,
            pager: UIPager(
                newestHref: cursor == nil ? nil : UIPath.with(UIPath.activity, query: here),
                olderHref: nextCursor.map { UIPath.with(UIPath.activity, query: here + [("cursor", $0)]) }),
            emptyText: filtering
                ? "No entry on this page matches the filter."
                : tab == "anonymous"
                    ? "No anonymous activity stored. Events that carry only an anonymousId appear here until they merge."
                    : "No identified activity yet. Events with a userId, and merges, appear here.")
    }
}
