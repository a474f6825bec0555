import APIModels
import ClusterService
import Foundation
import PolicyModel
import PolicyStore
import RaftCore
import RaftStorage
import Testing

@testable import Replica

/// Backup and restore below the HTTP API: a replica's copy of its database
/// (`Replica.exportDatabase`), snapshot files made from it (`SnapshotArchive`,
/// `SnapshotOffline`), and new clusters seeded from them (`DataDirectorySeed`).
@Suite struct BackupTests {
    /// A scratch directory, removed with the value.
    final class Scratch {
        let path = NSTemporaryDirectory() + "rampart-backup-\(UUID().uuidString)"
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        /// A new 32-byte secret file.
        func secret(_ name: String) throws -> String {
            let file = path + "/" + name
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255) }
            try Data(Hex.encode(bytes).utf8).write(to: URL(fileURLWithPath: file))
            chmod(file, 0o600)
            return file
        }
    }

    /// Writes a snapshot file of the database at `database`, as `GET /v1/snapshot` sends it.
    static func snapshotFile(of database: String, at file: String, secretFile: String) throws -> SnapshotHeader {
        let secret = Array(try String(contentsOfFile: secretFile, encoding: .utf8).utf8)
        let header = try SnapshotOffline.header(ofDatabaseAt: database, clusterID: ClusterIdentity.id(secret: secret), replicaID: 1)
        var bytes = try SnapshotArchive.encode(header)
        bytes += Array(try Data(contentsOf: URL(fileURLWithPath: database)))
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return header
    }

    @Test func aCopyAtOneRevisionSeedsANewClusterThatGoesOnFromIt() async throws {
        let scratch = try Scratch()
        let old = try TestCluster(size: 3)
        let leader = try #require(await old.leader())
        var last: UInt64 = 0
        for name in ["acme", "globex", "initech", "umbrella"] {
            last = try await old.write(try old.createOrganization(name), via: leader).revision
        }
        let export = try await leader.exportDatabase()
        #expect(export.appliedIndex >= last)
        #expect(FileManager.default.fileExists(atPath: export.path))
        let (liveHash, liveIndex) = try await leader.query { (try $0.stateHash(), $0.appliedIndex) }
        // The hash read aside, through a connection of its own, is the runtime's.
        let aside = try await leader.stateHash()
        #expect(aside.hash == liveHash && aside.appliedIndex == liveIndex)
        let copy = try PolicyStore.describeCopy(at: export.path)
        #expect(copy.appliedIndex == liveIndex && copy.stateHash == liveHash, "nothing was written since: the copy is the live state")
        #expect(copy.rowCounts["organizations"] == 5, "the system organization and four more")

        let oldSecret = try scratch.secret("old.secret")
        let file = scratch.path + "/backup.snapshot"
        let header = try Self.snapshotFile(of: export.path, at: file, secretFile: oldSecret)
        export.remove()
        #expect(!FileManager.default.fileExists(atPath: export.path))
        await old.stopAll()
        let inspected = try SnapshotOffline.inspect(file: file)
        #expect(inspected.header == header && inspected.rows["organizations"] == 5)

        // Three founding replicas of a new cluster, each seeded from the file.
        let newSecret = try scratch.secret("new.secret")
        let keyEncryptionKey = try scratch.secret("kek")
        let root = scratch.path + "/restored"
        for id: UInt64 in 1...3 {
            let restored = try SnapshotOffline.restore(
                file: file, dataDirectory: root + "/replica-\(id)", replicaID: id, voters: [1, 2, 3], clusterSecretFile: newSecret,
                keyEncryptionKeyFile: keyEncryptionKey)
            #expect(restored.revision == header.revision && restored.stateHash == header.stateHash)
            #expect(restored.restoredFrom == header.clusterID && restored.clusterID != header.clusterID)
        }
        let restored = try TestCluster(existingRoot: root, voters: [1, 2, 3])
        let newLeader = try #require(await restored.leader())
        let hashes = try await restored.stateHashes(at: header.revision)
        #expect(hashes.count == 3 && hashes.values.allSatisfy { Hex.encode($0) == header.stateHash }, "the snapshot's state, after the new leader's no-op too")
        #expect(newLeader.status.membership.voters == [1, 2, 3])
        // It goes on from the snapshot's revision, and its audit chain from the snapshot's head.
        let next = try await restored.write(try restored.createOrganization("hooli"), via: newLeader)
        #expect(next.outcome?.succeeded == true)
        #expect(next.revision > header.revision)
        let chain = try await newLeader.query { try $0.verifyAuditChain() }
        guard case .intact(_, let count) = chain else {
            Issue.record("the restored audit chain does not verify: \(chain)")
            return
        }
        #expect(UInt64(count) == header.auditSequence + 1)
        let names = try newLeader.readState { state, _ in state.allOrganizations.map(\.name.description).sorted() }
        #expect(names == ["acme", "globex", "hooli", "initech", "system", "umbrella"])
        await restored.stopAll()
    }

    /// A store with a few organizations, closed; and its snapshot file.
    static func smallSnapshot(in scratch: Scratch) throws -> (file: String, header: SnapshotHeader, secret: String) {
        let database = scratch.path + "/source.db"
        let store = try PolicyStore(path: database)
        var index: UInt64 = 0
        for name in ["acme", "globex"] + (0..<300).map({ "tenant-\($0)" }) {
            index += 1
            let envelope = CommandEnvelope(
                command: .createOrganization(name: try Name(name)), actor: nil, requestID: "r-\(index)", idempotencyKey: nil,
                time: Timestamp(millisecondsSinceEpoch: 1_700_000_000_000 + Int64(index)))
            try store.apply([AppliedEntry(index: index, command: CommandCodec.encode(envelope))])
        }
        try store.writeSnapshot(to: scratch.path + "/copy.db")
        store.close()
        let secret = try scratch.secret("cluster.secret")
        let file = scratch.path + "/small.snapshot"
        return (file, try snapshotFile(of: scratch.path + "/copy.db", at: file, secretFile: secret), secret)
    }

    /// The error `body` throws, as text (nil when it throws none).
    static func refusal(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func damagedTruncatedOrMisdescribedFilesAreRefusedNamingWhere() throws {
        let scratch = try Scratch()
        let (file, header, _) = try Self.smallSnapshot(in: scratch)
        let original = try Data(contentsOf: URL(fileURLWithPath: file))
        let databaseOffset = original.count - Int(header.databaseBytes)
        #expect(header.databaseBytes > UInt64(SnapshotArchive.chunkBytes) / 32)
        _ = try SnapshotArchive.verify(fileAt: file)

        // Truncated: the offset where the file ends and where the database should.
        try original.prefix(original.count - 100).write(to: URL(fileURLWithPath: file))
        let truncated = Self.refusal { _ = try SnapshotOffline.inspect(file: file) }
        #expect(truncated?.contains("truncated snapshot: the file ends at offset \(original.count - 100)") == true, "\(truncated ?? "accepted")")
        try original.prefix(10).write(to: URL(fileURLWithPath: file))
        #expect(Self.refusal { _ = try SnapshotArchive.verify(fileAt: file) }?.contains("inside the 19-byte magic line") == true)

        // One byte changed in the database: the damaged range, by offset.
        var damaged = original
        damaged[databaseOffset + 5000] ^= 0x01
        try damaged.write(to: URL(fileURLWithPath: file))
        let damage = Self.refusal { _ = try SnapshotOffline.inspect(file: file) }
        #expect(damage?.contains("damaged snapshot at offset \(databaseOffset): the bytes at offsets \(databaseOffset)..<") == true, "\(damage ?? "accepted")")

        // Not a snapshot at all.
        try Data("SQLite format 3\0".utf8).write(to: URL(fileURLWithPath: file))
        #expect(Self.refusal { _ = try SnapshotArchive.verify(fileAt: file) }?.contains("not a Rampart snapshot") == true)

        // A header with an extreme length: refused, not an overflow.
        var huge = header
        huge.databaseBytes = .max
        try Data(try SnapshotArchive.encode(huge) + Array(original.suffix(Int(header.databaseBytes)))).write(to: URL(fileURLWithPath: file))
        #expect(Self.refusal { _ = try SnapshotArchive.verify(fileAt: file) }?.contains("cannot follow offset") == true)

        // A header that lies about the database (checksums intact): caught by recomputing.
        var lying = header
        lying.revision += 7
        var bytes = try SnapshotArchive.encode(lying)
        bytes += Array(original.suffix(Int(header.databaseBytes)))
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        _ = try SnapshotArchive.verify(fileAt: file)
        let lie = Self.refusal { _ = try SnapshotOffline.inspect(file: file) }
        #expect(lie?.contains("the database's revision is \(header.revision), but the header says \(header.revision + 7)") == true, "\(lie ?? "accepted")")
    }

    @Test func aRestoreRefusesWhatItCannotUseAndLeavesTheDirectoryAsFound() throws {
        let scratch = try Scratch()
        let (file, _, oldSecret) = try Self.smallSnapshot(in: scratch)
        let newSecret = try scratch.secret("new.secret")
        let keyEncryptionKey = try scratch.secret("kek")
        func restore(into directory: String, secret: String? = nil, id: UInt64 = 1, voters: [UInt64] = [1, 2, 3]) -> String? {
            Self.refusal {
                _ = try SnapshotOffline.restore(
                    file: file, dataDirectory: directory, replicaID: id, voters: voters, clusterSecretFile: secret ?? newSecret,
                    keyEncryptionKeyFile: keyEncryptionKey)
            }
        }
        // A data directory in use.
        let used = scratch.path + "/used"
        try FileManager.default.createDirectory(atPath: used, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: used + "/state.db"))
        #expect(restore(into: used)?.contains("is not empty (it holds state.db)") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: used) == ["state.db"])
        // The old cluster's secret.
        let absent = scratch.path + "/absent"
        #expect(restore(into: absent, secret: oldSecret)?.contains("a restored cluster needs a new secret") == true)
        #expect(!FileManager.default.fileExists(atPath: absent))
        // A replica that is not a founding voter.
        #expect(restore(into: absent, id: 4)?.contains("replica 4 is not among the founding voters") == true)
        #expect(!FileManager.default.fileExists(atPath: absent))
        // A damaged file: nothing is created.
        var damaged = try Data(contentsOf: URL(fileURLWithPath: file))
        damaged[damaged.count - 10] ^= 0xFF
        try damaged.write(to: URL(fileURLWithPath: file))
        #expect(restore(into: absent)?.contains("damaged snapshot at offset") == true)
        #expect(!FileManager.default.fileExists(atPath: absent))
    }

    @Test func aRestoreRefusesAKeyEncryptionKeyThatDoesNotOpenTheRootKeys() throws {
        let scratch = try Scratch()
        let database = scratch.path + "/keys.db"
        let store = try PolicyStore(path: database)
        let rightKey = try scratch.secret("right.kek")
        let sealer = try RootKeySealer(keyEncryptionKey: try #require(Hex.decode(try String(contentsOfFile: rightKey, encoding: .utf8))))
        let id = EntityID(high: 7, low: 9)
        let (publicKey, sealed) = try sealer.generate(id: id)
        let envelope = CommandEnvelope(
            command: .addRootKey(id: id, publicKey: publicKey, sealedPrivateKey: sealed), actor: nil, requestID: "r-1",
            idempotencyKey: nil, time: Timestamp(millisecondsSinceEpoch: 1_700_000_000_000))
        try store.apply([AppliedEntry(index: 1, command: CommandCodec.encode(envelope))])
        try store.writeSnapshot(to: scratch.path + "/copy.db")
        store.close()
        let file = scratch.path + "/keys.snapshot"
        _ = try Self.snapshotFile(of: scratch.path + "/copy.db", at: file, secretFile: try scratch.secret("old.secret"))
        let wrongKey = try scratch.secret("wrong.kek")
        let newSecret = try scratch.secret("new.secret")
        let directory = scratch.path + "/replica-1"
        let refused = Self.refusal {
            _ = try SnapshotOffline.restore(
                file: file, dataDirectory: directory, replicaID: 1, voters: [1], clusterSecretFile: newSecret, keyEncryptionKeyFile: wrongKey)
        }
        #expect(refused?.contains("does not open with the key-encryption key in \(wrongKey)") == true, "\(refused ?? "accepted")")
        #expect(!FileManager.default.fileExists(atPath: directory))
        let restored = try SnapshotOffline.restore(
            file: file, dataDirectory: directory, replicaID: 1, voters: [1], clusterSecretFile: newSecret, keyEncryptionKeyFile: rightKey)
        #expect(restored.revision == 1)
        let log = try RaftLogStorage(directory: directory + "/raft")
        defer { log.close() }
        #expect(log.recovered.snapshot == SnapshotMetadata(index: 1, term: 1, membership: Membership(voters: [1])))
    }
}
