import Foundation
import RaftCore
import RaftStorage
import Testing

/// A fresh directory for one test, removed afterwards.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-storage-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    var segments: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".log") }.sorted()
    }
}

/// Writes `batches` batches of ten 64-byte entries into 4 KiB segments, and closes the log.
func writeSmallSegments(in directory: TemporaryDirectory, batches: Int) throws -> RaftStorageOptions {
    var options = RaftStorageOptions()
    options.maxSegmentBytes = 4096
    let log = try RaftLogStorage(directory: directory.path, options: options)
    for batch in 0..<batches {
        let first = UInt64(batch * 10 + 1)
        try log.persist(hardState: nil, snapshot: nil, entries: entries(first...(first + 9), term: 1, size: 64), sync: true)
    }
    log.close()
    return options
}

/// Cuts a file to `length` bytes.
func truncateFile(_ path: String, to length: Int) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.truncate(atOffset: UInt64(length))
}

/// Writes `bytes` over a file's content at `offset`.
func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: bytes)
}

func entries(_ range: ClosedRange<UInt64>, term: Term, size: Int = 8) -> [Entry] {
    range.map { Entry(term: term, index: $0, payload: .command([UInt8](repeating: UInt8(truncatingIfNeeded: $0), count: size))) }
}

@Suite struct RaftLogStorageTests {
    @Test func entriesAndHardStateSurviveReopening() throws {
        let directory = try TemporaryDirectory()
        let written = [Entry(term: 1, index: 1, payload: .membership(.bootstrap(voters: [1, 2, 3])))] + entries(2...10, term: 2)
        do {
            let log = try RaftLogStorage(directory: directory.path)
            #expect(log.recovered.isEmpty)
            try log.persist(hardState: HardState(term: 2, votedFor: 3, commit: 7), snapshot: nil, entries: written, sync: true)
            log.close()
        }
        let reopened = try RaftLogStorage(directory: directory.path)
        #expect(reopened.recovered.entries == written)
        #expect(reopened.recovered.hardState == HardState(term: 2, votedFor: 3, commit: 7))
        #expect(reopened.recovered.discardedTornBytes == 0)
        let restarted = try RaftInstance(
            options: RaftOptions(id: 1), persisted: reopened.recovered.persistedState(applied: 5), seed: 1)
        #expect(restarted.lastIndex == 10 && restarted.commitIndex == 7 && restarted.appliedIndex == 5)
    }

    // Group commit: one durable sync per batch, however many entries it holds.
    @Test func oneSyncPerBatch() throws {
        let directory = try TemporaryDirectory()
        let log = try RaftLogStorage(directory: directory.path)
        try log.persist(hardState: nil, snapshot: nil, entries: entries(1...64, term: 1), sync: true)
        #expect(log.syncCount == 1)
        try log.persist(hardState: HardState(term: 1, commit: 64), snapshot: nil, entries: [], sync: false)
        #expect(log.syncCount == 1, "a commit-only hard state is written without a sync")
        try log.persist(hardState: HardState(term: 2, votedFor: 1, commit: 64), snapshot: nil, entries: entries(65...65, term: 2), sync: true)
        #expect(log.syncCount == 2)
    }

