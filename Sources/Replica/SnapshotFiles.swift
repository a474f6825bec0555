import Crypto
import Foundation
import PeerTransport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The layout of a replica's data directory:
///
/// - `raft/`: the write-ahead log segments (`RaftLogStorage`);
/// - `state.db`: the policy database (`PolicyStore`);
/// - `snapshots/snapshot-<index>.db`: the database as of the log's snapshot index. Every
///   replica keeps the file of its current log snapshot: a leader streams it to followers that
///   are too far behind, and a crash between installing a received snapshot in the log and in
///   the database is finished from it at start-up;
/// - `snapshots/incoming.partial`: a snapshot being received;
/// - `snapshots/export-<n>.db`: a copy of the database being served as a backup
///   (`Replica.exportDatabase()`), removed once served (and any left over, at start-up);
/// - `LOCK`: held (`flock`) by the one process that has the directory open.
struct SnapshotFiles: Sendable {
    let dataDirectory: String
    var logDirectory: String { dataDirectory + "/raft" }
    var databasePath: String { dataDirectory + "/state.db" }
    var snapshotDirectory: String { dataDirectory + "/snapshots" }
    var incomingPath: String { snapshotDirectory + "/incoming.partial" }
    var lockPath: String { dataDirectory + "/LOCK" }
    /// A snapshot being taken, before it is renamed to the index it holds.
    var takingPath: String { snapshotDirectory + "/taking.partial" }

    /// The `number`th backup copy (`Replica.exportDatabase()`); `.partial` while written.
    func exportPath(number: UInt64) -> String {
        snapshotDirectory + "/export-\(number).db"
    }

    func snapshotPath(index: UInt64) -> String {
        snapshotDirectory + "/snapshot-" + String(index, radix: 16).leftPadded(to: 16) + ".db"
    }

    /// Creates the directories (owner-only), takes the directory's lock, and removes leftovers
    /// of interrupted transfers. Nothing in the directory is read before the lock is held.
    /// - Returns: the lock, held until it is released or dropped.
    /// - Throws: `ReplicaError.storage` when a directory cannot be created or another process
    ///   (or another replica in this one) holds the lock.
    func prepare() throws(ReplicaError) -> DirectoryLock {
        do {
            try FileManager.default.createDirectory(
                atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .storage("cannot create \(dataDirectory): \(error.localizedDescription)")
        }
        let lock = try DirectoryLock(path: lockPath)
        for directory in [logDirectory, snapshotDirectory] {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw .storage("cannot create \(directory): \(error.localizedDescription)")
            }
        }
        _ = unlink(incomingPath)
        _ = unlink(takingPath)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: snapshotDirectory)) ?? []
        for name in names where name.hasPrefix("export-") { _ = unlink(snapshotDirectory + "/" + name) }
        return lock
    }

    func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Removes the snapshot file of `index`, if present.
    func removeSnapshot(index: UInt64) {
        _ = unlink(snapshotPath(index: index))
    }

    /// Removes the snapshot files of every index not in `kept`. Files being sent stay readable
    /// through their open descriptors.
    func removeSnapshots(except kept: Set<UInt64>) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: snapshotDirectory)) ?? []
        for name in names where name.hasPrefix("snapshot-") {
            let keep = kept.contains { snapshotPath(index: $0).hasSuffix("/" + name) }
            if !keep { _ = unlink(snapshotDirectory + "/" + name) }
        }
    }

    /// Makes renames and unlinks in the snapshot directory durable.
    func syncSnapshotDirectory() throws(ReplicaError) {
        let descriptor = open(snapshotDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .storage("open \(snapshotDirectory): errno \(errno)") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw .storage("fsync \(snapshotDirectory): errno \(errno)") }
    }
}

/// An exclusive `flock` on a data directory's lock file, so that two servers never open the
/// same log and database (the second would write the live log, vote, and corrupt both). The
/// kernel drops the lock when the holder exits, however it exits, so a crash leaves nothing to
/// clean up; the lock file itself stays and is reused.
final class DirectoryLock {
    private var descriptor: Int32

