import APIModels
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// Saving a snapshot (`GET /v1/snapshot`): the replica copies its database at one revision,
/// aside and through a connection of its own so that writes go on, then streams it behind a
/// header that names it (`SnapshotArchive`). `rampart snapshot save` is the client.
extension AdminRoutes {
    /// The query parameters the route takes.
    static let snapshotParameters: Set<String> = ["consistency"]
    /// The media type of a snapshot file.
    static let snapshotMediaType = "application/vnd.rampart.snapshot"
    /// How much of the copy is read and sent at a time.
    static let snapshotSendBytes = 1 << 20

    func snapshotRoute(_ request: Request) async throws -> Response {
        for (name, _) in request.uri.queryParameters where !Self.snapshotParameters.contains(String(name)) {
            throw APIError.badRequest("unknown query parameter \(name); this route takes consistency")
        }
        let consistency = try consistencyParameter(request)
        let timeout = deadline(request)
        let export = try await wrap { () async throws(ClusterError) in
            try await cluster.exportSnapshot(consistency: consistency, timeout: timeout)
        }
        let header = export.header
        let headerBytes = export.headerBytes
        let path = export.databasePath
        // Removed once sent, and in any case once the answer is dropped (a body never written,
        // for a client gone before it began, still lets go of the copy).
        let copy = CopyRemoval(export.remove)
        let body = ResponseBody(contentLength: headerBytes.count + Int(header.databaseBytes)) { writer in
            defer { copy.remove() }
            guard let handle = FileHandle(forReadingAtPath: path) else { throw APIError.cluster(.internalFailure("the snapshot copy disappeared")) }
            defer { try? handle.close() }
            try await writer.write(ByteBuffer(bytes: headerBytes))
            var sent: UInt64 = 0
            while sent < header.databaseBytes {
                let data = try handle.read(upToCount: Self.snapshotSendBytes) ?? Data()
                // The copy is never written once made: a short read means it was damaged, and
                // the client sees a short answer (its length was announced) and refuses it.
                guard !data.isEmpty else { throw APIError.cluster(.internalFailure("the snapshot copy ends at \(sent) bytes")) }
                try await writer.write(ByteBuffer(bytes: data))
                sent += UInt64(data.count)
            }
            try await writer.finish(nil)
        }
        var headers: HTTPFields = [.contentType: Self.snapshotMediaType]
        headers[.contentDisposition] = "attachment; filename=\"rampart-\(header.clusterID)-\(header.revision).snapshot\""
        headers[.init("X-Rampart-Revision")!] = String(header.revision)
        return Response(status: .ok, headers: headers, body: body)
    }
}

/// Removes a snapshot copy once: when asked, or when dropped.
final class CopyRemoval: Sendable {
    private let action: @Sendable () -> Void
    private let done = Mutex(false)

    init(_ action: @escaping @Sendable () -> Void) {
        self.action = action
    }

    func remove() {
        let first = done.withLock { done in
            defer { done = true }
            return !done
        }
        if first { action() }
    }

    deinit { remove() }
}
