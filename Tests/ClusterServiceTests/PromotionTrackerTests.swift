@testable import ClusterService
import RaftCore
import Replica
import Testing

/// The leader's rule for promoting learners added by address: caught up, heard from, and so
/// for the whole wait; anything else restarts the wait.
@Suite struct PromotionTrackerTests {
    static let start = ContinuousClock.now

    static func status(role: Role = .leader, match: LogIndex, last: LogIndex = 100, heardAgo: Duration? = .milliseconds(50), at now: ContinuousClock.Instant)
        -> ReplicaStatus
    {
        var status = ReplicaStatus(id: ReplicaID(rawValue: 1))
        status.role = role
        status.lastIndex = last
        status.membership = Membership(voters: [ReplicaID(rawValue: 1), ReplicaID(rawValue: 2), ReplicaID(rawValue: 3)], learners: [ReplicaID(rawValue: 4)])
        status.matchIndexes[ReplicaID(rawValue: 4)] = match
        if let heardAgo { status.lastContact[ReplicaID(rawValue: 4)] = now - heardAgo }
        return status
    }

    @Test func aLearnerThatStaysCaughtUpIsDueAfterTheWait() {
        var tracker = PromotionTracker()
        let wait = Duration.seconds(10)
        #expect(tracker.update(status: Self.status(match: 100, at: Self.start), autoPromote: [4], now: Self.start, after: wait).isEmpty)
        let almost = Self.start + .seconds(9)
        #expect(tracker.update(status: Self.status(match: 99, at: almost), autoPromote: [4], now: almost, after: wait).isEmpty)
        let then = Self.start + .seconds(10)
        #expect(tracker.update(status: Self.status(match: 100, at: then), autoPromote: [4], now: then, after: wait) == [ReplicaID(rawValue: 4)])
    }

    @Test func fallingBehindOrSilentOrNotAskedRestartsTheWait() {
        let wait = Duration.seconds(10)
        let cases: [(ReplicaStatus, Set<UInt64>, String)] = [
            (Self.status(match: 0, last: 0, at: Self.start + .seconds(5)), [4], "acknowledged nothing"),
            (Self.status(match: 10, last: 2000, at: Self.start + .seconds(5)), [4], "lags more than 1,000 entries"),
            (Self.status(match: 100, heardAgo: .seconds(3), at: Self.start + .seconds(5)), [4], "not heard from lately"),
            (Self.status(match: 100, heardAgo: nil, at: Self.start + .seconds(5)), [4], "never heard from"),
            (Self.status(match: 100, at: Self.start + .seconds(5)), [], "its entry does not ask for it"),
            (Self.status(role: .follower, match: 100, at: Self.start + .seconds(5)), [4], "this replica is not the leader"),
        ]
        for (interruption, autoPromote, why) in cases {
            var tracker = PromotionTracker()
            _ = tracker.update(status: Self.status(match: 100, at: Self.start), autoPromote: [4], now: Self.start, after: wait)
            #expect(tracker.update(status: interruption, autoPromote: autoPromote, now: Self.start + .seconds(5), after: wait).isEmpty, "\(why)")
            // The wait starts again from here: not due 10 s after the first look.
            let first = Self.start + .seconds(10)
            #expect(tracker.update(status: Self.status(match: 100, at: first), autoPromote: [4], now: first, after: wait).isEmpty, "\(why)")
            let later = Self.start + .seconds(20)
            #expect(tracker.update(status: Self.status(match: 100, at: later), autoPromote: [4], now: later, after: wait) == [ReplicaID(rawValue: 4)], "\(why)")
        }
    }

    @Test func forgettingALearnerRestartsItsWait() {
        var tracker = PromotionTracker()
        _ = tracker.update(status: Self.status(match: 100, at: Self.start), autoPromote: [4], now: Self.start, after: .seconds(1))
        tracker.forget(ReplicaID(rawValue: 4))
        let next = Self.start + .seconds(2)
        #expect(tracker.update(status: Self.status(match: 100, at: next), autoPromote: [4], now: next, after: .seconds(1)).isEmpty)
    }
}
