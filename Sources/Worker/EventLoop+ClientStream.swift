import CLinux
import Posix
import Ring

/// The byte stream between a client's socket and the HTTP code.
///
/// Every byte to or from a client passes through the four functions below:
/// the HTTP code scans and relays plaintext in `ClientConnection.input` and
/// asks for plaintext to be written. A TLS stream receives ciphertext into
/// provided buffers and decrypts it into the input buffer, and encrypts
/// writes into a buffer of its own before sending (`EventLoop+TLS.swift`);
/// the HTTP code is the same for both.
enum ClientStream: UInt8 {
    /// Socket bytes are HTTP bytes.
    case plain
    /// Socket bytes are TLS records (`TLSWorker.clients[slot]`).
    case tls
}

extension EventLoop {
    /// Arms the client's one receive: into the buffer it holds when that has
    /// room (a head arriving in pieces), else into a provided buffer. A TLS
    /// stream first decrypts what it already holds. `expectingNothingYet`:
    /// the client cannot have sent more yet (it is reading our response),
    /// so the kernel need not try the receive before it waits.
    mutating func receiveFromClient(_ i: UInt32, expectingNothingYet: Bool = false) {
        let c = Int(i)
        precondition(!clients[c].receiving, "second receive on a client connection")
        if clients[c].input.holdsBuffer && clients[c].input.isEmpty { buffers.releaseInput(&clients[c].input) }
        let input = clients[c].input
        switch clients[c].stream {
        case .plain:
            if input.holdsBuffer {
                let room = buffers.capacity(input.id) - Int(input.end)
                precondition(room > 0, "receive into a full buffer")
                ring.queueReceive(fd: clients[c].fd, into: buffers.address(input.id) + Int(input.end), count: room,
                                  expectingNothingYet: expectingNothingYet, userData: clientTag(.clientReceive, i))
            } else {
                ring.queueReceive(fd: clients[c].fd, group: buffers.provided.group, expectingNothingYet: expectingNothingYet,
                                  userData: clientTag(.clientReceive, i))
            }
        case .tls:
            // This receive (or decrypt) takes over from a read that waited for output room.
            tls.unsafelyUnwrapped.clients[c].readAfterOutput = false
            if tlsHoldsInput(i) {
                ring.queueNop(userData: clientTag(.clientTLSReady, i))
            } else {
                ring.queueReceive(fd: clients[c].fd, group: buffers.provided.group, expectingNothingYet: expectingNothingYet,
                                  userData: clientTag(.clientTLSReceive, i))
            }
        }
        clients[c].receiving = true
    }

    /// A receive completed with `count` bytes, in provided buffer `buffer`
    /// or after the input the connection already held (plain streams only:
    /// a TLS receive completes in `tlsReceived`).
    @inline(__always)
    mutating func clientStreamReceived(_ i: UInt32, count: Int32, buffer: UInt16?) {
        let c = Int(i)
        tally.add(.bytesIn, UInt64(count))
        if let b = buffer {
            precondition(!clients[c].input.holdsBuffer, "provided buffer delivered to a connection holding one")
            clients[c].input = InputBuffer(id: BufferID(b), start: 0, end: UInt32(count))
        } else {
            clients[c].input.end += UInt32(count)
        }
    }

    /// Writes `count` bytes at `bytes`, which stay valid until the write
    /// completes (`clientWriteDone`).
    @inline(__always)
    mutating func writeToClient(_ i: UInt32, _ bytes: UnsafeRawPointer, count: Int) {
        let c = Int(i)
        switch clients[c].stream {
        case .plain:
            ring.queueSend(fd: clients[c].fd, from: bytes, count: count, userData: clientTag(.clientSend, i))
        case .tls:
            tlsWrite(i, bytes, count: count)
        }
    }

    /// Ends the client's direction of the stream (FIN, after close_notify
    /// for TLS) after the writes so far.
    ///
    /// A direct shutdown(2), not IORING_OP_SHUTDOWN: the kernel always runs
    /// that one on an io-wq thread and looks the descriptor up only then, so
    /// after a close of this connection the number could name a new socket
    /// (a server connection) by the time it runs: that socket would lose its
    /// write side. Callers call this only once every send has completed.
    mutating func finishClientWrites(_ i: UInt32) {
        let c = Int(i)
        switch clients[c].stream {
        case .plain:
            Posix.shutdownWrite(clients[c].fd)
        case .tls:
            tlsFinish(i)
        }
    }
}
