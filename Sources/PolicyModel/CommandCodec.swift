/// The versioned, deterministic binary encoding of a `CommandEnvelope`: the bytes in the
/// replicated log. Equal envelopes always encode to equal bytes, and the decoder checks every
/// field and limit, so a malformed entry is a clear error, never a crash.
///
/// Layout (version 1): version byte; time (zig-zag varint); actor (presence byte, then two
/// names); request id (string); idempotency key (presence byte, string); expected revision
/// (presence byte, varint); command tag (varint) and the command's fields in declaration order.
/// Strings and byte strings are a varint length and the bytes; ids are 16 big-endian bytes;
/// booleans are one byte, 0 or 1.
public enum CommandCodec {
    /// The encoding version written by this build.
    public static let version: UInt8 = 1

    /// Encodes an envelope.
    public static func encode(_ envelope: CommandEnvelope) -> [UInt8] {
        var writer = ByteWriter()
        writer.byte(version)
        writer.signed(envelope.time.millisecondsSinceEpoch)
        writer.optional(envelope.actor) { $0.principal($1) }
        writer.string(envelope.requestID)
        writer.optional(envelope.idempotencyKey) { $0.string($1) }
        writer.optional(envelope.expectedRevision) { $0.varint($1) }
        writer.command(envelope.command)
        return writer.bytes
    }

    /// Decodes an envelope, checking every field against `limits`.
    /// - Throws: `CommandDecodingError` naming what is wrong.
    public static func decode(_ bytes: [UInt8], limits: PolicyLimits = .standard) throws(CommandDecodingError)
        -> CommandEnvelope
    {
        guard bytes.count <= limits.maxCommandBytes else { throw .oversized(bytes.count) }
        var reader = ByteReader(bytes: bytes, limits: limits)
        let version = try reader.byte("version")
        guard version == Self.version else { throw .unsupportedVersion(version) }
        let time = Timestamp(millisecondsSinceEpoch: try reader.signed("time"))
        let actor = try reader.optional("actor") { (reader) throws(CommandDecodingError) in try reader.principal("actor") }
        let requestID = try reader.string("request id", maxBytes: limits.maxRequestIDBytes)
        let idempotencyKey = try reader.optional("idempotency key") { (reader) throws(CommandDecodingError) in
            try reader.string("idempotency key", maxBytes: limits.maxRequestIDBytes)
        }
        let expectedRevision = try reader.optional("expected revision") { (reader) throws(CommandDecodingError) in
            try reader.varint("expected revision")
        }
        let command = try reader.command()
        guard reader.remaining == 0 else { throw .trailingBytes(reader.remaining) }
        return CommandEnvelope(
            command: command, actor: actor, requestID: requestID, idempotencyKey: idempotencyKey,
            expectedRevision: expectedRevision, time: time)
    }
}

/// Why bytes are not a valid command.
public enum CommandDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The encoding version is not one this build reads.
    case unsupportedVersion(UInt8)
    /// The bytes end in the middle of the named field.
    case truncated(String)
    /// The whole encoding is larger than `maxCommandBytes`.
    case oversized(Int)
    /// The command tag is unknown.
    case unknownCommand(UInt64)
    /// The named field has an invalid value.
    case invalidField(String)
    /// Bytes are left after the command.
    case trailingBytes(Int)

    public var description: String {
        switch self {
        case .unsupportedVersion(let version): return "unsupported command encoding version \(version)"
        case .truncated(let field): return "command truncated in \(field)"
        case .oversized(let count): return "command of \(count) bytes exceeds the limit"
        case .unknownCommand(let tag): return "unknown command tag \(tag)"
        case .invalidField(let field): return "invalid \(field)"
        case .trailingBytes(let count): return "\(count) bytes after the command"
        }
    }
}

