public import Foundation
internal import Crypto

/// A cluster snapshot file (`rampart snapshot save`, `GET /v1/snapshot`): the policy database of
/// one replica at one revision, with a header that names it and checksums that find damage.
///
/// Layout:
///
/// ```
/// RAMPART-SNAPSHOT 1\n          the magic line: the format and its version
/// {"cluster_id":...}\n          the header (`SnapshotHeader`), one line of JSON
/// <database_bytes bytes>        the SQLite database: state, audit log, sealed root keys
/// ```
///
/// The header carries the SHA-256 of the whole database and of each `chunk_bytes` chunk, so a
/// check names the first damaged range. It also names what the database must hold (revision,
/// state hash, audit head), which `rampart snapshot inspect` recomputes from the database:
/// a header edited to lie about its contents is caught there.
public enum SnapshotArchive {
    /// The first line of every snapshot file.
    public static let magic = Array("RAMPART-SNAPSHOT 1\n".utf8)
    /// The version of the layout `magic` announces.
    public static let formatVersion = 1
    /// The size of the checksummed chunks.
    public static let chunkBytes = 1 << 20
    /// The longest header line read (a database of 4 TiB has 4 Mi chunks of 64 hex digits;
    /// this bounds what a damaged file can make a reader allocate).
    public static let maxHeaderBytes = 64 << 20

