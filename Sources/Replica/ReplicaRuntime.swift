import Foundation
import Logging
import PeerTransport
import PolicyStore
import RaftCore
import RaftStorage

/// The state the runtime owns: the Raft instance, the durable log, the policy database, and
/// every caller waiting for an answer. Only the runtime's turns touch it, one at a time on its
/// event loop (see `Mailbox` and `RuntimeHandOff`), so nothing here is locked.
final class ReplicaRuntime {
    let configuration: ReplicaConfiguration
    let transport: any ReplicaTransport
    let logger: Logger
    let files: SnapshotFiles
    /// The data directory's lock, released when the runtime finishes.
    let directoryLock: DirectoryLock
    var instance: RaftInstance
    let storage: RaftLogStorage
    var store: PolicyStore
    /// The store's state as other threads read it (`Replica.readState`).
    let shared = SharedPolicyState()
    /// Publishes status and metrics to other threads; set by `Replica`.
    var publish: (ReplicaStatus, ReplicaMetrics) -> Void = { _, _ in }
    var metrics = ReplicaMetrics()
    /// Set when the runtime failed; it stops at the end of the turn.
    var failure: String?
    /// Set when a stop was asked for; see `stopIfDue()`.
    var stopping: Stopping?
    var removed = false
    /// Whether this replica has been a member of the cluster. A joining replica is in no
    /// membership until its addition reaches it, and the entries before that addition (whose
    /// committed memberships do not name it) must not make it think it was removed.
    var hasBeenMember = false

    // MARK: Waiting callers

    /// Every caller waiting for an answer, and how each is answered (`Waiters`).
    var waiters: Waiters
    /// The highest term of an entry this replica applied in this run: a new term here means a
    /// new leader committed an entry of its own, which decides every write of earlier terms.
    var appliedTerm: UInt64 = 0
    var nextRequestID: UInt64 = 1
    var lastLeader: ReplicaID?
    /// The audit head in hex, cached by sequence: `publishNow` runs every turn, the head changes
    /// only when commands are applied.
    private var auditHeadText: (sequence: UInt64, hex: String) = (.max, "")
    /// When the current turn began (read once a turn).
    private var turnStarted = ContinuousClock.now
    /// When a packet from each peer was last handled (`ReplicaStatus.lastContact`).
    private var lastContact: [ReplicaID: ContinuousClock.Instant] = [:]

    // MARK: Snapshots

    /// Snapshot transfers under way, by follower.
    var snapshotTransfers: [ReplicaID: Task<Void, Never>] = [:]
    var nextTransferID: UInt64 = 1
    /// The runtime's own mailbox, for completions of work done outside its turns.
    var mailbox: Mailbox<ReplicaEvent>?
    /// The snapshot being received, if any.
    var incoming: IncomingSnapshot?
    /// The snapshot copy running on its own thread, if any (one at a time).
    var snapshotCopy: SnapshotCopyControl?
    /// The reads of the database running on their own threads, through their own connections
    /// (`BackgroundRead`): each one's control and kind, by control.
    var backgroundReads: [ObjectIdentifier: (control: SnapshotCopyControl, kind: BackgroundRead)] = [:]
    /// The number of the next backup copy's file.
    var nextExport: UInt64 = 1

    struct Stopping {
        var completion: Completion<Void>
        var deadline: ContinuousClock.Instant
        /// Whether the stop waits for a leadership transfer (until `deadline`).
        var handingOver = false
    }

    /// Opens and recovers the data directory: the log, then the database, restoring the
    /// database from the snapshot file when the log's snapshot is ahead of it (a crash between
    /// installing a received snapshot in the log and in the database).
    init(configuration: ReplicaConfiguration, transport: any ReplicaTransport, logger: Logger) throws(ReplicaError) {
        self.configuration = configuration
        self.transport = transport
        self.logger = logger
        waiters = Waiters(limits: configuration.limits)
        let files = SnapshotFiles(dataDirectory: configuration.dataDirectory)
        self.files = files
        directoryLock = try files.prepare()
        do {
            storage = try RaftLogStorage(directory: files.logDirectory)
        } catch {
            throw .storage("\(error)")
        }
        let storage = self.storage
        let recovered = storage.recovered
        var persisted = recovered.persistedState(applied: 0)
        if recovered.isEmpty && !configuration.initialVoters.isEmpty {
            persisted = PersistedState.bootstrap(voters: configuration.initialVoters)
            do {
                try storage.persist(hardState: persisted.hardState, snapshot: nil, entries: persisted.entries, sync: true)
            } catch {
                throw .storage("writing the founding membership: \(error)")
            }
            logger.info("founded a new cluster", metadata: ["voters": "\(configuration.initialVoters)"])
        }
        if recovered.discardedTornBytes > 0 {
            logger.warning("discarded an incomplete last log write", metadata: ["bytes": "\(recovered.discardedTornBytes)"])
        }
        let store = try Self.openStore(files: files, snapshot: persisted.snapshot, limits: configuration)
        self.store = store
        shared.publish(store)
        let last = persisted.snapshot.index + UInt64(persisted.entries.count)
        if store.appliedIndex > last {
            // The log lost a synced tail that the database had already applied (disk damage:
            // a damaged last record is cut off at start-up). Those entries were committed, so
            // the leader sends the same ones again; `apply` skips what the database holds.
            logger.warning(
                "the log lost entries the database applied; they will be replicated again",
                metadata: ["applied": "\(store.appliedIndex)", "last": "\(last)"])
        }
        persisted.applied = min(store.appliedIndex, last)
        do {
            instance = try RaftInstance(options: configuration.raft, persisted: persisted, seed: configuration.seed)
        } catch {
            throw .invalidConfiguration("\(error)")
        }
        nextTransferID = configuration.seed | 1
        files.removeSnapshots(except: [persisted.snapshot.index])
        logger.info(
            "recovered",
            metadata: [
                "term": "\(persisted.hardState.term)", "snapshot": "\(persisted.snapshot.index)", "last": "\(last)",
                "applied": "\(store.appliedIndex)",
            ])
    }

