@testable import AdminAPI
import ClusterService
import RaftCore
import Replica
import Testing

/// The one mapping from what the runtime says to what a client reads, pinned case by case: the
/// runtime's error, the API's, its HTTP status, its code and whether it asks for a retry. A
/// forwarded write is answered through the same mapping (its refusal travels by case), so this
/// table is also what a follower answers.
@Suite struct ErrorMappingTests {
    struct Expectation: Sendable, CustomTestStringConvertible {
        let error: ReplicaError
        let status: Int
        let code: String
        let retry: Bool
        var testDescription: String { "\(error)" }
    }

    static let two = ReplicaID(rawValue: 2)
    static let cases: [Expectation] = [
        .init(error: .noLeader(leaderHint: nil), status: 503, code: "unavailable", retry: true),
        .init(error: .noLeader(leaderHint: two), status: 503, code: "unavailable", retry: true),
        .init(error: .timedOut, status: 504, code: "timed_out", retry: false),
        .init(error: .proposalDropped, status: 503, code: "unavailable", retry: true),
        .init(error: .overloaded, status: 503, code: "overloaded", retry: true),
        .init(error: .refused(.overloaded), status: 503, code: "overloaded", retry: true),
        .init(error: .refused(.notLeader(leaderHint: two)), status: 503, code: "unavailable", retry: true),
        .init(error: .refused(.transferInProgress), status: 503, code: "unavailable", retry: true),
        .init(error: .refused(.membershipChangePending), status: 409, code: "refused", retry: false),
        .init(error: .refused(.membershipChangeRejected(.alreadyBootstrapped)), status: 409, code: "refused", retry: false),
        .init(error: .refused(.membershipChangeRejected(.alreadyMember(two))), status: 409, code: "refused", retry: false),
        .init(error: .refused(.membershipChangeRejected(.notLearner(two))), status: 409, code: "refused", retry: false),
        .init(error: .refused(.membershipChangeRejected(.notMember(two))), status: 409, code: "refused", retry: false),
        .init(error: .refused(.membershipChangeRejected(.wouldLeaveNoVoters)), status: 409, code: "refused", retry: false),
        .init(error: .refused(.invalidTransferTarget(two)), status: 409, code: "refused", retry: false),
        .init(error: .refused(.learnerNotCaughtUp(two)), status: 409, code: "refused", retry: false),
        .init(error: .refused(.proposalTooLarge(limit: 1 << 20)), status: 409, code: "refused", retry: false),
        .init(error: .leaderRefused("an older leader's refusal"), status: 409, code: "refused", retry: false),
        .init(error: .stopped, status: 503, code: "unavailable", retry: true),
        .init(error: .failed("disk"), status: 500, code: "internal", retry: false),
        .init(error: .invalidConfiguration("bad"), status: 500, code: "internal", retry: false),
        .init(error: .storage("fsync"), status: 500, code: "internal", retry: false),
    ]

    @Test(arguments: cases)
    func everyRuntimeConditionHasOneAnswer(_ expected: Expectation) {
        let answer = APIError.cluster(ClusterError(expected.error))
        #expect(Int(answer.status.code) == expected.status)
        #expect(answer.code == expected.code)
        #expect((answer.retryAfter != nil) == expected.retry, "Retry-After: \(answer.retryAfter ?? "none")")
        #expect(!answer.detail.isEmpty)
    }

    @Test func aTransferRefusalSaysSo() {
        #expect(ClusterError(.refused(.transferInProgress)) == .unavailable("a leadership transfer is in progress; retry"))
        #expect(ClusterError(.refused(.learnerNotCaughtUp(Self.two))) == .refused("learner 2 has not caught up with the leader"))
    }
}
