import CLinux
import Ring

/// The byte stream between a client's socket and the HTTP code.
///
/// Every byte to or from a client passes through the four functions below:
/// the HTTP code scans and relays plaintext in `ClientConnection.input` and
/// asks for plaintext to be written. A TLS stream (OpenSSL over memory BIOs)
/// would receive ciphertext into provided buffers and decrypt it into the
/// input buffer, and encrypt writes into a buffer of its own before sending;
/// only these functions would change.
enum ClientStream: UInt8 {
    /// Socket bytes are HTTP bytes.
    case plain
}

extension EventLoop {
    /// Arms the client's one receive: into the buffer it holds when that has
    /// room (a head arriving in pieces), else into a provided buffer.
    mutating func receiveFromClient(_ i: UInt32) {
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
                                  userData: clientTag(.clientReceive, i))
            } else {
                ring.queueReceive(fd: clients[c].fd, group: buffers.provided.group, userData: clientTag(.clientReceive, i))
            }
        }
        clients[c].receiving = true
    }

    /// A receive completed with `count` bytes, in provided buffer `buffer`
    /// or after the input the connection already held.
    @inline(__always)
    mutating func clientStreamReceived(_ i: UInt32, count: Int32, buffer: UInt16?) {
        let c = Int(i)
        tally.add(.bytesIn, UInt64(count))
        switch clients[c].stream {
        case .plain:
            if let b = buffer {
                precondition(!clients[c].input.holdsBuffer, "provided buffer delivered to a connection holding one")
                clients[c].input = InputBuffer(id: BufferID(b), start: 0, end: UInt32(count))
            } else {
                clients[c].input.end += UInt32(count)
            }
        }
    }

    /// Writes `count` bytes at `bytes`, which stay valid until the send
    /// completes (`clientSent`).
    @inline(__always)
    mutating func writeToClient(_ i: UInt32, _ bytes: UnsafeRawPointer, count: Int) {
        let c = Int(i)
        switch clients[c].stream {
        case .plain:
            ring.queueSend(fd: clients[c].fd, from: bytes, count: count, userData: clientTag(.clientSend, i))
        }
    }

    /// Ends the client's direction of the stream (FIN) after the writes so far.
    mutating func finishClientWrites(_ i: UInt32) {
        let c = Int(i)
        switch clients[c].stream {
        case .plain:
            ring.queueShutdown(fd: clients[c].fd, how: CInt(SHUT_WR), userData: teardownTag)
        }
    }
}
