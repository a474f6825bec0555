public import RaftCore

/// Limits of the durable Raft log.
public struct RaftStorageOptions: Sendable, Hashable {
    /// A segment that reaches this size is closed and a new one started.
    public var maxSegmentBytes: Int = 64 << 20
    /// The largest single record (one entry, with its framing).
    public var maxRecordBytes: Int = 32 << 20
    /// Space reserved on disk past the end of the current segment's records, in steps of this
    /// size, so that a synced write goes into space the file already has instead of growing
    /// it (fdatasync then has less metadata to make durable). A closed segment gives its
    /// reserved space back. 0 reserves nothing.
    public var preallocationBytes: Int = 4 << 20

    /// The default limits.
    public init() {}
}

/// What was found on disk at start-up.
public struct RecoveredLog: Sendable, Hashable {
    /// The last durable hard state.
    public var hardState: HardState
    /// The latest snapshot metadata (`.empty` when there is none).
    public var snapshot: SnapshotMetadata
    /// The durable entries after the snapshot.
    public var entries: [Entry]
    /// Bytes of an incomplete last write that were discarded.
    public var discardedTornBytes: Int

    /// Whether nothing was ever persisted here.
    public var isEmpty: Bool { hardState == HardState() && snapshot == .empty && entries.isEmpty }

    /// The state to build a `RaftInstance` from, given what the state machine has applied.
    public func persistedState(applied: LogIndex) -> PersistedState {
        PersistedState(hardState: hardState, snapshot: snapshot, entries: entries, applied: applied)
    }
}

/// The durable Raft log of one replica: hard state, entries and snapshot metadata in a
/// write-ahead log of checksummed records, split into segment files.
///
/// Each `persist` is one append and, when the batch requires it, one `fdatasync` (group
/// commit): the runtime hands it a whole `Ready`, however many entries it holds. Truncating a
/// conflicting suffix is an append too (an entry at an existing index replaces the suffix on
/// replay). The current segment reserves space ahead of its records (`preallocationBytes`), so
/// the appends go into space the file already has. At start-up the segments are replayed: the
/// last one's reserved zeros end it, an incomplete last write is cut off, while damage anywhere
/// else stops start-up with the file and offset.
///
/// Not thread-safe: the replica's one runtime task owns it.
public final class RaftLogStorage {
    /// The directory holding the segments.
    public let directory: String
    /// The limits in force.
    public let options: RaftStorageOptions
    /// What start-up found.
    public let recovered: RecoveredLog
    /// How many durable syncs were issued since opening (one per synced batch).
    public private(set) var syncCount = 0

    private struct Segment {
        var sequence: UInt64
        var maxEntryIndex: LogIndex
        var path: String
    }

    private var segments: [Segment]
    private var current: AppendFile
    private var hardState: HardState
    private var snapshot: SnapshotMetadata
    private var closed = false
    /// The first I/O error: after it the log refuses every write, since what reached the disk
    /// is unknown (the replica must stop and recover from what is durable).
    private var failure: StorageError?

    /// Opens the log in `directory`, creating it when missing, and replays what is there.
    /// - Throws: `StorageError.corrupted` when durable data is damaged; `.io` on system errors.
    public init(directory: String, options: RaftStorageOptions = RaftStorageOptions()) throws(StorageError) {
        guard options.maxSegmentBytes >= 4096, options.maxRecordBytes >= 1024, options.preallocationBytes >= 0 else {
            throw .limitExceeded(
                "maxSegmentBytes must be at least 4096, maxRecordBytes at least 1024 and preallocationBytes not negative")
        }
        self.directory = directory
        self.options = options
        try FileSystem.makeDirectory(directory)
        var replay = Replay()
        var found: [Segment] = []
        var lastIsEmpty = false
        var lastEnd = 0
        let sequences = try Self.segmentSequences(in: directory)
        for (position, sequence) in sequences.enumerated() {
            let path = Self.path(directory, sequence: sequence)
            let isLast = position == sequences.count - 1
            let summary = try Self.replaySegment(path: path, isLast: isLast, maxRecordBytes: options.maxRecordBytes, into: &replay)
            found.append(Segment(sequence: sequence, maxEntryIndex: summary.maxEntryIndex, path: path))
            lastIsEmpty = isLast && summary.records == 0
            lastEnd = summary.end
        }
        if let gap = replay.unresolvedGap {
            throw .corrupted(path: gap.path, offset: gap.offset, detail: "entries up to \(gap.base) are missing")
        }
        hardState = replay.hardState
        snapshot = replay.snapshot
        recovered = RecoveredLog(
            hardState: replay.hardState, snapshot: replay.snapshot, entries: replay.entries,
            discardedTornBytes: replay.discardedTornBytes)
        if let last = found.last {
            current = try AppendFile(path: last.path, logicalLength: lastEnd, reserveBytes: options.preallocationBytes)
            segments = found
            if lastIsEmpty {
                // A crash while creating the segment left it without its checkpoint; write it,
                // or replay could start here without the hard state once older segments go.
                var buffer: [UInt8] = []
                LogRecord.checkpoint(replay.hardState, replay.snapshot).append(to: &buffer)
                try current.append(buffer)
            }
            // Makes a truncated torn tail (or the repaired checkpoint) durable before new appends.
            try current.sync()
            // The crash that left a segment empty may also have come before its directory entry
            // was durable.
            if lastIsEmpty { try FileSystem.syncDirectory(directory) }
        } else {
            let first = Segment(sequence: 0, maxEntryIndex: 0, path: Self.path(directory, sequence: 0))
            current = try Self.createSegment(
                first, hardState: replay.hardState, snapshot: replay.snapshot, directory: directory, options: options)
            segments = [first]
        }
    }

