// swift-tools-version:6.0
import PackageDescription

// Benchmarks live in a package of their own so that nothing they need
// reaches the product. `bench/micro` runs them in release mode.
let package = Package(
    name: "tether-bench",
    dependencies: [.package(name: "tether", path: "..")],
    targets: [
        // Counts every malloc/calloc/realloc/posix_memalign of the process.
        .target(name: "MallocCounter"),
        .executableTarget(
            name: "tether-micro",
            dependencies: [
                "MallocCounter",
                .product(name: "HTTPWire", package: "tether"),
                .product(name: "RoutingTable", package: "tether"),
                .product(name: "Selection", package: "tether"),
            ],
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"])]
        ),
    ]
)
