import NIOConcurrencyHelpers
import PolicyModel
import PolicyStore

/// The in-memory policy state, readable from any thread without a turn of the runtime:
/// authentication, stale reads and `authorize` read it where the request runs, instead of
/// queueing for the runtime and waiting.
///
/// The runtime holds the lock while it applies a batch to the in-memory state and while it
/// replaces the database, so a reader sees each batch whole or not at all, with the applied
/// index that goes with it. It writes the batch to SQLite after releasing the lock: readers
/// never touch the database. A reader holds the lock only for its closure: it must be short and
/// must not keep the state, because a kept copy would make the next apply copy every table it
/// changes (the state's tables are copy-on-write).
///
/// `@unchecked Sendable`: every access to `store` holds `lock`; through it readers touch only
/// the store's in-memory state and applied index, never its SQLite connection.
final class SharedPolicyState: @unchecked Sendable {
    private let lock = NIOLock()
    private var store: PolicyStore?

    /// Makes `store` the one readers see (nil once the replica stopped).
    func publish(_ store: PolicyStore?) {
        lock.lock()
        defer { lock.unlock() }
        self.store = store
    }

    /// Runs the runtime's change to the published store with readers kept out.
    func changing<Value, Failure: Error>(_ body: () throws(Failure) -> Value) throws(Failure) -> Value {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Runs `body` with the state and its applied index.
    /// - Throws: `ReplicaError.stopped` once the replica stopped.
    func read<Value>(_ body: (PolicyState, UInt64) -> Value) throws(ReplicaError) -> Value {
        lock.lock()
        defer { lock.unlock() }
        guard let store else { throw .stopped }
        return body(store.state, store.appliedIndex)
    }
}
