/// A failure of the policy store. Each is an operating error the runtime must stop on: a
/// replica that cannot persist or read its state must not keep applying commands.
public enum PolicyStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// SQLite failed.
    case database(DatabaseError)
    /// A stored row does not decode: the database is damaged or was written by another program.
    case corrupted(String)
    /// A file operation for a snapshot failed.
    case io(operation: String, path: String, errno: Int32)
    /// The caller broke the contract (for example applying an index at or below the applied one).
    case misuse(String)
    /// A snapshot copy was stopped by its owner (`SnapshotCopyControl.cancelAndWait()`).
    case cancelled

    public var description: String {
        switch self {
        case .database(let error): return "database: \(error)"
        case .corrupted(let what): return "corrupted policy store: \(what)"
        case .io(let operation, let path, let errno): return "\(operation) \(path) failed: errno \(errno)"
        case .misuse(let what): return "misuse: \(what)"
        case .cancelled: return "cancelled"
        }
    }
}
