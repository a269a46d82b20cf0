import HTTPWire
import Testing
@testable import Worker

@Suite struct BodyFramerTests {
    func take(_ framer: inout BodyFramer, _ text: String) -> BodyFramer.Slice {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { framer.take(UnsafeRawBufferPointer($0)) }
    }

    @Test func contentLengthStopsAtItsLengthAndLeavesTheRest() {
        var f = BodyFramer(.contentLength(10))
        #expect(take(&f, "hello") == .body(count: 5, finished: false))
        #expect(take(&f, "worldGET / HTTP/1.1") == .body(count: 5, finished: true))
        #expect(f.isFinished)
    }

    @Test func zeroLengthIsNoBody() {
        let f = BodyFramer(.contentLength(0))
        #expect(f.isFinished)
    }

    @Test func chunkedEndsAfterTheTrailerSplitAnywhere() {
        let body = "5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"
        for split in 0...body.utf8.count {
            var f = BodyFramer(.chunked)
            let bytes = Array(body.utf8) + Array("NEXT".utf8)
            let first = String(decoding: bytes[0..<split], as: UTF8.self)
            let second = String(decoding: bytes[split...], as: UTF8.self)
            let a = take(&f, first)
            if case .body(let n, let done) = a, done {
                #expect(n == body.utf8.count)
                continue
            }
            #expect(a == .body(count: split, finished: false))
            #expect(take(&f, second) == .body(count: body.utf8.count - split, finished: true))
        }
    }

    @Test func brokenChunkedIsInvalid() {
        var f = BodyFramer(.chunked)
        #expect(take(&f, "zz\r\n") == .invalid)
    }

    @Test func untilCloseEndsOnlyAtEndOfInput() {
        var f = BodyFramer(.untilClose)
        #expect(take(&f, "abc") == .body(count: 3, finished: false))
        let ended = f.endOfInput()
        #expect(ended)
        #expect(f.isFinished)
        var g = BodyFramer(.contentLength(4))
        let lengthEnded = g.endOfInput()
        #expect(!lengthEnded)
    }
}

@Suite struct ExchangeTests {
    func request(method: HTTPMethod = .get, minor: UInt8 = 1, body: BodyFraming = .none,
                 keepAlive: Bool = true, upgrade: Bool = false, closeOption: Int? = nil) -> RequestHead {
        RequestHead(headLength: 40, method: ByteRange(start: 0, count: 3), methodKind: method,
                    target: ByteRange(start: 4, count: 1), versionMinor: minor, body: body, keepAlive: keepAlive,
                    upgrade: upgrade, connectionCloseOption: closeOption)
    }

    func response(status: UInt16, body: BodyFraming = .contentLength(5), keepAlive: Bool = true) -> ResponseHead {
        ResponseHead(headLength: 30, status: status, versionMinor: 1, body: body, keepAlive: keepAlive,
                     isInformational: status < 200 && status != 101, switchingProtocols: status == 101)
    }

    @Test func interimResponsesAreRelayedToHTTP11AndDroppedForHTTP10() {
        var e = Exchange(head: request(), hashKey: 0)
        #expect(e.responseHead(response(status: 100, body: .none)) == .relayInformational(count: 30))
        #expect(!e.responseHeadComplete)
        var old = Exchange(head: request(minor: 0), hashKey: 0)
        #expect(old.responseHead(response(status: 103, body: .none)) == .dropInformational(count: 30))
    }

    @Test func switchingProtocolsNeedsAnUpgradeRequest() {
        var plain = Exchange(head: request(), hashKey: 0)
        #expect(plain.responseHead(response(status: 101, body: .tunnel)) == .invalid)
        var upgrade = Exchange(head: request(upgrade: true), hashKey: 0)
        #expect(upgrade.responseHead(response(status: 101, body: .tunnel)) == .relaySwitch(count: 30))
        #expect(upgrade.switchingToTunnel)
        #expect(!upgrade.serverReusable)
    }

    @Test(arguments: [
        // request keep-alive, response keep-alive, response framing, client kept, server pooled
        (true, true, BodyFraming.contentLength(5), true, true),
        (false, true, BodyFraming.contentLength(5), false, false),
        (true, false, BodyFraming.contentLength(5), false, false),
        (true, true, BodyFraming.untilClose, false, false),
        (true, true, BodyFraming.chunked, true, true),
    ])
    func connectionReuse(requestKeepAlive: Bool, responseKeepAlive: Bool, framing: BodyFraming,
                         clientKept: Bool, serverPooled: Bool) {
        var e = Exchange(head: request(keepAlive: requestKeepAlive), hashKey: 0)
        _ = e.responseHead(response(status: 200, body: framing, keepAlive: responseKeepAlive))
        e.requestReceived = true
        e.requestSent = true
        e.responseReceived = true
        e.responseSent = true
        #expect(e.clientKeepAlive == clientKept)
        #expect(e.serverReusable == serverPooled)
    }

