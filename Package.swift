// swift-tools-version:6.0
import PackageDescription

// Dependencies are limited to DESIGN.md §5. The HTTP server and the PostgreSQL layer are ours:
// no third-party HTTP server or PostgreSQL client package may be added here.
let package = Package(
    name: "Branchlink",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "branchlink", targets: ["BranchlinkCLI"]),
        .executable(name: "BenchServer", targets: ["BenchServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        .target(name: "CPosix"),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "HTTP", dependencies: [
            "CPosix", "CZlib",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Postgres", dependencies: [
            "CLibPQ", "CPosix",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Branchlink", dependencies: [
            "HTTP", "Postgres", "CZlib",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], resources: []),
        .executableTarget(name: "BranchlinkCLI", dependencies: [
            "Branchlink", "HTTP", "Postgres",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/branchlink"),
        .executableTarget(name: "BenchServer", dependencies: ["HTTP", "Postgres"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "CPosix"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres"]),
        .testTarget(name: "BranchlinkTests", dependencies: ["Branchlink", "HTTP", "Postgres", "CPosix"]),
    ]
)
