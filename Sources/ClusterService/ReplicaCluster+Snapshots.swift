public import AdminAPI
import APIModels
import Foundation
import PolicyStore
import Replica

extension ReplicaCluster {
    /// The cluster's id (`ClusterIdentity`), from its secret.
    public var clusterID: String { ClusterIdentity.id(secret: clusterSecret) }

    public func exportSnapshot(consistency: ReadConsistency, timeout: Duration) async throws(ClusterError) -> SnapshotExport {
        let export: DatabaseExport
        do throws(ReplicaError) {
            switch consistency {
            case .linearizable: _ = try await replica.linearizableRead(timeout: timeout)
            case .leader: if replica.status.role != .leader { _ = try await replica.linearizableRead(timeout: timeout) }
            case .stale: break
            }
            export = try await replica.exportDatabase()
        } catch {
            throw ClusterError(error)
        }
        let clusterID = self.clusterID
        let replicaID = replica.configuration.id.rawValue
        // Reading and hashing the copy takes as long as the copy: off the cooperative pool.
        let described: Result<SnapshotHeader, ClusterError> = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                BackgroundThread.lowerPriority()
                continuation.resume(returning: Result { () throws(ClusterError) -> SnapshotHeader in
                    do {
                        return try SnapshotOffline.header(ofDatabaseAt: export.path, clusterID: clusterID, replicaID: replicaID)
                    } catch {
                        throw .internalFailure("describing the snapshot copy: \(error)")
                    }
                })
            }
        }
        do {
            let header = try described.get()
            return SnapshotExport(header: header, headerBytes: try SnapshotArchive.encode(header), databasePath: export.path) { export.remove() }
        } catch {
            export.remove()
            throw error as? ClusterError ?? .internalFailure("encoding a snapshot header: \(error)")
        }
    }
}
