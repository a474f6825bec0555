import APIModels
public import ArgumentParser
import Foundation
import RampartHTTPClient

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `rampart snapshot save FILE`: a backup of the cluster's state from any replica, streamed to
/// `FILE.partial`, checked (framing and checksums) and only then renamed to `FILE`.
public struct SnapshotSaveCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "save", abstract: "Save a snapshot of the cluster's state (a backup) to a file.",
        discussion: """
            Any replica serves it, while writes go on: its database at one revision (every write \
            acknowledged before the save began, with the default consistency), the whole audit log \
            and the root keys, still sealed under the key-encryption key. The file begins with a \
            header naming the cluster, the revision and the checksums; `rampart snapshot inspect` \
            checks it offline, `rampart snapshot restore` seeds a new cluster from it. It needs \
            rampart.snapshots.save on the cluster (system.admin has it). Keep the file as you keep \
            the key-encryption key: with it, it opens every root key.
            """)

    @Argument(help: "The file to write (it must not exist, unless --force).") var file: String
    @Flag(help: "Replace the file if it exists.") var force = false
    @Option(help: "linearizable (the default: every acknowledged write), leader or stale (what the replica has).")
    var consistency = "linearizable"
    @Flag(help: "No progress bar (it is drawn only when standard error is a terminal).") var quiet = false
    @OptionGroup var options: ClientOptions

    public init() {}

    public func validate() throws {
        guard ["linearizable", "leader", "stale"].contains(consistency) else {
            throw ValidationError("--consistency is linearizable, leader or stale, not \"\(consistency)\"")
        }
    }

    public func run() async throws {
        if FileManager.default.fileExists(atPath: file) && !force {
            throw CommandFailure("\(file) exists; pass --force to replace it")
        }
        let token = try options.token()
        let transport = try options.tls.transport()
        let partial = file + ".partial"
        let started = ContinuousClock.now
        let bar = ProgressBar(enabled: !quiet && isatty(STDERR_FILENO) == 1)
        var lastError = "no endpoint"
        var saved: (endpoint: String, bytes: UInt64)?
        for endpoint in options.endpoints.split(separator: ",").map(String.init) {
            guard let url = URL(string: endpoint + Endpoint.snapshot.path([]) + "?consistency=" + consistency) else {
                throw CommandFailure("invalid endpoint \(endpoint)", kind: .usage)
            }
            _ = unlink(partial)
            let headers = token.isEmpty ? [] : [("Authorization", "Bearer \(token)")]
            do {
                let (status, body) = try await transport.download(url, headers: headers, to: partial, idleTimeout: options.timeout) { written, total in
                    bar.show(written, of: total)
                }
                bar.end()
                if status == 503 {
                    lastError = "\(endpoint): \(String(decoding: body, as: UTF8.self))"
                    continue
                }
                guard status == 200 else {
                    if let problem = try? JSONDecoder().decode(Problem.self, from: body) {
                        throw AdminClient.Failure(description: "\(problem.status) \(problem.code): \(problem.detail)", problem: problem)
                    }
                    throw AdminClient.Failure(description: "HTTP \(status): \(String(decoding: body, as: UTF8.self))")
                }
                let size = (try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? UInt64) ?? 0
                saved = (endpoint, size)
                break
            } catch let error as AdminClient.Failure {
                _ = unlink(partial)
                throw error
            } catch {
                bar.end()
                _ = unlink(partial)
                lastError = "\(endpoint): \(error)"
            }
        }
        guard let saved else { throw AdminClient.Failure(description: "no endpoint could save a snapshot (last: \(lastError))", kind: .unavailable) }
        let header: SnapshotHeader
        do {
            header = try SnapshotArchive.verify(fileAt: partial).header
        } catch {
            _ = unlink(partial)
            throw CommandFailure("the snapshot from \(saved.endpoint) does not check out, and was not kept: \(error)")
        }
        guard rename(partial, file) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = unlink(partial)
            throw CommandFailure("cannot rename \(partial) to \(file): \(reason)")
        }
        let elapsed = started.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        try printOutput(
            SnapshotSaved(
                file: file, endpoint: saved.endpoint, bytes: saved.bytes, seconds: (seconds * 1000).rounded() / 1000, clusterID: header.clusterID,
                replicaID: header.replicaID, revision: header.revision, stateHash: header.stateHash, auditSequence: header.auditSequence,
                sha256: header.sha256),
            format: options.output)
    }
}

/// What `rampart snapshot save` reports.
struct SnapshotSaved: Encodable {
    var file: String
    var endpoint: String
    var bytes: UInt64
    var seconds: Double
    var clusterID: String
    var replicaID: UInt64
    var revision: UInt64
    var stateHash: String
    var auditSequence: UInt64
    var sha256: String

    enum CodingKeys: String, CodingKey {
        case file, endpoint, bytes, seconds, revision, sha256
        case clusterID = "cluster_id"
        case replicaID = "replica_id"
        case stateHash = "state_hash"
        case auditSequence = "audit_sequence"
    }
}

/// A one-line progress bar on standard error, redrawn at most ten times a second.
final class ProgressBar: @unchecked Sendable {
    private let enabled: Bool
    private let lock = NSLock()
    private var lastDrawn = ContinuousClock.now - .seconds(1)
    private var drawn = false

    init(enabled: Bool) {
        self.enabled = enabled
    }

    func show(_ written: UInt64, of total: UInt64?) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = ContinuousClock.now
        guard lastDrawn.duration(to: now) >= .milliseconds(100) || written == total else { return }
        lastDrawn = now
        drawn = true
        let mebibytes = { (bytes: UInt64) in String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        var line = "\r"
        if let total, total > 0 {
            let fraction = min(1, Double(written) / Double(total))
            let width = 30
            let filled = Int(fraction * Double(width))
            line += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            line += String(format: "%3d%% ", Int(fraction * 100)) + mebibytes(written) + " of " + mebibytes(total)
        } else {
            line += mebibytes(written)
        }
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Ends the bar's line, if one was drawn.
    func end() {
        lock.lock()
        defer { lock.unlock() }
        guard drawn else { return }
        drawn = false
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