/// Command tags. Never renumber: they are in every log and snapshot.
enum CommandTag: UInt64 {
    case createOrganization = 1, setOrganizationSuspended, deleteOrganization, createProject, deleteProject
    case createPrincipal, deletePrincipal, createRole, updateRole, deleteRole, createBinding, deleteBinding
    case createAPIKey, revokeAPIKey, addRootKey, activateRootKey, retireRootKey
    case bootstrap, breakGlass, recordDenial
    case revokeTokens, revokeTokenEpoch, expireRevocations, revokeRootKey
    case setPeerAddress, removePeerAddress
}

struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func varint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }

    mutating func signed(_ value: Int64) {
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func bool(_ value: Bool) { byte(value ? 1 : 0) }

    mutating func data(_ value: [UInt8]) {
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ value: String) { data(Array(value.utf8)) }

    mutating func name(_ value: Name) { string(value.value) }

    mutating func id(_ value: EntityID) {
        for shift in stride(from: 56, through: 0, by: -8) { byte(UInt8(truncatingIfNeeded: value.high >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { byte(UInt8(truncatingIfNeeded: value.low >> UInt64(shift))) }
    }

    mutating func principal(_ value: PrincipalReference) {
        name(value.organization)
        name(value.name)
    }

    mutating func optional<Value>(_ value: Value?, _ write: (inout ByteWriter, Value) -> Void) {
        guard let value else {
            byte(0)
            return
        }
        byte(1)
        write(&self, value)
    }

    mutating func role(_ value: RoleReference) {
        switch value {
        case .builtIn(let role):
            byte(1)
            string(role.rawValue)
        case .custom(let organization, let name):
            byte(2)
            self.name(organization)
            self.name(name)
        }
    }

    mutating func scope(_ value: Scope) {
        switch value {
        case .cluster:
            byte(0)
        case .organization(let organization):
            byte(1)
            name(organization)
        case .project(let organization, let project):
            byte(2)
            name(organization)
            name(project)
        }
    }

    mutating func permissions(_ value: [Permission]) {
        varint(UInt64(value.count))
        for permission in value { string(permission.description) }
    }

    mutating func command(_ command: Command) {
        switch command {
        case .createOrganization(let name):
            varint(CommandTag.createOrganization.rawValue)
            self.name(name)
        case .setOrganizationSuspended(let name, let suspended):
            varint(CommandTag.setOrganizationSuspended.rawValue)
            self.name(name)
            bool(suspended)
        case .deleteOrganization(let name, let force):
            varint(CommandTag.deleteOrganization.rawValue)
            self.name(name)
            bool(force)
        case .createProject(let organization, let name):
            varint(CommandTag.createProject.rawValue)
            self.name(organization)
            self.name(name)
        case .deleteProject(let organization, let name, let force):
            varint(CommandTag.deleteProject.rawValue)
            self.name(organization)
            self.name(name)
            bool(force)
        case .createPrincipal(let reference, let kind):
            varint(CommandTag.createPrincipal.rawValue)
            principal(reference)
            byte(kind.rawValue)
        case .deletePrincipal(let reference, let force):
            varint(CommandTag.deletePrincipal.rawValue)
            principal(reference)
            bool(force)
        case .createRole(let organization, let name, let permissions):
            varint(CommandTag.createRole.rawValue)
            self.name(organization)
            self.name(name)
            self.permissions(permissions)
        case .updateRole(let organization, let name, let permissions):
            varint(CommandTag.updateRole.rawValue)
            self.name(organization)
            self.name(name)
            self.permissions(permissions)
        case .deleteRole(let organization, let name, let force):
            varint(CommandTag.deleteRole.rawValue)
            self.name(organization)
            self.name(name)
            bool(force)
        case .createBinding(let id, let reference, let role, let scope):
            varint(CommandTag.createBinding.rawValue)
            self.id(id)
            principal(reference)
            self.role(role)
            self.scope(scope)
        case .deleteBinding(let id):
            varint(CommandTag.deleteBinding.rawValue)
            self.id(id)
        case .createAPIKey(let id, let reference, let secretHash):
            varint(CommandTag.createAPIKey.rawValue)
            self.id(id)
            principal(reference)
            data(secretHash)
        case .revokeAPIKey(let id):
            varint(CommandTag.revokeAPIKey.rawValue)
            self.id(id)
        case .addRootKey(let id, let publicKey, let sealedPrivateKey):
            varint(CommandTag.addRootKey.rawValue)
            self.id(id)
            data(publicKey)
            data(sealedPrivateKey)
        case .activateRootKey(let id):
            varint(CommandTag.activateRootKey.rawValue)
            self.id(id)
        case .retireRootKey(let id):
            varint(CommandTag.retireRootKey.rawValue)
            self.id(id)
        case .bootstrap(let admin, let rootKey):
            varint(CommandTag.bootstrap.rawValue)
            administrator(admin)
            id(rootKey.id)
            data(rootKey.publicKey)
            data(rootKey.sealedPrivateKey)
        case .breakGlass(let admin):
            varint(CommandTag.breakGlass.rawValue)
            administrator(admin)
        case .recordDenial(let denied):
            varint(CommandTag.recordDenial.rawValue)
            principal(denied.principal)
            string(denied.permission.description)
            scope(denied.scope)
            byte(denied.reason.rawValue)
            varint(denied.count)
        case .revokeTokens(let ids, let organization, let reason, let expiresAt):
            varint(CommandTag.revokeTokens.rawValue)
            varint(UInt64(ids.count))
            for id in ids { data(id) }
            optional(organization) { $0.name($1) }
            string(reason)
            signed(expiresAt.millisecondsSinceEpoch)
        case .revokeTokenEpoch(let target, let reason, let expiresAt):
            varint(CommandTag.revokeTokenEpoch.rawValue)
            switch target {
            case .id(let id):
                byte(1)
                data(id)
            case .principal(let reference):
                byte(2)
                principal(reference)
            case .organization(let organization):
                byte(3)
                name(organization)
            }
            string(reason)
            signed(expiresAt.millisecondsSinceEpoch)
        case .expireRevocations:
            varint(CommandTag.expireRevocations.rawValue)
        case .revokeRootKey(let id):
            varint(CommandTag.revokeRootKey.rawValue)
            self.id(id)
        case .setPeerAddress(let replica, let address, let autoPromote):
            varint(CommandTag.setPeerAddress.rawValue)
            varint(replica)
            string(address)
            bool(autoPromote)
        case .removePeerAddress(let replica):
            varint(CommandTag.removePeerAddress.rawValue)
            varint(replica)
        }
    }

    mutating func administrator(_ admin: AdministratorKey) {
        id(admin.keyID)
        data(admin.secretHash)
        id(admin.bindingID)
    }
}

struct ByteReader {
    let bytes: [UInt8]
    let limits: PolicyLimits
    var offset = 0

    var remaining: Int { bytes.count - offset }

    mutating func byte(_ field: String) throws(CommandDecodingError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(field) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint(_ field: String) throws(CommandDecodingError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = try byte(field)
            guard shift < 64, shift < 63 || next <= 1 else { throw .invalidField(field) }
            value |= UInt64(next & 0x7F) << shift
            if next & 0x80 == 0 {
                // The shortest form only, so that every value has exactly one encoding.
                if next == 0 && shift > 0 { throw .invalidField(field) }
                return value
            }
            shift += 7
        }
    }

    mutating func signed(_ field: String) throws(CommandDecodingError) -> Int64 {
        let raw = try varint(field)
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    mutating func bool(_ field: String) throws(CommandDecodingError) -> Bool {
        switch try byte(field) {
        case 0: return false
        case 1: return true
        default: throw .invalidField(field)
        }
    }

    mutating func data(_ field: String, maxBytes: Int) throws(CommandDecodingError) -> [UInt8] {
        let count = try varint(field)
        guard count <= UInt64(maxBytes) else { throw .invalidField(field) }
        guard count <= UInt64(remaining) else { throw .truncated(field) }
        defer { offset += Int(count) }
        return Array(bytes[offset..<offset + Int(count)])
    }

    mutating func string(_ field: String, maxBytes: Int) throws(CommandDecodingError) -> String {
        let raw = try data(field, maxBytes: maxBytes)
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidField(field) }
        return text
    }

    mutating func name(_ field: String) throws(CommandDecodingError) -> Name {
        let text = try string(field, maxBytes: limits.maxNameBytes)
        do {
            return try Name(text, limits: limits)
        } catch {
            throw .invalidField(field)
        }
    }

    mutating func id(_ field: String) throws(CommandDecodingError) -> EntityID {
        guard remaining >= 16 else { throw .truncated(field) }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 { high = high << 8 | UInt64(bytes[offset + index]) }
        for index in 8..<16 { low = low << 8 | UInt64(bytes[offset + index]) }
        offset += 16
        return EntityID(high: high, low: low)
    }

    mutating func principal(_ field: String) throws(CommandDecodingError) -> PrincipalReference {
        PrincipalReference(organization: try name(field + " organization"), name: try name(field + " name"))
    }

    mutating func optional<Value>(
        _ field: String, _ read: (inout ByteReader) throws(CommandDecodingError) -> Value
    ) throws(CommandDecodingError) -> Value? {
        guard try bool(field) else { return nil }
        return try read(&self)
    }

    mutating func role() throws(CommandDecodingError) -> RoleReference {
        switch try byte("role") {
        case 1:
            let text = try string("role", maxBytes: 32)
            guard let role = BuiltInRole(rawValue: text) else { throw .invalidField("role") }
            return .builtIn(role)
        case 2:
            return .custom(organization: try name("role organization"), name: try name("role name"))
        default:
            throw .invalidField("role")
        }
    }

    mutating func scope() throws(CommandDecodingError) -> Scope {
        switch try byte("scope") {
        case 0: return .cluster
        case 1: return .organization(try name("scope organization"))
        case 2: return .project(organization: try name("scope organization"), project: try name("scope project"))
        default: throw .invalidField("scope")
        }
    }

    mutating func permissions() throws(CommandDecodingError) -> [Permission] {
        let count = try varint("permissions")
        guard count <= UInt64(limits.maxPermissionsPerRole) else { throw .invalidField("permissions") }
        var result: [Permission] = []
        for _ in 0..<count {
            let text = try string("permission", maxBytes: limits.maxPermissionBytes)
            do {
                result.append(try Permission(text, limits: limits))
            } catch {
                throw .invalidField("permission")
            }
        }
        return result
    }

    mutating func command() throws(CommandDecodingError) -> Command {
        let raw = try varint("command")
        guard let tag = CommandTag(rawValue: raw) else { throw .unknownCommand(raw) }
        switch tag {
        case .createOrganization:
            return .createOrganization(name: try name("name"))
        case .setOrganizationSuspended:
            return .setOrganizationSuspended(name: try name("name"), suspended: try bool("suspended"))
        case .deleteOrganization:
            return .deleteOrganization(name: try name("name"), force: try bool("force"))
        case .createProject:
            return .createProject(organization: try name("organization"), name: try name("name"))
        case .deleteProject:
            return .deleteProject(organization: try name("organization"), name: try name("name"), force: try bool("force"))
        case .createPrincipal:
            let reference = try principal("principal")
            guard let kind = PrincipalKind(rawValue: try byte("kind")) else { throw .invalidField("kind") }
            return .createPrincipal(reference, kind: kind)
        case .deletePrincipal:
            return .deletePrincipal(try principal("principal"), force: try bool("force"))
        case .createRole:
            return .createRole(organization: try name("organization"), name: try name("name"), permissions: try permissions())
        case .updateRole:
            return .updateRole(organization: try name("organization"), name: try name("name"), permissions: try permissions())
        case .deleteRole:
            return .deleteRole(organization: try name("organization"), name: try name("name"), force: try bool("force"))
        case .createBinding:
            return .createBinding(id: try id("id"), principal: try principal("principal"), role: try role(), scope: try scope())
        case .deleteBinding:
            return .deleteBinding(id: try id("id"))
        case .createAPIKey:
            return .createAPIKey(
                id: try id("id"), principal: try principal("principal"),
                secretHash: try data("secret hash", maxBytes: APIKey.secretHashBytes))
        case .revokeAPIKey:
            return .revokeAPIKey(id: try id("id"))
        case .addRootKey:
            return .addRootKey(
                id: try id("id"), publicKey: try data("public key", maxBytes: RootKey.publicKeyBytes),
                sealedPrivateKey: try data("sealed private key", maxBytes: RootKey.maxSealedPrivateKeyBytes))
        case .activateRootKey:
            return .activateRootKey(id: try id("id"))
        case .retireRootKey:
            return .retireRootKey(id: try id("id"))
        case .bootstrap:
            let admin = try administrator()
            let rootKey = RootKeyMaterial(
                id: try id("root key id"), publicKey: try data("public key", maxBytes: RootKey.publicKeyBytes),
                sealedPrivateKey: try data("sealed private key", maxBytes: RootKey.maxSealedPrivateKeyBytes))
            return .bootstrap(admin: admin, rootKey: rootKey)
        case .breakGlass:
            return .breakGlass(admin: try administrator())
        case .recordDenial:
            let principal = try principal("principal")
            let text = try string("permission", maxBytes: limits.maxPermissionBytes)
            let permission: Permission
            do {
                permission = try Permission(text, limits: limits)
            } catch {
                throw .invalidField("permission")
            }
            let scope = try scope()
            guard let reason = DeniedAccess.Reason(rawValue: try byte("reason")) else { throw .invalidField("reason") }
            return .recordDenial(DeniedAccess(principal: principal, permission: permission, scope: scope, reason: reason, count: try varint("count")))
        case .revokeTokens:
            let count = try varint("revocation ids")
            guard (1...UInt64(TokenRevocation.maxIDs)).contains(count) else { throw .invalidField("revocation ids") }
            var ids: [[UInt8]] = []
            for _ in 0..<count { ids.append(try data("revocation id", maxBytes: TokenRevocation.maxIDBytes)) }
            let organization = try optional("organization") { reader throws(CommandDecodingError) in try reader.name("organization") }
            return .revokeTokens(
                ids: ids, organization: organization, reason: try string("reason", maxBytes: TokenRevocation.maxReasonBytes),
                expiresAt: Timestamp(millisecondsSinceEpoch: try signed("expires at")))
        case .revokeTokenEpoch:
            let target: TokenRevocation.Target
            switch try byte("target") {
            case 1: target = .id(try data("revocation id", maxBytes: TokenRevocation.maxIDBytes))
            case 2: target = .principal(try principal("principal"))
            case 3: target = .organization(try name("organization"))
            default: throw .invalidField("target")
            }
            return .revokeTokenEpoch(
                target, reason: try string("reason", maxBytes: TokenRevocation.maxReasonBytes),
                expiresAt: Timestamp(millisecondsSinceEpoch: try signed("expires at")))
        case .expireRevocations:
            return .expireRevocations
        case .revokeRootKey:
            return .revokeRootKey(id: try id("id"))
        case .setPeerAddress:
            return .setPeerAddress(
                replica: try varint("replica"), address: try string("peer address", maxBytes: PeerAddress.maxBytes),
                autoPromote: try bool("auto promote"))
        case .removePeerAddress:
            return .removePeerAddress(replica: try varint("replica"))
        }
    }

    mutating func administrator() throws(CommandDecodingError) -> AdministratorKey {
        AdministratorKey(
            keyID: try id("key id"), secretHash: try data("secret hash", maxBytes: APIKey.secretHashBytes), bindingID: try id("binding id"))
    }
}
