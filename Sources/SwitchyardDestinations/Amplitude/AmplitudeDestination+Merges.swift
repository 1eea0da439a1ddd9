extension AmplitudeDestination {
    /// Every accepted merge reaches Amplitude as an identify linking the device, whatever the filter takes.
    public var recordsMerges: Bool { true }
}
