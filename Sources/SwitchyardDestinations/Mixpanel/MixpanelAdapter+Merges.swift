extension MixpanelAdapter {
    /// Every accepted merge reaches Mixpanel as its merge record (per `id_merge`), whatever the filter takes.
    public var recordsMerges: Bool { true }
}