    // Raft §5.3: a follower replaces a conflicting suffix; on disk that is an append.
    @Test func conflictingSuffixIsReplaced() throws {
        let directory = try TemporaryDirectory()
        do {
            let log = try RaftLogStorage(directory: directory.path)
            try log.persist(hardState: nil, snapshot: nil, entries: entries(1...5, term: 1), sync: true)
            try log.persist(hardState: nil, snapshot: nil, entries: entries(3...4, term: 2), sync: true)
            log.close()
        }
        let reopened = try RaftLogStorage(directory: directory.path)
        #expect(reopened.recovered.entries.map(\.position) == [
            LogPosition(index: 1, term: 1), LogPosition(index: 2, term: 1), LogPosition(index: 3, term: 2), LogPosition(index: 4, term: 2),
        ])
    }

    @Test func installedSnapshotRestartsTheLog() throws {
        let directory = try TemporaryDirectory()
        let snapshot = SnapshotMetadata(index: 100, term: 4, membership: Membership(voters: [1, 2, 3], learners: [4]))
        do {
            let log = try RaftLogStorage(directory: directory.path)
            try log.persist(hardState: nil, snapshot: nil, entries: entries(1...5, term: 1), sync: true)
            try log.persist(hardState: HardState(term: 4, commit: 100), snapshot: snapshot, entries: entries(101...102, term: 4), sync: true)
            log.close()
        }
        let reopened = try RaftLogStorage(directory: directory.path)
        #expect(reopened.recovered.snapshot == snapshot)
        #expect(reopened.recovered.entries.map(\.index) == [101, 102])
    }

    @Test func compactionDropsEntriesAndOldSegments() throws {
        let directory = try TemporaryDirectory()
        var options = RaftStorageOptions()
        options.maxSegmentBytes = 4096
        let membership = Membership(voters: [1])
        do {
            let log = try RaftLogStorage(directory: directory.path, options: options)
            for batch in 0..<40 {
                let first = UInt64(batch * 10 + 1)
                try log.persist(hardState: nil, snapshot: nil, entries: entries(first...(first + 9), term: 1, size: 64), sync: true)
            }
            let before = log.segmentCount
            #expect(before > 3)
            try log.compact(through: SnapshotMetadata(index: 350, term: 1, membership: membership))
            #expect(log.segmentCount < before)
            #expect(directory.segments.count == log.segmentCount)
            log.close()
        }
        let reopened = try RaftLogStorage(directory: directory.path, options: options)
        #expect(reopened.recovered.snapshot.index == 350)
        #expect(reopened.recovered.entries.map(\.index) == Array(351...400))
    }

    /// How a crash left the last record: cut short (the file had not reserved its space), or
    /// with its end still zeros (written into reserved space).
    enum Tear: CaseIterable { case cutShort, zeroedInReservedSpace }

    // A crash in the middle of a write leaves a torn last record: it is cut off, and the log
    // goes on from the last complete record.
    @Test(arguments: Tear.allCases) func tornTailIsTruncatedOnRecovery(_ tear: Tear) throws {
        let directory = try TemporaryDirectory()
        do {
            let log = try RaftLogStorage(directory: directory.path)
            try log.persist(hardState: nil, snapshot: nil, entries: entries(1...3, term: 1), sync: true)
            try log.persist(hardState: nil, snapshot: nil, entries: entries(4...4, term: 1, size: 200), sync: true)
            log.close()
        }
        let segment = directory.path + "/" + directory.segments[0]
        let size = try RaftLogStorage.recordsLength(ofSegmentAt: segment)
        switch tear {
        case .cutShort:
            try truncateFile(segment, to: size - 50)
        case .zeroedInReservedSpace:
            try overwrite(segment, at: size - 50, with: [UInt8](repeating: 0, count: 50))
        }
        do {
            let reopened = try RaftLogStorage(directory: directory.path)
            #expect(reopened.recovered.entries.map(\.index) == [1, 2, 3])
            // The 200-byte entry's record, less the 50 bytes that never reached the disk.
            #expect((150...250).contains(reopened.recovered.discardedTornBytes))
            try reopened.persist(hardState: nil, snapshot: nil, entries: entries(4...5, term: 2), sync: true)
            reopened.close()
        }
        let again = try RaftLogStorage(directory: directory.path)
        #expect(again.recovered.entries.map(\.position.term) == [1, 1, 1, 2, 2])
        #expect(again.recovered.discardedTornBytes == 0)
    }

    // A Ready is persisted atomically: a write torn anywhere inside a batch loses the whole
    // batch (entries and hard state together), never part of it.
    @Test func tornBatchIsLostWhole() throws {
        let directory = try TemporaryDirectory()
        do {
            let log = try RaftLogStorage(directory: directory.path)
            try log.persist(hardState: HardState(term: 1, commit: 1), snapshot: nil, entries: entries(1...2, term: 1), sync: true)
            try log.persist(hardState: HardState(term: 2, votedFor: 3, commit: 2), snapshot: nil, entries: entries(3...8, term: 2), sync: true)
            log.close()
        }
        let segment = directory.path + "/" + directory.segments[0]
        let size = try RaftLogStorage.recordsLength(ofSegmentAt: segment)
        try truncateFile(segment, to: size - 30)
        let reopened = try RaftLogStorage(directory: directory.path)
        #expect(reopened.recovered.entries.map(\.index) == [1, 2])
        #expect(reopened.recovered.hardState == HardState(term: 1, commit: 1))
    }

    // Damage to a record that has valid records after it is not a torn write: start-up stops
    // and names the file and offset.
    @Test func corruptionOfCommittedDataStopsStartUp() throws {
        let directory = try TemporaryDirectory()
        do {
            let log = try RaftLogStorage(directory: directory.path)
            for index: UInt64 in 1...10 {
                try log.persist(hardState: nil, snapshot: nil, entries: entries(index...index, term: 1, size: 32), sync: true)
            }
            log.close()
        }
        let segment = directory.path + "/" + directory.segments[0]
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment)))
        let length = try RaftLogStorage.recordsLength(ofSegmentAt: segment)
        bytes[length / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        do {
            _ = try RaftLogStorage(directory: directory.path)
            Issue.record("a corrupted log was accepted")
        } catch {
            guard case .corrupted(let path, let offset, let detail) = error else {
                Issue.record("expected corruption, got \(error)")
                return
            }
            #expect(path == segment)
            #expect(offset > 0 && offset <= length / 2)
            #expect(!detail.isEmpty)
        }
    }

    @Test func damagedEarlierSegmentIsCorruptionEvenAtItsEnd() throws {
        let directory = try TemporaryDirectory()
        let options = try writeSmallSegments(in: directory, batches: 20)
        let first = directory.path + "/" + directory.segments[0]
        let size = try FileManager.default.attributesOfItem(atPath: first)[.size] as! Int
        try truncateFile(first, to: size - 10)
        #expect(throws: StorageError.self) { _ = try RaftLogStorage(directory: directory.path, options: options) }
    }

    // A missing segment that no compaction explains is corruption, not a shorter log.
    @Test func missingSegmentWithoutCompactionIsCorruption() throws {
        let directory = try TemporaryDirectory()
        let options = try writeSmallSegments(in: directory, batches: 20)
        try FileManager.default.removeItem(atPath: directory.path + "/" + directory.segments[0])
        #expect(throws: StorageError.self) { _ = try RaftLogStorage(directory: directory.path, options: options) }
    }

    @Test func invalidOptionsAreRefused() throws {
        let directory = try TemporaryDirectory()
        var options = RaftStorageOptions()
        options.maxSegmentBytes = 10
        #expect(throws: StorageError.self) { _ = try RaftLogStorage(directory: directory.path, options: options) }
        options = RaftStorageOptions()
        options.preallocationBytes = -1
        #expect(throws: StorageError.self) { _ = try RaftLogStorage(directory: directory.path, options: options) }
    }

    @Test func unwritableDirectoryIsAnIOError() {
        #expect(throws: StorageError.self) { _ = try RaftLogStorage(directory: "/proc/rampart-cannot-exist/log") }
    }
}

