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
    /// The committed entry at `index` holds a well-formed command whose kind (`tag`) this build
    /// does not know: a replica of a newer build proposed it. The replica must stop until it
    /// runs a build that knows it (applying it differently would fork the state).
    case newerCommand(index: UInt64, tag: UInt64)

    public var description: String {
        switch self {
        case .database(let error): return "database: \(error)"
        case .corrupted(let what): return "corrupted policy store: \(what)"
        case .io(let operation, let path, let errno): return "\(operation) \(path) failed: errno \(errno)"
        case .misuse(let what): return "misuse: \(what)"
        case .cancelled: return "cancelled"
        case .newerCommand(let index, let tag):
            return "entry \(index) holds command kind \(tag), which this build does not know: a newer build proposed it; "
                + "run this replica with that build (upgrade every replica before using what a new version adds)"
        }
    }
}
