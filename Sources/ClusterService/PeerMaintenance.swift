import Logging
import NIOCore
import NIOPosix
import PeerTransport
import PolicyModel
import RaftCore
import Replica

/// Keeps the peer network's address book in step with the replicated one, and, on the leader,
/// promotes learners added by address once they have caught up.
///
/// - The replicated book (`PolicyState.peerAddressBook`) is read a few times a second: an entry
///   new or changed since the last look is given to the network (its connection reopens at
///   the new address), one removed falls back on the configured address of a founding member
///   or is forgotten. A replica that joins learns every address from the log or the snapshot
///   it receives; nobody restarts.
/// - A learner whose entry asks for it (`PeerAddress.autoPromote`) is promoted by the leader
///   once it has stayed caught up (`PromotionTracker`) for `autoPromoteAfter`. The promotion
///   is an ordinary, unforced one: the Raft core checks the learner's progress again.
struct PeerMaintenance {
    let replica: Replica
    let network: PeerNetwork
    /// The founding members' addresses from the configuration (`peers`), this replica's own
    /// excluded.
    let configured: [ReplicaID: SocketAddress]
    /// How long a learner must stay caught up before it is promoted; nil never promotes.
    let autoPromoteAfter: Duration?
    let logger: Logger
    /// How often the book and the learners are looked at.
    static let interval: Duration = .milliseconds(100)
    /// How long a promotion may take to commit before the next look tries again.
    static let stepTimeout: Duration = .seconds(5)

    /// The longest wait before a name that did not resolve is tried again (the wait doubles
    /// from `interval` on each failure; the warning is logged once per address).
    static let maximumRetryDelay: Duration = .seconds(30)

    /// What the loop remembers between looks.
    private struct Progress {
        /// The book's addresses given to the network, by replica.
        var applied: [UInt64: String] = [:]
        /// Addresses that did not resolve: when to try again, and the wait after that.
        var retries: [UInt64: (address: String, at: ContinuousClock.Instant, delay: Duration)] = [:]
    }

    func run() async {
        var progress = Progress()
        var tracker = PromotionTracker()
        let localID = replica.status.id
        while !Task.isCancelled {
            // A replica that cannot be read (it stopped) changes nothing: the loop ends with it.
            if let book = try? replica.readState({ state, _ in state.peerAddressBook }) {
                await apply(book, to: &progress, localID: localID)
                if let autoPromoteAfter {
                    let status = replica.status
                    let due = tracker.update(
                        status: status, autoPromote: Set(book.values.filter(\.autoPromote).map(\.replica)), now: .now, after: autoPromoteAfter)
                    for learner in due { await promote(learner, tracker: &tracker) }
                }
            }
            try? await Task.sleep(for: Self.interval)
        }
    }

    /// Gives the network the entries of `book` that differ from what it was given; an entry
    /// removed from the book falls back on the configured address, or is forgotten.
    private func apply(_ book: [UInt64: PeerAddress], to progress: inout Progress, localID: ReplicaID) async {
        let now = ContinuousClock.now
        for (replica, entry) in book.sorted(by: { $0.key < $1.key }) where replica != localID.rawValue {
            if progress.applied[replica] == entry.address { continue }
            if let retry = progress.retries[replica], retry.address == entry.address, now < retry.at { continue }
            do {
                let address = try await Self.resolve(entry.address)
                let id = ReplicaID(rawValue: replica)
                // A founder's configured address written to the book as it was: the connection
                // already goes there, and stays.
                if progress.applied[replica] != nil || configured[id] != address || !network.knowsPeer(id) {
                    network.setPeer(id, address: address)
                }
                progress.applied[replica] = entry.address
                progress.retries[replica] = nil
                logger.info("peer address in force", metadata: ["replica": "\(replica)", "address": "\(entry.address)", "revision": "\(entry.revision)"])
            } catch {
                let previous = progress.retries[replica]
                let delay = previous?.address == entry.address ? min((previous?.delay ?? Self.interval) * 2, Self.maximumRetryDelay) : Self.interval
                progress.retries[replica] = (entry.address, now + delay, delay)
                if previous?.address != entry.address {
                    logger.warning(
                        "cannot resolve a peer address; trying again, less and less often",
                        metadata: [
                            "replica": "\(replica)", "address": "\(entry.address)", "error": "\(error)",
                            "in_use": "\(progress.applied[replica] ?? configured[ReplicaID(rawValue: replica)].map { "\($0)" } ?? "none")",
                        ])
                }
            }
        }
        for replica in Set(progress.applied.keys).union(progress.retries.keys) where book[replica] == nil {
            let id = ReplicaID(rawValue: replica)
            if let configured = configured[id] {
                network.setPeer(id, address: configured)
            } else {
                network.removePeer(id)
            }
            progress.applied[replica] = nil
            progress.retries[replica] = nil
            logger.info("peer address removed", metadata: ["replica": "\(replica)", "fallback": "\(configured[id].map { "\($0)" } ?? "none")"])
        }
    }

