import Foundation
import Logging
import PeerTransport
import PolicyStore
import RaftCore

extension ReplicaRuntime {
    /// Starts a snapshot once `snapshotIntervalEntries` entries were applied since the last
    /// one. The database is copied on a thread of its own, through its own connection, so the
    /// runtime goes on writing meanwhile (the copy of a large state takes long enough to stall
    /// every write otherwise); `snapshotWritten` compacts the log when the copy is in place.
    func startSnapshotIfDue() {
        guard snapshotCopy == nil, let mailbox else { return }
        let applied = store.appliedIndex
        guard applied >= instance.snapshotMetadata.index + UInt64(configuration.snapshotIntervalEntries) else { return }
        let control = SnapshotCopyControl()
        snapshotCopy = control
        let files = files
        Thread.detachNewThread {
            BackgroundThread.lowerPriority()
            let outcome: SnapshotCopyOutcome
            do throws(PolicyStoreError) {
                outcome = .written(
                    try PolicyStore.writeSnapshot(
                        of: files.databasePath, aside: files.takingPath, control: control, destination: files.snapshotPath(index:)))
            } catch .cancelled {
                outcome = .abandoned
            } catch {
                outcome = .failed(.storage("taking a snapshot: \(error)"))
            }
            _ = mailbox.postAlways(.snapshotWritten(control, outcome))
        }
    }

    /// Stops the snapshot copy and the background reads in progress, if any, and waits until
    /// they have let go of the database's files: before they are replaced (installing a received
    /// snapshot) or closed.
    func abandonSnapshotCopy() {
        snapshotCopy?.cancelAndWait()
        snapshotCopy = nil
        for read in backgroundReads.values { read.control.cancelAndWait() }
        backgroundReads = [:]
    }

    /// Starts a background read of the database (`BackgroundRead`) on a thread of its own: the
    /// body runs there with the read's ticket, then the runtime forgets the read. Refused with
    /// `.overloaded` beyond the kind's limit, `.stopped` once stopping.
    func startBackgroundRead(_ kind: BackgroundRead, _ body: @escaping @Sendable (Result<BackgroundReadTicket, ReplicaError>) -> Void) {
        guard stopping == nil, failure == nil, let mailbox else { return body(.failure(.stopped)) }
        guard backgroundReads.values.filter({ $0.kind == kind }).count < kind.limit else { return body(.failure(.overloaded)) }
        let control = SnapshotCopyControl()
        backgroundReads[ObjectIdentifier(control)] = (control, kind)
        let ticket = BackgroundReadTicket(databasePath: files.databasePath, exportPath: files.exportPath(number: nextExport), control: control)
        nextExport += 1
        Thread.detachNewThread {
            BackgroundThread.lowerPriority()
            body(.success(ticket))
            // Whatever the body did, the read has ended: a cancelAndWait() must not wait for it.
            control.finish()
            _ = mailbox.postAlways(.backgroundReadEnded(control))
        }
    }

    /// A snapshot copy ended. A copy in place (written aside, synced, renamed) lets the log
    /// forget the entries it covers; one overtaken by an installed snapshot is dropped.
    func snapshotWritten(_ control: SnapshotCopyControl, _ outcome: SnapshotCopyOutcome) throws(ReplicaError) {
        let isCurrent = snapshotCopy === control
        if isCurrent { snapshotCopy = nil }
        let index: UInt64
        switch outcome {
        case .abandoned: return
        case .failed(let error):
            // A copy abandoned for an install may fail rather than stop cleanly; only the
            // current copy's failure is the disk's.
            if isCurrent { throw error }
            return
        case .written(let written): index = written
        }
        let current = instance.snapshotMetadata.index
        guard isCurrent, index > current, index <= instance.appliedIndex, !instance.hasPendingSnapshot else {
            if index != current { files.removeSnapshot(index: index) }
            return
        }
        try files.syncSnapshotDirectory()
        let metadata = instance.compact(through: index)
        do {
            try storage.compact(through: metadata)
        } catch {
            throw .storage("\(error)")
        }
        files.removeSnapshots(except: [index])
        metrics.snapshotsTaken += 1
        logger.info("snapshot taken and log compacted", metadata: ["index": "\(index)", "segments": "\(storage.segmentCount)"])
    }

    // MARK: - Sending

    /// Streams the snapshot a follower needs, in checksummed chunks, paced by the connection;
    /// the outcome is reported to the instance through the mailbox (`.snapshotSent`).
    func startSnapshotTransfer(_ message: Message, metadata: SnapshotMetadata) {
        let peer = message.to
        guard snapshotTransfers[peer] == nil, let mailbox else { return }
        let reader: SnapshotReader
        do {
            reader = try SnapshotReader(path: files.snapshotPath(index: metadata.index))
        } catch {
            logger.error("cannot open the snapshot to send", metadata: ["index": "\(metadata.index)", "error": "\(error)"])
            _ = mailbox.postAlways(.snapshotSent(to: peer, succeeded: false))
            return
        }
        let transferID = nextTransferID
        nextTransferID &+= 2
        logger.info("sending snapshot", metadata: ["to": "\(peer)", "index": "\(metadata.index)"])
        let sender = SnapshotSender(
            reader: reader, message: message, transferID: transferID, transport: transport, logger: logger, mailbox: mailbox)
        snapshotTransfers[peer] = Task.detached { await sender.run() }
    }

    // MARK: - Receiving

