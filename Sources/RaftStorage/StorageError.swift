/// A failure of durable storage. `io` is an operating error (disk full, permissions); the
/// runtime stops the replica on it rather than continue with state it could not persist.
/// `corrupted` means committed data is damaged: start-up refuses to continue and says where.
public enum StorageError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A system call failed.
    case io(operation: String, path: String, errno: Int32)
    /// Data that was durably written is damaged.
    case corrupted(path: String, offset: Int, detail: String)
    /// A record or option exceeds a limit.
    case limitExceeded(String)

    public var description: String {
        switch self {
        case .io(let operation, let path, let errno): return "\(operation) \(path) failed: errno \(errno)"
        case .corrupted(let path, let offset, let detail): return "corrupted log \(path) at byte \(offset): \(detail)"
        case .limitExceeded(let what): return "storage limit exceeded: \(what)"
        }
    }
}
