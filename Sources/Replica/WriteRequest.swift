public import PolicyModel
public import RaftCore

/// A write a replica carries out on the leader: locally when it leads, else forwarded over the
/// peer connection.
public enum WriteRequest: Hashable, Sendable {
    /// An encoded `CommandEnvelope` for the state machine.
    case command([UInt8])
    /// A membership change.
    case membership(MembershipChange)
    /// A promotion of a learner that has not caught up: the operator's explicit choice
    /// (`RaftInstance.proposeMembershipChange(_:force:)`).
    case forcedPromotion(ReplicaID)
    /// A leadership transfer to the named voter.
    case transferLeadership(to: ReplicaID)
}

/// The answer to a write.
public struct WriteResult: Hashable, Sendable {
    /// The log index the write was applied at (for a transfer: the leader's commit index).
    public var revision: UInt64
    /// The state machine's outcome of a command; nil for membership changes and transfers.
    public var outcome: CommandOutcome?

    /// Creates a result.
    public init(revision: UInt64, outcome: CommandOutcome?) {
        self.revision = revision
        self.outcome = outcome
    }
}

/// What a leader answers to a forwarded write.
enum ForwardResponse: Equatable {
    /// The leader appended the write at `position`. The forwarding replica resolves it itself
    /// from what it applies (`ReplicaRuntime.resolveForwardedWrites`): the entry at that index
    /// with that term is the write, another term there means it was dropped.
    case accepted(LogPosition)
    /// The final answer: a refusal, or a leadership transfer's result.
    case final(Result<WriteResult, ReplicaError>)
}

/// The encodings of forwarded writes and their answers (the bodies of `.request` and
/// `.response` packets). Version 2 (version 1 had no acceptance: a leader answered when it
/// applied the write, and sent its refusals as text); little-endian fields. A refusal travels by
/// case, so a follower answers a forwarded write exactly as the leader answers a local one. Replicas of the two versions refuse each other's
/// forwarded writes, cleanly: nothing is proposed.
enum ForwardCodec {
    static let version: UInt8 = 2

    /// A forwarded write: its deadline, the term of the leader it is sent to (a leader of
    /// another term refuses it, so that it can be proposed in that term only), and the request.
    static func encode(_ request: WriteRequest, timeoutMilliseconds: UInt32, leaderTerm: UInt64) -> [UInt8] {
        var buffer: [UInt8] = [version]
        RaftEncoding.appendInteger(timeoutMilliseconds, to: &buffer)
        RaftEncoding.appendInteger(leaderTerm, to: &buffer)
        switch request {
        case .command(let bytes):
            buffer.append(1)
            buffer.append(contentsOf: bytes)
        case .membership(let change):
            buffer.append(2)
            RaftEncoding.append(change, to: &buffer)
        case .transferLeadership(let target):
            buffer.append(3)
            RaftEncoding.appendInteger(target.rawValue, to: &buffer)
        case .forcedPromotion(let learner):
            buffer.append(4)
            RaftEncoding.appendInteger(learner.rawValue, to: &buffer)
        }
        return buffer
    }

    static func decodeRequest(_ bytes: [UInt8]) throws(RaftDecodingError)
        -> (request: WriteRequest, timeoutMilliseconds: UInt32, leaderTerm: UInt64)
    {
        var decoder = RaftDecoder(bytes)
        guard try decoder.byte("version") == version else { throw .invalid("forward version") }
        let timeout = try decoder.integer(UInt32.self, "timeout")
        let leaderTerm = try decoder.term("leader term")
        let request: WriteRequest
        switch try decoder.byte("request type") {
        case 1: request = .command(try decoder.bytes(count: decoder.remaining, "command"))
        case 2: request = .membership(try decoder.membershipChange())
        case 3: request = .transferLeadership(to: try decoder.replicaID("transfer target"))
        case 4: request = .forcedPromotion(try decoder.replicaID("learner"))
        case let other: throw .invalid("request type \(other)")
        }
        guard decoder.remaining == 0 else { throw .invalid("\(decoder.remaining) bytes after the request") }
        return (request, timeout, leaderTerm)
    }

