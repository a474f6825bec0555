import NIOConcurrencyHelpers
import NIOCore

/// The bounded queue of events for the runtime, which runs in turns on one event loop — the
/// loop that also carries the replica's peer connections, so a packet received from a peer and
/// a packet sent to one never change threads.
///
/// Producers never block: `post` refuses when the queue is full. The first event queued while
/// no turn is scheduled schedules one; a turn takes everything queued by then (up to a batch),
/// which is what turns many concurrent proposals into one `Ready` and one durable write. Events
/// posted from the loop itself (peer packets read in one pass over the sockets) land in the same
/// turn; events posted from other threads wake the loop once per turn, not once per event.
///
/// `@unchecked Sendable`: every mutable field is read and written only while holding `lock`;
/// `consumer` is called only on `eventLoop`.
final class Mailbox<Event>: @unchecked Sendable {
    /// The loop turns run on.
    let eventLoop: any EventLoop
    private let lock = NIOLock()
    private var queue: [Event] = []
    private var closed = false
    private var turnScheduled = false
    private var consumer: (([Event]) -> Void)?
    private let capacity: Int
    private let batchLimit: Int

    /// Creates a mailbox holding at most `capacity` events, handing at most `batchLimit` to a
    /// turn.
    init(capacity: Int, batchLimit: Int, eventLoop: any EventLoop) {
        self.capacity = capacity
        self.batchLimit = batchLimit
        self.eventLoop = eventLoop
    }

    /// Starts the turns: `consumer` gets the queued events, on the event loop, until `close`.
    func start(_ consumer: @escaping ([Event]) -> Void) {
        let schedule = lock.withLock {
            self.consumer = consumer
            return scheduleIfNeeded()
        }
        if schedule { eventLoop.execute { self.turn() } }
    }

    /// Queues an event; false when the mailbox is full or closed.
    func post(_ event: Event) -> Bool {
        enqueue(event, bounded: true)
    }

    /// Queues an event even when the mailbox is full (for the runtime's own completions, which
    /// must not be lost); false only when it is closed.
    func postAlways(_ event: Event) -> Bool {
        enqueue(event, bounded: false)
    }

    /// Refuses further events and ends the turns; the events still queued are returned for
    /// their callers to be answered.
    func close() -> [Event] {
        lock.withLock {
            closed = true
            consumer = nil
            defer { queue = [] }
            return queue
        }
    }

    private func enqueue(_ event: Event, bounded: Bool) -> Bool {
        let (accepted, schedule) = lock.withLock { () -> (Bool, Bool) in
            guard !closed, !bounded || queue.count < capacity else { return (false, false) }
            queue.append(event)
            return (true, scheduleIfNeeded())
        }
        if schedule { eventLoop.execute { self.turn() } }
        return accepted
    }

    /// Marks a turn scheduled when one is needed and none is; the caller then schedules it.
    /// Call while holding `lock`.
    private func scheduleIfNeeded() -> Bool {
        guard !closed, !turnScheduled, consumer != nil, !queue.isEmpty else { return false }
        turnScheduled = true
        return true
    }

    /// One turn, on the event loop: everything queued (up to the batch limit) to the consumer;
    /// another turn is scheduled if events remain.
    private func turn() {
        lock.lock()
        turnScheduled = false
        guard !closed, let consumer, !queue.isEmpty else {
            lock.unlock()
            return
        }
        let events: [Event]
        if queue.count <= batchLimit {
            events = queue
            queue = []
        } else {
            events = Array(queue.prefix(batchLimit))
            queue.removeFirst(batchLimit)
        }
        lock.unlock()
        consumer(events)
        let schedule = lock.withLock { scheduleIfNeeded() }
        if schedule { eventLoop.execute { self.turn() } }
    }
}

/// The one-shot answer to a caller waiting on the runtime: a suspended task's continuation, or
/// a callback. The runtime calls it exactly once: it is held in exactly one of the runtime's
/// tables and removed before it is called. A callback runs on the runtime's thread (an answer
/// to a write applied here, after the turn's status is published), or on the poster's when the
/// mailbox refuses the event; it must not block.
struct Completion<Value: Sendable>: Sendable {
    private enum Waiter {
        case continuation(CheckedContinuation<Result<Value, ReplicaError>, Never>)
        case callback(@Sendable (Result<Value, ReplicaError>) -> Void)
    }

    private let waiter: Waiter

    init(_ continuation: CheckedContinuation<Result<Value, ReplicaError>, Never>) {
        waiter = .continuation(continuation)
    }

    init(_ callback: @escaping @Sendable (Result<Value, ReplicaError>) -> Void) {
        waiter = .callback(callback)
    }

    func callAsFunction(_ result: Result<Value, ReplicaError>) {
        switch waiter {
        case .continuation(let continuation): continuation.resume(returning: result)
        case .callback(let callback): callback(result)
        }
    }
}