    private static func openStore(files: SnapshotFiles, snapshot: SnapshotMetadata, limits configuration: ReplicaConfiguration)
        throws(ReplicaError) -> PolicyStore
    {
        do {
            var store = try PolicyStore(path: files.databasePath, limits: configuration.policyLimits, durability: .replayable)
            if store.appliedIndex < snapshot.index {
                let path = files.snapshotPath(index: snapshot.index)
                guard FileManager.default.fileExists(atPath: path) else {
                    throw ReplicaError.storage("the log starts after snapshot \(snapshot.index) but \(path) is missing")
                }
                store.close()
                try PolicyStore.restoreSnapshot(from: path, to: files.databasePath)
                store = try PolicyStore(path: files.databasePath, limits: configuration.policyLimits, durability: .replayable)
                guard store.appliedIndex == snapshot.index else {
                    throw ReplicaError.storage("snapshot \(path) holds index \(store.appliedIndex), not \(snapshot.index)")
                }
            }
            return store
        } catch let error as ReplicaError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    // MARK: - The loop

    /// Readies the runtime to take turns from `mailbox`.
    func begin(mailbox: Mailbox<ReplicaEvent>) {
        self.mailbox = mailbox
        logger.info("runtime started")
    }

    /// One turn: handle every event taken, carry out the resulting `Ready`s, then publish the
    /// status and answer the callers the turn settled.
    /// - Returns: false once the runtime must end (stopped, removed or failed); then call
    ///   `finish(cancelling:)` and take no more turns.
    func turn(_ events: [ReplicaEvent]) -> Bool {
        guard failure == nil, !removed else { return false }
        turnStarted = ContinuousClock.now
        var ticked = false
        for event in events {
            handle(event)
            if case .tick = event { ticked = true }
        }
        processReadies()
        if ticked { expireDeadlines(now: ContinuousClock.now) }
        removeIfDue()
        answerNow()
        #if DEBUG
            waiters.checkInvariant()
        #endif
        if stopIfDue() { return false }
        return failure == nil && !removed
    }

    /// Publishes the status, then delivers the answers queued until then (`Waiters.deliver`).
    func answerNow() {
        publishNow()
        let transport = self.transport
        waiters.deliver { packet, peer in transport.send(packet, to: peer) }
    }

    /// Ends the runtime: answers the events that will never be handled, answers every waiting
    /// caller, and closes the log and the database.
    func finish(cancelling remaining: [ReplicaEvent]) {
        for event in remaining { event.cancel() }
        shutDown()
    }

    private func handle(_ event: ReplicaEvent) {
        switch event {
        case .tick:
            instance.tick()
            retryWaiting()
        case .delivery(let delivery):
            lastContact[delivery.from] = turnStarted
            receive(delivery)
        case .write(let request, let deadline, let completion):
            waiters.admit()
            guard stopping == nil else { return waiters.answerWrite(completion, .failure(.stopped)) }
            submit(request, origin: .local(completion), deadline: deadline)
        case .read(let context, let deadline, let completion):
            waiters.admit()
            guard stopping == nil else { return waiters.answer(completion, .failure(.stopped)) }
            requestRead(PendingRead(context: context, completion: completion, deadline: deadline))
        case .waitApplied(let index, let deadline, let completion):
            waiters.admit()
            waitForApplied(index, completion: completion, deadline: deadline)
        case .query(let run, _):
            run(store)
        case .snapshotSent(let peer, let succeeded):
            snapshotTransfers[peer] = nil
            if succeeded { metrics.snapshotsSent += 1 }
            instance.reportSnapshot(to: peer, succeeded: succeeded)
        case .snapshotWritten(let control, let outcome):
            do {
                try snapshotWritten(control, outcome)
            } catch {
                fail("\(error)")
            }
        case .forwardDropped(let requestID):
            forwardDropped(requestID: requestID)
        case .backgroundRead(let kind, let body):
            startBackgroundRead(kind, body)
        case .backgroundReadEnded(let control):
            backgroundReads[ObjectIdentifier(control)] = nil
        case .stop(let transfer, let completion):
            beginStop(transferLeadership: transfer, completion: completion)
        }
    }

    private func receive(_ delivery: PeerDelivery) {
        switch delivery.packet {
        case .raft(let message):
            instance.step(message)
            metrics.refusedPeerMessages = instance.refusedMessages
        case .request(let id, let body):
            handleForwardedRequest(from: delivery.from, id: id, body: body)
        case .response(let id, let body):
            handleForwardedResponse(id: id, body: body)
        case .snapshotChunk(let chunk):
            receiveSnapshotChunk(chunk, from: delivery.from)
        }
    }

    /// Carries out `Ready`s until the instance has none; a storage failure stops the replica.
    private func processReadies() {
        while failure == nil, instance.hasReady {
            do {
                try processReady()
            } catch {
                fail("\(error)")
                return
            }
        }
        guard failure == nil else { return }
        startSnapshotIfDue()
    }

    /// Records a failure: the disk or a bug. The replica stops at the end of the turn rather
    /// than risk diverging (DESIGN: a thrown error from apply stops the replica).
    func fail(_ reason: String) {
        guard failure == nil else { return }
        failure = reason
        logger.critical("replica failed; stopping", metadata: ["reason": "\(reason)"])
    }

    // MARK: - Stopping

    private func beginStop(transferLeadership: Bool, completion: Completion<Void>) {
        guard stopping == nil else { return completion(.success(())) }
        let wait = Duration.milliseconds(configuration.limits.shutdownTransferMilliseconds)
        stopping = Stopping(completion: completion, deadline: ContinuousClock.now.advanced(by: wait))
        guard transferLeadership, instance.role == .leader else { return }
        stopping?.handingOver = true
        // Hand over to the voter with the longest log, so the transfer needs the fewest entries.
        let candidates = instance.membership.voters.filter { $0 != configuration.id }
        guard let target = candidates.max(by: { (instance.matchIndex(of: $0) ?? 0) < (instance.matchIndex(of: $1) ?? 0) }) else {
            return
        }
        logger.info("stopping: transferring leadership", metadata: ["to": "\(target)"])
        do {
            try instance.transferLeadership(to: target)
        } catch {
            logger.warning("leadership transfer refused", metadata: ["reason": "\(error)"])
            stopping?.handingOver = false
        }
        processReadies()
    }

    /// Ends the loop once a stop was asked for and this replica no longer leads (or the
    /// transfer's time is up).
    private func stopIfDue() -> Bool {
        guard let stopping else { return false }
        if stopping.handingOver, instance.role == .leader, ContinuousClock.now < stopping.deadline {
            return false
        }
        return true
    }

    /// A replica whose removal is committed stops once it no longer leads.
    private func removeIfDue() {
        if instance.membership.contains(configuration.id) { hasBeenMember = true }
        guard hasBeenMember, instance.isRemoved, !instance.membership.contains(configuration.id), instance.role != .leader else {
            return
        }
        logger.notice("this replica was removed from the cluster; stopping")
        removed = true
    }

    private func shutDown() {
        let reason: ReplicaError = failure.map { .failed($0) } ?? .stopped
        waiters.finishAll(reason: reason)
        for (_, transfer) in snapshotTransfers { transfer.cancel() }
        incoming?.abandon()
        storage.close()
        abandonSnapshotCopy()
        shared.publish(nil)
        store.close()
        directoryLock.release()
        // Last, every answer queued above and before: a local caller's answer waits for the
        // status to be published (see `answer`), and nothing publishes after this.
        answerNow()
        stopping?.completion(.success(()))
        logger.info("runtime stopped", metadata: ["reason": "\(failure ?? (removed ? "removed" : "stop requested"))"])
    }

    // MARK: - Status

    func publishNow() {
        var status = ReplicaStatus(id: configuration.id)
        let soft = instance.softState
        status.role = soft.role
        status.term = soft.term
        status.leader = soft.leader
        status.commitIndex = instance.commitIndex
        status.appliedIndex = store.appliedIndex
        status.lastIndex = instance.lastIndex
        status.snapshotIndex = instance.snapshotMetadata.index
        status.membership = instance.membership
        status.auditSequence = store.auditHead.sequence
        if auditHeadText.sequence != store.auditHead.sequence {
            auditHeadText = (store.auditHead.sequence, store.auditHead.hash.map { String($0, radix: 16).leftPadded(to: 2) }.joined())
        }
        status.auditHead = auditHeadText.hex
        if soft.role == .leader {
            for member in instance.membership.allMembers { status.matchIndexes[member] = instance.matchIndex(of: member) ?? 0 }
        }
        status.lastContact = lastContact
        status.removed = removed
        status.failure = failure
        metrics.failedRequests = waiters.failedWrites
        metrics.waitingCallers = waiters.admitted - waiters.answered
        publish(status, metrics)
    }
}

extension String {
    /// The string with leading zeros up to `width` characters.
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
