// swift-tools-version:6.2
import PackageDescription

/// ASO Render: one `aso-render` binary over a render engine library.
///
/// Linux only: the engine returns freed heap to the system with glibc's `malloc_trim`, reads
/// its peak memory from `/proc`, and the service reads `stat`'s Linux fields. Built and tested
/// on Ubuntu (libvips from apt); stop here rather than fail later on another system.
#if !os(Linux)
#error("ASO Render builds on Linux only (glibc, /proc); use the container image elsewhere")
#endif

/// True when another package builds this one as a dependency (SwiftPM and Xcode check
/// dependencies out under a `checkouts` directory).
let builtAsDependency = Context.packageDirectory.contains("/checkouts/")

/// Pixel kernels are compiled with optimisation even in debug builds when this package is
/// developed: an unoptimised Lanczos or domain-transform pass over a 78 Mpx print takes
/// minutes instead of seconds, which would make the test suite (built in debug) unusable.
/// SwiftPM refuses a dependency whose product contains any target with unsafe flags, so a
/// package that depends on the `RenderEngine` product gets none: its release builds are
/// optimised anyway, and only its debug builds run the kernels slowly.
let optimisedKernels: [SwiftSetting] = builtAsDependency ? [] : [.unsafeFlags(["-O", "-enforce-exclusivity=unchecked"])]
let optimisedC: [CSetting] = builtAsDependency ? [] : [.unsafeFlags(["-O2"])]

let package = Package(
    name: "aso-render",
    products: [
        .executable(name: "aso-render", targets: ["aso-render"]),
        .library(name: "RenderEngine", targets: ["RenderEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.30.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CVips",
            pkgConfig: "vips",
            providers: [.apt(["libvips-dev"])]
        ),
        .target(
            name: "CVipsShim",
            dependencies: ["CVips"],
            cSettings: optimisedC
        ),
        .target(
            name: "RenderEngine",
            dependencies: ["CVipsShim", "CVips"],
            swiftSettings: optimisedKernels
        ),
        .target(
            name: "RenderService",
            dependencies: [
                "RenderEngine",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            resources: [.copy("Resources/openapi.json"), .copy("Resources/studio")]
        ),
        .executableTarget(
            name: "aso-render",
            dependencies: [
                "RenderEngine",
                "RenderService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "RenderEngineTests",
            dependencies: ["RenderEngine"],
            // The medium measures blur and convert whole previews, many times per test.
            swiftSettings: optimisedKernels
        ),
        .testTarget(
            name: "RenderServiceTests",
            dependencies: [
                "RenderService",
                "RenderEngine",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
    ]
)
