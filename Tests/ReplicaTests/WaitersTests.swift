import NIOConcurrencyHelpers
import PeerTransport
import RaftCore
import Testing
@testable import Replica

/// `Waiters` on its own: no runtime, no clock but the instants the tests give it. Every
/// caller is a recording callback, so each test sees exactly which answers arrived, when, and
/// how many times.
@Suite struct WaitersTests {
    /// Records the answers its completions receive.
    final class Recorder: Sendable {
        private let answers = NIOLockedValueBox<[String: [String]]>([:])

        func write(_ name: String) -> Completion<WriteResult> {
            Completion { result in self.record(name, result.map { "revision \($0.revision)" }) }
        }

        func index(_ name: String) -> Completion<UInt64> {
            Completion { result in self.record(name, result.map { "index \($0)" }) }
        }

        private func record<Value>(_ name: String, _ result: Result<Value, ReplicaError>) {
            let text: String
            switch result {
            case .success(let value): text = "\(value)"
            case .failure(let error): text = "\(error)"
            }
            answers.withLockedValue { $0[name, default: []].append(text) }
        }

        /// Every answer so far, by caller.
        var all: [String: [String]] { answers.withLockedValue { $0 } }
    }

    let start = ContinuousClock.now
    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start.advanced(by: .milliseconds(milliseconds)) }

    func limits(_ waiting: Int) -> ReplicaLimits {
        var limits = ReplicaLimits()
        limits.maxWaitingRequests = waiting
        limits.maxWaitingReads = waiting
        return limits
    }

    func deliver(_ waiters: inout Waiters) -> [(PeerPacket, ReplicaID)] {
        var sent: [(PeerPacket, ReplicaID)] = []
        waiters.deliver { packet, peer in sent.append((packet, peer)) }
        return sent
    }

    @Test func nothingReachesACallerBeforeDelivery() {
        let recorder = Recorder()
        var waiters = Waiters(limits: limits(8))
        waiters.admit()
        waiters.answerWrite(recorder.write("a"), .failure(.overloaded))
        waiters.answer(.remote(peer: ReplicaID(rawValue: 3), requestID: 9), .failure(.timedOut))
        #expect(recorder.all.isEmpty, "an answer is queued until the status is published")
        #expect(waiters.hasQueuedAnswers)
        let sent = deliver(&waiters)
        #expect(recorder.all == ["a": ["the replica is overloaded"]])
        #expect(sent.count == 1 && sent.first?.1 == ReplicaID(rawValue: 3), "a forwarding peer's answer goes to that peer")
        #expect(!waiters.hasQueuedAnswers)
        #expect(deliver(&waiters).isEmpty && recorder.all["a"]?.count == 1, "delivered once")
        #expect(waiters.admitted == 1 && waiters.answered == 1 && waiters.failedWrites == 1)
        waiters.checkInvariant()
    }

    @Test func deadlinesAnswerOnlyTheExpiredWithWhatTheyMean() {
        let recorder = Recorder()
        var waiters = Waiters(limits: limits(8))
        let leader = ReplicaID(rawValue: 2)
        for _ in 0..<6 { waiters.admit() }
        waiters.waitForLeader(ReplicaRuntime.PendingWrite(request: .command([1]), completion: recorder.write("early write"), deadline: at(10)))
        waiters.waitForLeader(ReplicaRuntime.PendingWrite(request: .command([2]), completion: recorder.write("late write"), deadline: at(50)))
        waiters.forward(ReplicaRuntime.PendingWrite(request: .command([3]), completion: recorder.write("forwarded"), deadline: at(10)), id: 7)
        waiters.accept(7, at: LogPosition(index: 40, term: 3))
        waiters.waitForLeader(ReplicaRuntime.PendingRead(context: 1, completion: recorder.index("read"), deadline: at(10)))
        waiters.waitForApplied(ReplicaRuntime.AppliedWaiter(index: 99, completion: recorder.index("apply wait"), deadline: at(10)))
        waiters.holdUntilApplied(
            ReplicaRuntime.AcknowledgedWrite(
                result: WriteResult(revision: 41, outcome: nil), completion: recorder.write("acknowledged"), deadline: at(10)))
        waiters.checkInvariant()
        #expect(waiters.waiting == 6)

        waiters.expire(now: at(9), leaderHint: leader)
        _ = deliver(&waiters)
        #expect(recorder.all.isEmpty, "nothing before its deadline")

        waiters.expire(now: at(10), leaderHint: leader)
        _ = deliver(&waiters)
        #expect(
            recorder.all == [
                "early write": ["no leader is known (last seen: 2)"],
                "forwarded": ["timed out; the outcome is unknown"],
                "read": ["no leader is known (last seen: 2)"],
                "apply wait": ["timed out; the outcome is unknown"],
                "acknowledged": ["revision 41"],
            ])
        #expect(waiters.waiting == 1 && waiters.acceptedForwards == 0)
        waiters.checkInvariant()
    }

    @Test func finishingAnswersEveryoneOnceAsTheOutcomeDeserves() {
        let recorder = Recorder()
        var waiters = Waiters(limits: limits(8))
        for _ in 0..<7 { waiters.admit() }
        let far = at(60_000)
        waiters.proposals[12] = ReplicaRuntime.PendingProposal(term: 2, origin: .local(recorder.write("proposed")), deadline: far)
        waiters.transfers.append(ReplicaRuntime.PendingProposal(term: 2, origin: .local(recorder.write("transfer")), deadline: far))
        waiters.forward(ReplicaRuntime.PendingWrite(request: .command([1]), completion: recorder.write("forwarded"), deadline: far), id: 1)
        waiters.waitForLeader(ReplicaRuntime.PendingWrite(request: .command([2]), completion: recorder.write("waiting"), deadline: far))
        waiters.readsAwaitingIndex[5] = ReplicaRuntime.PendingRead(context: 5, completion: recorder.index("read"), deadline: far)
        waiters.waitForApplied(ReplicaRuntime.AppliedWaiter(index: 30, completion: recorder.index("apply wait"), deadline: far))
        waiters.holdUntilApplied(
            ReplicaRuntime.AcknowledgedWrite(result: WriteResult(revision: 13, outcome: nil), completion: recorder.write("acknowledged"), deadline: far))
        waiters.checkInvariant()

        waiters.finishAll(reason: .stopped)
        _ = deliver(&waiters)
        #expect(
            recorder.all == [
                // Proposed or forwarded: another leader may still commit it, so unknown, never "not applied".
                "proposed": ["timed out; the outcome is unknown"],
                "forwarded": ["timed out; the outcome is unknown"],
                "transfer": ["the replica is stopped"],
                "waiting": ["the replica is stopped"],
                "read": ["the replica is stopped"],
                "apply wait": ["the replica is stopped"],
                // Committed: only this replica's copy was behind.
                "acknowledged": ["revision 13"],
            ])
        #expect(waiters.waiting == 0 && waiters.admitted == waiters.answered)
    }

    @Test func tablesAreBoundedAndTheOverflowIsAnsweredOverloaded() {
        let recorder = Recorder()
        var waiters = Waiters(limits: limits(2))
        for number in 0..<3 {
            waiters.admit()
            waiters.waitForLeader(ReplicaRuntime.PendingWrite(request: .command([1]), completion: recorder.write("write \(number)"), deadline: at(10)))
            waiters.admit()
            waiters.waitForLeader(ReplicaRuntime.PendingRead(context: UInt64(number), completion: recorder.index("read \(number)"), deadline: at(10)))
            waiters.admit()
            waiters.waitForApplied(ReplicaRuntime.AppliedWaiter(index: 5, completion: recorder.index("wait \(number)"), deadline: at(10)))
        }
        _ = deliver(&waiters)
        #expect(recorder.all == ["write 2": ["the replica is overloaded"], "read 2": ["the replica is overloaded"], "wait 2": ["the replica is overloaded"]])
        #expect(waiters.waitingWrites.count == 2 && waiters.waitingReads.count == 2 && waiters.appliedWaiters.count == 2)
        waiters.checkInvariant()
        // Taken out to be retried, they are still the runtime's to answer.
        let writes = waiters.takeWaitingWrites()
        #expect(writes.count == 2 && waiters.waitingWrites.isEmpty)
        for write in writes { waiters.answerWrite(write.completion, .success(WriteResult(revision: 1, outcome: nil))) }
        waiters.checkInvariant()
    }

    @Test func reachingAnIndexReleasesItsWaitersAndNoOthers() {
        let recorder = Recorder()
        var waiters = Waiters(limits: limits(8))
        for _ in 0..<4 { waiters.admit() }
        waiters.waitForApplied(ReplicaRuntime.AppliedWaiter(index: 10, completion: recorder.index("at 10"), deadline: at(1000)))
        waiters.waitForApplied(ReplicaRuntime.AppliedWaiter(index: 11, completion: recorder.index("at 11"), deadline: at(1000)))
        waiters.holdUntilApplied(
            ReplicaRuntime.AcknowledgedWrite(result: WriteResult(revision: 10, outcome: nil), completion: recorder.write("write 10"), deadline: at(1000)))
        waiters.holdUntilApplied(
            ReplicaRuntime.AcknowledgedWrite(result: WriteResult(revision: 12, outcome: nil), completion: recorder.write("write 12"), deadline: at(1000)))
        waiters.release(applied: 10)
        _ = deliver(&waiters)
        #expect(recorder.all == ["at 10": ["index 10"], "write 10": ["revision 10"]])
        #expect(waiters.waiting == 2)
        waiters.checkInvariant()
    }

    @Test func aLeaderChangeAsksPendingReadsAgainAndALostLeadershipEndsTransfers() {
        let recorder = Recorder()
        var waiters = Waiters(limits: limits(8))
        for _ in 0..<2 { waiters.admit() }
        waiters.readsAwaitingIndex[3] = ReplicaRuntime.PendingRead(context: 3, completion: recorder.index("read"), deadline: at(1000))
        waiters.transfers.append(ReplicaRuntime.PendingProposal(term: 4, origin: .local(recorder.write("transfer")), deadline: at(1000)))
        waiters.transfers.append(ReplicaRuntime.PendingProposal(term: 4, origin: .remote(peer: ReplicaID(rawValue: 2), requestID: 8), deadline: at(1000)))
        waiters.leaderChanged()
        #expect(waiters.readsAwaitingIndex.isEmpty && waiters.waitingReads.map(\.context) == [3])
        waiters.leadershipEnded(commitIndex: 77)
        let sent = deliver(&waiters)
        #expect(recorder.all == ["transfer": ["revision 77"]])
        #expect(sent.count == 1, "the peer that forwarded the other transfer is answered too")
        waiters.checkInvariant()
    }
}
