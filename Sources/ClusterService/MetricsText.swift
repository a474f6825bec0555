import BuildInfo
import APIModels
import Foundation
import PeerTransport
import Replica

/// Renders a replica's metrics in the Prometheus text exposition format (version 0.0.4).
///
/// The runtime keeps its counters in one struct it publishes after every turn; rendering that
/// snapshot here avoids a global metrics registry and any lock on the hot path.
enum MetricsText {
    static func render(status: ReplicaStatus, metrics: ReplicaMetrics, network: PeerNetworkStatistics) -> String {
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ value: some CustomStringConvertible) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            lines.append("\(name) \(value)")
        }
        func histogram(_ name: String, _ help: String, _ histogram: LatencyHistogram) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) histogram")
            var cumulative = 0
            for (bound, count) in zip(LatencyHistogram.boundsSeconds, histogram.counts) {
                cumulative += count
                lines.append("\(name)_bucket{le=\"\(bound)\"} \(cumulative)")
            }
            cumulative += histogram.counts.last ?? 0
            lines.append("\(name)_bucket{le=\"+Inf\"} \(cumulative)")
            lines.append("\(name)_sum \(histogram.sumSeconds)")
            lines.append("\(name)_count \(cumulative)")
        }
        metric("rampart_raft_term", "gauge", "The replica's current Raft term.", status.term)
        lines.append("# HELP rampart_raft_role The replica's Raft role (1 for the current one).")
        lines.append("# TYPE rampart_raft_role gauge")
        for role in ["follower", "pre-candidate", "candidate", "leader", "learner"] {
            lines.append("rampart_raft_role{role=\"\(role)\"} \(status.role.rawValue == role ? 1 : 0)")
        }
        metric("rampart_raft_leader", "gauge", "The leader this replica knows of (0 for none).", status.leader?.rawValue ?? 0)
        metric("rampart_raft_commit_index", "gauge", "The highest log index known committed.", status.commitIndex)
        metric("rampart_raft_applied_index", "gauge", "The highest log index applied to the database.", status.appliedIndex)
        metric("rampart_raft_last_index", "gauge", "The last log index.", status.lastIndex)
        metric("rampart_raft_snapshot_index", "gauge", "The latest snapshot's index.", status.snapshotIndex)
        metric("rampart_raft_leader_changes_total", "counter", "Leader changes seen.", metrics.leaderChanges)
        metric("rampart_proposals_total", "counter", "Commands proposed by this replica as leader.", metrics.proposals)
        metric("rampart_requests_failed_total", "counter", "Requests refused, timed out or dropped.", metrics.failedRequests)
        metric("rampart_requests_forwarded_total", "counter", "Requests forwarded to the leader.", metrics.forwardedRequests)
        metric("rampart_waiting_callers", "gauge", "Writes, reads and waits taken in by the runtime and not yet answered.", metrics.waitingCallers)
        metric(
            "rampart_forwards_retried_total", "counter",
            "Forwarded writes sent again after their leader's term ended without applying them.", metrics.forwardsRetried)
        metric("rampart_applied_entries_total", "counter", "Committed entries applied.", metrics.appliedEntries)
        metric("rampart_persisted_batches_total", "counter", "Ready batches persisted.", metrics.persistedBatches)
        metric("rampart_snapshots_taken_total", "counter", "Snapshots taken (each followed by compaction).", metrics.snapshotsTaken)
        metric("rampart_snapshots_sent_total", "counter", "Snapshots streamed to followers.", metrics.snapshotsSent)
        metric("rampart_snapshots_installed_total", "counter", "Snapshots received and installed.", metrics.snapshotsInstalled)
        metric("rampart_runtime_dropped_events_total", "counter", "Peer packets dropped because the runtime was saturated.", metrics.droppedEvents)
        metric("rampart_peer_sent_total", "counter", "Packets written to peer connections.", network.sent)
        metric("rampart_peer_dropped_total", "counter", "Packets dropped by the peer transport (queue full, peer down).", network.dropped)
        metric("rampart_peer_received_total", "counter", "Packets received from authenticated peers.", network.received)
        metric("rampart_peer_handshake_failures_total", "counter", "Peer connections refused at authentication.", network.handshakeFailures)
        metric(
            "rampart_peer_inbound_refused_total", "counter", "Connections to the peer port closed at once: the most were open.",
            network.inboundRefused)
        metric(
            "rampart_peer_identity_refused_total", "counter",
            "Peer connections refused: the TLS certificate does not name the replica the peer proved to be.", network.identityRefused)
        metric("rampart_peer_unknown_total", "counter", "Authenticated peer connections refused: a replica id with no address.", network.unknownPeers)
        metric(
            "rampart_peer_unknown_admitted_total", "counter",
            "Authenticated peer connections from a replica id with no address, heard while this replica belonged to no membership (joining).",
            network.admittedUnknownPeers)
        metric(
            "rampart_raft_refused_messages_total", "counter", "Peer messages refused as impossible from a correct member (term out of bounds, non-member).",
            metrics.refusedPeerMessages)
        metric("rampart_peer_refused_requests_total", "counter", "Forwarded writes refused: the sender is not a member.", metrics.refusedPeerRequests)
        histogram("rampart_log_sync_seconds", "Latency of durable log writes (one per synced Ready).", metrics.logSync)
        histogram(
            "rampart_proposal_commit_seconds", "On the leader, each command from its proposal to its application.", metrics.proposalCommit)
        histogram("rampart_apply_batch_seconds", "Applying one batch of committed entries, in memory then to the database.", metrics.applyBatch)
        lines += processLines()
        return lines.joined(separator: "\n") + "\n"
    }

    /// The process's own gauges, in the names Prometheus client libraries use: resident and
    /// virtual memory, open and allowed descriptors, start time; and the build
    /// (`rampart_build_info`). Read from /proc at each scrape; absent where /proc is not.
    static func processLines() -> [String] {
        var lines = [
            "# HELP rampart_build_info The build of this replica (the value is always 1).", "# TYPE rampart_build_info gauge",
            "rampart_build_info{version=\"\(RampartVersion.current)\",revision=\"\(BuildInfo.revision)\",build_date=\"\(BuildInfo.date)\"} 1",
        ]
        func gauge(_ name: String, _ help: String, _ value: Double) {
            lines += ["# HELP \(name) \(help)", "# TYPE \(name) gauge", "\(name) \(value)"]
        }
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) {
            for line in status.split(separator: "\n") {
                let fields = line.split(whereSeparator: \.isWhitespace)
                guard fields.count >= 2, let kibibytes = Double(fields[1]) else { continue }
                if fields[0] == "VmRSS:" { gauge("process_resident_memory_bytes", "Resident memory size in bytes.", kibibytes * 1024) }
                if fields[0] == "VmSize:" { gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", kibibytes * 1024) }
            }
        }
        if let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            gauge("process_open_fds", "Open file descriptors.", Double(descriptors.count))
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            gauge("process_max_fds", "The most file descriptors the process may open.", Double(limit.rlim_cur))
        }
        gauge("process_start_time_seconds", "When the process started, in seconds since 1970.", startTime)
        return lines
    }

    /// When this process started (the first time the metrics were asked for, at the latest).
    static let startTime: Double = {
        // /proc/self/stat field 22 is the start time in clock ticks after boot.
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")"),
            let uptime = try? String(contentsOfFile: "/proc/uptime", encoding: .utf8),
            let secondsSinceBoot = Double(uptime.split(separator: " ").first ?? "")
        else { return Date().timeIntervalSince1970 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]) else { return Date().timeIntervalSince1970 }
        let boot = Date().timeIntervalSince1970 - secondsSinceBoot
        return (boot + ticks / Double(sysconf(Int32(_SC_CLK_TCK)))).rounded()
    }()
}
