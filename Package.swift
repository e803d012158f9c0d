// swift-tools-version:6.0
import PackageDescription

/// ASO Render: one `aso-render` binary over a render engine library.
///
/// Pixel kernels are compiled with optimisation even in debug builds: an unoptimised
/// Lanczos or domain-transform pass over a 78 Mpx print takes minutes instead of seconds,
/// which would make the test suite (built in debug) unusable.
let optimisedKernels: [SwiftSetting] = [.unsafeFlags(["-O", "-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "aso-render",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "aso-render", targets: ["aso-render"]),
        .library(name: "RenderEngine", targets: ["RenderEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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
            cSettings: [.unsafeFlags(["-O2"])]
        ),
        .target(
            name: "RenderEngine",
            dependencies: ["CVipsShim", "CVips"],
            swiftSettings: optimisedKernels
        ),
        .executableTarget(
            name: "aso-render",
            dependencies: [
                "RenderEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "RenderEngineTests",
            dependencies: ["RenderEngine", "CVipsShim", "CVips"]
        ),
    ]
)
