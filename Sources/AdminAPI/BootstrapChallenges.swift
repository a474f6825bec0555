import APIModels
import PolicyModel
import Synchronization

/// The challenges a replica has handed out and not yet seen used: at most
/// `maxOutstanding`, each for `lifetime`, each usable once. When full, the oldest is forgotten
/// (a flood of challenges can make an operator ask again; it cannot make a proof replayable).
final class BootstrapChallenges: Sendable {
    /// The length of a challenge.
    static let challengeBytes = ClusterProof.challengeBytes
    /// The most challenges outstanding at once.
    static let maxOutstanding = 64
    /// How long a challenge may be used.
    static let lifetime = Duration.seconds(60)

    private let outstanding = Mutex<[(challenge: [UInt8], expires: ContinuousClock.Instant)]>([])

    /// A new challenge.
    func issue(now: ContinuousClock.Instant = .now) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        let challenge = (0..<Self.challengeBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        outstanding.withLock { list in
            list.removeAll { $0.expires <= now }
            if list.count >= Self.maxOutstanding { list.removeFirst(list.count - Self.maxOutstanding + 1) }
            list.append((challenge, now.advanced(by: Self.lifetime)))
        }
        return challenge
    }

    /// Whether `challenge` was handed out here and has not expired; it cannot be used again.
    func consume(_ challenge: [UInt8], now: ContinuousClock.Instant = .now) -> Bool {
        outstanding.withLock { list in
            guard let index = list.firstIndex(where: { constantTimeEqual($0.challenge, challenge) }) else { return false }
            let entry = list.remove(at: index)
            return entry.expires > now
        }
    }
}
