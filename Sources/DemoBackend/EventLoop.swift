import Glibc

/// One thread's poll loop: its own listening sockets (SO_REUSEPORT siblings
/// when there are several threads), its connections and its timers.
final class EventLoop {
    private static let acceptsPerWakeup = 128
    private static let acceptPauseNanoseconds: UInt64 = 100_000_000

    let shared: SharedServerState
    private let listenerFDs: [Int32]
    private var pollSet: [pollfd] = []
    /// `connections[slot - listenerFDs.count]` owns `pollSet[slot]`.
    private var connections: [Connection] = []
    private var timers = DeadlineHeap()
    private var pausedListeners: [(resume: UInt64, slot: Int)] = []
    private let scratch: UnsafeMutableRawBufferPointer

    init(listenerFDs: [Int32], shared: SharedServerState) {
        self.listenerFDs = listenerFDs
        self.shared = shared
        self.scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        for fd in listenerFDs {
            pollSet.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
        }
    }

    deinit {
        scratch.deallocate()
    }

    func schedule(deadline: UInt64, for connection: Connection) {
        timers.insert(deadline: deadline, connection: connection)
    }

    func run() -> Never {
        while true {
            let ready = pollSet.withUnsafeMutableBufferPointer { set in
                poll(set.baseAddress, nfds_t(set.count), pollTimeout(now: monotonicNanoseconds()))
            }
            if ready < 0 {
                let code = errno
                guard code == EINTR else { fatal("poll", errno: code) }
                continue
            }
            let now = monotonicNanoseconds()
            if ready > 0 { dispatch(now: now) }
            fireTimers(now: now)
        }
    }

    private func dispatch(now: UInt64) {
        var readyConnections: [(Connection, Int16)] = []
        for slot in pollSet.indices where pollSet[slot].revents != 0 {
            if slot < listenerFDs.count {
                acceptConnections(listenerSlot: slot, now: now)
            } else {
                readyConnections.append((connections[slot - listenerFDs.count], pollSet[slot].revents))
            }
        }
        for (connection, events) in readyConnections where !connection.closed {
            handle(connection, events: events, now: now)
        }
    }

    private func handle(_ connection: Connection, events: Int16, now: UInt64) {
        if events & Int16(POLLERR | POLLNVAL) != 0 {
            close(connection)
            return
        }
        if events & Int16(POLLIN | POLLHUP) != 0 {
            if connection.wantsRead {
                guard connection.readAvailable(into: scratch) else {
                    close(connection)
                    return
                }
            } else if events & Int16(POLLHUP) != 0 {
                close(connection)
                return
            }
        }
        connection.drive(now: now)
        settle(connection)
    }

    /// Closes a finished connection, or points its poll entry at what it waits for.
    private func settle(_ connection: Connection) {
        if connection.finished {
            close(connection)
            return
        }
        var events: Int16 = 0
        if connection.wantsRead { events |= Int16(POLLIN) }
        if connection.wantsWrite { events |= Int16(POLLOUT) }
        pollSet[connection.pollSlot].events = events
    }

    private func acceptConnections(listenerSlot slot: Int, now: UInt64) {
        let listenerFD = listenerFDs[slot]
        let listener = shared.listeners[slot]
        for _ in 0 ..< EventLoop.acceptsPerWakeup {
            let fd = accept(listenerFD, nil, nil)
            if fd < 0 {
                let code = errno
                switch code {
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EAGAIN, EWOULDBLOCK:
                    return
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory: stop accepting for a moment
                    // instead of spinning on a listener that stays readable.
                    emitLine("backend \(listener.name): accept on \(listener.address) failed: "
                        + "\(String(cString: strerror(code))); pausing accepts", fd: 2)
                    pollSet[slot].events = 0
                    pausedListeners.append((now + EventLoop.acceptPauseNanoseconds, slot))
                    return
                default:
                    fatal("accept on \(listener.address)", errno: code)
                }
            }
            let flags = fcntl(fd, F_GETFL)
            guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0, fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 else {
                Glibc.close(fd)
                continue
            }
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let connection = Connection(fd: fd, serial: listener.countConnection(), listener: listener, loop: self)
            connection.pollSlot = pollSet.count
            pollSet.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
            connections.append(connection)
        }
    }

    private func close(_ connection: Connection) {
        guard !connection.closed else { return }
        connection.markClosed()
        // Move the last entry into the freed slot.
        let slot = connection.pollSlot
        let lastSlot = pollSet.count - 1
        if slot != lastSlot {
            pollSet[slot] = pollSet[lastSlot]
            let moved = connections[lastSlot - listenerFDs.count]
            connections[slot - listenerFDs.count] = moved
            moved.pollSlot = slot
        }
        pollSet.removeLast()
        connections.removeLast()
        Glibc.close(connection.fd)
        connection.listener.connectionClosed()
    }

    private func fireTimers(now: UInt64) {
        while let connection = timers.popExpired(now: now) {
            guard !connection.closed else { continue }
            connection.timerFired(now: now)
            settle(connection)
        }
        pausedListeners.removeAll { paused in
            guard paused.resume <= now else { return false }
            pollSet[paused.slot].events = Int16(POLLIN)
            return true
        }
    }

    /// Milliseconds until the next deadline, rounded up; -1 when none.
    private func pollTimeout(now: UInt64) -> Int32 {
        var next = timers.earliestDeadline
        for paused in pausedListeners {
            next = min(next ?? paused.resume, paused.resume)
        }
        guard let next else { return -1 }
        guard next > now else { return 0 }
        return Int32(min((next - now + 999_999) / 1_000_000, UInt64(Int32.max)))
    }
}

/// A binary min-heap of connection deadlines. Entries of connections that
/// closed or moved on are dropped when they come due.
struct DeadlineHeap {
    private var entries: [(deadline: UInt64, connection: Connection)] = []

    var earliestDeadline: UInt64? { entries.first?.deadline }

    mutating func insert(deadline: UInt64, connection: Connection) {
        entries.append((deadline, connection))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popExpired(now: UInt64) -> Connection? {
        guard let first = entries.first, first.deadline <= now else { return nil }
        entries.swapAt(0, entries.count - 1)
        entries.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count && entries[left].deadline < entries[smallest].deadline { smallest = left }
            if right < entries.count && entries[right].deadline < entries[smallest].deadline { smallest = right }
            guard smallest != parent else { break }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
        return first.connection
    }
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Writes one line with a single write(2), so lines from several threads do not interleave.
func emitLine(_ line: String, fd: Int32 = 1) {
    let bytes = Array((line + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
        if written > 0 {
            offset += written
        } else if written < 0 && errno == EINTR {
            continue
        } else {
            return
        }
    }
}

/// An error that can only mean the backend itself is broken.
func fatal(_ call: String, errno code: Int32) -> Never {
    emitLine("backend: \(call) failed: \(String(cString: strerror(code))) (errno \(code))", fd: 2)
    exit(70)
}
