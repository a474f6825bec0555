// The wire encoding of Raft messages, shared by every transport. Version 1 layout:
// version (u8) | kind (u8) | from (u64) | to (u64) | term (u64) | body of the kind.
extension RaftEncoding {
    /// The message encoding version this build writes and reads.
    public static let messageVersion: UInt8 = 1
    /// The most entries one decoded append may carry.
    public static let maxEntriesPerMessage = 1 << 16
    /// The most bytes of a read context.
    public static let maxReadContextBytes = 256

    /// Appends the encoding of `message` to `buffer`.
    public static func append(_ message: Message, to buffer: inout [UInt8]) {
        buffer.append(messageVersion)
        buffer.append(message.kind.wireTag)
        appendInteger(message.from.rawValue, to: &buffer)
        appendInteger(message.to.rawValue, to: &buffer)
        appendInteger(message.term, to: &buffer)
        switch message.kind {
        case .appendEntries(let append):
            appendPosition(append.previous, to: &buffer)
            appendInteger(append.commit, to: &buffer)
            appendInteger(UInt32(append.entries.count), to: &buffer)
            for entry in append.entries { self.append(entry, to: &buffer) }
        case .appendResponse(let response):
            appendInteger(response.index, to: &buffer)
            buffer.append(response.rejected ? 1 : 0)
            appendPosition(response.hint, to: &buffer)
        case .heartbeat(let heartbeat):
            appendInteger(heartbeat.commit, to: &buffer)
            appendInteger(heartbeat.readRound, to: &buffer)
        case .heartbeatResponse(let round):
            appendInteger(round, to: &buffer)
        case .requestVote(let request), .requestPreVote(let request):
            appendPosition(request.lastPosition, to: &buffer)
            buffer.append(request.leadershipTransfer ? 1 : 0)
        case .voteResponse(let granted), .preVoteResponse(let granted):
            buffer.append(granted ? 1 : 0)
        case .installSnapshot(let metadata):
            append(metadata, to: &buffer)
        case .timeoutNow:
            break
        case .readIndex(let context):
            appendContext(context, to: &buffer)
        case .readIndexResponse(let context, let index):
            appendContext(context, to: &buffer)
            appendInteger(index, to: &buffer)
        }
    }

    /// The encoding of `message` as a new buffer.
    public static func encode(_ message: Message) -> [UInt8] {
        var buffer: [UInt8] = []
        append(message, to: &buffer)
        return buffer
    }

    /// Decodes one whole message: every byte must belong to it.
    /// - Throws: `RaftDecodingError` for any malformed, truncated or oversized input.
    public static func decodeMessage(_ bytes: [UInt8]) throws(RaftDecodingError) -> Message {
        var decoder = RaftDecoder(bytes)
        let message = try decoder.message()
        guard decoder.remaining == 0 else { throw .invalid("\(decoder.remaining) bytes after the message") }
        return message
    }

    private static func appendPosition(_ position: LogPosition, to buffer: inout [UInt8]) {
        appendInteger(position.index, to: &buffer)
        appendInteger(position.term, to: &buffer)
    }

    private static func appendContext(_ context: ReadContext, to buffer: inout [UInt8]) {
        appendInteger(UInt16(context.bytes.count), to: &buffer)
        buffer.append(contentsOf: context.bytes)
    }
}

extension Message.Kind {
    /// The kind's tag on the wire. Never renumber.
    var wireTag: UInt8 {
        switch self {
        case .appendEntries: return 1
        case .appendResponse: return 2
        case .heartbeat: return 3
        case .heartbeatResponse: return 4
        case .requestVote: return 5
        case .voteResponse: return 6
        case .requestPreVote: return 7
        case .preVoteResponse: return 8
        case .installSnapshot: return 9
        case .timeoutNow: return 10
        case .readIndex: return 11
        case .readIndexResponse: return 12
        }
    }
}

extension RaftDecoder {
    /// Reads a message.
    public mutating func message() throws(RaftDecodingError) -> Message {
        let version = try byte("message version")
        guard version == RaftEncoding.messageVersion else { throw .invalid("message version \(version)") }
        let tag = try byte("message kind")
        let from = try replicaID("sender")
        let to = try replicaID("recipient")
        let term = try term("term")
        let kind: Message.Kind
        switch tag {
        case 1:
            let previous = try position("previous entry")
            let commit = try index("commit")
            let count = Int(try integer(UInt32.self, "entry count"))
            guard count <= RaftEncoding.maxEntriesPerMessage else { throw .invalid("entry count") }
            var entries: [Entry] = []
            for offset in 0..<count {
                let next = try entry()
                guard next.index == previous.index + 1 + UInt64(offset) else { throw .invalid("entry index") }
                entries.append(next)
            }
            kind = .appendEntries(AppendEntries(previous: previous, entries: entries, commit: commit))
        case 2:
            let index = try index("index")
            let rejected = try flag("rejected")
            kind = .appendResponse(AppendResponse(index: index, rejected: rejected, hint: try position("hint")))
        case 3:
            let commit = try index("commit")
            kind = .heartbeat(Heartbeat(commit: commit, readRound: try integer(UInt64.self, "read round")))
        case 4:
            kind = .heartbeatResponse(readRound: try integer(UInt64.self, "read round"))
        case 5, 7:
            let last = try position("last entry")
            let request = VoteRequest(lastPosition: last, leadershipTransfer: try flag("transfer"))
            kind = tag == 5 ? .requestVote(request) : .requestPreVote(request)
        case 6:
            kind = .voteResponse(granted: try flag("granted"))
        case 8:
            kind = .preVoteResponse(granted: try flag("granted"))
        case 9:
            kind = .installSnapshot(try snapshotMetadata())
        case 10:
            kind = .timeoutNow
        case 11:
            kind = .readIndex(try context())
        case 12:
            let context = try context()
            kind = .readIndexResponse(context: context, index: try index("read index"))
        default:
            throw .invalid("message kind \(tag)")
        }
        return Message(from: from, to: to, term: term, kind: kind)
    }

    private mutating func position(_ field: String) throws(RaftDecodingError) -> LogPosition {
        let index = try index(field + " index")
        return LogPosition(index: index, term: try term(field + " term"))
    }

    private mutating func flag(_ field: String) throws(RaftDecodingError) -> Bool {
        switch try byte(field) {
        case 0: return false
        case 1: return true
        default: throw .invalid(field)
        }
    }

    private mutating func context() throws(RaftDecodingError) -> ReadContext {
        let count = Int(try integer(UInt16.self, "read context length"))
        guard count <= RaftEncoding.maxReadContextBytes else { throw .invalid("read context length") }
        return ReadContext(try bytes(count: count, "read context"))
    }
}
