/// Why a command was refused. These are domain rejections: values returned to the caller and
/// recorded in the audit log, identical on every replica. Each has a stable machine-readable
/// `code` that the API maps to an HTTP status in one place.
public enum PolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A name is empty, too long or has characters outside `[a-z0-9-]` (starting with a letter).
    case invalidName(String)
    /// A permission is not `service.resource.verb` with valid segments.
    case invalidPermission(String)
    /// A limit of `PolicyLimits` was exceeded; the associated value names it.
    case limitExceeded(String)
    /// The entity already exists.
    case alreadyExists(String)
    /// The entity does not exist.
    case notFound(String)
    /// The request mixes two organizations (a binding, role or principal across tenants).
    case crossOrganization(String)
    /// The entity still has dependents; the message says which. Deleting it needs `force`.
    case hasDependents(String)
    /// The revision the caller expected is not the current one.
    case revisionMismatch(expected: UInt64, actual: UInt64)
    /// The operation does not apply in the entity's current state (for example activating a
    /// key that is not pending).
    case invalidState(String)
    /// A field is malformed (a key of the wrong length, an empty request id…).
    case invalidArgument(String)
    /// The actor may not make this change (checked again when the command is applied, so a
    /// permission revoked after the request was accepted still stops it).
    case forbidden(String)

    /// The stable code of the error, for clients and the audit log.
    public var code: String {
        switch self {
        case .invalidName: return "invalid_name"
        case .invalidPermission: return "invalid_permission"
        case .limitExceeded: return "limit_exceeded"
        case .alreadyExists: return "already_exists"
        case .notFound: return "not_found"
        case .crossOrganization: return "cross_organization"
        case .hasDependents: return "has_dependents"
        case .revisionMismatch: return "revision_mismatch"
        case .invalidState: return "invalid_state"
        case .invalidArgument: return "invalid_argument"
        case .forbidden: return "forbidden"
        }
    }

    public var description: String {
        switch self {
        case .invalidName(let name): return "invalid name \"\(name)\": use 1-63 of a-z, 0-9 and '-', starting with a letter"
        case .invalidPermission(let permission): return "invalid permission \"\(permission)\": use service.resource.verb"
        case .limitExceeded(let what): return "limit exceeded: \(what)"
        case .alreadyExists(let what): return "\(what) already exists"
        case .notFound(let what): return "\(what) not found"
        case .crossOrganization(let what): return "cross-organization reference: \(what)"
        case .hasDependents(let what): return "still has dependents: \(what)"
        case .revisionMismatch(let expected, let actual): return "expected revision \(expected), current revision is \(actual)"
        case .invalidState(let what): return "invalid state: \(what)"
        case .invalidArgument(let what): return "invalid argument: \(what)"
        case .forbidden(let what): return "forbidden: \(what)"
        }
    }
}

extension PolicyError {
    /// A text form that `init?(storedText:)` turns back into the same error, for stores that
    /// must remember outcomes (the idempotency window) across restarts.
    public var storedText: String {
        switch self {
        case .invalidName(let text), .invalidPermission(let text), .limitExceeded(let text), .alreadyExists(let text),
            .notFound(let text), .crossOrganization(let text), .hasDependents(let text), .invalidState(let text),
            .invalidArgument(let text), .forbidden(let text):
            return code + "\n" + text
        case .revisionMismatch(let expected, let actual):
            return code + "\n\(expected)\n\(actual)"
        }
    }

    /// Parses `storedText`; nil for text it did not produce.
    public init?(storedText: String) {
        let parts = storedText.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2 else { return nil }
        let detail = parts.dropFirst().joined(separator: "\n")
        switch parts[0] {
        case "invalid_name": self = .invalidName(detail)
        case "invalid_permission": self = .invalidPermission(detail)
        case "limit_exceeded": self = .limitExceeded(detail)
        case "already_exists": self = .alreadyExists(detail)
        case "not_found": self = .notFound(detail)
        case "cross_organization": self = .crossOrganization(detail)
        case "has_dependents": self = .hasDependents(detail)
        case "invalid_state": self = .invalidState(detail)
        case "invalid_argument": self = .invalidArgument(detail)
        case "forbidden": self = .forbidden(detail)
        case "revision_mismatch":
            guard parts.count == 3, let expected = UInt64(parts[1]), let actual = UInt64(parts[2]) else { return nil }
            self = .revisionMismatch(expected: expected, actual: actual)
        default: return nil
        }
    }
}