    static func encode(_ result: Result<WriteResult, ReplicaError>) -> [UInt8] {
        var buffer: [UInt8] = [version]
        switch result {
        case .success(let written):
            buffer.append(0)
            RaftEncoding.appendInteger(written.revision, to: &buffer)
            if let outcome = written.outcome {
                buffer.append(1)
                RaftEncoding.appendInteger(outcome.revision, to: &buffer)
                buffer.append(outcome.replayed ? 1 : 0)
                appendText(outcome.rejection?.storedText ?? "", to: &buffer)
            } else {
                buffer.append(0)
            }
        case .failure(let error):
            switch error {
            case .noLeader(let hint):
                buffer.append(1)
                RaftEncoding.appendInteger(hint?.rawValue ?? 0, to: &buffer)
            case .refused(.overloaded), .overloaded: buffer.append(2)
            case .refused(.notLeader(let hint)):
                buffer.append(1)
                RaftEncoding.appendInteger(hint?.rawValue ?? 0, to: &buffer)
            case .refused(let reason):
                // By case, so that the forwarding replica answers exactly as the leader would.
                buffer.append(8)
                append(reason, to: &buffer)
            case .leaderRefused(let reason):
                buffer.append(3)
                appendText(reason, to: &buffer)
            case .proposalDropped: buffer.append(4)
            case .timedOut: buffer.append(5)
            case .stopped, .failed, .invalidConfiguration, .storage: buffer.append(6)
            }
        }
        return buffer
    }

    /// The acceptance of a forwarded write at `position`.
    static func encodeAccepted(_ position: LogPosition) -> [UInt8] {
        var buffer: [UInt8] = [version, 7]
        RaftEncoding.appendInteger(position.index, to: &buffer)
        RaftEncoding.appendInteger(position.term, to: &buffer)
        return buffer
    }

    static func decodeResponse(_ bytes: [UInt8]) throws(RaftDecodingError) -> ForwardResponse {
        var decoder = RaftDecoder(bytes)
        guard try decoder.byte("version") == version else { throw .invalid("forward version") }
        let result: Result<WriteResult, ReplicaError>
        switch try decoder.byte("result type") {
        case 7:
            let position = LogPosition(index: try decoder.index("accepted index"), term: try decoder.term("accepted term"))
            guard decoder.remaining == 0 else { throw .invalid("\(decoder.remaining) bytes after the acceptance") }
            return .accepted(position)
        case 0:
            let revision = try decoder.integer(UInt64.self, "revision")
            var outcome: CommandOutcome?
            if try decoder.byte("has outcome") == 1 {
                let outcomeRevision = try decoder.integer(UInt64.self, "outcome revision")
                let replayed = try decoder.byte("replayed") == 1
                let text = try text(&decoder)
                var rejection: PolicyError?
                if !text.isEmpty {
                    guard let decoded = PolicyError(storedText: text) else { throw .invalid("rejection") }
                    rejection = decoded
                }
                outcome = CommandOutcome(revision: outcomeRevision, rejection: rejection, replayed: replayed)
            }
            result = .success(WriteResult(revision: revision, outcome: outcome))
        case 1:
            let hint = try decoder.integer(UInt64.self, "leader hint")
            result = .failure(.noLeader(leaderHint: hint == 0 ? nil : ReplicaID(hint)))
        case 2: result = .failure(.overloaded)
        case 3: result = .failure(.leaderRefused(try text(&decoder)))
        case 8: result = .failure(.refused(try proposalError(&decoder)))
        case 4: result = .failure(.proposalDropped)
        case 5: result = .failure(.timedOut)
        // The leader stopped or failed while it held the request: it may have proposed it, so
        // the outcome is unknown (retrying elsewhere could apply it twice).
        case 6: result = .failure(.timedOut)
        case let other: throw .invalid("result type \(other)")
        }
        guard decoder.remaining == 0 else { throw .invalid("\(decoder.remaining) bytes after the result") }
        return .final(result)
    }