@Suite struct RaftEncodingTests {
    @Test(arguments: [
        Entry(term: 3, index: 9, payload: .noop),
        Entry(term: 3, index: 10, payload: .command([1, 2, 3])),
        Entry(term: 1, index: 1, payload: .membership(.bootstrap(voters: [1, 2, 3]))),
        Entry(term: 4, index: 11, payload: .membership(.addLearner(7))),
        Entry(term: 4, index: 12, payload: .membership(.promote(7))),
        Entry(term: 4, index: 13, payload: .membership(.remove(2))),
    ])
    func entryRoundTrips(_ entry: Entry) throws {
        var buffer: [UInt8] = []
        RaftEncoding.append(entry, to: &buffer)
        var decoder = RaftDecoder(buffer)
        #expect(try decoder.entry() == entry)
        #expect(decoder.remaining == 0)
        for length in 0..<buffer.count {
            var truncated = RaftDecoder(Array(buffer[0..<length]))
            #expect(throws: RaftDecodingError.self) { try truncated.entry() }
        }
    }

    @Test func entryEncodingMatchesGoldenBytes() {
        var buffer: [UInt8] = []
        RaftEncoding.append(Entry(term: 2, index: 5, payload: .command([0xAA])), to: &buffer)
        #expect(buffer == [2, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0xAA])
    }

