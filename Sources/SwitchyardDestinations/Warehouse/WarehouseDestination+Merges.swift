extension WarehouseDestination {
    /// Every merge becomes an `identity_merges` row, whatever the filter takes.
    public nonisolated var recordsMerges: Bool { true }
}
