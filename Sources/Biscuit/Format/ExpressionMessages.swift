/// `Expression` (formerly `ExpressionV2`): a postfix program of operations.
///
/// Field numbers: 1 `ops` (repeated `Op`).
struct ExpressionMessage: Hashable, Sendable {
    /// The operations, in postfix (RPN) order.
    var ops: [OpMessage]
}

extension ExpressionMessage: ProtoMessage {
    /// Decodes an `Expression`.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        var reader = ProtoReader(bytes, messageName: "Expression")
        var ops: [OpMessage] = []
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: ops.append(try reader.readElement(tag, field: "ops", as: OpMessage.self, depth: depth))
            default: try reader.skipField(tag)
            }
        }
        self.init(ops: ops)
    }

    /// Writes an `Expression`'s fields.
    func encode(to writer: inout ProtoWriter) {
        for op in ops { writer.writeMessage(op, field: 1) }
    }
}

/// `Op`: one operation of an expression.
///
/// A oneof `Content`: 1 `value` (`Term`), 2 `unary` (`OpUnary`), 3 `Binary` (`OpBinary`),
/// 4 `closure` (`OpClosure`). One must be present. `OpUnary` and `OpBinary` are 1 `kind`
/// (required enum) and 2 `ffiName` (optional uint64); `OpClosure` is 1 `params` (repeated
/// uint32, written unpacked, read packed or not) and 2 `ops` (repeated `Op`). Closures nest at
/// most `ProtoLimits.maxNestingDepth` deep.
indirect enum OpMessage: Hashable, Sendable {
    /// Pushes a term.
    case value(TermMessage)
    /// A unary operation: the raw `OpUnary.Kind` value (0 Negate, 1 Parens, 2 Length, 3 TypeOf,
    /// 4 Ffi), and the function's symbol index for Ffi. Kinds and the name are not checked here.
    case unary(kind: Int32, ffiName: UInt64?)
    /// A binary operation: the raw `OpBinary.Kind` value (0 LessThan ... 28 Ffi, 29 TryOr), and
    /// the function's symbol index for Ffi. Kinds and the name are not checked here.
    case binary(kind: Int32, ffiName: UInt64?)
    /// A closure (block version 6): its parameters' variable symbol indices and its body.
    case closure(parameters: [UInt32], ops: [OpMessage])
}

extension OpMessage: ProtoMessage {
    /// Decodes an `Op` at `depth` enclosing collections and closures.
    /// - Throws: `.tooDeep` beyond `ProtoLimits.maxNestingDepth`, `.missingRequiredField` for
    ///   an empty oneof, or the wire's errors.
    init(decoding bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) {
        guard depth <= ProtoLimits.maxNestingDepth else { throw .tooDeep }
        var reader = ProtoReader(bytes, messageName: "Op")
        // Every field of the oneof is a message, so the content is always kept as bytes.
        var content: OneofContent<Never>?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: try reader.mergeOneofMessage(tag, field: "value", into: &content)
            case 2: try reader.mergeOneofMessage(tag, field: "unary", into: &content)
            case 3: try reader.mergeOneofMessage(tag, field: "Binary", into: &content)
            case 4: try reader.mergeOneofMessage(tag, field: "closure", into: &content)
            default: try reader.skipField(tag)
            }
        }
        guard case .message(let fieldNumber, let bytes)? = content else {
            throw .missingRequiredField(message: "Op", field: "content")
        }
        switch fieldNumber {
        case 1:
            self = .value(try TermMessage(decoding: bytes, depth: depth))
        case 2:
            let (kind, ffiName) = try Self.operation(bytes, messageName: "OpUnary")
            self = .unary(kind: kind, ffiName: ffiName)
        case 3:
            let (kind, ffiName) = try Self.operation(bytes, messageName: "OpBinary")
            self = .binary(kind: kind, ffiName: ffiName)
        default:
            // Field 4: only fields 1 to 4 are read into `content` above.
            self = try Self.closure(bytes, depth: depth)
        }
    }

    /// Writes an `Op`'s field.
    func encode(to writer: inout ProtoWriter) {
        switch self {
        case .value(let term):
            writer.writeMessage(term, field: 1)
        case .unary(let kind, let ffiName):
            writer.writeMessage(field: 2) { Self.encodeOperation(kind: kind, ffiName: ffiName, to: &$0) }
        case .binary(let kind, let ffiName):
            writer.writeMessage(field: 3) { Self.encodeOperation(kind: kind, ffiName: ffiName, to: &$0) }
        case .closure(let parameters, let ops):
            writer.writeMessage(field: 4) { closure in
                // Unpacked, as the reference writes `OpClosure.params` (`packed = false`).
                for parameter in parameters { closure.writeUInt32(parameter, field: 1) }
                for op in ops { closure.writeMessage(op, field: 2) }
            }
        }
    }

    // MARK: - Private helpers

    /// Decodes an `OpUnary` or `OpBinary`: 1 `kind` (required enum), 2 `ffiName` (optional uint64).
    private static func operation(
        _ bytes: ArraySlice<UInt8>, messageName: String
    ) throws(ProtobufError) -> (kind: Int32, ffiName: UInt64?) {
        var reader = ProtoReader(bytes, messageName: messageName)
        var kind: Int32?
        var ffiName: UInt64?
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: kind = try reader.readInt32(tag, field: "kind")
            case 2: ffiName = try reader.readUInt64(tag, field: "ffiName")
            default: try reader.skipField(tag)
            }
        }
        return (try requireField(kind, message: messageName, field: "kind"), ffiName)
    }

    /// Writes an `OpUnary` or `OpBinary`'s fields.
    private static func encodeOperation(kind: Int32, ffiName: UInt64?, to writer: inout ProtoWriter) {
        writer.writeInt32(kind, field: 1)
        if let ffiName { writer.writeUInt64(ffiName, field: 2) }
    }

    /// Decodes an `OpClosure`, whose operations are one level deeper than the closure.
    private static func closure(_ bytes: ArraySlice<UInt8>, depth: Int) throws(ProtobufError) -> OpMessage {
        var reader = ProtoReader(bytes, messageName: "OpClosure")
        var parameters: [UInt32] = []
        var ops: [OpMessage] = []
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: try reader.readRepeatedUInt32(tag, field: "params", into: &parameters)
            case 2: ops.append(try reader.readElement(tag, field: "ops", as: OpMessage.self, depth: depth + 1))
            default: try reader.skipField(tag)
            }
        }
        return .closure(parameters: parameters, ops: ops)
    }
}