    @Test func invalidValuesAreRejected() {
        var badKind = RaftDecoder([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9])
        #expect(throws: RaftDecodingError.invalid("entry kind")) { try badKind.entry() }
        var zeroID = RaftDecoder([1, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(throws: RaftDecodingError.invalid("learner")) { try zeroID.membershipChange() }
        var duplicateVoters = RaftDecoder([0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
        #expect(throws: RaftDecodingError.invalid("bootstrap voters")) { try duplicateVoters.membershipChange() }
    }
}

/// Regressions for findings of the code review of the durable log.
@Suite struct RaftLogStorageReviewTests {
    // A crash while creating a segment leaves it empty, or only reserved (zeros): opening
    // writes its checkpoint, so the hard state survives once older segments are deleted.
    @Test(arguments: [0, 4096]) func emptyLastSegmentGetsItsCheckpoint(reservedBytes: Int) throws {
        let directory = try TemporaryDirectory()
        do {
            let log = try RaftLogStorage(directory: directory.path)
            try log.persist(hardState: HardState(term: 5, votedFor: 2, commit: 3), snapshot: nil, entries: entries(1...3, term: 5), sync: true)
            log.close()
        }
        // The order of a roll-over: the full segment gives back its reserved space, then the
        // next one is created.
        let first = directory.path + "/" + directory.segments[0]
        try truncateFile(first, to: RaftLogStorage.recordsLength(ofSegmentAt: first))
        try #require(FileManager.default.createFile(atPath: directory.path + "/wal-0000000000000001.log", contents: Data(count: reservedBytes)))
        do {
            let log = try RaftLogStorage(directory: directory.path)
            #expect(log.recovered.hardState == HardState(term: 5, votedFor: 2, commit: 3))
            #expect(log.recovered.discardedTornBytes == 0)
            try log.compact(through: SnapshotMetadata(index: 3, term: 5, membership: Membership(voters: [1])))
            #expect(log.segmentCount == 1, "the first segment is no longer needed")
            log.close()
        }
        let reopened = try RaftLogStorage(directory: directory.path)
        #expect(reopened.recovered.hardState == HardState(term: 5, votedFor: 2, commit: 3))
        #expect(reopened.recovered.snapshot.index == 3)
    }

    @Test func recordLargerThanTheLimitIsRefusedBeforeWriting() throws {
        let directory = try TemporaryDirectory()
        var options = RaftStorageOptions()
        options.maxRecordBytes = 1024
        do {
            let log = try RaftLogStorage(directory: directory.path, options: options)
            try log.persist(hardState: nil, snapshot: nil, entries: entries(1...1, term: 1), sync: true)
            #expect(throws: StorageError.self) {
                try log.persist(hardState: nil, snapshot: nil, entries: entries(2...2, term: 1, size: 2000), sync: true)
            }
            log.close()
        }
        let reopened = try RaftLogStorage(directory: directory.path, options: options)
        #expect(reopened.recovered.entries.map(\.index) == [1])
    }

    // Many entries that together exceed one record are written as several records; each still
    // replays.
    @Test func oversizedBatchIsSplitIntoRecords() throws {
        let directory = try TemporaryDirectory()
        var options = RaftStorageOptions()
        options.maxRecordBytes = 1024
        do {
            let log = try RaftLogStorage(directory: directory.path, options: options)
            try log.persist(hardState: HardState(term: 1, commit: 0), snapshot: nil, entries: entries(1...40, term: 1, size: 100), sync: true)
            log.close()
        }
        let reopened = try RaftLogStorage(directory: directory.path, options: options)
        #expect(reopened.recovered.entries.map(\.index) == Array(1...40))
    }

    @Test func unexpectedOrMissingSegmentsAreCorruption() throws {
        let unexpected = try TemporaryDirectory()
        _ = try writeSmallSegments(in: unexpected, batches: 2)
        try #require(FileManager.default.createFile(atPath: unexpected.path + "/wal-XYZ.log", contents: Data()))
        #expect(throws: StorageError.self) { _ = try RaftLogStorage(directory: unexpected.path) }

        let missing = try TemporaryDirectory()
        let options = try writeSmallSegments(in: missing, batches: 20)
        try FileManager.default.removeItem(atPath: missing.path + "/" + missing.segments[1])
        #expect(throws: StorageError.self) { _ = try RaftLogStorage(directory: missing.path, options: options) }
    }
}

/// The space the current segment reserves past its records (`preallocationBytes`).
@Suite struct SegmentPreallocationTests {
    private func fileSize(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
    }

    private func options(reserving bytes: Int) -> RaftStorageOptions {
        var options = RaftStorageOptions()
        options.preallocationBytes = bytes
        return options
    }

    // The current segment ends in reserved zeros, which reopening neither mistakes for a torn
    // write nor writes after: new records follow the old ones.
    @Test func reservedSpaceIsNotATornWrite() throws {
        let directory = try TemporaryDirectory()
        let options = options(reserving: 64 << 10)
        do {
            let log = try RaftLogStorage(directory: directory.path, options: options)
            try log.persist(hardState: HardState(term: 1, commit: 2), snapshot: nil, entries: entries(1...3, term: 1), sync: true)
            log.close()
        }
        let segment = directory.path + "/" + directory.segments[0]
        let written = try RaftLogStorage.recordsLength(ofSegmentAt: segment)
        let reserved = try fileSize(segment)
        #if os(Linux)
            #expect(reserved > written && reserved >= options.preallocationBytes)
        #endif
        do {
            let log = try RaftLogStorage(directory: directory.path, options: options)
            #expect(log.recovered.discardedTornBytes == 0)
            #expect(try fileSize(segment) == reserved, "reopening keeps the reserved space")
            #expect(log.recovered.entries.map(\.index) == [1, 2, 3])
            try log.persist(hardState: nil, snapshot: nil, entries: entries(4...5, term: 1), sync: true)
            log.close()
        }
        #expect(try RaftLogStorage.recordsLength(ofSegmentAt: segment) > written)
        let reopened = try RaftLogStorage(directory: directory.path, options: options)
        #expect(reopened.recovered.entries.map(\.index) == [1, 2, 3, 4, 5])
        #expect(reopened.recovered.hardState == HardState(term: 1, commit: 2))
        #expect(reopened.recovered.discardedTornBytes == 0)
    }

    // Writes that outgrow the reserved space reserve more, a step at a time.
    @Test func writesPastTheReservedSpaceReserveMore() throws {
        let directory = try TemporaryDirectory()
        let options = options(reserving: 4096)
        do {
            let log = try RaftLogStorage(directory: directory.path, options: options)
            for batch in 0..<30 {
                let first = UInt64(batch * 10 + 1)
                try log.persist(hardState: nil, snapshot: nil, entries: entries(first...(first + 9), term: 1, size: 64), sync: true)
            }
            log.close()
        }
        let segment = directory.path + "/" + directory.segments[0]
        let written = try RaftLogStorage.recordsLength(ofSegmentAt: segment)
        #expect(written > 4 * options.preallocationBytes)
        #expect(try fileSize(segment) <= written + 2 * options.preallocationBytes)
        let reopened = try RaftLogStorage(directory: directory.path, options: options)
        #expect(reopened.recovered.entries.map(\.index) == Array(1...300))
        #expect(reopened.recovered.discardedTornBytes == 0)
    }

    // Space the log did not reserve itself (a reservation that failed part of the way, once the
    // disk filled up) is given back all the same when the segment is full: the trim asks the
    // system for the file's size.
    @Test func spaceGainedOutsideAReservationIsGivenBackToo() throws {
        let directory = try TemporaryDirectory()
        var options = options(reserving: 0)
        options.maxSegmentBytes = 4096
        do {
            let log = try RaftLogStorage(directory: directory.path, options: options)
            try log.persist(hardState: nil, snapshot: nil, entries: entries(1...10, term: 1, size: 64), sync: true)
            let first = directory.path + "/" + directory.segments[0]
            try truncateFile(first, to: try fileSize(first) + 8192)
            for batch in 1..<20 {
                let start = UInt64(batch * 10 + 1)
                try log.persist(hardState: nil, snapshot: nil, entries: entries(start...(start + 9), term: 1, size: 64), sync: true)
            }
            #expect(log.segmentCount > 1)
            log.close()
        }
        let first = directory.path + "/" + directory.segments[0]
        #expect(try fileSize(first) == RaftLogStorage.recordsLength(ofSegmentAt: first))
        let reopened = try RaftLogStorage(directory: directory.path, options: options)
        #expect(reopened.recovered.entries.map(\.index) == Array(1...200))
    }

    // Bytes that are not a record, in reserved space after the last record (a write whose start
    // never reached the disk), are a torn write: cut off, and the log goes on.
    @Test func garbageInsideReservedSpaceIsATornWrite() throws {
        let directory = try TemporaryDirectory()
        do {
            let log = try RaftLogStorage(directory: directory.path)
            try log.persist(hardState: nil, snapshot: nil, entries: entries(1...3, term: 1), sync: true)
            log.close()
        }
        let segment = directory.path + "/" + directory.segments[0]
        let written = try RaftLogStorage.recordsLength(ofSegmentAt: segment)
        try overwrite(segment, at: written + 100, with: [UInt8](repeating: 0xA5, count: 20))
        do {
            let reopened = try RaftLogStorage(directory: directory.path)
            #expect(reopened.recovered.entries.map(\.index) == [1, 2, 3])
            #expect(reopened.recovered.discardedTornBytes == 120)
            try reopened.persist(hardState: nil, snapshot: nil, entries: entries(4...4, term: 1), sync: true)
            reopened.close()
        }
        let again = try RaftLogStorage(directory: directory.path)
        #expect(again.recovered.entries.map(\.index) == [1, 2, 3, 4])
        #expect(again.recovered.discardedTornBytes == 0)
    }

    // Only the last segment may end in reserved space: a full one gives it back before the
    // next one starts, so zeros after an earlier segment's records are damage.
    @Test func closedSegmentsGiveBackTheirReservedSpace() throws {
        let directory = try TemporaryDirectory()
        let options = try writeSmallSegments(in: directory, batches: 20)
        let paths = directory.segments.map { directory.path + "/" + $0 }
        #expect(paths.count > 2)
        for path in paths.dropLast() {
            #expect(try fileSize(path) == RaftLogStorage.recordsLength(ofSegmentAt: path))
        }
        _ = try RaftLogStorage(directory: directory.path, options: options)
        try truncateFile(paths[0], to: try fileSize(paths[0]) + 4096)
        #expect(throws: StorageError.self) { _ = try RaftLogStorage(directory: directory.path, options: options) }
    }
}
