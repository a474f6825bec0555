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

/// A file open for appending, owned by one log segment. Closing is idempotent, and a closed
/// file refuses writes, so a descriptor number the system reuses is never touched again.
final class AppendFile {
    let path: String
    private var descriptor: Int32
    /// The file's length.
    private(set) var length: Int

    /// Opens (creating if needed) a file for appending.
    init(path: String) throws(StorageError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        let end = lseek(descriptor, 0, SEEK_END)
        guard end >= 0 else {
            close(descriptor)
            throw .io(operation: "lseek", path: path, errno: errno)
        }
        self.path = path
        self.descriptor = descriptor
        length = Int(end)
    }

    /// Appends all of `bytes`.
    func append(_ bytes: [UInt8]) throws(StorageError) {
        guard descriptor >= 0 else { throw .io(operation: "write", path: path, errno: EBADF) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "write", path: path, errno: errno)
            }
            written += count
        }
        length += bytes.count
    }

    /// Makes everything appended so far durable.
    func sync() throws(StorageError) {
        guard descriptor >= 0 else { throw .io(operation: "fdatasync", path: path, errno: EBADF) }
        if fdatasync(descriptor) != 0 { throw .io(operation: "fdatasync", path: path, errno: errno) }
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
