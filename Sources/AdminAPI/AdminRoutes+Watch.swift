import APIModels
import Foundation
import Hummingbird
import NIOCore
import PolicyModel
import Synchronization

/// The change stream (`GET /v1/watch?from_revision=N`): every committed change, in order, each
/// with its revision, as JSON lines (`WatchEvent`) on one long response.
///
/// JSON lines rather than server-sent events: one object per line reads with any HTTP client and
/// `curl`, with no framing to parse, and a client resumes by revision (`from_revision` = the last
/// one it saw + 1) rather than by SSE's `Last-Event-ID`. The stream is the audit log's successful
/// records: each command that changed the state, with what it changed; a client that needs the
/// new value reads it at that revision (`min_revision`). The audit log is never compacted, so a
/// stream resumes from any revision: `410 Gone` is never the answer. Failed commands changed
/// nothing and are not sent (the audit log has them).
extension AdminRoutes {
    /// The query parameters the route takes.
    static let watchParameters: Set<String> = ["from_revision", "organization"]
    /// The records read from the log at a time.
    static let watchPageSize = 1000
    /// How long a stream asked to start ahead of this replica waits for it to catch up.
    static let watchCatchUp = Duration.seconds(2)

    func watchRoute(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        for (name, _) in query where !Self.watchParameters.contains(String(name)) {
            throw APIError.badRequest("unknown query parameter \(name); this route takes from_revision and organization")
        }
        let organization = try query["organization"].map { try parseName(String($0)) }
        let caller = try await check(request, permission: Self.auditRead, on: organization.map { .organization($0) } ?? .cluster)
        let status = cluster.status()
        var fromRevision = status.appliedIndex + 1
        if let text = query["from_revision"] {
            guard let value = UInt64(String(text)), value >= 1 else { throw APIError.badRequest("from_revision must be a revision number from 1") }
            // Ahead of this replica: a client resuming from another, more advanced replica gets
            // a short wait for this one to catch up; a revision the cluster has not reached is
            // the client's mistake, not a long poll.
            if value > status.commitIndex + 1 { try await waitToStart(at: value) }
            fromRevision = value
        }
        var filter = AuditQuery(organization: organization?.value)
        filter.fromRevision = fromRevision
        if organization != nil {
            filter.currentOrganizationOnly = try await wrap { () throws(ClusterError) in
                try cluster.readNow { $0.access(caller, Self.auditRead, on: .cluster) != .allowed }
            }.value
        }
        // Counted while the body runs (a body that never runs holds no slot): streams starting
        // at the same moment may pass the limit by a few.
        guard watches.active < limits.maxWatches else { throw APIError.cluster(.overloaded) }
        var headers: HTTPFields = [.contentType: "application/x-ndjson"]
        headers[.cacheControl] = "no-store"
        headers[.init("X-Rampart-Revision")!] = String(status.appliedIndex)
        return Response(status: .ok, headers: headers, body: watchBody(filter))
    }

    /// The body of a change stream from `filter`.
    private func watchBody(_ filter: AuditQuery) -> ResponseBody {
        let cluster = self.cluster
        let slots = watches
        let interval = limits.watchProgressInterval
        let timeout = limits.requestTimeout
        return ResponseBody { writer in
            slots.enter()
            defer { slots.leave() }
            try await Self.stream(cluster, filter: filter, progressEvery: interval, timeout: timeout, to: &writer)
        }
    }

    /// Waits briefly for this replica to reach `revision - 1`; refuses the watch if it does not.
    private func waitToStart(at revision: UInt64) async throws {
        do {
            try await cluster.waitForRevision(revision - 1, timeout: Self.watchCatchUp)
        } catch {
            throw APIError.badRequest("from_revision \(revision) is ahead of the cluster's revision \(cluster.status().commitIndex)")
        }
    }

    /// Writes the changes from the filter's revision on, then every new one as it is applied,
    /// with a progress line after each quiet `progressEvery`; returns once the client is gone
    /// (a write fails) or the replica stops.
    static func stream(
        _ cluster: any PolicyCluster, filter: AuditQuery, progressEvery interval: Duration, timeout: Duration,
        to writer: inout any ResponseBodyWriter
    ) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var filter = filter
        var cursor: String?
        while !Task.isCancelled {
            let page: (records: [AuditRecord], nextCursor: String?, revision: UInt64)
            do {
                page = try await cluster.auditRecords(after: cursor, limit: watchPageSize, filter: filter, consistency: .stale, timeout: timeout)
            } catch {
                return  // the replica is stopping: the client resumes elsewhere from its last revision
            }
            var buffer = ByteBuffer()
            for record in page.records where record.outcome == AuditRecord.succeeded {
                let time = formatter.string(from: Date(timeIntervalSince1970: Double(record.time.millisecondsSinceEpoch) / 1000))
                buffer.writeBytes(try encoder.encode(WatchEvent(record, time: time)))
                buffer.writeInteger(UInt8(ascii: "\n"))
            }
            if let last = page.records.last {
                cursor = String(last.sequence)
                // Sequences go on from here; the revision bound served its purpose.
                filter.fromRevision = nil
            }
            if buffer.readableBytes > 0 { try await writer.write(buffer) }
            if page.nextCursor != nil { continue }
            // Caught up with everything applied at `page.revision`: wait for the next entry.
            do {
                try await cluster.waitForRevision(page.revision + 1, timeout: interval)
            } catch .timedOut {
                var progress = ByteBuffer(bytes: try encoder.encode(WatchEvent(progress: page.revision)))
                progress.writeInteger(UInt8(ascii: "\n"))
                try await writer.write(progress)
            } catch {
                return
            }
        }
    }
}

/// Counts the change streams served, against `AdminRoutes.Limits.maxWatches`.
final class WatchSlots: Sendable {
    private let count = Mutex(0)

    /// A stream starts.
    func enter() {
        count.withLock { $0 += 1 }
    }

    /// A stream ended.
    func leave() {
        count.withLock { $0 -= 1 }
    }

    /// The streams being served.
    var active: Int { count.withLock { $0 } }
}
