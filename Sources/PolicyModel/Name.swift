/// A validated name of an organization, project, principal or role: 1 to `maxNameBytes` bytes
/// of lowercase ASCII letters, digits and hyphens, starting with a letter and not ending with a
/// hyphen. Names are the stable keys of the domain; they are never reused for another entity
/// while the first exists.
public struct Name: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The name's text.
    public let value: String

    /// Validates a name.
    /// - Throws: `PolicyError.invalidName` when it does not follow the rules.
    public init(_ value: String, limits: PolicyLimits = .standard) throws(PolicyError) {
        guard Name.isValid(value, maxBytes: limits.maxNameBytes) else { throw .invalidName(value) }
        self.value = value
    }

    /// Creates a name known to be valid (built-in names); stops on an invalid one.
    init(trusted value: String) {
        precondition(Name.isValid(value, maxBytes: 63), "invalid built-in name \(value)")
        self.value = value
    }

    static func isValid(_ value: String, maxBytes: Int) -> Bool {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty, bytes.count <= maxBytes, bytes[0] >= 0x61, bytes[0] <= 0x7A, bytes.last != 0x2D else {
            return false
        }
        return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }

    public static func < (lhs: Name, rhs: Name) -> Bool { lhs.value < rhs.value }

    public var description: String { value }
}
