import PolicyModel

/// Conversions between stored columns and domain values. A row that does not convert means the
/// database was damaged or written by something else: loading stops with `corrupted`.
enum Rows {
    static func bytes(_ id: EntityID) -> [UInt8] {
        var result: [UInt8] = []
        for shift in stride(from: 56, through: 0, by: -8) { result.append(UInt8(truncatingIfNeeded: id.high >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { result.append(UInt8(truncatingIfNeeded: id.low >> UInt64(shift))) }
        return result
    }

    static func id(_ bytes: [UInt8]) throws(PolicyStoreError) -> EntityID {
        guard bytes.count == 16 else { throw .corrupted("an id of \(bytes.count) bytes") }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
        for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
        return EntityID(high: high, low: low)
    }

    static func name(_ text: String, _ limits: PolicyLimits) throws(PolicyStoreError) -> Name {
        do {
            return try Name(text, limits: limits)
        } catch {
            throw .corrupted("stored name \"\(text)\"")
        }
    }

    static func principal(_ text: String, _ limits: PolicyLimits) throws(PolicyStoreError) -> PrincipalReference? {
        if text == "-" { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .corrupted("stored principal \"\(text)\"") }
        return PrincipalReference(organization: try name(String(parts[0]), limits), name: try name(String(parts[1]), limits))
    }

    static func role(_ text: String, _ limits: PolicyLimits) throws(PolicyStoreError) -> RoleReference {
        if let builtIn = BuiltInRole(rawValue: text) { return .builtIn(builtIn) }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .corrupted("stored role \"\(text)\"") }
        return .custom(organization: try name(String(parts[0]), limits), name: try name(String(parts[1]), limits))
    }

    static func scope(_ text: String, _ limits: PolicyLimits) throws(PolicyStoreError) -> Scope {
        if text == "cluster" { return .cluster }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2 && parts[0] == "orgs" { return .organization(try name(parts[1], limits)) }
        if parts.count == 4 && parts[0] == "orgs" && parts[2] == "projects" {
            return .project(organization: try name(parts[1], limits), project: try name(parts[3], limits))
        }
        throw .corrupted("stored scope \"\(text)\"")
    }

    static func permissions(_ text: String, _ limits: PolicyLimits) throws(PolicyStoreError) -> [Permission] {
        var result: [Permission] = []
        for line in text.split(separator: "\n") {
            do {
                result.append(try Permission(String(line), limits: limits))
            } catch {
                throw .corrupted("stored permission \"\(line)\"")
            }
        }
        return result
    }

    static func revision(_ value: Int64) throws(PolicyStoreError) -> UInt64 {
        guard value >= 0 else { throw .corrupted("negative revision \(value)") }
        return UInt64(value)
    }

    /// A small enumeration code (a principal kind, a key state), checked to fit a byte.
    static func code(_ value: Int64, _ what: String) throws(PolicyStoreError) -> UInt8 {
        guard let byte = UInt8(exactly: value) else { throw .corrupted("\(what) \(value)") }
        return byte
    }

    /// A revocation's target as stored: its kind and value (`Schema`, migration 3).
    static func revocationTarget(_ target: TokenRevocation.Target) -> (Int64, [UInt8]) {
        switch target {
        case .id(let bytes): return (1, bytes)
        case .principal(let principal): return (2, Array(principal.description.utf8))
        case .organization(let name): return (3, Array(name.value.utf8))
        }
    }

    /// A stored revocation target.
    static func revocationTarget(_ kind: Int64, _ value: [UInt8], _ limits: PolicyLimits) throws(PolicyStoreError) -> TokenRevocation.Target {
        switch kind {
        case 1: return .id(value)
        case 2:
            guard let principal = try principal(String(decoding: value, as: UTF8.self), limits) else { throw .corrupted("revoked principal") }
            return .principal(principal)
        case 3: return .organization(try name(String(decoding: value, as: UTF8.self), limits))
        default: throw .corrupted("revocation kind \(kind)")
        }
    }

    /// The columns `auditRecord` reads, in its order.
    static let auditColumns = "sequence, revision, time, actor, action, target, organization, request_id, outcome, previous_hash, hash"

    /// An audit record from a row of `auditColumns`.
    static func auditRecord(_ row: [SQLValue]) throws(PolicyStoreError) -> AuditRecord {
        AuditRecord(
            sequence: try revision(row[0].integer), revision: try revision(row[1].integer),
            time: Timestamp(millisecondsSinceEpoch: row[2].integer), actor: row[3].text, action: row[4].text,
            target: row[5].text, organization: row[6].text, requestID: row[7].text, outcome: row[8].text,
            previousHash: row[9].blob, hash: row[10].blob)
    }
}
