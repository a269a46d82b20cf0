import Foundation

/// The `tether` executable that SwiftPM built with the tests (the
/// IntegrationTests target depends on it), found next to the test bundle:
/// `.build/debug/tether`, or under `--scratch-path`. `TETHER_BINARY` overrides.
enum TetherBinary {
    static let url: URL = locate()

    private static func locate() -> URL {
        if let override = ProcessInfo.processInfo.environment["TETHER_BINARY"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        var starts: [URL] = []
        #if os(Linux)
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: executable).deletingLastPathComponent())
        }
        #endif
        if let executable = Bundle.main.executableURL {
            starts.append(executable.resolvingSymlinksInPath().deletingLastPathComponent())
        }
        starts += Bundle.allBundles.map { $0.bundleURL.resolvingSymlinksInPath().deletingLastPathComponent() }
        // The bundle sits in the build directory (Linux) or a few levels
        // inside it (a macOS .xctest bundle: NAME.xctest/Contents/MacOS).
        for start in starts {
            var directory = start
            for _ in 0 ..< 4 {
                let candidate = directory.appendingPathComponent("tether")
                if FileManager.default.isExecutableFile(atPath: candidate.path) {
                    return candidate
                }
                directory.deleteLastPathComponent()
            }
        }
        return (starts.first ?? URL(fileURLWithPath: ".build/debug")).appendingPathComponent("tether")
    }
}
