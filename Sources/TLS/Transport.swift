import COpenSSL
import Glibc

/// The memory one OpenSSL call on one connection reads ciphertext from and
/// writes ciphertext to. A worker has one, shared by all its connections
/// (each call sets it up first), so a connection holds no BIO buffers of its
/// own: ciphertext stays in the worker's receive and send buffers, and an
/// idle connection holds none.
public struct TLSTransport {
    /// Ciphertext OpenSSL may read: `input[inputConsumed..<inputCount]`.
    var input: UnsafeRawPointer? = nil
    var inputCount = 0
    var inputConsumed = 0
    /// Where OpenSSL writes ciphertext: `output[outputCount..<outputCapacity]`.
    var output: UnsafeMutableRawPointer? = nil
    var outputCapacity = 0
    var outputCount = 0

    mutating func attach(input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer) {
        self.input = input.baseAddress
        inputCount = input.count
        inputConsumed = 0
        self.output = output.baseAddress
        outputCapacity = output.count
        outputCount = 0
    }

    mutating func detach() {
        input = nil
        inputCount = 0
        output = nil
        outputCapacity = 0
    }
}

/// A BIO over `TLSTransport`: reads take from its input window, writes go
/// to its output window, and an empty input or a full output asks OpenSSL
/// to retry (`SSL_ERROR_WANT_READ` / `WANT_WRITE`), never blocks.
enum TransportBIO {
    nonisolated(unsafe) static let method: OpaquePointer = {
        let type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK
        guard let method = BIO_meth_new(type, "tether transport") else {
            fatalError("OpenSSL cannot create a BIO method")
        }
        BIO_meth_set_write(method) { bio, data, count in
            guard let bio, let data, count >= 0 else { return -1 }
            let t = TransportBIO.transport(bio)
            tether_BIO_clear_retry_flags(bio)
            let room = t.pointee.outputCapacity - t.pointee.outputCount
            guard room > 0, let out = t.pointee.output else {
                tether_BIO_set_retry_write(bio)
                return -1
            }
            let n = min(room, Int(count))
            memcpy(out + t.pointee.outputCount, data, n)
            t.pointee.outputCount += n
            return Int32(n)
        }
        BIO_meth_set_read(method) { bio, data, count in
            guard let bio, let data, count >= 0 else { return -1 }
            let t = TransportBIO.transport(bio)
            tether_BIO_clear_retry_flags(bio)
            let available = t.pointee.inputCount - t.pointee.inputConsumed
            guard available > 0, let input = t.pointee.input else {
                tether_BIO_set_retry_read(bio)
                return -1
            }
            let n = min(available, Int(count))
            memcpy(data, input + t.pointee.inputConsumed, n)
            t.pointee.inputConsumed += n
            return Int32(n)
        }
        BIO_meth_set_ctrl(method) { bio, command, _, _ in
            switch command {
            case BIO_CTRL_FLUSH: return 1
            case BIO_CTRL_PENDING:
                guard let bio else { return 0 }
                let t = TransportBIO.transport(bio)
                return t.pointee.inputCount - t.pointee.inputConsumed
            default: return 0
            }
        }
        BIO_meth_set_create(method) { bio in
            BIO_set_init(bio, 1)
            return 1
        }
        BIO_meth_set_destroy(method) { _ in 1 }
        return method
    }()

    @inline(__always)
    static func transport(_ bio: OpaquePointer) -> UnsafeMutablePointer<TLSTransport> {
        BIO_get_data(bio).assumingMemoryBound(to: TLSTransport.self)
    }

    /// A BIO reading and writing through `transport`.
    static func make(_ transport: UnsafeMutablePointer<TLSTransport>) -> OpaquePointer? {
        guard let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, transport)
        return bio
    }
}
