import RaftCore
import Testing

/// The wire encoding of Raft messages: every kind round-trips, the bytes are pinned, and no
/// malformed input is accepted or crashes the decoder.
@Suite struct MessageEncodingTests {
    static let membership = Membership(voters: [1, 2, 3], learners: [4])

    static let messages: [Message] = [
        Message(
            from: 1, to: 2, term: 7,
            kind: .appendEntries(
                AppendEntries(
                    previous: LogPosition(index: 9, term: 6),
                    entries: [
                        Entry(term: 7, index: 10, payload: .noop), Entry(term: 7, index: 11, payload: .command([1, 2, 3])),
                        Entry(term: 7, index: 12, payload: .membership(.addLearner(4))),
                    ], commit: 9))),
        Message(from: 1, to: 2, term: 7, kind: .appendEntries(AppendEntries(previous: LogPosition(index: 0, term: 0), entries: [], commit: 0))),
        Message(from: 2, to: 1, term: 7, kind: .appendResponse(AppendResponse(index: 12))),
        Message(from: 2, to: 1, term: 7, kind: .appendResponse(AppendResponse(index: 9, rejected: true, hint: LogPosition(index: 5, term: 3)))),
        Message(from: 1, to: 3, term: 7, kind: .heartbeat(Heartbeat(commit: 11, readRound: 4))),
        Message(from: 3, to: 1, term: 7, kind: .heartbeatResponse(readRound: 4)),
        Message(from: 2, to: 3, term: 8, kind: .requestVote(VoteRequest(lastPosition: LogPosition(index: 12, term: 7), leadershipTransfer: true))),
        Message(from: 3, to: 2, term: 8, kind: .voteResponse(granted: true)),
        Message(from: 2, to: 3, term: 8, kind: .requestPreVote(VoteRequest(lastPosition: LogPosition(index: 12, term: 7), leadershipTransfer: false))),
        Message(from: 3, to: 2, term: 8, kind: .preVoteResponse(granted: false)),
        Message(from: 1, to: 4, term: 7, kind: .installSnapshot(SnapshotMetadata(index: 100, term: 6, membership: membership))),
        Message(from: 1, to: 2, term: 7, kind: .timeoutNow),
        Message(from: 2, to: 1, term: 7, kind: .readIndex(ReadContext(number: 42))),
        Message(from: 1, to: 2, term: 7, kind: .readIndexResponse(context: ReadContext([9, 9]), index: 11)),
    ]

    @Test(arguments: messages)
    func everyMessageKindRoundTrips(_ message: Message) throws {
        let bytes = RaftEncoding.encode(message)
        #expect(try RaftEncoding.decodeMessage(bytes) == message)
    }

    @Test(arguments: messages)
    func everyTruncationIsRejected(_ message: Message) {
        let bytes = RaftEncoding.encode(message)
        for length in 0..<bytes.count {
            #expect(throws: RaftDecodingError.self) { try RaftEncoding.decodeMessage(Array(bytes[0..<length])) }
        }
        #expect(throws: RaftDecodingError.self) { try RaftEncoding.decodeMessage(bytes + [0]) }
    }

    // The wire format must never change silently.
    @Test func heartbeatMatchesGoldenBytes() {
        let bytes = RaftEncoding.encode(Message(from: 1, to: 2, term: 3, kind: .heartbeat(Heartbeat(commit: 4, readRound: 5))))
        #expect(bytes == [
            1, 3,  // version, kind
            1, 0, 0, 0, 0, 0, 0, 0,  // from
            2, 0, 0, 0, 0, 0, 0, 0,  // to
            3, 0, 0, 0, 0, 0, 0, 0,  // term
            4, 0, 0, 0, 0, 0, 0, 0,  // commit
            5, 0, 0, 0, 0, 0, 0, 0,  // read round
        ])
    }

    @Test func voteRequestMatchesGoldenBytes() {
        let bytes = RaftEncoding.encode(
            Message(from: 2, to: 1, term: 9, kind: .requestVote(VoteRequest(lastPosition: LogPosition(index: 7, term: 8), leadershipTransfer: true))))
        #expect(bytes == [1, 5, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0,
            7, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1])
    }

    @Test func invalidValuesAreRejectedWithTheirReason() {
        let heartbeat = RaftEncoding.encode(Message(from: 1, to: 2, term: 3, kind: .heartbeat(Heartbeat(commit: 4, readRound: 5))))
        var version = heartbeat
        version[0] = 2
        #expect(throws: RaftDecodingError.invalid("message version 2")) { try RaftEncoding.decodeMessage(version) }
        var kind = heartbeat
        kind[1] = 99
        #expect(throws: RaftDecodingError.invalid("message kind 99")) { try RaftEncoding.decodeMessage(kind) }
        var sender = heartbeat
        sender[2] = 0
        #expect(throws: RaftDecodingError.invalid("sender")) { try RaftEncoding.decodeMessage(sender) }
        var flag = RaftEncoding.encode(Message(from: 3, to: 2, term: 8, kind: .voteResponse(granted: true)))
        flag[flag.count - 1] = 2
        #expect(throws: RaftDecodingError.invalid("granted")) { try RaftEncoding.decodeMessage(flag) }
        // An append whose entries do not follow its previous entry.
        let gap = Message(
            from: 1, to: 2, term: 7,
            kind: .appendEntries(AppendEntries(previous: LogPosition(index: 9, term: 6), entries: [Entry(term: 7, index: 11, payload: .noop)], commit: 9)))
        #expect(throws: RaftDecodingError.invalid("entry index")) { try RaftEncoding.decodeMessage(RaftEncoding.encode(gap)) }
        // A read context over the limit.
        let long = Message(from: 2, to: 1, term: 7, kind: .readIndex(ReadContext([UInt8](repeating: 1, count: 300))))
        #expect(throws: RaftDecodingError.invalid("read context length")) { try RaftEncoding.decodeMessage(RaftEncoding.encode(long)) }
        // An entry count no frame could hold.
        var count = RaftEncoding.encode(Message(from: 1, to: 2, term: 7, kind: .appendEntries(AppendEntries(previous: LogPosition(index: 0, term: 0), entries: [], commit: 0))))
        count.replaceSubrange((count.count - 4)..<count.count, with: [0xFF, 0xFF, 0xFF, 0x7F])
        #expect(throws: RaftDecodingError.invalid("entry count")) { try RaftEncoding.decodeMessage(count) }
    }

    // Random bytes and random mutations of valid messages never crash the decoder, and what it
    // accepts re-encodes to the same bytes (one encoding per message).
    @Test func fuzzedInputNeverCrashesAndAcceptedInputIsCanonical() {
        var random = DeterministicRandom(seed: 2026)
        var accepted = 0
        for round in 0..<30_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = RaftEncoding.encode(Self.messages[random.below(Self.messages.count)])
                for _ in 0..<(1 + random.below(3)) { bytes[random.below(bytes.count)] = UInt8(truncatingIfNeeded: random.next()) }
            } else {
                bytes = [1, UInt8(1 + random.below(12))] + (0..<random.below(80)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }
            if let message = try? RaftEncoding.decodeMessage(bytes) {
                accepted += 1
                #expect(RaftEncoding.encode(message) == bytes)
            }
        }
        #expect(accepted > 0, "some mutations (of terms, indexes) are still valid messages")
    }
}