    // MARK: - Writing

    /// Persists one `Ready`: its snapshot (installed from the leader), entries and hard state,
    /// in one append, synced when `ready.mustSync`.
    public func persist(_ ready: Ready) throws(StorageError) {
        try persist(hardState: ready.hardState, snapshot: ready.snapshot, entries: ready.entries, sync: ready.mustSync)
    }

    /// Persists a batch in one append, with one durable sync when `sync` is set.
    /// - Parameters:
    ///   - hardState: the new hard state, if it changed.
    ///   - snapshot: a snapshot installed from the leader; the log restarts after it.
    ///   - entries: entries to store; any stored entries from `entries.first.index` on are replaced.
    ///   - sync: whether the batch must be durable before this returns.
    public func persist(hardState newHardState: HardState?, snapshot installed: SnapshotMetadata?, entries: [Entry], sync: Bool)
        throws(StorageError)
    {
        precondition(!closed, "persist on a closed log")
        if let failure { throw failure }
        var records: [LogRecord] = []
        if let installed { records.append(.snapshotInstalled(installed)) }
        for entry in entries { records.append(.entry(entry)) }
        if let newHardState { records.append(.hardState(newHardState)) }
        guard !records.isEmpty else { return }
        let bodies = records.map(\.body)
        if let largest = bodies.map(\.count).max(), largest - 1 > options.maxRecordBytes {
            throw .limitExceeded("a record of \(largest - 1) bytes exceeds maxRecordBytes \(options.maxRecordBytes)")
        }
        var buffer: [UInt8] = []
        // One framed record for the whole batch, so that it is durable entirely or not at all.
        // A batch larger than one record may hold is written as several; each still replays
        // as a prefix of the batch, which is what a crash before the sync would leave anyway.
        let batch = bodies.count == 1 ? bodies[0] : LogRecord.batchBody(bodies)
        if batch.count - 1 <= options.maxRecordBytes {
            LogRecord.frame(batch, into: &buffer)
        } else {
            for body in bodies { LogRecord.frame(body, into: &buffer) }
        }
        do {
            if current.length > 0 && current.length + buffer.count > options.maxSegmentBytes {
                try rollOver()
            }
            try current.append(buffer)
            if sync {
                try current.sync()
                syncCount += 1
            }
        } catch {
            failure = error
            throw error
        }
        if let installed { snapshot = installed }
        if let newHardState { hardState = newHardState }
        if let last = entries.last { segments[segments.count - 1].maxEntryIndex = max(segments[segments.count - 1].maxEntryIndex, last.index) }
    }

    /// Records that the log is compacted through `metadata` (a snapshot of the state machine at
    /// that index is durable elsewhere), syncs, and deletes segments no longer needed.
    public func compact(through metadata: SnapshotMetadata) throws(StorageError) {
        precondition(!closed, "compact on a closed log")
        if let failure { throw failure }
        guard metadata.index > snapshot.index else { return }
        var buffer: [UInt8] = []
        LogRecord.compacted(metadata).append(to: &buffer)
        do {
            try current.append(buffer)
            try current.sync()
            syncCount += 1
            snapshot = metadata
            try deleteObsoleteSegments()
        } catch {
            failure = error
            throw error
        }
    }

