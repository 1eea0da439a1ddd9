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
        // SwitchyardStore's own dependencies (the root package exports no library products, so its sources are
        // compiled here through the symlinks in Sources/; the versions follow the root Package.swift).
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // Sources/SwitchyardCore and Sources/SwitchyardStore are symlinks to the root package's targets.
        .target(name: "SwitchyardCore", swiftSettings: swiftSettings),
        .target(
            name: "SwitchyardStore",
            dependencies: [
                "SwitchyardCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Request bodies and events shaped like analytics.js's, shared by the benchmarks.
        .target(name: "SampleEvents", dependencies: ["SwitchyardCore"], swiftSettings: swiftSettings),
        // Scanner, parser and identity decision: pure SwitchyardCore, no I/O.
        .executableTarget(
            name: "IngestBenchmarks",
            dependencies: ["SwitchyardCore", "SampleEvents", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/IngestBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The SQLite commit with synchronous = full on a temporary file.
        .executableTarget(
            name: "CommitBenchmarks",
            dependencies: [
                "SwitchyardCore", "SwitchyardStore", "SampleEvents",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/CommitBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
