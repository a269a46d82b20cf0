import CLinux
import Glibc
import Posix
import Testing
@testable import Ring

/// A real ring and an AF_UNIX datagram pair: every queued buffer-select
/// receive takes one datagram, so which buffers the kernel hands out shows
/// exactly what the provided-buffer ring holds.
struct ProvidedBuffersTests {
    final class Pair {
        let reader: CInt, writer: CInt
        init() throws {
            var fds: [CInt] = [-1, -1]
            guard socketpair(AF_UNIX, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
                throw PosixError("socketpair", errno: errno)
            }
            reader = fds[0]
            writer = fds[1]
        }
        deinit {
            close(reader)
            close(writer)
        }
        func send(_ n: Int) {
            var byte: UInt8 = 7
            for _ in 0..<n { #expect(Glibc.send(writer, &byte, 1, 0) == 1) }
        }
    }

    /// Queues `n` receives on datagrams already waiting and returns, in
    /// completion order, each one's buffer id (nil: it failed, with -ENOBUFS
    /// checked). Reports the taken buffers to `buffers` as the worker does.
    static func receive(_ n: Int, ring: inout Ring, buffers: inout ProvidedBuffers, pair: Pair) throws -> [UInt16?] {
        pair.send(n)
        for k in 0..<n {
            ring.queueReceive(fd: pair.reader, group: buffers.group, userData: UserData(kind: 1, slot: UInt32(k), generation: 0))
        }
        var out: [UInt16?] = []
        let completions = UnsafeMutableBufferPointer<Completion>.allocate(capacity: 256)
        defer { completions.deallocate() }
        let deadline = Posix.monotonicMilliseconds() + 5_000
        while out.count < n && Posix.monotonicMilliseconds() < deadline {
            try ring.submitAndWait(timeoutMilliseconds: 100)
            let got = ring.harvest(into: completions)
            var took = 0
            for k in 0..<got {
                if let id = completions[k].bufferID {
                    took += 1
                    #expect(completions[k].result == 1)
                    out.append(id)
                } else {
                    #expect(completions[k].result == -ENOBUFS)
                    out.append(nil)
                }
            }
            buffers.consumed(took)
        }
        #expect(out.count == n)
        return out
    }

    @Test func theRingHoldsOnlyTheHotBuffersNotTheWholeSlab() throws {
        var ring = try Ring(entries: 256)
        var buffers = try ProvidedBuffers(ring: &ring, group: 0, count: 512, size: 4096)
        let pair = try Pair()
        #expect(buffers.fillTarget == ProvidedBuffers.minimumFill)
        // One at a time, each given back before the next: the same few buffers
        // come round again; a ring of all 512 would have walked through 0...299.
        var seen = Set<UInt16>()
        for _ in 0..<300 {
            let ids = try Self.receive(1, ring: &ring, buffers: &buffers, pair: pair)
            guard let id = ids.first ?? nil else { Issue.record("a receive failed"); return }
            seen.insert(id)
            buffers.recycle(id)
            buffers.publish()
        }
        #expect(seen.count <= ProvidedBuffers.minimumFill + 1)
        #expect(seen.allSatisfy { $0 < UInt16(ProvidedBuffers.minimumFill) })
    }

    @Test func aBufferGivenBackReturnsBeforeAnyColdOne() throws {
        var ring = try Ring(entries: 256)
        var buffers = try ProvidedBuffers(ring: &ring, group: 0, count: 256, size: 1024)
        let pair = try Pair()
        let first = try Self.receive(1, ring: &ring, buffers: &buffers, pair: pair)
        #expect(first == [0])
        buffers.recycle(0)
        #expect(buffers.publish() == 1)
        // The ring held 1...63 and now 0 behind them: never 64, the coldest.
        let next = try Self.receive(64, ring: &ring, buffers: &buffers, pair: pair)
        #expect(next == (1..<64).map { Optional(UInt16($0)) } + [Optional(UInt16(0))])
    }

    @Test func aTurnThatTakesMoreThanHalfGrowsTheRingAndAQuietStretchShrinksIt() throws {
        var ring = try Ring(entries: 256)
        var buffers = try ProvidedBuffers(ring: &ring, group: 0, count: 1024, size: 512)
        let pair = try Pair()
        let ids = try Self.receive(40, ring: &ring, buffers: &buffers, pair: pair)
        #expect(ids.allSatisfy { $0 != nil })
        #expect(buffers.publish() == 40 + 64)  // refilled to the new target
        #expect(buffers.fillTarget == 128)
        #expect(buffers.inRing == 128)
        for id in ids { buffers.recycle(id!) }
        // The window that saw the 40 does not shrink it; a whole quiet one does.
        for _ in 0..<2 * ProvidedBuffers.window { buffers.publish() }
        #expect(buffers.fillTarget == 64)
        // Buffers already in the ring stay there: it refills to the target as they are taken.
        #expect(buffers.inRing == 128)
    }

    @Test func anEmptyRingFailsReceivesWithENOBUFSUntilABufferComesBack() throws {
        var ring = try Ring(entries: 256)
        var buffers = try ProvidedBuffers(ring: &ring, group: 0, count: 64, size: 512)
        let pair = try Pair()
        let all = try Self.receive(64, ring: &ring, buffers: &buffers, pair: pair)
        #expect(Set(all.compactMap { $0 }).count == 64)
        #expect(buffers.inRing == 0)
        let starved = try Self.receive(1, ring: &ring, buffers: &buffers, pair: pair)
        #expect(starved == [nil])
        buffers.recycle(17)
        #expect(buffers.publish() == 1)
        // The datagram the failed receive left behind, and the one sent now.
        let again = try Self.receive(1, ring: &ring, buffers: &buffers, pair: pair)
        #expect(again == [17])
    }
}