    private func promote(_ learner: ReplicaID, tracker: inout PromotionTracker) async {
        do {
            let result = try await replica.write(.membership(.promote(learner)), timeout: Self.stepTimeout)
            logger.notice("learner promoted to voter: it stayed caught up", metadata: ["replica": "\(learner)", "revision": "\(result.revision)"])
        } catch {
            logger.info("automatic promotion deferred", metadata: ["replica": "\(learner)", "error": "\(error)"])
        }
        tracker.forget(learner)
    }

    /// Resolves `host:port`: an IP address at once, a DNS name on NIO's blocking-work thread
    /// pool (never on an event loop or Swift's cooperative pool, which a slow resolver would
    /// stall).
    static func resolve(_ text: String) async throws -> SocketAddress {
        guard case .success(let parts) = PeerAddress.parse(text) else { throw PeerAddressError.invalid(text) }
        if let literal = try? SocketAddress(ipAddress: parts.host, port: parts.port) { return literal }
        return try await NIOThreadPool.singleton.runIfActive { try SocketAddress.makeAddressResolvingHost(parts.host, port: parts.port) }
    }
}

/// A peer address that is not `host:port`.
enum PeerAddressError: Error, CustomStringConvertible {
    case invalid(String)

    var description: String {
        switch self {
        case .invalid(let text): return "\"\(text)\" is not host:port"
        }
    }
}

/// Which learners have stayed caught up long enough to be promoted: the leader's rule, as a
/// value fed the replica's status and the time, so that it is tested without a cluster.
///
/// A learner counts as caught up when it has acknowledged entries, is within
/// `maxLagEntries` of the leader's last index, and has been heard from within `maxSilence`;
/// any look where it is not restarts its wait.
struct PromotionTracker {
    /// The most entries a learner may lag and still count as caught up (the Raft core's
    /// promotion rule allows 1,000; staying within it for the whole wait is the stricter test).
    var maxLagEntries: UInt64 = 1000
    /// How long since the leader last heard from the learner it may be and still count.
    var maxSilence: Duration = .seconds(2)
    private var caughtUpSince: [ReplicaID: ContinuousClock.Instant] = [:]

    /// Updates the waits from `status` at `now`.
    /// - Parameters:
    ///   - autoPromote: the learners whose book entry asks for automatic promotion.
    ///   - after: how long a learner must stay caught up.
    /// - Returns: the learners due for promotion, in id order; none unless `status` is a
    ///   leader's.
    mutating func update(status: ReplicaStatus, autoPromote: Set<UInt64>, now: ContinuousClock.Instant, after: Duration) -> [ReplicaID] {
        guard status.role == .leader else {
            caughtUpSince = [:]
            return []
        }
        var due: [ReplicaID] = []
        var still: [ReplicaID: ContinuousClock.Instant] = [:]
        for learner in status.membership.learners where autoPromote.contains(learner.rawValue) {
            let match = status.matchIndexes[learner] ?? 0
            let heard = status.lastContact[learner].map { $0.duration(to: now) <= maxSilence } ?? false
            guard match > 0, match + maxLagEntries >= status.lastIndex, heard else { continue }
            let since = caughtUpSince[learner] ?? now
            still[learner] = since
            if since.duration(to: now) >= after { due.append(learner) }
        }
        caughtUpSince = still
        return due
    }

    /// Restarts `learner`'s wait (after a promotion was proposed, or refused).
    mutating func forget(_ learner: ReplicaID) {
        caughtUpSince[learner] = nil
    }
}
