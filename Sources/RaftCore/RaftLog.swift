/// The instance's view of the replicated log: a snapshot followed by the entries after it, and
/// the indexes that say how far the log is committed, applied and durable.
///
/// The whole uncompacted log is kept in memory; the runtime bounds it by taking snapshots and
/// calling `RaftInstance.compact(through:)`.
struct RaftLog: Sendable {
    /// The snapshot the entries follow. `snapshot.index` is the last compacted index.
    private(set) var snapshot: SnapshotMetadata
    // Invariant: entries[k].index == snapshot.index + 1 + k, and terms never decrease.
    /// The entries after the snapshot.
    private(set) var entries: [Entry]
    // Invariant: applied <= committed <= lastIndex, and snapshot.index <= committed.
    /// The highest index known to be committed.
    private(set) var committed: LogIndex
    /// The highest index the state machine has applied (or will have, once the `Ready` that
    /// handed it out is advanced).
    var applied: LogIndex
    // Invariant: persisted <= lastIndex.
    /// The highest index known durable on this replica.
    private(set) var persisted: LogIndex
    // Invariant: persisted < unstableFrom <= lastIndex + 1.
    /// The first index not yet handed to the runtime for persistence.
    private(set) var unstableFrom: LogIndex
    /// A snapshot received from the leader that the runtime has not yet been asked to install.
    private(set) var pendingSnapshot: SnapshotMetadata?

    init(state: PersistedState) {
        precondition(state.applied >= state.snapshot.index, "applied \(state.applied) is below snapshot \(state.snapshot.index)")
        snapshot = state.snapshot
        entries = state.entries
        for (offset, entry) in entries.enumerated() {
            precondition(
                entry.index == state.snapshot.index + 1 + LogIndex(offset),
                "persisted entries are not contiguous after snapshot \(state.snapshot.index): found \(entry.index) at offset \(offset)")
        }
        let last = state.snapshot.index + LogIndex(entries.count)
        precondition(state.applied <= last, "applied \(state.applied) is beyond the last persisted entry \(last)")
        // The commit index is written without a sync, so it may be older than what the state
        // machine applied: anything applied was committed.
        committed = max(min(state.hardState.commit, last), state.snapshot.index, state.applied)
        applied = state.applied
        persisted = last
        unstableFrom = last + 1
        pendingSnapshot = nil
    }

    // MARK: - Queries

    /// The first index still held as an entry.
    var firstIndex: LogIndex { snapshot.index + 1 }

    /// The index of the last entry (or of the snapshot when there are no entries).
    var lastIndex: LogIndex { snapshot.index + LogIndex(entries.count) }

    /// The term of the last entry.
    var lastTerm: Term { entries.last?.term ?? snapshot.term }

    /// The last entry's position.
    var lastPosition: LogPosition { LogPosition(index: lastIndex, term: lastTerm) }

    /// The term of the entry at `index`, or nil when it was compacted away or does not exist.
    func term(at index: LogIndex) -> Term? {
        if index == snapshot.index { return snapshot.term }
        if index < snapshot.index || index > lastIndex { return nil }
        return entries[Int(index - snapshot.index - 1)].term
    }

    /// The entry at `index`; the index must be held.
    func entry(at index: LogIndex) -> Entry {
        precondition(index > snapshot.index && index <= lastIndex, "entry \(index) not held (\(firstIndex)...\(lastIndex))")
        return entries[Int(index - snapshot.index - 1)]
    }

    /// Whether the log holds an entry with this position.
    func matches(_ position: LogPosition) -> Bool {
        term(at: position.index) == position.term
    }

    /// Entries from `start` on, at most `maxBytes` of payload but always at least one.
    func entries(from start: LogIndex, maxBytes: Int, through end: LogIndex? = nil) -> [Entry] {
        let last = min(end ?? lastIndex, lastIndex)
        guard start <= last else { return [] }
        precondition(start > snapshot.index, "entries from \(start) were compacted (snapshot \(snapshot.index))")
        var result: [Entry] = []
        var bytes = 0
        var index = start
        while index <= last {
            let entry = entries[Int(index - snapshot.index - 1)]
            bytes += entry.payloadBytes + Entry.overheadBytes
            if !result.isEmpty && bytes > maxBytes { break }
            result.append(entry)
            index += 1
        }
        return result
    }

    /// Raft §5.4.1: a candidate's log is at least as up to date as ours when its last term is
    /// higher, or equal with an index at least as high.
    func isUpToDate(_ candidate: LogPosition) -> Bool {
        candidate.term > lastTerm || (candidate.term == lastTerm && candidate.index >= lastIndex)
    }

    /// The largest index at or below `index` whose term is at most `term`. Used on both sides of
    /// fast backtracking: every entry above it conflicts with an entry of term `term` or later.
    func lastIndex(atOrBelow index: LogIndex, withTermAtMost term: Term) -> LogIndex {
        var candidate = min(index, lastIndex)
        while candidate > snapshot.index {
            if let found = self.term(at: candidate), found <= term { return candidate }
            candidate -= 1
        }
        return candidate
    }

