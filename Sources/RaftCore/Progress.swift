/// The leader's view of one follower or learner: how much of the log it is known to hold and
/// how the leader is currently sending to it.
struct Progress: Sendable {
    /// How the leader sends entries to the follower.
    enum State: Hashable, Sendable {
        /// The leader does not know where the logs match; it sends one append at a time and
        /// waits for the answer (or a heartbeat response) before the next.
        case probe
        /// The logs match up to `match`; the leader streams appends optimistically, bounded by
        /// the in-flight window.
        case replicate
        /// The follower needs the snapshot at `pendingIndex`; nothing else is sent until the
        /// runtime reports the transfer's outcome or the follower acknowledges it.
        case snapshot(pendingIndex: LogIndex)
    }

    // Invariant: match < next.
    /// The highest index known to be held by the follower.
    var match: LogIndex
    /// The next index to send.
    var next: LogIndex
    /// The sending state.
    var state: State = .probe
    /// In probe state: an append was sent and the leader waits for an answer.
    var probeSent = false
    /// Whether the follower was heard from during the current CheckQuorum period.
    var recentActive = false
    /// The appends in flight in replicate state.
    var inflights: Inflights
    /// The newest read round this follower acknowledged.
    var acknowledgedReadRound: UInt64 = 0

    init(next: LogIndex, maxInflightMessages: Int, maxInflightBytes: Int) {
        match = 0
        self.next = next
        inflights = Inflights(maxMessages: maxInflightMessages, maxBytes: maxInflightBytes)
    }

    /// Whether the leader must hold off sending appends.
    var isPaused: Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflights.isFull
        case .snapshot: return true
        }
    }

    mutating func becomeProbe() {
        if case .snapshot(let pending) = state {
            // The follower holds at least the snapshot once it has acknowledged it.
            next = max(match + 1, pending + 1)
        } else {
            next = match + 1
        }
        state = .probe
        probeSent = false
        inflights.reset()
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match + 1
        probeSent = false
        inflights.reset()
    }

    mutating func becomeSnapshot(at index: LogIndex) {
        state = .snapshot(pendingIndex: index)
        probeSent = false
        inflights.reset()
    }

    /// Records that the follower holds everything through `index`.
    /// - Returns: whether `match` moved.
    mutating func updateIfNeeded(to index: LogIndex) -> Bool {
        var updated = false
        if index > match {
            match = index
            updated = true
            probeSent = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// Records that an append with `entriesThrough` as its last index was sent.
    mutating func sentEntries(through last: LogIndex, bytes: Int) {
        switch state {
        case .replicate:
            if last >= next {
                next = last + 1
                inflights.add(last: last, bytes: bytes)
            }
        case .probe:
            probeSent = true
        case .snapshot:
            preconditionFailure("append sent while a snapshot is pending")
        }
    }

    /// Handles a rejection of the append whose previous index was `rejected`; `hint` is the
    /// highest index that may still match.
    /// - Returns: false when the rejection is stale and must be ignored.
    mutating func decreaseIfNeeded(rejected: LogIndex, hint: LogIndex) -> Bool {
        if state == .replicate {
            // Any rejection at or below match is a duplicate or reordered answer.
            if rejected <= match { return false }
            next = match + 1
            return true
        }
        // In probe state only the answer to the latest probe counts.
        if next - 1 != rejected { return false }
        if rejected <= match {
            // The follower no longer holds entries it acknowledged: its disk lost a synced tail
            // (outside Raft's model, but a damaged last record is cut off at start-up). Probing
            // at match + 1 would be refused forever; replicate again from what it still holds.
            match = min(hint, rejected - 1)
            next = match + 1
            probeSent = false
            return true
        }
        next = max(min(rejected, hint + 1), match + 1)
        probeSent = false
        return true
    }
}

/// A bounded window of appends in flight to one follower: at most `maxMessages` messages and
/// `maxBytes` entry bytes, freed as acknowledgements arrive.
struct Inflights: Sendable {
    private var lastIndexes: [LogIndex] = []
    private var sizes: [Int] = []
    private var head = 0
    private(set) var bytes = 0
    let maxMessages: Int
    let maxBytes: Int

    init(maxMessages: Int, maxBytes: Int) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
    }

    var count: Int { lastIndexes.count - head }

    var isFull: Bool { count >= maxMessages || bytes >= maxBytes }

    mutating func add(last: LogIndex, bytes size: Int) {
        precondition(!isFull, "inflight window overflow")
        lastIndexes.append(last)
        sizes.append(size)
        bytes += size
    }

    /// Frees every message whose last index is at or below `index`.
    mutating func free(through index: LogIndex) {
        while head < lastIndexes.count && lastIndexes[head] <= index {
            bytes -= sizes[head]
            head += 1
        }
        if head > 64 && head * 2 > lastIndexes.count {
            lastIndexes.removeFirst(head)
            sizes.removeFirst(head)
            head = 0
        }
    }

    /// Frees the oldest message, whatever its index.
    mutating func freeFirst() {
        guard head < lastIndexes.count else { return }
        free(through: lastIndexes[head])
    }

    mutating func reset() {
        lastIndexes.removeAll(keepingCapacity: true)
        sizes.removeAll(keepingCapacity: true)
        head = 0
        bytes = 0
    }
}
