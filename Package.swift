// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "kabar",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "KabarProtocol", targets: ["KabarProtocol"]),
        .library(name: "KabarCore", targets: ["KabarCore"]),
        .library(name: "KabarSQLite", targets: ["KabarSQLite"]),
        .library(name: "KabarPostgres", targets: ["KabarPostgres"]),
        .library(name: "KabarServer", targets: ["KabarServer"]),
        .library(name: "KabarWeb", targets: ["KabarWeb"]),
        .library(name: "KabarClient", targets: ["KabarClient"]),
        .executable(name: "kabar-server", targets: ["kabar-server"]),
        .executable(name: "kabar-cli", targets: ["kabar-cli"]),
        .library(name: "KabarBench", targets: ["KabarBench"]),
        .executable(name: "kabar-bench", targets: ["kabar-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // MARK: - Libraries
        .target(
            name: "KabarProtocol",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KabarCore",
            dependencies: [
                "KabarProtocol",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "CKabarEpoll"),
        .target(
            name: "CKabarSQLite",
            dependencies: [.product(name: "SQLiteNIO", package: "sqlite-nio")]
        ),
        .target(
            name: "KabarSQLite",
            dependencies: [
                "KabarCore",
                "CKabarSQLite",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KabarPostgres",
            dependencies: [
                "KabarCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KabarServer",
            dependencies: [
                "KabarCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KabarWeb",
            dependencies: [
                "KabarCore", "KabarServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Page")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KabarClient",
            dependencies: [
                "KabarProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KabarBench",
            dependencies: [
                "KabarProtocol", "KabarClient", "CKabarEpoll",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KabarFuzzing",
            dependencies: ["KabarProtocol", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // MARK: - Executables
        .executableTarget(
            name: "kabar-server",
            dependencies: [
                "KabarServer", "KabarSQLite", "KabarPostgres", "KabarWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "kabar-cli",
            dependencies: [
                "KabarClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "kabar-bench",
            dependencies: [
                "KabarBench", "KabarClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // MARK: - Tests
        .target(
            name: "KabarTestSupport",
            dependencies: [
                "KabarServer", "KabarSQLite", "KabarPostgres", "KabarClient", "KabarWeb",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/KabarTestSupport",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KabarCrashDisk",
            dependencies: [.product(name: "SQLiteNIO", package: "sqlite-nio")],
            path: "Tests/KabarCrashDisk"
        ),
        .testTarget(
            name: "KabarProtocolTests",
            dependencies: [
                "KabarProtocol",
                "KabarFuzzing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KabarCoreTests",
            dependencies: ["KabarCore", "KabarProtocol"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KabarSQLiteTests",
            dependencies: ["KabarSQLite", "KabarCore", "KabarProtocol", "KabarTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KabarStoreTests",
            dependencies: [
                "KabarTestSupport", "KabarSQLite", "KabarPostgres", "KabarCore", "KabarProtocol",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KabarServerTests",
            dependencies: [
                "KabarTestSupport", "KabarServer", "KabarCore", "KabarProtocol", "KabarClient", "KabarSQLite", "KabarCrashDisk",
                "KabarBench",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KabarClientTests",
            dependencies: ["KabarTestSupport", "KabarClient", "KabarProtocol", "KabarBench"],
            swiftSettings: swiftSettings
        ),
    ]
)