    /// Collects a snapshot's chunks in order; once complete and verified, the file is put in
    /// place and the `installSnapshot` message stepped, so the instance installs it through
    /// the next `Ready`.
    func receiveSnapshotChunk(_ chunk: SnapshotChunk, from peer: ReplicaID) {
        guard case .installSnapshot(let metadata) = chunk.message.kind else { return }
        do {
            if chunk.offset == 0 {
                incoming?.abandon()
                incoming = try IncomingSnapshot(path: files.incomingPath, transferID: chunk.transferID, sender: peer.rawValue)
            }
            guard let current = incoming, current.transferID == chunk.transferID, current.sender == peer.rawValue else { return }
            guard current.offset == chunk.offset else {
                logger.warning("snapshot chunk out of order; transfer abandoned", metadata: ["from": "\(peer)"])
                current.abandon()
                incoming = nil
                return
            }
            try current.append(chunk.data)
            guard chunk.isLast else { return }
            incoming = nil
            let destination = files.snapshotPath(index: metadata.index)
            guard try current.finish(checksum: chunk.checksum, destination: destination, files: files) else {
                logger.warning("snapshot checksum mismatch; transfer abandoned", metadata: ["from": "\(peer)"])
                return
            }
            logger.info("snapshot received", metadata: ["from": "\(peer)", "index": "\(metadata.index)", "bytes": "\(chunk.totalBytes)"])
            instance.step(chunk.message)
        } catch {
            incoming?.abandon()
            incoming = nil
            fail("receiving a snapshot: \(error)")
        }
    }

    /// Replaces the database with the installed snapshot's file (the log already records the
    /// snapshot, so a crash here is finished at start-up from the same file).
    func installSnapshotInDatabase(_ metadata: SnapshotMetadata) throws(ReplicaError) {
        let path = files.snapshotPath(index: metadata.index)
        // A copy reading the database's files must let go of them before they are replaced.
        abandonSnapshotCopy()
        store.close()
        do {
            try PolicyStore.restoreSnapshot(from: path, to: files.databasePath)
            store = try PolicyStore(path: files.databasePath, limits: configuration.policyLimits, durability: .replayable)
        } catch {
            throw .storage("installing snapshot \(metadata.index): \(error)")
        }
        // Until now readers saw the old store's state in memory (closing it closed SQLite only).
        shared.publish(store)
        guard store.appliedIndex == metadata.index else {
            throw .storage("snapshot \(metadata.index) holds applied index \(store.appliedIndex)")
        }
        // Writes proposed here at or below the snapshot can no longer be matched to an entry.
        for (index, proposal) in waiters.proposals where index <= metadata.index {
            waiters.proposals[index] = nil
            waiters.answer(proposal.origin, .failure(.timedOut))
        }
        resolveAfterApply(through: LogPosition(index: metadata.index, term: metadata.term), entries: [], outcomes: [])
        files.removeSnapshots(except: [metadata.index])
        metrics.snapshotsInstalled += 1
        logger.info("snapshot installed", metadata: ["index": "\(metadata.index)", "term": "\(metadata.term)"])
        waiters.release(applied: store.appliedIndex)
    }
}

/// One snapshot transfer, run outside the runtime's turns: chunks are read from the open file and
/// each is handed to the connection before the next is read, so memory stays at one chunk.
struct SnapshotSender: Sendable {
    let reader: SnapshotReader
    let message: Message
    let transferID: UInt64
    let transport: any ReplicaTransport
    let logger: Logger
    let mailbox: Mailbox<ReplicaEvent>

    func run() async {
        var succeeded = false
        do {
            try await stream()
            succeeded = true
        } catch {
            logger.warning("snapshot transfer failed", metadata: ["to": "\(message.to)", "error": "\(error)"])
        }
        reader.close()
        _ = mailbox.postAlways(.snapshotSent(to: message.to, succeeded: succeeded))
    }

    private func stream() async throws {
        let size = reader.size
        let checksum = try reader.checksum(size: size)
        var offset: UInt64 = 0
        repeat {
            try Task.checkCancellation()
            let count = Int(min(UInt64(SnapshotChunk.maxDataBytes), size - offset))
            let chunk = SnapshotChunk(
                transferID: transferID, message: message, totalBytes: size, checksum: checksum, offset: offset,
                data: try reader.read(at: offset, count: count))
            try await transport.sendAndWait(.snapshotChunk(chunk), to: message.to)
            offset += UInt64(count)
        } while offset < size
    }
}

/// A read of the database that runs on a thread of its own, through a connection of its own,
/// while the runtime goes on: a backup copy, or a state hash. The runtime interrupts it, and
/// waits for it to let go of the files, before it replaces or closes them.
enum BackgroundRead: Sendable, Hashable {
    /// A whole copy of the database, for a backup (`Replica.exportDatabase`).
    case export
    /// The state hash (`Replica.stateHash`).
    case stateHash

    /// The most reads of the kind at once: a copy takes as much disk as the database.
    var limit: Int {
        switch self {
        case .export: return 1
        case .stateHash: return 4
        }
    }
}

/// What a background read's body gets: where the database is, a file name it may write a copy
/// to, and the control it reads under (`SnapshotCopyControl`: it must call `begin` before
/// reading and `end` after, so that the runtime can interrupt it).
struct BackgroundReadTicket: Sendable {
    /// The database file.
    let databasePath: String
    /// A file name for a copy, unique to this read, in the replica's snapshot directory.
    let exportPath: String
    /// The read's control.
    let control: SnapshotCopyControl
}

/// How a snapshot copy ended.
enum SnapshotCopyOutcome: Sendable {
    /// In place, holding this applied index.
    case written(UInt64)
    /// Stopped by the runtime (`abandonSnapshotCopy`); nothing was put in place.
    case abandoned
    /// The disk failed.
    case failed(ReplicaError)
}
