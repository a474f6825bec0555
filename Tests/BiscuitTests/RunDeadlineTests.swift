import Foundation
import Testing

@testable import Biscuit

/// The run time limit counts work, not waiting: a verifier on a loaded machine, descheduled for
/// longer than the limit, must not refuse a cheap token (`RunDeadline`).
@Suite struct RunDeadlineTests {
    @Test func waitingPastTheLimitIsNotReachingIt() {
        var deadline = RunDeadline(after: .milliseconds(2))
        // Off the CPU for ten times the limit, as a descheduled thread would be, twice.
        Thread.sleep(forTimeInterval: 0.02)
        let first = deadline.passed()
        #expect(!first, "20 ms of sleep used almost no CPU time")
        Thread.sleep(forTimeInterval: 0.02)
        let second = deadline.passed()
        #expect(!second, "nor 20 ms more")
    }

    @Test func workingPastTheLimitReachesIt() {
        var deadline = RunDeadline(after: .milliseconds(2))
        let giveUp = ContinuousClock.now.advanced(by: .seconds(10))
        var spins: UInt64 = 0
        var reached = false
        while !reached && ContinuousClock.now < giveUp {
            spins &+= 1
            reached = deadline.passed()
        }
        #expect(reached, "a few ms of CPU time were spent in at most 10 s")
        #expect(spins > 0)
    }
}
