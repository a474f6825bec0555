import Foundation
import Testing

@testable import Biscuit

/// URL-safe base64 as the reference (`base64` 0.13, `URL_SAFE`) writes and reads it.
@Suite("URL-safe base64")
struct Base64URLTests {
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ])
    func encodesTheRFC4648Vectors(plain: String, encoded: String) throws {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(try Base64URL.decode(encoded) == Array(plain.utf8))
    }

    @Test func usesTheURLSafeAlphabet() throws {
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8=")
        #expect(Base64URL.encode([0xFB, 0xEF, 0xBE]) == "----")
        #expect(Base64URL.encode([0xFF, 0xFF, 0xFF]) == "____")
        #expect(try Base64URL.decode("-_8=") == [0xFB, 0xFF])
    }

    @Test func roundTripsRandomBytesPaddedAndUnpadded() throws {
        let seed: UInt64 = 0xBA5E_64
        var random = FormatTestRandom(seed: seed)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            let text = Base64URL.encode(bytes)
            // Foundation's standard-alphabet encoder, translated, is an independent oracle.
            let oracle = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
            #expect(text == oracle, "seed \(seed) length \(length)")
            #expect(text.count % 4 == 0)
            #expect(try Base64URL.decode(text) == bytes, "seed \(seed) length \(length)")
            let unpadded = String(text.prefix { $0 != "=" })
            #expect(try Base64URL.decode(unpadded) == bytes, "seed \(seed) length \(length) unpadded")
        }
    }

    @Test func standardAlphabetIsRefusedWithItsOffset() {
        #expect(throws: Base64Error.invalidByte(offset: 2, byte: UInt8(ascii: "+"))) { try Base64URL.decode("ab+d") }
        #expect(throws: Base64Error.invalidByte(offset: 3, byte: UInt8(ascii: "/"))) { try Base64URL.decode("abc/") }
        // In a chunk before the last one too.
        #expect(throws: Base64Error.invalidByte(offset: 9, byte: UInt8(ascii: "/"))) {
            try Base64URL.decode("Zm9vYmFyZ/9vYmFyZm9v")
        }
    }

    @Test func newlinesAndSpacesAreRefused() throws {
        #expect(throws: Base64Error.invalidByte(offset: 4, byte: 0x0A)) { try Base64URL.decode("Zm9v\n") }
        #expect(throws: Base64Error.invalidByte(offset: 8, byte: 0x0A)) { try Base64URL.decode("Zm9vYmFy\n") }
        #expect(throws: Base64Error.invalidByte(offset: 4, byte: 0x20)) { try Base64URL.decode("Zm9v YmFy Zm9v") }
        // An embedded newline that makes the length impossible is reported as the length.
        #expect(throws: Base64Error.invalidLength) { try Base64URL.decode("Zm9v\nYmFy") }
        #expect(throws: Base64Error.invalidByte(offset: 4, byte: 0x0A)) { try Base64URL.decode("Zm9v\nYmFyZg") }
    }

    @Test func badPaddingIsRefused() throws {
        #expect(throws: Base64Error.invalidLength) { try Base64URL.decode("Zg===") }
        #expect(throws: Base64Error.invalidLength) { try Base64URL.decode("Zm9vYg===") }
        #expect(throws: Base64Error.invalidByte(offset: 1, byte: UInt8(ascii: "="))) { try Base64URL.decode("Z===") }
        #expect(throws: Base64Error.invalidByte(offset: 2, byte: UInt8(ascii: "="))) { try Base64URL.decode("Zg==Zg==") }
        #expect(throws: Base64Error.invalidByte(offset: 2, byte: UInt8(ascii: "="))) { try Base64URL.decode("Zg====") }
        #expect(throws: Base64Error.invalidByte(offset: 2, byte: UInt8(ascii: "="))) { try Base64URL.decode("Zg==Zm9vYmFy") }
        #expect(throws: Base64Error.invalidByte(offset: 0, byte: UInt8(ascii: "="))) { try Base64URL.decode("==") }
        #expect(throws: Base64Error.invalidLength) { try Base64URL.decode("Z") }
    }

    @Test func incompletePaddingIsAcceptedLikeTheReference() throws {
        // base64 0.13 checks where `=` stands, not how many there are.
        #expect(try Base64URL.decode("Zg=") == Array("f".utf8))
        #expect(try Base64URL.decode("Zm9vYg=") == Array("foob".utf8))
    }

    @Test func nonZeroTrailingBitsAreRefused() {
        #expect(throws: Base64Error.invalidLastSymbol(offset: 1, byte: UInt8(ascii: "h"))) { try Base64URL.decode("Zh==") }
        #expect(throws: Base64Error.invalidLastSymbol(offset: 1, byte: UInt8(ascii: "h"))) { try Base64URL.decode("Zh") }
        #expect(throws: Base64Error.invalidLastSymbol(offset: 6, byte: UInt8(ascii: "9"))) { try Base64URL.decode("Zm9vYm9=") }
    }

    @Test func nonASCIIIsRefusedAtItsUTF8Offset() {
        #expect(throws: Base64Error.invalidByte(offset: 2, byte: 0xC3)) { try Base64URL.decode("Zmé9vv") }
    }

    @Test func sampleTokenEncodesWithPaddingAsTheReferenceWrites() throws {
        guard let sample = FormatTestSamples.named("test001_basic.bc") else { return }
        let text = Base64URL.encode(sample.bytes)
        // Digest §8: the reference's (and biscuit-python's) `to_base64()` of test001 ends in `Q==`.
        #expect(text.hasSuffix("Q=="))
        #expect(!text.contains("+") && !text.contains("/"))
        #expect(try Base64URL.decode(text) == sample.bytes)
        #expect(throws: Base64Error.invalidByte(offset: text.utf8.count, byte: 0x0A)) { try Base64URL.decode(text + "\n") }
        #expect(throws: Base64Error.invalidLength) { try Base64URL.decode(text + "=") }
        #expect(throws: Base64Error.invalidByte(offset: 0, byte: UInt8(ascii: ":"))) { try Base64URL.decode(":" + text.dropFirst(1)) }
    }

    @Test func errorsDescribeThemselvesAsTheReferenceDoes() {
        #expect(Base64Error.invalidByte(offset: 3, byte: 47).description == "Invalid byte 47, offset 3.")
        #expect(Base64Error.invalidLength.description == "Encoded text cannot have a 6-bit remainder.")
        #expect(Base64Error.invalidLastSymbol(offset: 1, byte: 104).description == "Invalid last symbol 104, offset 1.")
    }
}
