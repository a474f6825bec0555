/// Whether 32 bytes are an Ed25519 public key: the encoding of a point of the curve
/// (`-x² + y² = 1 + d·x²·y²` over GF(2^255 - 19)). The reference (curve25519-dalek) refuses
/// keys that are not; swift-crypto takes any 32 bytes and only fails at verification. Used
/// where the reference decodes a key (a key's text, a block's declared keys), not on the
/// verification path, where a bad key simply fails to verify.
enum Ed25519Point {
    /// Whether `bytes` encode a point: with y the low 255 bits (little-endian), the x² the
    /// equation gives, `(y² - 1) / (d·y² + 1)`, must be a square.
    static func isValid(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == 32 else { return false }
        var encoded = bytes
        encoded[31] &= 0x7F
        let y = Field.reduce(Field.fromLittleEndian(encoded))
        let y2 = Field.mul(y, y)
        let u = Field.sub(y2, Field.one)
        let v = Field.add(Field.mul(Field.d, y2), Field.one)
        let x2 = Field.mul(u, Field.inverse(v))
        if x2 == Field.zero { return true }
        // Euler's criterion: a non-zero w is a square when w^((p-1)/2) = 1.
        return Field.pow(x2, Field.halfOrder) == Field.one
    }

    /// Arithmetic modulo p = 2^255 - 19 on four 64-bit limbs, little-endian, kept below p.
    enum Field {
        /// A number below 2^256 in four 64-bit limbs, least significant first, held inline (no
        /// heap allocation: a key's check takes about a thousand multiplications).
        struct Element: Equatable {
            var limbs: InlineArray<4, UInt64>

            init(_ limb0: UInt64, _ limb1: UInt64, _ limb2: UInt64, _ limb3: UInt64) {
                limbs = InlineArray(repeating: 0)
                limbs[0] = limb0
                limbs[1] = limb1
                limbs[2] = limb2
                limbs[3] = limb3
            }

            subscript(index: Int) -> UInt64 {
                get { limbs[index] }
                set { limbs[index] = newValue }
            }

            static func == (lhs: Element, rhs: Element) -> Bool {
                lhs[0] == rhs[0] && lhs[1] == rhs[1] && lhs[2] == rhs[2] && lhs[3] == rhs[3]
            }
        }

        static let zero = Element(0, 0, 0, 0)
        static let one = Element(1, 0, 0, 0)
        static let p = Element(0xFFFF_FFFF_FFFF_FFED, 0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF, 0x7FFF_FFFF_FFFF_FFFF)
        /// p - 2, for inverses (Fermat).
        static let inverseExponent = Element(0xFFFF_FFFF_FFFF_FFEB, 0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF, 0x7FFF_FFFF_FFFF_FFFF)
        /// (p - 1) / 2, for Euler's criterion.
        static let halfOrder = Element(0xFFFF_FFFF_FFFF_FFF6, 0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF, 0x3FFF_FFFF_FFFF_FFFF)
        /// d = -121665 / 121666.
        static let d: Element = mul(sub(zero, Element(121_665, 0, 0, 0)), inverse(Element(121_666, 0, 0, 0)))

        static func fromLittleEndian(_ bytes: [UInt8]) -> Element {
            func limb(_ number: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[number * 8 + $1]) << UInt64($1 * 8) } }
            return Element(limb(0), limb(1), limb(2), limb(3))
        }

        static func isBelowP(_ a: Element) -> Bool {
            for index in stride(from: 3, through: 0, by: -1) where a[index] != p[index] { return a[index] < p[index] }
            return false
        }

        /// `a - b` for `a >= b` as 256-bit numbers.
        private static func subtractRaw(_ a: Element, _ b: Element) -> Element {
            var result = zero
            var borrow: UInt64 = 0
            for index in 0..<4 {
                let (step, overflow1) = a[index].subtractingReportingOverflow(b[index])
                let (value, overflow2) = step.subtractingReportingOverflow(borrow)
                result[index] = value
                borrow = (overflow1 ? 1 : 0) + (overflow2 ? 1 : 0)
            }
            return result
        }

        /// A value below 2^256 brought below p.
        static func reduce(_ a: Element) -> Element {
            var value = a
            while !isBelowP(value) { value = subtractRaw(value, p) }
            return value
        }

        static func add(_ a: Element, _ b: Element) -> Element {
            // Both below p < 2^255: the sum fits in 256 bits.
            reduce(addRaw(a, b))
        }

        /// `a - b` for `a`, `b` below p.
        static func sub(_ a: Element, _ b: Element) -> Element {
            isBelowOrEqual(b, a) ? subtractRaw(a, b) : addRaw(a, subtractRaw(p, b))
        }

        /// `a + b` as 256-bit numbers (no carry out: the callers keep the sum below 2^256).
        private static func addRaw(_ a: Element, _ b: Element) -> Element {
            var result = zero
            var carry: UInt64 = 0
            for index in 0..<4 {
                let (step, overflow1) = a[index].addingReportingOverflow(b[index])
                let (value, overflow2) = step.addingReportingOverflow(carry)
                result[index] = value
                carry = (overflow1 ? 1 : 0) + (overflow2 ? 1 : 0)
            }
            return result
        }

        private static func isBelowOrEqual(_ a: Element, _ b: Element) -> Bool {
            for index in stride(from: 3, through: 0, by: -1) where a[index] != b[index] { return a[index] < b[index] }
            return true
        }

        static func mul(_ a: Element, _ b: Element) -> Element {
            var wide = InlineArray<8, UInt64>(repeating: 0)
            for i in 0..<4 {
                var carry: UInt64 = 0
                for j in 0..<4 {
                    let (high, low) = a[i].multipliedFullWidth(by: b[j])
                    let (sum1, overflow1) = wide[i + j].addingReportingOverflow(low)
                    let (sum2, overflow2) = sum1.addingReportingOverflow(carry)
                    wide[i + j] = sum2
                    carry = high &+ (overflow1 ? 1 : 0) &+ (overflow2 ? 1 : 0)
                }
                wide[i + 4] = carry
            }
            // 2^256 = 38 (mod p): fold the high half onto the low half, twice.
            var folded = InlineArray<5, UInt64>(repeating: 0)
            var carry: UInt64 = 0
            for index in 0..<4 {
                let (high, low) = wide[index + 4].multipliedFullWidth(by: 38)
                let (sum1, overflow1) = wide[index].addingReportingOverflow(low)
                let (sum2, overflow2) = sum1.addingReportingOverflow(carry)
                folded[index] = sum2
                carry = high &+ (overflow1 ? 1 : 0) &+ (overflow2 ? 1 : 0)
            }
            folded[4] = carry
            var result = Element(folded[0], folded[1], folded[2], folded[3])
            // The fifth limb is at most a few hundred: times 38, added with its carries; a carry
            // out of the top limb is 2^256 = 38 again.
            var spill = folded[4] &* 38
            var index = 0
            while spill != 0 {
                let (sum, overflow) = result[index].addingReportingOverflow(spill)
                result[index] = sum
                spill = overflow ? 1 : 0
                index += 1
                if index == 4 {
                    guard spill != 0 else { break }
                    spill = 38
                    index = 0
                }
            }
            return reduce(result)
        }

        static func pow(_ base: Element, _ exponent: Element) -> Element {
            var result = one
            for index in stride(from: 255, through: 0, by: -1) {
                result = mul(result, result)
                if (exponent[index / 64] >> UInt64(index % 64)) & 1 == 1 { result = mul(result, base) }
            }
            return result
        }

        static func inverse(_ a: Element) -> Element { pow(a, inverseExponent) }
    }
}
