public import PolicyModel
internal import Crypto

/// Computes and checks the audit log's hash chain:
/// `hash = SHA-256(previousHash ‖ canonicalBytes)`.
public enum AuditChain {
    /// The record with its `hash` computed from its `previousHash` and fields.
    public static func seal(_ record: AuditRecord) -> AuditRecord {
        var sealed = record
        sealed.hash = hash(of: record)
        return sealed
    }

    /// The hash a record must carry.
    public static func hash(of record: AuditRecord) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: record.previousHash)
        hasher.update(data: record.canonicalBytes)
        return Array(hasher.finalize())
    }

    /// What checking a run of records found.
    public enum Verification: Hashable, Sendable {
        /// Every record is in sequence and its hashes are right; the head is the last hash.
        case intact(head: [UInt8], count: Int)
        /// The first broken record and why.
        case broken(sequence: UInt64, reason: String)
    }

    /// Checks consecutive records: sequences without gaps, each `previousHash` equal to the hash
    /// before it, each hash recomputed from the fields. Any edit, deletion or reordering fails.
    /// - Parameters:
    ///   - records: records in sequence order.
    ///   - previousHash: the hash before the first record (the genesis hash for sequence 1).
    public static func verify(_ records: [AuditRecord], previousHash: [UInt8] = AuditRecord.genesisHash) -> Verification {
        var expectedPrevious = previousHash
        var expectedSequence = records.first?.sequence ?? 1
        for record in records {
            if record.sequence != expectedSequence {
                return .broken(sequence: record.sequence, reason: "expected sequence \(expectedSequence)")
            }
            if record.previousHash != expectedPrevious {
                return .broken(sequence: record.sequence, reason: "previous hash does not match the record before")
            }
            if hash(of: record) != record.hash {
                return .broken(sequence: record.sequence, reason: "hash does not match the record's content")
            }
            expectedPrevious = record.hash
            expectedSequence += 1
        }
        return .intact(head: expectedPrevious, count: records.count)
    }
}
