/// The memberships a log describes: the snapshot's, then one after each membership entry.
///
/// A membership takes effect on a replica as soon as its entry is in the replica's log,
/// committed or not (Raft thesis §4.1), so the history must follow every append, truncation,
/// snapshot and compaction of the log.
struct MembershipHistory: Sendable {
    // Invariant: indexes strictly increase; the first is the snapshot's index.
    private(set) var changes: [(index: LogIndex, membership: Membership)]

    init(snapshot: SnapshotMetadata) {
        changes = [(snapshot.index, snapshot.membership)]
    }

    /// The membership in force: the newest in the log.
    var latest: Membership { changes[changes.count - 1].membership }

    /// The index of the newest membership entry (or the snapshot's index when none follows).
    var latestIndex: LogIndex { changes[changes.count - 1].index }

    /// The membership in force at `index`.
    func membership(at index: LogIndex) -> Membership {
        precondition(index >= changes[0].index, "membership at \(index) is before the snapshot \(changes[0].index)")
        var result = changes[0].membership
        for change in changes where change.index <= index {
            result = change.membership
        }
        return result
    }

    /// The index of the newest membership entry at or below `index`.
    func changeIndex(atOrBelow index: LogIndex) -> LogIndex {
        changes.last { $0.index <= index }?.index ?? changes[0].index
    }

    /// Records the membership entry `change` at `index`, which follows every recorded index.
    /// A change that does not apply leaves the membership as it is (deterministically on every
    /// replica); leaders never propose one.
    mutating func record(_ change: MembershipChange, at index: LogIndex) {
        precondition(index > latestIndex, "membership entry \(index) does not follow \(latestIndex)")
        changes.append((index, latest.applying(change) ?? latest))
    }

    /// Forgets the memberships of entries at or after `index` (a truncated log suffix).
    mutating func truncate(from index: LogIndex) {
        precondition(index > changes[0].index, "truncation at \(index) reaches the snapshot \(changes[0].index)")
        changes.removeAll { $0.index >= index }
    }

    /// Replaces the history with a snapshot's membership.
    mutating func reset(to snapshot: SnapshotMetadata) {
        changes = [(snapshot.index, snapshot.membership)]
    }

    /// Folds every change through `index` into a new base at `index` (after compaction).
    mutating func compact(through index: LogIndex) {
        let base = membership(at: index)
        changes = [(index, base)] + changes.filter { $0.index > index }
    }

    func checkInvariants(snapshotIndex: LogIndex) {
        precondition(changes[0].index == snapshotIndex, "membership base \(changes[0].index) is not the snapshot \(snapshotIndex)")
        for offset in 1..<max(1, changes.count) {
            precondition(changes[offset].index > changes[offset - 1].index, "membership history out of order")
        }
    }
}