    /// The header line (with its newline) for `header`.
    public static func encode(_ header: SnapshotHeader) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return magic + Array(try encoder.encode(header)) + [UInt8(ascii: "\n")]
    }

    /// Checksums of a database as `SnapshotHeader` records them, fed in order.
    public struct Digest {
        private var whole = SHA256()
        private var chunk = SHA256()
        private var inChunk = 0
        /// The bytes fed so far.
        public private(set) var count: UInt64 = 0
        /// The hex SHA-256 of each complete chunk so far.
        public private(set) var chunks: [String] = []

        /// An empty digest.
        public init() {}

        /// Feeds the next bytes.
        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            whole.update(bufferPointer: bytes)
            var offset = 0
            while offset < bytes.count {
                let take = min(SnapshotArchive.chunkBytes - inChunk, bytes.count - offset)
                chunk.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
                inChunk += take
                offset += take
                if inChunk == SnapshotArchive.chunkBytes { closeChunk() }
            }
            count += UInt64(bytes.count)
        }

        private mutating func closeChunk() {
            chunks.append(Hex.encode(Array(chunk.finalize())))
            chunk = SHA256()
            inChunk = 0
        }

        /// The whole database's SHA-256 (hex) and every chunk's, the last one possibly short.
        public mutating func finish() -> (sha256: String, chunks: [String]) {
            if inChunk > 0 { closeChunk() }
            return (Hex.encode(Array(whole.finalize())), chunks)
        }
    }

    /// The checksums of the file at `path`, read whole.
    public static func digest(ofFileAt path: String) throws(SnapshotArchiveError) -> (sha256: String, chunks: [String], bytes: UInt64) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw .unreadable(path, "cannot open it") }
        defer { try? handle.close() }
        var digest = Digest()
        while true {
            let data: Data
            do {
                data = try handle.read(upToCount: chunkBytes) ?? Data()
            } catch {
                throw .unreadable(path, "\(error)")
            }
            if data.isEmpty { break }
            data.withUnsafeBytes { digest.update($0) }
        }
        let count = digest.count
        let (sha256, chunks) = digest.finish()
        return (sha256, chunks, count)
    }

    /// Checks a snapshot file's framing and checksums (not what the database holds: that needs
    /// SQLite, see `rampart snapshot inspect`).
    /// - Returns: the header and the offset of the database's first byte in the file.
    /// - Throws: `SnapshotArchiveError` naming the offset of the first thing wrong.
    public static func verify(fileAt path: String) throws(SnapshotArchiveError) -> (header: SnapshotHeader, databaseOffset: UInt64) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw .unreadable(path, "cannot open it") }
        defer { try? handle.close() }
        let fileSize: UInt64
        do {
            fileSize = try handle.seekToEnd()
            try handle.seek(toOffset: 0)
        } catch {
            throw .unreadable(path, "\(error)")
        }
        let (header, offset) = try readHeader(handle, path: path, fileSize: fileSize)
        // A header read from the file: its length may be anything (checked arithmetic).
        let (end, overflow) = offset.addingReportingOverflow(header.databaseBytes)
        guard !overflow else { throw .invalidHeader("a database of \(header.databaseBytes) bytes cannot follow offset \(offset)") }
        guard fileSize >= end else {
            throw .truncated(
                "the file ends at offset \(fileSize), but its header promises \(header.databaseBytes) database bytes from offset \(offset) (to \(end))")
        }
        guard fileSize == end else { throw .damaged(offset: end, "\(fileSize - end) bytes follow the database's end") }
        var digest = Digest()
        var checkedChunks = 0
        while digest.count < header.databaseBytes {
            let data: Data
            do {
                data = try handle.read(upToCount: chunkBytes) ?? Data()
            } catch {
                throw .unreadable(path, "\(error)")
            }
            guard !data.isEmpty else { throw .truncated("the file ends at offset \(offset + digest.count) while reading the database") }
            data.withUnsafeBytes { digest.update($0) }
            // The chunks completed so far, checked as soon as complete: the first damage is named.
            while checkedChunks < digest.chunks.count {
                guard checkedChunks < header.chunkSHA256.count, digest.chunks[checkedChunks] == header.chunkSHA256[checkedChunks] else {
                    throw chunkMismatch(checkedChunks, header: header, offset: offset)
                }
                checkedChunks += 1
            }
        }
        let (sha256, chunks) = digest.finish()
        guard chunks.count == header.chunkSHA256.count else {
            if chunks.count > checkedChunks, checkedChunks < header.chunkSHA256.count, chunks[checkedChunks] != header.chunkSHA256[checkedChunks] {
                throw chunkMismatch(checkedChunks, header: header, offset: offset)
            }
            throw .invalidHeader("the header lists \(header.chunkSHA256.count) chunk checksums for a database of \(chunks.count) chunks")
        }
        if checkedChunks < chunks.count, chunks[checkedChunks] != header.chunkSHA256[checkedChunks] {
            throw chunkMismatch(checkedChunks, header: header, offset: offset)
        }
        guard sha256 == header.sha256 else {
            throw .damaged(offset: offset, "the database's SHA-256 is \(sha256), the header says \(header.sha256)")
        }
        return (header, offset)
    }

    private static func chunkMismatch(_ index: Int, header: SnapshotHeader, offset: UInt64) -> SnapshotArchiveError {
        let start = offset + UInt64(index) * UInt64(chunkBytes)
        let end = min(start + UInt64(chunkBytes), offset + header.databaseBytes)
        return .damaged(offset: start, "the bytes at offsets \(start)..<\(end) (database chunk \(index)) do not match their checksum")
    }

    /// Reads the magic line and the header line.
    private static func readHeader(_ handle: FileHandle, path: String, fileSize: UInt64) throws(SnapshotArchiveError)
        -> (SnapshotHeader, UInt64)
    {
        let start: Data
        do {
            start = try handle.read(upToCount: magic.count) ?? Data()
        } catch {
            throw .unreadable(path, "\(error)")
        }
        let begins = Array(start)
        guard begins == magic else {
            if magic.starts(with: begins) {
                throw .truncated("the file ends at offset \(start.count), inside the \(magic.count)-byte magic line")
            }
            if begins.starts(with: Array("RAMPART-SNAPSHOT ".utf8)) {
                throw .invalidHeader("the magic line announces a format this build does not read (it reads version \(formatVersion))")
            }
            throw .damaged(offset: 0, "not a Rampart snapshot: the file does not begin with \"RAMPART-SNAPSHOT 1\"")
        }
        var line = Data()
        var offset = UInt64(magic.count)
        while true {
            let piece: Data
            do {
                piece = try handle.read(upToCount: 64 << 10) ?? Data()
            } catch {
                throw .unreadable(path, "\(error)")
            }
            guard !piece.isEmpty else { throw .truncated("the file ends at offset \(offset + UInt64(line.count)), inside the header line") }
            if let newline = piece.firstIndex(of: UInt8(ascii: "\n")) {
                line.append(piece[piece.startIndex..<newline])
                offset += UInt64(line.count) + 1
                break
            }
            line.append(piece)
            guard line.count <= maxHeaderBytes else { throw .invalidHeader("the header line is longer than \(maxHeaderBytes) bytes") }
        }
        let header: SnapshotHeader
        do {
            header = try JSONDecoder().decode(SnapshotHeader.self, from: line)
        } catch {
            throw .invalidHeader("the header at offset \(magic.count) is not a snapshot header: \(error)")
        }
        guard header.format == formatVersion else { throw .invalidHeader("format \(header.format) is not \(formatVersion)") }
        guard header.chunkBytes == chunkBytes else {
            throw .invalidHeader("chunks of \(header.chunkBytes) bytes; this build reads chunks of \(chunkBytes)")
        }
        do {
            try handle.seek(toOffset: offset)
        } catch {
            throw .unreadable(path, "\(error)")
        }
        return (header, offset)
    }
}

