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
        // The string's own bytes, without copying them (names are checked on every request).
        let bytes = value.utf8
        guard let first = bytes.first, bytes.count <= maxBytes, first >= 0x61, first <= 0x7A, bytes.last != 0x2D else {
            return false
        }
        return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }

    public static func < (lhs: Name, rhs: Name) -> Bool { lhs.value < rhs.value }

    public var description: String { value }
}
