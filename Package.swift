// swift-tools-version:6.0
import PackageDescription

// Dependencies point down only:
//   pure:    HTTPWire, RoutingTable, Selection, Health (no Glibc, no Foundation)
//   config:  Config (the only user of Yams), AviImport (Avi export → config)
//   system:  CLinux (C), COpenSSL (C), Posix, Ring, TLS, SharedState, Telemetry
//   process: Worker, Supervisor, Monitor
//   exe:     tether
let package = Package(
    name: "tether",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tether", targets: ["tether"]),
        // The pure modules, for bench/ (a package of its own).
        .library(name: "HTTPWire", targets: ["HTTPWire"]),
        .library(name: "RoutingTable", targets: ["RoutingTable"]),
        .library(name: "Selection", targets: ["Selection"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // Pure modules: no I/O, exhaustively tested.
        .target(name: "HTTPWire"),
        .target(name: "RoutingTable"),
        .target(name: "Selection", dependencies: ["RoutingTable"]),
        .target(name: "Health"),
        .target(name: "Config", dependencies: ["RoutingTable", "TLS", .product(name: "Yams", package: "Yams")]),
        // `tether import-avi`: an Avi export (JSON) → a tether configuration.
        .target(name: "AviImport", dependencies: ["Config", "RoutingTable"]),

        // System modules: the one way into the kernel.
        .target(
            name: "CLinux",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("uring")]
        ),
        .target(
            name: "COpenSSL",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        .target(name: "Posix", dependencies: ["CLinux", "RoutingTable"]),
        // TLS termination over OpenSSL: certificate checks, contexts, and a
        // connection that reads and writes through caller-owned memory.
        .target(name: "TLS", dependencies: ["COpenSSL"]),
        .target(name: "Ring", dependencies: ["CLinux", "Posix"]),
        .target(name: "SharedState"),
        // What status, the admin endpoint and tests read from the shared state.
        .target(name: "Telemetry", dependencies: ["SharedState", "RoutingTable", "HTTPWire", "Posix"]),

        // Process roles.
        .target(name: "Worker", dependencies: ["HTTPWire", "RoutingTable", "Selection", "Posix", "Ring", "SharedState", "TLS"]),
        .target(name: "Supervisor", dependencies: ["Posix", "SharedState", "RoutingTable", "Telemetry"]),
        .target(name: "Monitor", dependencies: ["Health", "RoutingTable", "Posix", "Ring", "SharedState"]),

        // The demo/test origin server (`tether backend`); a tool, not the data path.
        .target(name: "DemoBackend"),

        .executableTarget(
            name: "tether",
            dependencies: [
                "Config", "AviImport", "Worker", "Supervisor", "Monitor", "Posix", "RoutingTable", "DemoBackend", "SharedState",
                "Telemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "HTTPWireTests", dependencies: ["HTTPWire"]),
        .testTarget(name: "RoutingTableTests", dependencies: ["RoutingTable"]),
        .testTarget(name: "SelectionTests", dependencies: ["Selection", "RoutingTable"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "RoutingTable", "TLS", "TLSTestSupport"]),
        .testTarget(name: "AviImportTests", dependencies: ["AviImport", "Config", "RoutingTable"]),
        .testTarget(name: "SharedStateTests", dependencies: ["SharedState"]),
        .testTarget(name: "HealthTests", dependencies: ["Health"]),
        // A throwaway CA made with the openssl command, for TLS tests.
        .target(name: "TLSTestSupport", path: "Tests/TLSTestSupport"),
        .testTarget(name: "TLSTests", dependencies: ["TLS", "COpenSSL", "TLSTestSupport"]),
        .testTarget(name: "SupervisorTests", dependencies: ["Supervisor"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry", "SharedState", "RoutingTable", "Posix"]),
        .testTarget(name: "RingTests", dependencies: ["Ring", "Posix", "CLinux"]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "HTTPWire", "Posix", "Ring", "RoutingTable", "SharedState"]),
        .testTarget(name: "IntegrationTests", dependencies: ["tether", "SharedState", "TLSTestSupport"]),
    ]
)