/// The header of a snapshot file (`SnapshotArchive`).
public struct SnapshotHeader: Codable, Sendable, Hashable {
    /// The layout's version (`SnapshotArchive.formatVersion`).
    public var format: Int
    /// The id of the cluster the snapshot was saved from (`ClusterIdentity`).
    public var clusterID: String
    /// The replica that saved it.
    public var replicaID: UInt64
    /// The revision (applied log index) the database holds.
    public var revision: UInt64
    /// The state hash (hex) of the database, as `GET /v1/cluster/hash` reports it.
    public var stateHash: String
    /// The newest audit record's sequence number.
    public var auditSequence: UInt64
    /// The newest audit record's hash (hex): the head of the chain.
    public var auditHead: String
    /// When the snapshot was saved (RFC 3339, UTC).
    public var createdAt: String
    /// The build that saved it.
    public var version: String
    /// The database's length.
    public var databaseBytes: UInt64
    /// The database's SHA-256 (hex).
    public var sha256: String
    /// The checksummed chunks' length (`SnapshotArchive.chunkBytes`).
    public var chunkBytes: Int
    /// The SHA-256 (hex) of each chunk, the last one possibly short.
    public var chunkSHA256: [String]

    /// Creates a header.
    public init(
        clusterID: String, replicaID: UInt64, revision: UInt64, stateHash: String, auditSequence: UInt64, auditHead: String,
        createdAt: String, version: String, databaseBytes: UInt64, sha256: String, chunkSHA256: [String]
    ) {
        format = SnapshotArchive.formatVersion
        self.clusterID = clusterID
        self.replicaID = replicaID
        self.revision = revision
        self.stateHash = stateHash
        self.auditSequence = auditSequence
        self.auditHead = auditHead
        self.createdAt = createdAt
        self.version = version
        self.databaseBytes = databaseBytes
        self.sha256 = sha256
        chunkBytes = SnapshotArchive.chunkBytes
        self.chunkSHA256 = chunkSHA256
    }

    enum CodingKeys: String, CodingKey {
        case format, revision, version, sha256
        case clusterID = "cluster_id"
        case replicaID = "replica_id"
        case stateHash = "state_hash"
        case auditSequence = "audit_sequence"
        case auditHead = "audit_head"
        case createdAt = "created_at"
        case databaseBytes = "database_bytes"
        case chunkBytes = "chunk_bytes"
        case chunkSHA256 = "chunk_sha256"
    }
}

/// Why a snapshot file cannot be used.
public enum SnapshotArchiveError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file cannot be opened or read.
    case unreadable(String, String)
    /// The file ends early.
    case truncated(String)
    /// Bytes at `offset` are not what the file says they are.
    case damaged(offset: UInt64, String)
    /// The header cannot be read or is not one this build reads.
    case invalidHeader(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
        case .truncated(let reason): return "truncated snapshot: \(reason)"
        case .damaged(let offset, let reason): return "damaged snapshot at offset \(offset): \(reason)"
        case .invalidHeader(let reason): return "invalid snapshot header: \(reason)"
        }
    }
}

/// The id of a cluster: the first 8 bytes of `HMAC-SHA256(cluster secret, "rampart-cluster-id")`,
/// in hex. Every member knows it without being told, it reveals nothing of the secret, and it
/// changes with the secret: a restored cluster is given a new secret (so the old cluster's
/// members cannot talk to it), and so a new id.
public enum ClusterIdentity {
    /// The id of the cluster whose members share `secret`.
    public static func id(secret: [UInt8]) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array("rampart-cluster-id".utf8), using: SymmetricKey(data: secret))
        return Hex.encode(Array(Array(code).prefix(8)))
    }
}