    /// Closes the current segment. The log cannot be used afterwards.
    public func close() {
        guard !closed else { return }
        closed = true
        current.closeFile()
    }

    /// The number of segment files.
    public var segmentCount: Int { segments.count }

    /// The length of the valid records at the start of a segment file: where its reserved
    /// space, or a torn write, begins (a segment's file size includes its reserved space).
    /// For tools and tests that examine or damage segments.
    public static func recordsLength(ofSegmentAt path: String, options: RaftStorageOptions = RaftStorageOptions())
        throws(StorageError) -> Int
    {
        let bytes = try FileSystem.readFile(path)
        var offset = 0
        while case .record(_, let next) = LogRecord.read(bytes, at: offset, maxRecordBytes: options.maxRecordBytes) { offset = next }
        return offset
    }

    // MARK: - Segments

    private static func path(_ directory: String, sequence: UInt64) -> String {
        let hex = String(sequence, radix: 16)
        return directory + "/wal-" + String(repeating: "0", count: 16 - hex.count) + hex + ".log"
    }

    private static func createSegment(
        _ segment: Segment, hardState: HardState, snapshot: SnapshotMetadata, directory: String, options: RaftStorageOptions
    ) throws(StorageError) -> AppendFile {
        let file = try AppendFile(path: segment.path, reserveBytes: options.preallocationBytes)
        var buffer: [UInt8] = []
        LogRecord.checkpoint(hardState, snapshot).append(to: &buffer)
        try file.append(buffer)
        try file.sync()
        try FileSystem.syncDirectory(directory)
        return file
    }

    /// Starts the next segment. The old one gives back its reserved space first, so only the
    /// last segment can end in reserved space. The new file (with its checkpoint) is durable
    /// before the old one is closed, so a failure leaves the current segment open and usable.
    private func rollOver() throws(StorageError) {
        try current.sync()
        try current.trimReservedSpace()
        let sequence = segments[segments.count - 1].sequence + 1
        let next = Segment(sequence: sequence, maxEntryIndex: 0, path: Self.path(directory, sequence: sequence))
        let file = try Self.createSegment(next, hardState: hardState, snapshot: snapshot, directory: directory, options: options)
        current.closeFile()
        current = file
        segments.append(next)
    }

    /// The sequence numbers of the segment files, checked to be consecutive.
    private static func segmentSequences(in directory: String) throws(StorageError) -> [UInt64] {
        var sequences: [UInt64] = []
        for name in try FileSystem.list(directory) where name.hasPrefix("wal-") && name.hasSuffix(".log") {
            let digits = name.dropFirst(4).dropLast(4)
            guard digits.count == 16, digits.allSatisfy({ $0.isHexDigit && !$0.isUppercase }),
                let sequence = UInt64(digits, radix: 16)
            else { throw .corrupted(path: directory + "/" + name, offset: 0, detail: "unexpected file name") }
            sequences.append(sequence)
        }
        sequences.sort()
        for (previous, next) in zip(sequences, sequences.dropFirst()) where next != previous + 1 {
            throw .corrupted(path: path(directory, sequence: previous + 1), offset: 0, detail: "segment missing")
        }
        return sequences
    }

    /// Deletes the longest prefix of segments (never the current one) whose entries are all at
    /// or below the snapshot. Replay then starts at a later segment's checkpoint; the entries it
    /// misses before the first one it finds are covered by the compaction record that follows.
    private func deleteObsoleteSegments() throws(StorageError) {
        var runningMax: LogIndex = 0
        var deletable = 0
        for position in 0..<(segments.count - 1) {
            runningMax = max(runningMax, segments[position].maxEntryIndex)
            if runningMax <= snapshot.index { deletable = position + 1 }
        }
        guard deletable > 0 else { return }
        for segment in segments[0..<deletable] { try FileSystem.remove(segment.path) }
        try FileSystem.syncDirectory(directory)
        segments.removeFirst(deletable)
    }

    // MARK: - Replay

    private struct Replay {
        var hardState = HardState()
        var snapshot = SnapshotMetadata.empty
        var entries: [Entry] = []
        var discardedTornBytes = 0
        /// Entries missing before the first one replayed (their segments were deleted after a
        /// compaction); a compaction record at or beyond `base` must follow.
        var unresolvedGap: (base: LogIndex, path: String, offset: Int)?

