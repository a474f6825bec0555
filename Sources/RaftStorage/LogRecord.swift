import RaftCore

/// One record of the write-ahead log. Replaying the records of all segments in order rebuilds
/// the Raft log, hard state and snapshot metadata.
///
/// Framing: `[payload length: u32][CRC-32C of type and payload: u32][type: u8][payload]`, all
/// little-endian. A record is valid only if it is complete and its checksum matches.
enum LogRecord: Hashable {
    /// An entry. An entry whose index is at or below the last replayed one replaces that suffix
    /// (a follower overwriting a conflicting tail), so truncation needs no record of its own.
    case entry(Entry)
    /// The hard state; the last one replayed wins.
    case hardState(HardState)
    /// A snapshot received from the leader was installed: the log restarts after it.
    case snapshotInstalled(SnapshotMetadata)
    /// The log was compacted through the snapshot: entries up to it are dropped, later ones kept.
    case compacted(SnapshotMetadata)
    /// The start of a segment: the state needed to replay from here without earlier segments.
    case checkpoint(HardState, SnapshotMetadata)
    /// Several records written as one: one checksum covers them all, so a torn write loses the
    /// whole batch or nothing of it.
    case batch([LogRecord])

    static let headerBytes = 9

    /// The highest entry index the record holds (0 when none).
    var maxEntryIndex: LogIndex {
        switch self {
        case .entry(let entry): return entry.index
        case .batch(let records): return records.map(\.maxEntryIndex).max() ?? 0
        case .hardState, .snapshotInstalled, .compacted, .checkpoint: return 0
        }
    }

    var type: UInt8 {
        switch self {
        case .entry: return 1
        case .hardState: return 2
        case .snapshotInstalled: return 3
        case .compacted: return 4
        case .checkpoint: return 5
        case .batch: return 6
        }
    }

    /// Appends the framed record to `buffer`.
    func append(to buffer: inout [UInt8]) {
        var body: [UInt8] = []
        appendBody(to: &body)
        Self.frame(body, into: &buffer)
    }

    /// The type byte and payload of the record, unframed.
    var body: [UInt8] {
        var body: [UInt8] = []
        appendBody(to: &body)
        return body
    }

    /// Frames a body (type byte and payload): length of the payload, checksum of the body.
    static func frame(_ body: [UInt8], into buffer: inout [UInt8]) {
        RaftEncoding.appendInteger(UInt32(body.count - 1), to: &buffer)
        RaftEncoding.appendInteger(CRC32C.checksum(body, 0..<body.count), to: &buffer)
        buffer.append(contentsOf: body)
    }

    /// The body of a batch holding records with these bodies.
    static func batchBody(_ bodies: [[UInt8]]) -> [UInt8] {
        var batch: [UInt8] = [6]
        for body in bodies {
            RaftEncoding.appendInteger(UInt32(body.count), to: &batch)
            batch.append(contentsOf: body)
        }
        return batch
    }

    /// Appends the type byte and the payload. Records inside a batch are written this way, each
    /// after its length, without a checksum of their own: the batch's covers them, and a scan
    /// for valid records after damage cannot mistake them for top-level ones.
    private func appendBody(to buffer: inout [UInt8]) {
        buffer.append(type)
        switch self {
        case .entry(let entry): RaftEncoding.append(entry, to: &buffer)
        case .hardState(let hardState): RaftEncoding.append(hardState, to: &buffer)
        case .snapshotInstalled(let metadata), .compacted(let metadata): RaftEncoding.append(metadata, to: &buffer)
        case .checkpoint(let hardState, let metadata):
            RaftEncoding.append(hardState, to: &buffer)
            RaftEncoding.append(metadata, to: &buffer)
        case .batch(let records):
            for record in records {
                var body: [UInt8] = []
                record.appendBody(to: &body)
                RaftEncoding.appendInteger(UInt32(body.count), to: &buffer)
                buffer.append(contentsOf: body)
            }
        }
    }

    /// What reading a record at some offset found.
    enum ReadResult {
        /// A valid record and the offset after it.
        case record(LogRecord, next: Int)
        /// The bytes from the offset to the end are not a complete valid record.
        case invalid(String)
        /// The offset is the end of the bytes.
        case end
    }

    /// Reads the record at `offset`.
    static func read(_ bytes: [UInt8], at offset: Int, maxRecordBytes: Int) -> ReadResult {
        guard offset < bytes.count else { return .end }
        guard bytes.count - offset >= headerBytes else { return .invalid("incomplete record header") }
        var header = RaftDecoder(bytes, offset: offset)
        guard let length = try? header.integer(UInt32.self, "length"), let checksum = try? header.integer(UInt32.self, "crc")
        else { return .invalid("incomplete record header") }
        guard Int(length) <= maxRecordBytes else { return .invalid("record length \(length) exceeds the limit") }
        guard (1...6).contains(bytes[offset + 8]) else { return .invalid("unknown record type \(bytes[offset + 8])") }
        let end = offset + headerBytes + Int(length)
        guard end <= bytes.count else { return .invalid("record extends past the end of the file") }
        guard CRC32C.checksum(bytes, (offset + 8)..<end) == checksum else { return .invalid("checksum mismatch") }
        do {
            var decoder = RaftDecoder(bytes, offset: offset + 8, end: end)
            let record = try decodeBody(&decoder)
            guard decoder.remaining == 0 else { return .invalid("record has \(decoder.remaining) unread bytes") }
            return .record(record, next: end)
        } catch {
            return .invalid("undecodable record: \(error)")
        }
    }

    /// Decodes a type byte and its payload; a batch decodes the records it holds.
    private static func decodeBody(_ decoder: inout RaftDecoder) throws(RaftDecodingError) -> LogRecord {
        let type = try decoder.byte("record type")
        guard type == 6 else { return try decode(type: type, &decoder) }
        var inner: [LogRecord] = []
        while decoder.remaining > 0 {
            let length = Int(try decoder.integer(UInt32.self, "batched record length"))
            var body = RaftDecoder(try decoder.bytes(count: length, "batched record"))
            let innerType = try body.byte("batched record type")
            guard innerType != 6 else { throw .invalid("a batch inside a batch") }
            inner.append(try decode(type: innerType, &body))
            guard body.remaining == 0 else { throw .invalid("batched record has unread bytes") }
        }
        guard !inner.isEmpty else { throw .invalid("an empty batch") }
        return .batch(inner)
    }

    private static func decode(type: UInt8, _ decoder: inout RaftDecoder) throws(RaftDecodingError) -> LogRecord {
        switch type {
        case 1: return .entry(try decoder.entry())
        case 2: return .hardState(try decoder.hardState())
        case 3: return .snapshotInstalled(try decoder.snapshotMetadata())
        case 4: return .compacted(try decoder.snapshotMetadata())
        case 5: return .checkpoint(try decoder.hardState(), try decoder.snapshotMetadata())
        default: throw .invalid("record type \(type)")
        }
    }
}
