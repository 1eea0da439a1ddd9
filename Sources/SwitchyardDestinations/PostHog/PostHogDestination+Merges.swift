extension PostHogDestination {
    /// Every accepted merge reaches PostHog as an `$identify` with `$anon_distinct_id`, whatever the filter takes.
    public var recordsMerges: Bool { true }
}
