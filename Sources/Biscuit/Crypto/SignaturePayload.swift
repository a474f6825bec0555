/// The bytes each signature of a token covers (digest of the reference's `crypto` module):
///
/// - v0: `block ‖ [external signature] ‖ algorithm(next key) ‖ next key`.
/// - v1, domain-separated, binding the previous block's signature:
///   `"\0BLOCK\0" "\0VERSION\0" u32le(1) "\0PAYLOAD\0" block "\0ALGORITHM\0" algorithm(next key)
///   "\0NEXTKEY\0" next key ["\0PREVSIG\0" previous signature] ["\0EXTERNALSIG\0" external]`.
/// - an external (third-party) signature, v1 only: `"\0EXTERNAL\0" "\0VERSION\0" u32le(1)
///   "\0PAYLOAD\0" block "\0PREVSIG\0" previous signature`.
/// - a sealed token's final signature: `block ‖ algorithm(next key) ‖ next key ‖ signature`.
///
/// The algorithm is the format's code as a 4-byte little-endian integer.
enum SignaturePayload {
    /// The signature payload versions read; 1 is written whenever the reference would.
    static let versions: ClosedRange<UInt32> = 0...1

    static func block(
        version: UInt32, block: [UInt8], nextKey: PublicKey, previousSignature: [UInt8]?, externalSignature: [UInt8]?
    ) -> [UInt8] {
        if version == 0 {
            var payload = block
            if let externalSignature { payload += externalSignature }
            payload += littleEndian(UInt32(bitPattern: nextKey.algorithm.rawValue))
            payload += nextKey.bytes
            return payload
        }
        var payload = Array("\0BLOCK\0\0VERSION\0".utf8) + littleEndian(version) + Array("\0PAYLOAD\0".utf8) + block
        payload += Array("\0ALGORITHM\0".utf8) + littleEndian(UInt32(bitPattern: nextKey.algorithm.rawValue))
        payload += Array("\0NEXTKEY\0".utf8) + nextKey.bytes
        if let previousSignature { payload += Array("\0PREVSIG\0".utf8) + previousSignature }
        if let externalSignature { payload += Array("\0EXTERNALSIG\0".utf8) + externalSignature }
        return payload
    }

    static func external(block: [UInt8], previousSignature: [UInt8]) -> [UInt8] {
        Array("\0EXTERNAL\0\0VERSION\0".utf8) + littleEndian(1) + Array("\0PAYLOAD\0".utf8) + block
            + Array("\0PREVSIG\0".utf8) + previousSignature
    }

    static func seal(block: [UInt8], nextKey: PublicKey, signature: [UInt8]) -> [UInt8] {
        block + littleEndian(UInt32(bitPattern: nextKey.algorithm.rawValue)) + nextKey.bytes + signature
    }

    private static func littleEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 24)]
    }
}
