#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The few file-system operations the log needs, as thin throwing wrappers over the C library.
enum FileSystem {
    static func makeDirectory(_ path: String) throws(StorageError) {
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw .io(operation: "mkdir", path: path, errno: errno) }
    }

    /// The names in a directory, sorted.
    static func list(_ path: String) throws(StorageError) -> [String] {
        guard let directory = opendir(path) else { throw .io(operation: "opendir", path: path, errno: errno) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Makes a directory's entries (new, renamed or removed files) durable.
    static func syncDirectory(_ path: String) throws(StorageError) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        defer { close(descriptor) }
        if fsync(descriptor) != 0 { throw .io(operation: "fsync", path: path, errno: errno) }
    }

    static func remove(_ path: String) throws(StorageError) {
        if unlink(path) != 0 && errno != ENOENT { throw .io(operation: "unlink", path: path, errno: errno) }
    }

    /// The whole content of a file.
    static func readFile(_ path: String) throws(StorageError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        defer { close(descriptor) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "read", path: path, errno: errno)
            }
            if count == 0 { return result }
            result.append(contentsOf: chunk[0..<count])
        }
    }

    static func truncateFile(_ path: String, to length: Int) throws(StorageError) {
        if truncate(path, off_t(length)) != 0 { throw .io(operation: "truncate", path: path, errno: errno) }
    }
}

/// A log segment's file, written at its logical end: the length of what was written, which
/// may be less than the file's size. Space after the logical end is reserved ahead of the
/// writes (preallocated, reading as zeros) so that a synced write lands in space the file
/// already has: `fdatasync` then need not also journal a new file size and newly allocated
/// blocks, which on ext4 made each sync of a small write about a third faster.
///
/// Closing is idempotent, and a closed file refuses writes, so a descriptor number the system
/// reuses is never touched again.
final class AppendFile {
    let path: String
    private var descriptor: Int32
    /// The logical end: everything before it was written through this file or found valid on
    /// opening; everything after it is reserved space.
    private(set) var length: Int
    /// The file's size on disk, reserved space included.
    private var size: Int
    /// How many bytes to reserve past the end of a write that does not fit in the reserved
    /// space; 0 reserves nothing. Set to 0 after a reservation fails (a file system without
    /// support, or one that is full: the write itself then extends the file or reports it).
    private var reserveBytes: Int

    /// Opens (creating if needed) a file to write at `logicalLength`, or at its end when nil.
    /// Whatever lies after `logicalLength` must be zeros (reserved space), and is written over.
    init(path: String, logicalLength: Int? = nil, reserveBytes: Int) throws(StorageError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        let end = lseek(descriptor, 0, SEEK_END)
        guard end >= 0 else {
            close(descriptor)
            throw .io(operation: "lseek", path: path, errno: errno)
        }
        self.path = path
        self.descriptor = descriptor
        size = Int(end)
        length = min(logicalLength ?? Int(end), Int(end))
        self.reserveBytes = max(0, reserveBytes)
    }

    /// Writes all of `bytes` at the logical end, reserving more space first when they do not fit.
    func append(_ bytes: [UInt8]) throws(StorageError) {
        guard descriptor >= 0 else { throw .io(operation: "write", path: path, errno: EBADF) }
        if length + bytes.count > size { reserve(through: length + bytes.count + reserveBytes) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                pwrite(descriptor, buffer.baseAddress! + written, buffer.count - written, off_t(length + written))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "pwrite", path: path, errno: errno)
            }
            written += count
        }
        length += bytes.count
        size = max(size, length)
    }

    /// Reserves space up to `end` (best effort: without it, writes extend the file as they go).
    /// A reservation that fails stops reserving for this file; it may still have grown the file
    /// part of the way (a disk that filled up meanwhile), which `size` then follows.
    private func reserve(through end: Int) {
        guard reserveBytes > 0, end > size else { return }
        #if os(Linux)
            var result: Int32
            repeat {
                result = posix_fallocate(descriptor, off_t(size), off_t(end - size))
            } while result == EINTR
            if result == 0 {
                size = end
                return
            }
        #endif
        reserveBytes = 0
        let actual = lseek(descriptor, 0, SEEK_END)
        if actual >= 0 { size = max(size, Int(actual)) }
    }

    /// Makes everything written so far durable.
    func sync() throws(StorageError) {
        guard descriptor >= 0 else { throw .io(operation: "fdatasync", path: path, errno: EBADF) }
        if fdatasync(descriptor) != 0 { throw .io(operation: "fdatasync", path: path, errno: errno) }
    }

    /// Gives back the reserved space, durably: the file ends at its logical end afterwards. The
    /// file's size is asked of the system, not taken from `size`, so that space a failed
    /// reservation left behind goes too.
    func trimReservedSpace() throws(StorageError) {
        guard descriptor >= 0 else { throw .io(operation: "ftruncate", path: path, errno: EBADF) }
        let actual = lseek(descriptor, 0, SEEK_END)
        guard actual >= 0 else { throw .io(operation: "lseek", path: path, errno: errno) }
        guard Int(actual) > length else { return }
        if ftruncate(descriptor, off_t(length)) != 0 { throw .io(operation: "ftruncate", path: path, errno: errno) }
        size = length
        if fsync(descriptor) != 0 { throw .io(operation: "fsync", path: path, errno: errno) }
    }

    func closeFile() {
        guard descriptor >= 0 else { return }
        _ = close(descriptor)
        descriptor = -1
    }

    deinit {
        closeFile()
    }
}