    @Test func aBlankedCloseOptionPoolsTheServerConnectionButClosesTheClient() {
        var e = Exchange(head: request(keepAlive: false, closeOption: 30), hashKey: 0)
        _ = e.responseHead(response(status: 200))
        e.requestReceived = true
        e.requestSent = true
        e.responseReceived = true
        e.responseSent = true
        #expect(!e.clientKeepAlive)
        #expect(e.serverReusable)
        #expect(e.end(serverSendPending: false, serverHasLeftover: false, draining: false)
            == .done(poolServer: true, keepClient: false))
        var closing = Exchange(head: request(keepAlive: false, closeOption: 30), hashKey: 0)
        _ = closing.responseHead(response(status: 200, keepAlive: false))
        closing.requestSent = true
        closing.responseReceived = true
        #expect(!closing.serverReusable)
    }

    @Test func extraBytesAfterTheResponsePoisonTheServerConnection() {
        var e = Exchange(head: request(), hashKey: 0)
        _ = e.responseHead(response(status: 200))
        e.requestSent = true
        e.responseReceived = true
        e.serverPoisoned = true
        #expect(!e.serverReusable)
        #expect(!e.clientKeepAlive)
    }

    @Test func theWaitIsTheClientsUntilTheRequestIsSent() {
        var e = Exchange(head: request(body: .contentLength(10)), hashKey: 0)
        #expect(e.waiting(clientSendPending: false) == .client)
        e.requestSent = true
        #expect(e.waiting(clientSendPending: false) == .server)
        #expect(e.waiting(clientSendPending: true) == .client)
    }

    func finished(keepAlive: Bool = true) -> Exchange {
        var e = Exchange(head: request(keepAlive: keepAlive), hashKey: 0)
        _ = e.responseHead(response(status: 200))
        e.requestReceived = true
        e.requestSent = true
        e.responseReceived = true
        e.responseSent = true
        return e
    }

    @Test func anExchangeEndsOnlyWhenEverySendIsDone() {
        var e = finished()
        #expect(e.end(serverSendPending: true, serverHasLeftover: false, draining: false) == .notYet)
        e.responseSent = false
        #expect(e.end(serverSendPending: false, serverHasLeftover: false, draining: false) == .notYet)
    }

    @Test(arguments: [
        // server leftover, draining, request keep-alive → pool server, keep client
        (false, false, true, true, true),
        (true, false, true, false, true),
        (false, true, true, false, false),
        (false, false, false, false, false),
    ])
    func anEndedExchangeKeepsWhatCanBeKept(leftover: Bool, draining: Bool, keepAlive: Bool,
                                           poolServer: Bool, keepClient: Bool) {
        let e = finished(keepAlive: keepAlive)
        #expect(e.end(serverSendPending: false, serverHasLeftover: leftover, draining: draining)
                == .done(poolServer: poolServer, keepClient: keepClient))
    }

    @Test func aServerThatAnswersBeforeTheWholeRequestLeavesNothingReusable() {
        var e = finished()
        e.requestSent = false
        #expect(e.end(serverSendPending: false, serverHasLeftover: false, draining: false)
                == .done(poolServer: false, keepClient: false))
    }

    @Test func failuresAreAnsweredOnlyBeforeTheClientSawAResponse() {
        var e = Exchange(head: request(), hashKey: 0)
        #expect(e.failure(status: 502, clientSendPending: false) == .respond(502))
        #expect(e.failure(status: 502, clientSendPending: true) == .close)
        e.sentToClient = true
        #expect(e.failure(status: 400, clientSendPending: false) == .close)
    }

    @Test func aTimeoutIs504OnlyWhileWaitingForTheServer() {
        var e = Exchange(head: request(body: .contentLength(10)), hashKey: 0)
        #expect(e.timedOut(clientSendPending: false) == .close)   // the client owes body bytes
        e.requestSent = true
        #expect(e.timedOut(clientSendPending: false) == .respond(504))
        #expect(e.timedOut(clientSendPending: true) == .close)    // the client is not reading
        e.sentToClient = true
        #expect(e.timedOut(clientSendPending: false) == .close)   // mid-response
    }
}