    /// Whether some entries are not yet handed out for persistence.
    var hasUnstableEntries: Bool { unstableFrom <= lastIndex }

    /// Whether some committed entries are not yet handed out for applying.
    var hasEntriesToApply: Bool { committed > max(applied, pendingSnapshot?.index ?? 0) }

    /// The entries that are not yet handed out for persistence.
    var unstableEntries: [Entry] {
        guard unstableFrom <= lastIndex else { return [] }
        return Array(entries[Int(unstableFrom - snapshot.index - 1)...])
    }

    /// Committed entries not yet handed out for applying, at most `maxBytes` (at least one).
    func entriesToApply(maxBytes: Int) -> [Entry] {
        let start = max(applied, pendingSnapshot?.index ?? 0) + 1
        guard start <= committed else { return [] }
        return entries(from: start, maxBytes: maxBytes, through: committed)
    }

    // MARK: - Mutations

    /// Appends entries that continue the log exactly (the leader's own proposals).
    mutating func append(_ newEntries: [Entry]) {
        for entry in newEntries {
            precondition(entry.index == lastIndex + 1, "append of \(entry.index) does not follow \(lastIndex)")
            precondition(entry.term >= lastTerm, "append of term \(entry.term) after term \(lastTerm)")
            entries.append(entry)
        }
    }

    /// Appends entries received from a leader after `previous`, truncating any conflicting
    /// suffix first (Raft §5.3). Entries already held with the same term are kept as they are.
    /// - Returns: the index of the last new entry, and the first index written (nil when every
    ///   entry was already held); everything from there on in the old log was replaced.
    mutating func appendFromLeader(after previous: LogPosition, _ newEntries: [Entry])
        -> (lastNew: LogIndex, firstWritten: LogIndex?)
    {
        precondition(matches(previous), "append after \(previous) which is not held")
        let lastNew = previous.index + LogIndex(newEntries.count)
        guard let conflict = newEntries.first(where: { !matches($0.position) }) else { return (lastNew, nil) }
        precondition(
            conflict.index > committed,
            "entry \(conflict.index) conflicts with committed prefix (committed \(committed))")
        if conflict.index <= lastIndex {
            entries.removeLast(Int(lastIndex - conflict.index + 1))
            persisted = min(persisted, conflict.index - 1)
            unstableFrom = min(unstableFrom, conflict.index)
        }
        append(Array(newEntries[Int(conflict.index - previous.index - 1)...]))
        return (lastNew, conflict.index)
    }

    /// Raises the commit index; never lowers it.
    /// - Returns: whether it moved.
    @discardableResult
    mutating func commit(to index: LogIndex) -> Bool {
        guard index > committed else { return false }
        precondition(index <= lastIndex, "commit \(index) beyond last index \(lastIndex)")
        committed = index
        return true
    }

    /// Replaces the log with a snapshot received from the leader.
    mutating func restore(_ metadata: SnapshotMetadata) {
        precondition(metadata.index > committed, "restore of \(metadata.index) at or below commit \(committed)")
        snapshot = metadata
        entries = []
        committed = metadata.index
        persisted = min(persisted, metadata.index)
        unstableFrom = metadata.index + 1
        pendingSnapshot = metadata
    }

    /// Records that the runtime has been handed the unstable entries and pending snapshot.
    mutating func markHandedOut() {
        unstableFrom = lastIndex + 1
        pendingSnapshot = nil
    }

    /// Records that everything up to `index` (with term `term`) is durable.
    mutating func markPersisted(through position: LogPosition) {
        guard matches(position) else { return }
        persisted = max(persisted, position.index)
    }

    /// Drops entries through `index`, which must be applied, keeping `membership` as the
    /// snapshot's membership.
    mutating func compact(through index: LogIndex, membership: Membership) -> SnapshotMetadata {
        precondition(index <= applied, "compaction through \(index) beyond applied \(applied)")
        guard index > snapshot.index else { return snapshot }
        let term = self.term(at: index)!
        entries.removeFirst(Int(index - snapshot.index))
        snapshot = SnapshotMetadata(index: index, term: term, membership: membership)
        return snapshot
    }

    /// Checks the invariants stated at the fields.
    func checkInvariants() {
        precondition(applied <= committed, "applied \(applied) > committed \(committed)")
        precondition(committed <= lastIndex, "committed \(committed) > last \(lastIndex)")
        precondition(snapshot.index <= committed, "snapshot \(snapshot.index) > committed \(committed)")
        precondition(persisted <= lastIndex, "persisted \(persisted) > last \(lastIndex)")
        precondition(unstableFrom > persisted && unstableFrom <= lastIndex + 1, "unstableFrom \(unstableFrom) out of range")
        var previousTerm = snapshot.term
        for (offset, entry) in entries.enumerated() {
            precondition(entry.index == snapshot.index + 1 + LogIndex(offset), "entry index gap at \(entry.index)")
            precondition(entry.term >= previousTerm, "term decreases at \(entry.index)")
            previousTerm = entry.term
        }
    }
}
