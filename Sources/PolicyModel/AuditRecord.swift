/// One entry of the replicated, hash-chained audit log: written for every applied command, in
/// the same transaction as its change, identical on every replica. It never holds a secret.
///
/// `hash = SHA-256(previousHash ‖ canonicalBytes)`, so any edit, deletion or reordering of a
/// record changes every hash after it. Hashing itself happens in the store (it needs
/// swift-crypto); this type defines the exact bytes that are hashed.
public struct AuditRecord: Hashable, Sendable {
    /// The record's position in the chain, from 1, without gaps.
    public var sequence: UInt64
    /// The revision (Raft log index) of the command.
    public var revision: UInt64
    /// The command's time, chosen by the proposing replica.
    public var time: Timestamp
    /// The principal that asked, as `organization/name`, or `-` for the bootstrap.
    public var actor: String
    /// The action, such as `binding.create`.
    public var action: String
    /// The target, such as `orgs/acme/projects/web`.
    public var target: String
    /// The organization the command concerns, or empty.
    public var organization: String
    /// The request id.
    public var requestID: String
    /// `ok`, the rejection's code, or `replayed` for a retry answered from the idempotency window.
    public var outcome: String
    /// The hash of the previous record (32 zero bytes for the first).
    public var previousHash: [UInt8]
    /// This record's hash.
    public var hash: [UInt8]

    /// Creates a record.
    public init(
        sequence: UInt64, revision: UInt64, time: Timestamp, actor: String, action: String, target: String,
        organization: String, requestID: String, outcome: String, previousHash: [UInt8], hash: [UInt8]
    ) {
        self.sequence = sequence
        self.revision = revision
        self.time = time
        self.actor = actor
        self.action = action
        self.target = target
        self.organization = organization
        self.requestID = requestID
        self.outcome = outcome
        self.previousHash = previousHash
        self.hash = hash
    }

    /// The hash that precedes the first record.
    public static let genesisHash = [UInt8](repeating: 0, count: 32)
    /// The outcome of a command that was applied without a rejection.
    public static let succeeded = "ok"

    /// The record of applying `envelope` at `revision` with `outcome`, before hashing.
    /// - Parameter organization: the organization the command concerns, as the state knew it
    ///   before applying (`PolicyState.organization(of:)`).
    public static func describing(
        _ envelope: CommandEnvelope, organization: Name?, revision: UInt64, outcome: CommandOutcome, sequence: UInt64,
        previousHash: [UInt8]
    ) -> AuditRecord {
        var actor = envelope.actor?.description ?? "-"
        var result = outcome.replayed ? "replayed" : (outcome.rejection?.code ?? Self.succeeded)
        // A refusal's record names who was refused and why (the cluster itself proposed it).
        if case .recordDenial(let denied) = envelope.command, outcome.rejection == nil {
            actor = denied.principal.description
            result = denied.reason.code
        }
        return AuditRecord(
            sequence: sequence, revision: revision, time: envelope.time, actor: actor, action: envelope.command.action,
            target: envelope.command.target, organization: organization?.value ?? "", requestID: envelope.requestID, outcome: result,
            previousHash: previousHash, hash: [])
    }

    /// The bytes the hash covers, after `previousHash`: every field but the hashes, in a fixed
    /// order, with lengths, so that no two records share them.
    public var canonicalBytes: [UInt8] {
        var writer = ByteWriter()
        writer.byte(1)
        writer.varint(sequence)
        writer.varint(revision)
        writer.signed(time.millisecondsSinceEpoch)
        writer.string(actor)
        writer.string(action)
        writer.string(target)
        writer.string(organization)
        writer.string(requestID)
        writer.string(outcome)
        return writer.bytes
    }
}