        var lastIndex: LogIndex { snapshot.index + LogIndex(entries.count) }

        mutating func apply(_ record: LogRecord, path: String, offset: Int) throws(RaftDecodingError) {
            switch record {
            case .entry(let entry):
                guard entry.index > snapshot.index else { return }
                if entry.index > lastIndex + 1 {
                    guard entries.isEmpty, unresolvedGap == nil else {
                        throw .invalid("entry \(entry.index) after \(lastIndex): a gap")
                    }
                    unresolvedGap = (entry.index - 1, path, offset)
                    snapshot = SnapshotMetadata(index: entry.index - 1, term: 0, membership: snapshot.membership)
                }
                entries.removeSubrange(Int(entry.index - snapshot.index - 1)...)
                entries.append(entry)
            case .hardState(let state):
                hardState = state
            case .snapshotInstalled(let metadata):
                snapshot = metadata
                entries = []
            case .compacted(let metadata):
                compact(to: metadata)
            case .checkpoint(let state, let metadata):
                hardState = state
                compact(to: metadata)
            case .batch(let records):
                for record in records { try apply(record, path: path, offset: offset) }
            }
        }

        private mutating func compact(to metadata: SnapshotMetadata) {
            // After a leading gap the snapshot is provisional; a record at the same index
            // replaces it with the real term and membership.
            let provisional = unresolvedGap != nil
            if let gap = unresolvedGap, metadata.index >= gap.base { unresolvedGap = nil }
            guard metadata.index > snapshot.index || (provisional && metadata.index == snapshot.index) else { return }
            let dropped = min(Int(metadata.index - snapshot.index), entries.count)
            entries.removeFirst(dropped)
            snapshot = metadata
        }
    }

    /// Replays one segment's records; returns the highest entry index, the number of records
    /// and the offset after the last one (where reserved space, or a cut-off torn write, began).
    private static func replaySegment(path: String, isLast: Bool, maxRecordBytes: Int, into replay: inout Replay)
        throws(StorageError) -> (maxEntryIndex: LogIndex, records: Int, end: Int)
    {
        let bytes = try FileSystem.readFile(path)
        var offset = 0
        var maxEntryIndex: LogIndex = 0
        var records = 0
        while true {
            switch LogRecord.read(bytes, at: offset, maxRecordBytes: maxRecordBytes) {
            case .end:
                return (maxEntryIndex, records, offset)
            case .record(let record, let next):
                if records == 0 {
                    guard case .checkpoint = record else {
                        throw .corrupted(path: path, offset: 0, detail: "a segment must start with a checkpoint")
                    }
                }
                records += 1
                do {
                    try replay.apply(record, path: path, offset: offset)
                } catch {
                    throw .corrupted(path: path, offset: offset, detail: "\(error)")
                }
                maxEntryIndex = max(maxEntryIndex, record.maxEntryIndex)
                offset = next
            case .invalid(let reason):
                // Only the last segment may end in reserved space (zeros) or a torn write, with
                // nothing valid after it: a closed segment gave its reserved space back.
                let damagedEnd = endOfNonZeroBytes(bytes, from: offset)
                if isLast && damagedEnd == offset { return (maxEntryIndex, records, offset) }
                guard isLast, !containsValidRecord(bytes, after: offset, before: damagedEnd, maxRecordBytes: maxRecordBytes) else {
                    throw .corrupted(path: path, offset: offset, detail: reason)
                }
                replay.discardedTornBytes = damagedEnd - offset
                try FileSystem.truncateFile(path, to: offset)
                return (maxEntryIndex, records, offset)
            }
        }
    }

    /// The offset after the last byte from `offset` on that is not zero (`offset` when all are).
    private static func endOfNonZeroBytes(_ bytes: [UInt8], from offset: Int) -> Int {
        var end = bytes.count
        while end > offset && bytes[end - 1] == 0 { end -= 1 }
        return end
    }

    /// Whether any valid record starts after `offset`: if so, the damage is not a torn tail. A
    /// record's type byte is not zero, so none starts where only zeros follow (`damagedEnd` on).
    private static func containsValidRecord(_ bytes: [UInt8], after offset: Int, before damagedEnd: Int, maxRecordBytes: Int) -> Bool {
        var candidate = offset + 1
        while candidate + LogRecord.headerBytes <= damagedEnd {
            if case .record = LogRecord.read(bytes, at: candidate, maxRecordBytes: maxRecordBytes) { return true }
            candidate += 1
        }
        return false
    }
}
