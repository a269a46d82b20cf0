import Foundation
import Testing
import HTTPWire
@testable import Telemetry

@Suite struct AdminEndpointTests {
    /// Feeds `request` in pieces of `step` bytes, as a socket might deliver it.
    func answer(_ request: String, step: Int = .max, snapshots: inout Int) -> AdminEndpoint.Response? {
        let bytes = Array(request.utf8)
        var scanner = RequestHeadScanner(maxHeadBytes: AdminEndpoint.maxRequestBytes)
        var end = 0
        while end < bytes.count {
            end = min(bytes.count, end + step)
            let outcome = bytes[0..<end].withUnsafeBytes { raw in
                AdminEndpoint.handle(raw, scanner: &scanner, snapshot: { snapshots += 1; return handSnapshot() })
            }
            if case .respond(let r) = outcome { return r }
        }
        return nil
    }

    func head(_ r: AdminEndpoint.Response) -> String {
        let text = String(decoding: r.bytes, as: UTF8.self)
        return String(text[..<text.range(of: "\r\n\r\n")!.upperBound])
    }

    @Test(arguments: [1, 7, Int.max])
    func metricsAreServedWhenTheHeadArrivesInPieces(step: Int) throws {
        var snapshots = 0
        let r = try #require(answer("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", step: step, snapshots: &snapshots))
        #expect(r.status == 200 && snapshots == 1)
        #expect(r.contentType == "text/plain; version=0.0.4; charset=utf-8")
        #expect(r.body == PrometheusText.render(handSnapshot()))
        #expect(head(r).hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(head(r).contains("\r\nContent-Length: \(r.body.utf8.count)\r\n"))
        #expect(head(r).contains("\r\nConnection: close\r\n"))
    }

    @Test(arguments: [
        ("GET /status HTTP/1.1\r\nHost: x\r\n\r\n", UInt16(200)),
        ("GET /status?pretty=1 HTTP/1.0\r\n\r\n", 200),
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200),
        ("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        ("GET /metricsx HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        ("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 405),
        ("DELETE /status HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("GET /metrics HTTP/2.0\r\n\r\n", 400),
        ("GET  /metrics HTTP/1.1\r\n\r\n", 400),
        ("GET /metrics HTTP/1.1\r\nBad Header: x\r\n\r\n", 400),
        ("GET /metrics HTTP/1.1\r\n\r\n", 400),  // HTTP/1.1 without Host
    ])
    func statusFollowsMethodAndPath(request: String, status: UInt16) throws {
        var snapshots = 0
        let r = try #require(answer(request, snapshots: &snapshots))
        #expect(r.status == status)
        #expect(snapshots == (status == 200 && request.contains("/status") ? 1 : 0))
        if status == 405 { #expect(head(r).contains("\r\nAllow: GET, HEAD\r\n")) }
    }

    @Test func headGetsTheHeadOnly() throws {
        var snapshots = 0
        let r = try #require(answer("HEAD /status HTTP/1.1\r\nHost: x\r\n\r\n", snapshots: &snapshots))
        let all = String(decoding: r.bytes, as: UTF8.self)
        #expect(all.hasSuffix("\r\n\r\n"))
        #expect(all.contains("Content-Length: \(StatusJSON.render(handSnapshot()).utf8.count)\r\n"))
    }

    @Test func anOversizedHeadIsRefused() throws {
        var snapshots = 0
        let huge = "GET /metrics HTTP/1.1\r\nX-Fill: " + String(repeating: "a", count: 9000) + "\r\n\r\n"
        let r = try #require(answer(huge, step: 1024, snapshots: &snapshots))
        #expect(r.status == 431)
        #expect(snapshots == 0)
    }

    @Test func anIncompleteHeadNeedsMore() {
        var scanner = RequestHeadScanner(maxHeadBytes: AdminEndpoint.maxRequestBytes)
        let outcome = Array("GET /metrics HTTP/1.1\r\n".utf8).withUnsafeBytes {
            AdminEndpoint.handle($0, scanner: &scanner, snapshot: handSnapshot)
        }
        #expect(outcome == .needMore)
    }
}
