import Testing
@testable import Worker

@Suite struct LocalResponseTests {
    func text(_ r: LocalResponse) -> String {
        String(decoding: UnsafeRawBufferPointer(start: r.bytes, count: r.count), as: UTF8.self)
    }

    /// Each response is complete: its Content-Length is exactly the body that follows.
    func checkFraming(_ r: LocalResponse) {
        let bytes = Array(UnsafeRawBufferPointer(start: r.bytes, count: r.count))
        let end = (0..<(bytes.count - 3)).first { bytes[$0..<($0 + 4)].elementsEqual([13, 10, 13, 10]) }
        #expect(end != nil)
        let head = String(decoding: bytes[0..<end!], as: UTF8.self)
        let body = bytes[(end! + 4)...]
        let lines = head.split(separator: "\r\n")
        let lengthLine = lines.first { $0.lowercased().hasPrefix("content-length:") }
        #expect(lengthLine != nil)
        let declared = Int(lengthLine!.dropFirst("content-length:".count).drop { $0 == " " })
        #expect(declared == body.count)
        #expect(lines.contains("Connection: close"))
    }

    @Test(arguments: [400, 408, 414, 431, 501, 502, 503, 504] as [UInt16])
    func fixedResponsesAreComplete(status: UInt16) {
        let r = LocalResponses.fixed(status)
        #expect(text(r).hasPrefix("HTTP/1.1 \(status) "))
        checkFraming(r)
    }

    @Test func cleartextOnTLSPortIsComplete() {
        #expect(text(LocalResponses.cleartextOnTLSPort).hasPrefix("HTTP/1.1 400 "))
        checkFraming(LocalResponses.cleartextOnTLSPort)
    }

    @Test func retryAfterIsBuiltOnceAndKept() {
        var responses = LocalResponses()
        let a = responses.status(503, retryAfter: 5)
        let b = responses.status(503, retryAfter: 5)
        #expect(a.bytes == b.bytes)
        #expect(text(a).contains("\r\nRetry-After: 5\r\n"))
        checkFraming(a)
        let c = responses.status(503, retryAfter: 0)
        #expect(c.bytes == LocalResponses.serviceUnavailable.bytes)
    }

    @Test func redirectCarriesTheLocation() {
        var responses = LocalResponses()
        let location = Array("https://example.com/down".utf8)
        let r = location.withUnsafeBytes { responses.redirect(302, location: $0) }
        #expect(text(r).hasPrefix("HTTP/1.1 302 Found\r\n"))
        #expect(text(r).contains("\r\nLocation: https://example.com/down\r\n"))
        checkFraming(r)
    }
}
