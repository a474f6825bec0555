import Foundation

/// The bounded queue of events for the runtime thread. Producers never block: `post` refuses
/// when the queue is full. The runtime takes everything queued at once (up to a batch), which
/// is what turns many concurrent proposals into one `Ready` and one durable write.
///
/// `@unchecked Sendable`: every field is read and written only while holding `condition`.
final class Mailbox<Event>: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [Event] = []
    private var closed = false
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Queues an event; false when the mailbox is full or closed.
    func post(_ event: Event) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed, queue.count < capacity else { return false }
        queue.append(event)
        condition.signal()
        return true
    }

    /// Queues an event even when the mailbox is full (for the runtime's own completions, which
    /// must not be lost); false only when it is closed.
    func postAlways(_ event: Event) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        queue.append(event)
        condition.signal()
        return true
    }

    /// Waits for events and takes up to `limit` of them; nil once closed and empty.
    func take(limit: Int) -> [Event]? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !closed { condition.wait() }
        guard !queue.isEmpty else { return nil }
        if queue.count <= limit {
            defer { queue = [] }
            return queue
        }
        defer { queue.removeFirst(limit) }
        return Array(queue.prefix(limit))
    }

    /// Refuses further events; the events still queued are returned for their callers to be
    /// answered.
    func close() -> [Event] {
        condition.lock()
        defer { condition.unlock() }
        closed = true
        condition.broadcast()
        defer { queue = [] }
        return queue
    }
}

/// The one-shot answer to a caller waiting on the runtime. The runtime resumes it exactly once:
/// it is held in exactly one of the runtime's tables and removed before it is resumed.
struct Completion<Value: Sendable>: Sendable {
    private let continuation: CheckedContinuation<Result<Value, ReplicaError>, Never>

    init(_ continuation: CheckedContinuation<Result<Value, ReplicaError>, Never>) {
        self.continuation = continuation
    }

    func callAsFunction(_ result: Result<Value, ReplicaError>) {
        continuation.resume(returning: result)
    }
}
