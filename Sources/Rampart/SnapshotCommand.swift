import APIModels
import ArgumentParser
import ClusterService
import Foundation
import RampartClient

/// `rampart snapshot`: backups (`save`, from a live cluster), their offline check (`inspect`)
/// and disaster recovery (`restore`, seeding a new cluster's replicas).
struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot", abstract: "Save, check and restore snapshots of the cluster's state.",
        subcommands: [SnapshotSaveCommand.self, Inspect.self, Restore.self])

    /// `rampart snapshot inspect FILE`.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inspect", abstract: "Check a snapshot file offline and print what it holds.",
            discussion: """
                Checks the framing and every checksum (a damaged or truncated file is refused with \
                the offset of the first damage), then reads the database inside: SQLite's integrity \
                check, the revision, the state hash and the audit head recomputed and held to the \
                header, and the whole audit chain verified from its first record. Exit status 1 when \
                anything does not check out.
                """)

        @Argument(help: "The snapshot file.") var file: String
        @Option(name: [.customShort("o"), .long], help: "table or json.") var output = "table"

        func validate() throws {
            guard ["table", "json"].contains(output) else { throw ValidationError("--output is table or json, not \"\(output)\"") }
        }

        func run() throws {
            let inspection: SnapshotOffline.Inspection
            do {
                inspection = try SnapshotOffline.inspect(file: file)
            } catch {
                throw CommandFailure("\(error)")
            }
            if output == "json" {
                try printJSON(inspection)
                return
            }
            let header = inspection.header
            let rows: [(String, String)] = [
                ("file", file), ("bytes", "\(inspection.fileBytes)"), ("cluster_id", header.clusterID), ("replica_id", "\(header.replicaID)"),
                ("revision", "\(header.revision)"), ("created_at", header.createdAt), ("version", header.version),
                ("state_hash", header.stateHash), ("audit_sequence", "\(header.auditSequence)"), ("audit_head", header.auditHead),
                ("sha256", header.sha256), ("root_keys", "\(inspection.rootKeys)"),
                ("rows", inspection.rows.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")),
                ("checks", "checksums, integrity, state hash, audit chain: ok"),
            ]
            let width = rows.map(\.0.count).max() ?? 0
            for (key, value) in rows { print(key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value) }
        }
    }

    /// `rampart snapshot restore FILE ...`.
    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore", abstract: "Seed a replica of a new cluster from a snapshot file (disaster recovery).",
            discussion: """
                Run it once per founding replica of the new cluster, each with the same file, the \
                same --initial-cluster, a new cluster secret (shared by the new replicas) and the \
                old cluster's key-encryption key; then start each replica as usual. The new cluster \
                starts at the snapshot's revision with its state and audit chain, and goes on from \
                there. The data directory must not exist or be empty. See the README, "Backup and \
                restore".
                """)

        @Argument(help: "The snapshot file.") var file: String
        @Option(help: "The new replica's data directory (absent or empty).") var dataDir: String
        @Option(help: "The new replica's id.") var replicaId: UInt64
        @Option(help: "The founding voters of the new cluster: 1,2,3 (1=host:port,... is accepted; the addresses come from each replica's peers setting).")
        var initialCluster: String
        @Option(help: "The new cluster's secret (it must differ from the old one's).") var clusterSecretFile: String
        @Option(help: "The old cluster's key-encryption key: it opens the root keys in the snapshot.") var keyEncryptionKeyFile: String
        @Option(name: [.customShort("o"), .long], help: "table or json.") var output = "table"

        func validate() throws {
            guard ["table", "json"].contains(output) else { throw ValidationError("--output is table or json, not \"\(output)\"") }
            _ = try voters()
            guard replicaId > 0 else { throw ValidationError("--replica-id starts at 1") }
        }

        func voters() throws -> [UInt64] {
            var ids: [UInt64] = []
            for part in initialCluster.split(separator: ",") {
                let idText = part.split(separator: "=", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                guard let id = UInt64(idText), id > 0 else {
                    throw ValidationError("--initial-cluster: \"\(part)\" is not a replica id (1,2,3 or 1=host:port,...)")
                }
                guard !ids.contains(id) else { throw ValidationError("--initial-cluster names replica \(id) twice") }
                ids.append(id)
            }
            guard !ids.isEmpty else { throw ValidationError("--initial-cluster names no replica") }
            return ids
        }

        func run() throws {
            let restoration: SnapshotOffline.Restoration
            do {
                restoration = try SnapshotOffline.restore(
                    file: file, dataDirectory: dataDir, replicaID: replicaId, voters: try voters(), clusterSecretFile: clusterSecretFile,
                    keyEncryptionKeyFile: keyEncryptionKeyFile)
            } catch let error as SnapshotOffline.Refusal {
                throw CommandFailure("\(error)")
            }
            if output == "json" {
                try printJSON(restoration)
                return
            }
            print(
                """
                seeded \(restoration.dataDirectory) for replica \(restoration.replicaID) of a new cluster (id \(restoration.clusterID), voters \(restoration.voters.map(String.init).joined(separator: ",")))
                from cluster \(restoration.restoredFrom) at revision \(restoration.revision), state hash \(restoration.stateHash)
                start the replica with its usual settings; initial_cluster is not needed
                """)
        }
    }
}

private func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