    /// A leader's refusal, by case (tags 1–8; a membership rejection by its own tags 1–5).
    private static func append(_ error: ProposalError, to buffer: inout [UInt8]) {
        switch error {
        case .notLeader(let hint):
            buffer.append(1)
            RaftEncoding.appendInteger(hint?.rawValue ?? 0, to: &buffer)
        case .overloaded: buffer.append(2)
        case .transferInProgress: buffer.append(3)
        case .membershipChangePending: buffer.append(4)
        case .membershipChangeRejected(let rejection):
            buffer.append(5)
            switch rejection {
            case .alreadyBootstrapped: buffer.append(1)
            case .alreadyMember(let id):
                buffer.append(2)
                RaftEncoding.appendInteger(id.rawValue, to: &buffer)
            case .notLearner(let id):
                buffer.append(3)
                RaftEncoding.appendInteger(id.rawValue, to: &buffer)
            case .notMember(let id):
                buffer.append(4)
                RaftEncoding.appendInteger(id.rawValue, to: &buffer)
            case .wouldLeaveNoVoters: buffer.append(5)
            }
        case .invalidTransferTarget(let id):
            buffer.append(6)
            RaftEncoding.appendInteger(id.rawValue, to: &buffer)
        case .learnerNotCaughtUp(let id):
            buffer.append(7)
            RaftEncoding.appendInteger(id.rawValue, to: &buffer)
        case .proposalTooLarge(let limit):
            buffer.append(8)
            RaftEncoding.appendInteger(UInt64(clamping: limit), to: &buffer)
        }
    }

    private static func proposalError(_ decoder: inout RaftDecoder) throws(RaftDecodingError) -> ProposalError {
        switch try decoder.byte("refusal") {
        case 1:
            let hint = try decoder.integer(UInt64.self, "leader hint")
            return .notLeader(leaderHint: hint == 0 ? nil : ReplicaID(hint))
        case 2: return .overloaded
        case 3: return .transferInProgress
        case 4: return .membershipChangePending
        case 5:
            switch try decoder.byte("membership rejection") {
            case 1: return .membershipChangeRejected(.alreadyBootstrapped)
            case 2: return .membershipChangeRejected(.alreadyMember(try decoder.replicaID("member")))
            case 3: return .membershipChangeRejected(.notLearner(try decoder.replicaID("replica")))
            case 4: return .membershipChangeRejected(.notMember(try decoder.replicaID("replica")))
            case 5: return .membershipChangeRejected(.wouldLeaveNoVoters)
            case let other: throw .invalid("membership rejection \(other)")
            }
        case 6: return .invalidTransferTarget(try decoder.replicaID("transfer target"))
        case 7: return .learnerNotCaughtUp(try decoder.replicaID("learner"))
        case 8:
            let limit = try decoder.integer(UInt64.self, "proposal limit")
            guard limit <= UInt64(Int.max) else { throw .invalid("proposal limit \(limit)") }
            return .proposalTooLarge(limit: Int(limit))
        case let other: throw .invalid("refusal \(other)")
        }
    }

    private static func appendText(_ text: String, to buffer: inout [UInt8]) {
        let bytes = Array(text.utf8.prefix(4096))
        RaftEncoding.appendInteger(UInt16(bytes.count), to: &buffer)
        buffer.append(contentsOf: bytes)
    }

    private static func text(_ decoder: inout RaftDecoder) throws(RaftDecodingError) -> String {
        let count = Int(try decoder.integer(UInt16.self, "text length"))
        return String(decoding: try decoder.bytes(count: count, "text"), as: UTF8.self)
    }
}
