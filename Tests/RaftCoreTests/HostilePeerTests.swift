import RaftCore
import Testing

/// Numbers from the network are never trusted: a peer holding the cluster secret can send any
/// well-sealed message, and no replica may crash or be led astray by one it could not have
/// received from a correct member.
@Suite struct HostilePeerTests {
    static let extremeTerms: [Term] = [RaftBounds.maxTerm + 1, UInt64.max - 1, UInt64.max]

    /// The outside review's packet: term 2^64 - 1 made the next campaign trap on `term + 1`, and
    /// again after every restart. Decoders refuse such a term, and `step` ignores it too.
    @Test(arguments: extremeTerms)
    func aTermBeyondTheBoundIsRefusedAndTheReplicaCampaignsOn(_ hostileTerm: Term) throws {
        var replica = try makeInstance(1)
        for kind: Message.Kind in [
            .requestVote(VoteRequest(lastPosition: LogPosition(index: 0, term: 0), leadershipTransfer: true)),
            .heartbeat(Heartbeat(commit: 0, readRound: 0)), .appendResponse(AppendResponse(index: 0)), .timeoutNow,
        ] {
            // From a member and from an id no membership holds.
            for sender: ReplicaID in [2, ReplicaID(rawValue: UInt64.max)] {
                let message = Message(from: sender, to: 1, term: hostileTerm, kind: kind)
                #expect(throws: RaftDecodingError.self) { try RaftEncoding.decodeMessage(RaftEncoding.encode(message)) }
                replica.step(message)
            }
        }
        #expect(replica.term == 1)
        #expect(replica.refusedMessages == 8)
        replica.campaign()
        _ = replica.drain()
        #expect(replica.term <= 2)
    }

    @Test func valuesAtTheBoundsStillDecode() throws {
        let message = Message(
            from: 2, to: 1, term: RaftBounds.maxTerm,
            kind: .appendResponse(AppendResponse(index: RaftBounds.maxIndex, rejected: true, hint: LogPosition(index: RaftBounds.maxIndex, term: RaftBounds.maxTerm))))
        #expect(try RaftEncoding.decodeMessage(RaftEncoding.encode(message)) == message)
        let beyond = Message(
            from: 2, to: 1, term: 3, kind: .appendResponse(AppendResponse(index: RaftBounds.maxIndex + 1)))
        #expect(throws: RaftDecodingError.self) { try RaftEncoding.decodeMessage(RaftEncoding.encode(beyond)) }
        let entry = Message(
            from: 1, to: 2, term: 3,
            kind: .appendEntries(
                AppendEntries(previous: LogPosition(index: UInt64.max - 1, term: 2), entries: [], commit: UInt64.max)))
        #expect(throws: RaftDecodingError.self) { try RaftEncoding.decodeMessage(RaftEncoding.encode(entry)) }
    }

    /// A vote request, a vote, or a replication answer from an id outside the membership
    /// changes nothing: no new term, no vote given, no vote counted.
    @Test func aNonMemberNeitherDisruptsNorVotes() throws {
        var follower = try makeInstance(1)
        follower.step(Message(from: 9, to: 1, term: 5, kind: .requestVote(VoteRequest(lastPosition: LogPosition(index: 99, term: 4), leadershipTransfer: true))))
        #expect(follower.term == 1)
        #expect(follower.drainMessages().isEmpty)
        #expect(follower.refusedMessages == 1)

        var candidate = try makeInstance(1) { $0.preVote = false }
        candidate.campaign()
        _ = candidate.drain()
        let term = candidate.term
        for stranger: ReplicaID in [7, 8, 9] {
            candidate.step(Message(from: stranger, to: 1, term: term, kind: .voteResponse(granted: true)))
        }
        #expect(candidate.role == .candidate, "votes of strangers are not counted")
        candidate.step(Message(from: 2, to: 1, term: term, kind: .voteResponse(granted: true)))
        #expect(candidate.role == .leader)
    }

    /// A leader's appends are taken from anyone: a replica that was down while members were
    /// added must follow a leader its log does not know yet.
    @Test func aLeaderTheLogDoesNotKnowYetIsFollowed() throws {
        var follower = try makeInstance(1)
        let append = AppendEntries(previous: LogPosition(index: 1, term: 1), entries: [Entry(term: 3, index: 2, payload: .noop)], commit: 0)
        follower.step(Message(from: 4, to: 1, term: 3, kind: .appendEntries(append)))
        #expect(follower.term == 3)
        #expect(follower.leader == 4)
        #expect(follower.refusedMessages == 0)
    }

    /// An acknowledgement of entries the leader never had, or of a read round it never sent,
    /// is a lie that could commit what no majority holds or release a read without a quorum.
    @Test func impossibleAcknowledgementsAreRefused() throws {
        var leader = try makeInstance(1) { $0.preVote = false }
        leader.electSelf(grantedBy: [2])
        _ = leader.drain()
        let last = leader.lastIndex
        let committed = leader.commitIndex
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: last + 1_000))))
        leader.step(Message(from: 3, to: 1, term: leader.term, kind: .appendResponse(AppendResponse(index: RaftBounds.maxIndex))))
        _ = leader.drain()
        #expect(leader.commitIndex == committed)
        #expect(leader.refusedMessages == 2)

        try leader.readIndex(context: ReadContext(number: 1))
        _ = leader.drain()
        leader.step(Message(from: 2, to: 1, term: leader.term, kind: .heartbeatResponse(readRound: 1_000)))
        leader.step(Message(from: 3, to: 1, term: leader.term, kind: .heartbeatResponse(readRound: UInt64.max)))
        #expect(leader.drain().readStates.isEmpty, "no quorum confirmed the read")
        #expect(leader.refusedMessages == 4)
    }
}
