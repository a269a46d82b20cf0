import Foundation
import Testing
@testable import Config

@Suite struct FileTests {
    private func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("tether-config-\(UUID().uuidString).yaml").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func missingFile() {
        let path = "/nonexistent/tether.yaml"
        let result = ConfigLoader.load(path: path)
        #expect(result.config == nil)
        #expect(result.diagnostics.map(\.description) == ["/nonexistent/tether.yaml: cannot read: No such file or directory"])
        #expect(result.diagnostics.first?.location == nil)
    }

    @Test func directory() {
        let path = FileManager.default.temporaryDirectory.path
        #expect(ConfigLoader.load(path: path).diagnostics.map(\.description) == ["\(path): cannot read: Is a directory"])
    }

    @Test func invalidUTF8IsLocated() throws {
        let path = try temporaryFile(Array("workers: 2\nuser: t".utf8) + [0xC3, 0x28] + Array("\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(ConfigLoader.load(path: path).diagnostics.map(\.description) == ["\(path):2:8: the file is not valid UTF-8"])
    }

    @Test func diagnosticsNameThePath() throws {
        let path = try temporaryFile(Array("workers: -1\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(ConfigLoader.load(path: path).errors.map(\.description) == [
            "\(path):1:10: workers: -1 is out of range; expected 'auto' or 1 to 1024",
        ])
    }

    @Test(arguments: [
        ([0x61, 0x0A, 0x62, 0xFF] as [UInt8], SourcePosition(line: 2, column: 2)),
        ([0x0D, 0x0A, 0x0D, 0x0A, 0xC0, 0x80], SourcePosition(line: 3, column: 1)),
        ([0xEF, 0xBB, 0xBF, 0x61, 0xE2, 0x82], SourcePosition(line: 1, column: 2)),
        ([0x61, 0x62], nil),
    ])
    func firstInvalidUTF8(bytes: [UInt8], location: SourcePosition?) {
        #expect(ConfigLoader.firstInvalidUTF8(bytes) == location)
    }
}
