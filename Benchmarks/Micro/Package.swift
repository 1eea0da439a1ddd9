// swift-tools-version: 6.1
// Micro-benchmarks for the ingest hot paths (issue #15), kept out of the root package so that its build and CI
// do not carry ordo-one's benchmark package. Run them with scripts/bench-micro; see README.md beside this file.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "switchyard-micro",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
        // The gateway's own targets, by path (its library products exist for this package).
        .package(name: "switchyard", path: "../.."),
    ],
    targets: [
        // Request bodies and events shaped like analytics.js's, shared by the benchmarks.
        .target(name: "SampleEvents", dependencies: [.product(name: "SwitchyardCore", package: "switchyard")], swiftSettings: swiftSettings),
        // Scanner, parser and identity decision: pure SwitchyardCore, no I/O.
        .executableTarget(
            name: "IngestBenchmarks",
            dependencies: [
                .product(name: "SwitchyardCore", package: "switchyard"), "SampleEvents",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/IngestBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The SQLite commit with synchronous = full on a temporary file.
        .executableTarget(
            name: "CommitBenchmarks",
            dependencies: [
                .product(name: "SwitchyardCore", package: "switchyard"),
                .product(name: "SwitchyardStore", package: "switchyard"), "SampleEvents",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/CommitBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
