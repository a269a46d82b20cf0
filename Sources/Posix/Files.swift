import CLinux

extension Posix {
    /// Replaces the contents of an existing file such as a /proc/sys entry.
    public static func writeFile(_ path: String, _ text: String) throws(PosixError) {
        let fd = try open(path, flags: O_WRONLY | O_TRUNC)
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: bytes)
        try writeAll(fd, UnsafeRawBufferPointer(buffer))
    }

    /// The contents of a small file, such as a /proc/sys entry.
    public static func readFile(_ path: String) throws(PosixError) -> [UInt8] {
        let fd = try open(path, flags: O_RDONLY)
        defer { close(fd) }
        return try readAll(fd)
    }
}
