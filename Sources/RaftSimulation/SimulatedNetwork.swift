public import RaftCore

/// A message in flight, with what the simulated transport carries alongside it.
public struct Envelope: Sendable {
    /// The Raft message.
    public var message: Message
    /// For a snapshot message: the sender's state machine image (the snapshot's bytes).
    public var snapshotImage: StateMachineImage?
    /// When it is delivered.
    public var deliverAt: UInt64
    /// Tie-breaker that keeps delivery order deterministic.
    public var sequence: UInt64
}

/// The simulated network: messages in flight ordered by delivery time, and the links that are
/// currently cut. Faults (drop, duplicate, delay) are decided by the simulator when it sends.
public struct SimulatedNetwork: Sendable {
    private var heap: [Envelope] = []
    private var nextSequence: UInt64 = 0
    /// Directed links that drop everything: (from, to).
    public private(set) var blocked: Set<Link> = []

    /// A directed link between two replicas.
    public struct Link: Hashable, Sendable {
        /// The sending side.
        public var from: ReplicaID
        /// The receiving side.
        public var to: ReplicaID
    }

    /// Creates an empty network.
    public init() {}

    /// The number of messages in flight.
    public var inFlight: Int { heap.count }

    /// Schedules a message.
    public mutating func schedule(_ message: Message, image: StateMachineImage?, at time: UInt64) {
        nextSequence += 1
        heap.append(Envelope(message: message, snapshotImage: image, deliverAt: time, sequence: nextSequence))
        siftUp(heap.count - 1)
    }

    /// Removes and returns the next message due at or before `time`.
    public mutating func popDue(at time: UInt64) -> Envelope? {
        guard let first = heap.first, first.deliverAt <= time else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
        return first
    }

    /// Whether messages from `from` to `to` are currently dropped.
    public func isBlocked(from: ReplicaID, to: ReplicaID) -> Bool {
        blocked.contains(Link(from: from, to: to))
    }

    /// Cuts one direction of a link.
    public mutating func block(from: ReplicaID, to: ReplicaID) {
        blocked.insert(Link(from: from, to: to))
    }

    /// Restores every link.
    public mutating func healAll() {
        blocked = []
    }

    private func precedes(_ a: Envelope, _ b: Envelope) -> Bool {
        a.deliverAt != b.deliverAt ? a.deliverAt < b.deliverAt : a.sequence < b.sequence
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard precedes(heap[child], heap[parent]) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && precedes(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count && precedes(heap[right], heap[smallest]) { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