    init(path: String) throws(ReplicaError) {
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .storage("cannot open the lock file \(path): errno \(errno)") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            close(descriptor)
            descriptor = -1
            if failure == EWOULDBLOCK {
                throw .storage("the data directory is in use: another rampart server holds \(path)")
            }
            throw .storage("cannot lock \(path): errno \(failure)")
        }
    }

    /// Releases the lock; a later call does nothing.
    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}

/// A snapshot file arriving chunk by chunk. Its bytes are checked against the sender's
/// SHA-256 before it is synced and renamed into place; anything out of order abandons it.
final class IncomingSnapshot {
    let transferID: UInt64
    let sender: UInt64
    private(set) var offset: UInt64 = 0
    private let path: String
    private var descriptor: Int32
    private var hasher = SHA256()

    init(path: String, transferID: UInt64, sender: UInt64) throws(ReplicaError) {
        self.path = path
        self.transferID = transferID
        self.sender = sender
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .storage("open \(path): errno \(errno)") }
    }

    func append(_ data: [UInt8]) throws(ReplicaError) {
        var written = 0
        while written < data.count {
            let result = data.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, data.count - written) }
            guard result > 0 else { throw .storage("write \(path): errno \(errno)") }
            written += result
        }
        hasher.update(data: data)
        offset += UInt64(data.count)
    }

    /// Verifies the checksum, syncs the file and renames it to `destination`.
    /// - Returns: false when the bytes do not match the checksum (the file is removed).
    func finish(checksum: [UInt8], destination: String, files: SnapshotFiles) throws(ReplicaError) -> Bool {
        guard Array(hasher.finalize()) == checksum else {
            abandon()
            return false
        }
        guard fsync(descriptor) == 0 else { throw .storage("fsync \(path): errno \(errno)") }
        close(descriptor)
        descriptor = -1
        guard rename(path, destination) == 0 else { throw .storage("rename \(path): errno \(errno)") }
        try files.syncSnapshotDirectory()
        return true
    }

    /// Closes and removes the partial file.
    func abandon() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        _ = unlink(path)
    }
}

/// Reads a snapshot file for streaming. The descriptor is opened by the runtime, so a later
/// compaction that unlinks the file cannot pull it away from a transfer under way.
struct SnapshotReader: @unchecked Sendable {
    // `@unchecked Sendable`: the descriptor is used by exactly one transfer task, which closes it.
    let descriptor: Int32

    init(path: String) throws(ReplicaError) {
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .storage("open \(path): errno \(errno)") }
    }

    var size: UInt64 {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return 0 }
        return UInt64(info.st_size)
    }

    func read(at offset: UInt64, count: Int) throws(ReplicaError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let result = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + filled, count - filled, off_t(offset) + off_t(filled)) }
            guard result > 0 else { throw .storage("read snapshot: errno \(errno)") }
            filled += result
        }
        return bytes
    }

    func checksum(size: UInt64) throws(ReplicaError) -> [UInt8] {
        var hasher = SHA256()
        var offset: UInt64 = 0
        while offset < size {
            let count = Int(min(UInt64(SnapshotChunk.maxDataBytes), size - offset))
            hasher.update(data: try read(at: offset, count: count))
            offset += UInt64(count)
        }
        return Array(hasher.finalize())
    }

    func close() {
        _ = Glibc.close(descriptor)
    }
}

/// A consistent copy of a replica's policy database, made for a backup
/// (`Replica.exportDatabase()`).
public struct DatabaseExport: Sendable, Hashable {
    /// The copy: a SQLite database file in the replica's snapshot directory.
    public let path: String
    /// The applied index (revision) it holds.
    public let appliedIndex: UInt64

    /// Removes the copy (its owner calls this once done with it; a replica that restarts first
    /// removes leftovers itself).
    public func remove() {
        _ = unlink(path)
    }
}
