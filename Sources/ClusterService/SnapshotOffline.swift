public import APIModels
public import Foundation
import Logging
import PolicyModel
import PolicyStore
import Replica

/// The offline half of backup and restore: checking a snapshot file (`rampart snapshot
/// inspect`) and seeding a new cluster's replicas from one (`rampart snapshot restore`). Both
/// read the database inside the file and hold it to its header: revision, state hash and audit
/// head are recomputed, and the audit chain is verified from its first record.
public enum SnapshotOffline {
    /// What a checked snapshot holds.
    public struct Inspection: Encodable, Sendable {
        /// The header, as checked.
        public var header: SnapshotHeader
        /// The file's length.
        public var fileBytes: UInt64
        /// Rows per table, recomputed.
        public var rows: [String: Int]
        /// The root keys in the file (sealed).
        public var rootKeys: Int

        enum CodingKeys: String, CodingKey {
            case header, rows
            case fileBytes = "file_bytes"
            case rootKeys = "root_keys"
        }
    }

    /// What a restore did.
    public struct Restoration: Encodable, Sendable {
        /// The data directory seeded.
        public var dataDirectory: String
        /// The replica it is for.
        public var replicaID: UInt64
        /// The founding voters.
        public var voters: [UInt64]
        /// The revision the new cluster starts from.
        public var revision: UInt64
        /// The state hash it starts with (the snapshot's).
        public var stateHash: String
        /// The new cluster's id (from the new secret).
        public var clusterID: String
        /// The id of the cluster the snapshot came from.
        public var restoredFrom: String

        enum CodingKeys: String, CodingKey {
            case voters, revision
            case dataDirectory = "data_directory"
            case replicaID = "replica_id"
            case stateHash = "state_hash"
            case clusterID = "cluster_id"
            case restoredFrom = "restored_from"
        }
    }

    /// Why a snapshot was refused.
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Checks the file at `path`: framing and checksums, then the database it holds against
    /// its header, the audit chain and SQLite's integrity check. The database is read from a
    /// temporary copy (in `$TMPDIR`), removed before returning.
    public static func inspect(file path: String) throws(Refusal) -> Inspection {
        let (header, offset) = try verifiedFrame(path)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let description: DatabaseCopyDescription
        do {
            description = try DataDirectorySeed.extract(from: path, offset: offset, length: header.databaseBytes, to: directory + "/state.db")
        } catch {
            throw Refusal("\(error)")
        }
        try check(description, against: header)
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
        return Inspection(header: header, fileBytes: fileBytes, rows: description.rowCounts, rootKeys: description.sealedRootKeys.count)
    }

    /// Seeds `dataDirectory` (absent or empty) for replica `replicaID` of a new cluster whose
    /// founding voters are `voters`, from the snapshot at `path`. Every founding replica is
    /// seeded from the same file with the same voters; then each starts with its usual
    /// settings (`initial_cluster` is not needed: the seeded log names the voters).
    ///
    /// The new cluster must have a new cluster secret: then it has a new id, and members of
    /// the old cluster cannot talk to it. The key-encryption key must be the old cluster's:
    /// each root key in the snapshot is opened with it before anything is written.
    public static func restore(
        file path: String, dataDirectory: String, replicaID: UInt64, voters: [UInt64], clusterSecretFile: String,
        keyEncryptionKeyFile: String
    ) throws(Refusal) -> Restoration {
        guard voters.contains(replicaID) else { throw Refusal("replica \(replicaID) is not among the founding voters \(voters)") }
        let logger = Logger(label: "rampart.snapshot")
        let secret: [UInt8]
        let sealer: RootKeySealer
        do {
            secret = try SecretFile.read(clusterSecretFile, name: "cluster secret", minimumBytes: 32, logger: logger)
            sealer = try SecretFile.sealer(keyEncryptionKeyFile, logger: logger)
        } catch {
            throw Refusal("\(error)")
        }
        let (header, offset) = try verifiedFrame(path)
        let clusterID = ClusterIdentity.id(secret: secret)
        guard clusterID != header.clusterID else {
            throw Refusal(
                "the cluster secret in \(clusterSecretFile) is the snapshot's cluster's (id \(clusterID)): a restored cluster needs a new secret, so that the old cluster's members cannot join it")
        }
        let description: DatabaseCopyDescription
        do {
            description = try DataDirectorySeed.seed(
                dataDirectory: dataDirectory, from: path, offset: offset, length: header.databaseBytes, voters: voters
            ) { description in
                try check(description, against: header)
                for key in description.sealedRootKeys {
                    do {
                        _ = try sealer.open(key.sealedPrivateKey, id: key.id)
                    } catch {
                        throw Refusal("root key \(key.id) does not open with the key-encryption key in \(keyEncryptionKeyFile): give the old cluster's")
                    }
                }
            }
        } catch {
            throw Refusal("\(error)")
        }
        return Restoration(
            dataDirectory: dataDirectory, replicaID: replicaID, voters: voters.sorted(), revision: description.appliedIndex,
            stateHash: Hex.encode(description.stateHash), clusterID: clusterID, restoredFrom: header.clusterID)
    }

    /// The header of a snapshot of the database copy at `path`: what it holds (revision, state
    /// hash and audit head, read back from the copy itself) and its checksums. The copy is not
    /// checked (no integrity check, no audit chain verification): the replica that made it
    /// trusts its own database, and `inspect` and `restore` check the file.
    public static func header(ofDatabaseAt path: String, clusterID: String, replicaID: UInt64, createdAt: Date = Date()) throws(Refusal)
        -> SnapshotHeader
    {
        do {
            let description = try PolicyStore.describeCopy(at: path, checking: false)
            let digest = try SnapshotArchive.digest(ofFileAt: path)
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime]
            return SnapshotHeader(
                clusterID: clusterID, replicaID: replicaID, revision: description.appliedIndex, stateHash: Hex.encode(description.stateHash),
                auditSequence: description.auditSequence, auditHead: Hex.encode(description.auditHead),
                createdAt: formatter.string(from: createdAt), version: RampartVersion.current, databaseBytes: digest.bytes,
                sha256: digest.sha256, chunkSHA256: digest.chunks)
        } catch {
            throw Refusal("\(path): \(error)")
        }
    }

    private static func verifiedFrame(_ path: String) throws(Refusal) -> (SnapshotHeader, UInt64) {
        do {
            return try SnapshotArchive.verify(fileAt: path)
        } catch {
            throw Refusal("\(path): \(error)")
        }
    }

    /// Holds what the database holds to what the header says.
    static func check(_ description: DatabaseCopyDescription, against header: SnapshotHeader) throws(Refusal) {
        let found: [(String, String, String)] = [
            ("revision", "\(description.appliedIndex)", "\(header.revision)"),
            ("state hash", Hex.encode(description.stateHash), header.stateHash),
            ("audit sequence", "\(description.auditSequence)", "\(header.auditSequence)"),
            ("audit head", Hex.encode(description.auditHead), header.auditHead),
        ]
        for (what, actual, stated) in found where actual != stated {
            throw Refusal("the database's \(what) is \(actual), but the header says \(stated)")
        }
    }

    private static func temporaryDirectory() throws(Refusal) -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array((base + "/rampart-snapshot-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Refusal("cannot create a temporary directory in \(base): errno \(errno)")
        }
        return String(cString: made)
    }
}
