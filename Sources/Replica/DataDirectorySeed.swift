import Foundation
public import PolicyStore
import RaftCore
import RaftStorage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Seeds the data directory of a founding replica of a new cluster from a copy of the policy
/// database: the restore half of backup and restore (`rampart snapshot restore`).
///
/// Each founding replica is seeded from the same copy with the same voters. The copy becomes
/// the replica's database and its log's snapshot, at the copy's revision `N`, in term 1, with
/// the voters as the membership: the log looks as if the cluster had compacted everything up
/// to `N`. The replicas then elect a leader (term 2 on) and go on from revision `N + 1`, so
/// revisions and the audit chain continue where the copy ends.
public enum DataDirectorySeed {
    /// Seeds `dataDirectory`, which must not exist or be empty, from the `length` database
    /// bytes at `offset` of the file at `source` (a snapshot file, or a bare database).
    /// - Parameters:
    ///   - voters: the founding voters; every replica of the new cluster is seeded with the same.
    ///   - check: examines what the copy holds (`PolicyStore.describeCopy(at:)`) before anything
    ///     is put in place; it throws to refuse the copy, with the reason.
    /// - Returns: what the seeded database holds.
    /// - Throws: `ReplicaError.storage` with the reason; the directory is left as it was found.
    public static func seed(
        dataDirectory: String, from source: String, offset: UInt64, length: UInt64, voters: [UInt64],
        check: (DatabaseCopyDescription) throws -> Void
    ) throws(ReplicaError) -> DatabaseCopyDescription {
        guard !voters.isEmpty, !voters.contains(0) else { throw .invalidConfiguration("the voters must be replica ids from 1") }
        var isDirectory: ObjCBool = false
        let existed = FileManager.default.fileExists(atPath: dataDirectory, isDirectory: &isDirectory)
        if existed {
            guard isDirectory.boolValue else { throw .storage("\(dataDirectory) exists and is not a directory") }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: dataDirectory)) ?? ["?"]
            guard entries.isEmpty else {
                throw .storage(
                    "\(dataDirectory) is not empty (it holds \(entries.sorted().prefix(3).joined(separator: ", "))): a restore seeds a new replica only")
            }
        }
        let files = SnapshotFiles(dataDirectory: dataDirectory)
        do {
            let lock = try files.prepare()
            defer { lock.release() }
            let staging = files.snapshotDirectory + "/restoring.partial"
            try copyRange(of: source, offset: offset, length: length, to: staging)
            let description: DatabaseCopyDescription
            do {
                description = try PolicyStore.describeCopy(at: staging)
                try check(description)
            } catch let error as ReplicaError {
                throw error
            } catch {
                throw ReplicaError.storage("\(error)")
            }
            let index = description.appliedIndex
            let snapshotPath = files.snapshotPath(index: index)
            guard rename(staging, snapshotPath) == 0 else { throw ReplicaError.storage("rename \(staging): errno \(errno)") }
            try files.syncSnapshotDirectory()
            do {
                try PolicyStore.restoreSnapshot(from: snapshotPath, to: files.databasePath)
                let storage = try RaftLogStorage(directory: files.logDirectory)
                defer { storage.close() }
                let membership = Membership(voters: voters.map { ReplicaID(rawValue: $0) })
                try storage.persist(
                    hardState: HardState(term: 1, votedFor: nil, commit: index),
                    snapshot: SnapshotMetadata(index: index, term: 1, membership: membership), entries: [], sync: true)
            } catch {
                throw ReplicaError.storage("\(error)")
            }
            return description
        } catch {
            // Leave the directory as found: gone if it was not there, empty if it was.
            if existed {
                for entry in (try? FileManager.default.contentsOfDirectory(atPath: dataDirectory)) ?? [] {
                    try? FileManager.default.removeItem(atPath: dataDirectory + "/" + entry)
                }
            } else {
                try? FileManager.default.removeItem(atPath: dataDirectory)
            }
            if let error = error as? ReplicaError { throw error }
            throw .storage("\(error)")
        }
    }

    /// Copies the `length` database bytes at `offset` of `source` to a new file `destination`
    /// and describes them (`PolicyStore.describeCopy(at:)`): a check that puts nothing in place.
    public static func extract(from source: String, offset: UInt64, length: UInt64, to destination: String) throws
        -> DatabaseCopyDescription
    {
        try copyRange(of: source, offset: offset, length: length, to: destination)
        return try PolicyStore.describeCopy(at: destination)
    }

    /// Copies `length` bytes at `offset` of `source` to a new file `destination`, synced.
    private static func copyRange(of source: String, offset: UInt64, length: UInt64, to destination: String) throws(ReplicaError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .storage("cannot open \(source): errno \(errno)") }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw .storage("cannot create \(destination): errno \(errno)") }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var done: UInt64 = 0
        while done < length {
            let want = Int(min(UInt64(buffer.count), length - done))
            let count = buffer.withUnsafeMutableBytes { pread(input, $0.baseAddress, want, off_t(offset + done)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw .storage(count == 0 ? "\(source) ends at offset \(offset + done), before the database's end" : "read \(source): errno \(errno)")
            }
            var written = 0
            while written < count {
                let result = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, count - written) }
                if result < 0 && errno == EINTR { continue }
                guard result > 0 else { throw .storage("write \(destination): errno \(errno)") }
                written += result
            }
            done += UInt64(count)
        }
        guard fsync(output) == 0 else { throw .storage("fsync \(destination): errno \(errno)") }
    }
}
