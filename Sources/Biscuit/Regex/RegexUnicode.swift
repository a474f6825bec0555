/// The Unicode knowledge of the regex engine: the Perl classes (`\w`, `\d`, `\s`), simple case
/// folding, and the `\p{...}` properties, all from the tables of Rust's `regex-syntax` (Unicode
/// 16.0.0, in `RegexUnicodeData`), looked up with the same name rules (UAX44-LM3 loose matching,
/// the `is` prefix, the `cf`/`sc`/`lc` exceptions) so that a pattern means what it means to the
/// reference implementation.
enum RegexUnicode {
    /// The decoded tables, built once on first use (a few milliseconds).
    static let tables = DecodedTables()

    /// Why a `\p{...}` query names no class.
    enum LookupError: Error, Hashable, Sendable {
        /// No property of that name (`\p{Nonsense}`).
        case propertyNotFound
        /// The property exists but has no such value (`\p{Script=Nonsense}`).
        case propertyValueNotFound
    }

    /// A `\p` query as written: one letter (`\pL`), a name (`\p{Greek}`), or a property and a
    /// value (`\p{sc=Greek}`, `\p{sc:Greek}`, `\p{sc!=Greek}`; the operator does not matter here,
    /// the parser records `!=` as a negation).
    enum ClassQuery: Hashable, Sendable {
        /// `\pX`.
        case oneLetter(Unicode.Scalar)
        /// `\p{Name}`: a binary property, a general category or a script.
        case binary(String)
        /// `\p{name=value}`.
        case byValue(property: String, value: String)
    }

    // MARK: - Lookups

    /// The Unicode `\w` class (Rust's `PERL_WORD`).
    static var perlWord: ScalarSet { tables.perl("Word") }

    /// The Unicode `\d` class (general category Decimal_Number).
    static var perlDigit: ScalarSet { tables.perl("Decimal") }

    /// The Unicode `\s` class (property White_Space).
    static var perlSpace: ScalarSet { tables.perl("Space") }

    /// Whether `scalar` is a Unicode word character (a member of `\w`), for `\b`.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return isASCIIWordByte(value) }
        return tables.perlWordSet.contains(value)
    }

    /// Whether `value` is an ASCII word character `[0-9A-Za-z_]`, for `(?-u:\b)`.
    static func isASCIIWordByte(_ value: UInt32) -> Bool {
        (value >= 0x30 && value <= 0x39) || (value >= 0x41 && value <= 0x5A) || (value >= 0x61 && value <= 0x7A)
            || value == 0x5F
    }

    /// Whether `scalar` has the White_Space property (Rust's `char::is_whitespace`), which the
    /// parser skips in counted repetitions and in `x` mode.
    static func isWhiteSpace(_ scalar: Unicode.Scalar) -> Bool {
        tables.perlSpaceSet.contains(scalar.value)
    }

    /// Whether `scalar` is alphabetic (Rust's `char::is_alphabetic`), for capture group names.
    static func isAlphabetic(_ scalar: Unicode.Scalar) -> Bool {
        tables.alphabeticSet.contains(scalar.value)
    }

    /// Whether `scalar` is alphabetic or numeric (Rust's `char::is_alphanumeric`).
    static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        isAlphabetic(scalar) || tables.numberSet.contains(scalar.value)
    }

    /// Whether `scalar` has other scalars equivalent to it under simple case folding.
    static func hasCaseFolding(_ scalar: Unicode.Scalar) -> Bool {
        let folding = tables.caseFolding
        let entry = folding.firstKey(atLeast: scalar.value)
        return entry < folding.keys.count && folding.keys[entry] == scalar.value
    }

    /// The class a `\p` query names (Rust's `regex_syntax::unicode::class`), before case folding
    /// and negation.
    ///
    /// - Throws: `LookupError` when the name or value is unknown.
    static func propertyClass(_ query: ClassQuery) throws(LookupError) -> ScalarSet {
        switch try canonicalize(query) {
        case .binary(let name):
            return try booleanProperty(name)
        case .generalCategory(let name):
            return try generalCategory(name)
        case .script(let name):
            return try table(kind: "sc", name: name)
        case .byValue(let property, let value):
            return try propertyValueClass(property: property, value: value)
        }
    }

    // MARK: - Private helpers

    /// A query with canonical names (Rust's `CanonicalClassQuery`).
    private enum CanonicalQuery {
        /// A binary property, by canonical name.
        case binary(String)
        /// A general category, by canonical name (or `Any`, `ASCII`, `Assigned`).
        case generalCategory(String)
        /// A script, by canonical name.
        case script(String)
        /// Another property's value, both canonical.
        case byValue(property: String, value: String)
    }

    /// Rust's `ClassQuery::canonicalize`.
    private static func canonicalize(_ query: ClassQuery) throws(LookupError) -> CanonicalQuery {
        switch query {
        case .oneLetter(let scalar):
            return try canonicalBinary(String(Character(scalar)))
        case .binary(let name):
            return try canonicalBinary(name)
        case .byValue(let property, let value):
            let normalizedName = symbolicNameNormalize(property)
            let normalizedValue = symbolicNameNormalize(value)
            guard let canonicalName = tables.propertyNames[normalizedName] else { throw .propertyNotFound }
            switch canonicalName {
            case "General_Category":
                guard let canonical = canonicalGeneralCategory(normalizedValue) else {
                    throw .propertyValueNotFound
                }
                return .generalCategory(canonical)
            case "Script":
                guard let canonical = tables.propertyValues["Script"]?[normalizedValue] else {
                    throw .propertyValueNotFound
                }
                return .script(canonical)
            default:
                guard let values = tables.propertyValues[canonicalName] else { throw .propertyValueNotFound }
                guard let canonical = values[normalizedValue] else { throw .propertyValueNotFound }
                return .byValue(property: canonicalName, value: canonical)
            }
        }
    }

    /// Rust's `canonical_binary`: a property, else a general category, else a script.
    private static func canonicalBinary(_ name: String) throws(LookupError) -> CanonicalQuery {
        let normalized = symbolicNameNormalize(name)
        // Rust: "cf" (Format), "sc" (Currency_Symbol) and "lc" (Cased_Letter) are general
        // categories here, although they also abbreviate property names.
        if normalized != "cf", normalized != "sc", normalized != "lc",
            let canonical = tables.propertyNames[normalized]
        {
            return .binary(canonical)
        }
        if let canonical = canonicalGeneralCategory(normalized) { return .generalCategory(canonical) }
        if let canonical = tables.propertyValues["Script"]?[normalized] { return .script(canonical) }
        throw .propertyNotFound
    }

    /// The canonical general category for a normalized name.
    private static func canonicalGeneralCategory(_ normalized: String) -> String? {
        switch normalized {
        case "any": return "Any"
        case "assigned": return "Assigned"
        case "ascii": return "ASCII"
        default: return tables.propertyValues["General_Category"]?[normalized]
        }
    }

    /// Rust's `gencat`.
    private static func generalCategory(_ name: String) throws(LookupError) -> ScalarSet {
        switch name {
        case "Decimal_Number": return perlDigit
        case "ASCII": return ScalarSet(0, 0x7F)
        case "Any": return ScalarSet(0, ScalarSet.maxScalar)
        case "Assigned":
            var set = try generalCategory("Unassigned")
            set.negate()
            return set
        default: return try table(kind: "gc", name: name)
        }
    }

    /// Rust's `bool_property`.
    private static func booleanProperty(_ name: String) throws(LookupError) -> ScalarSet {
        switch name {
        case "Decimal_Number": return perlDigit
        case "White_Space": return perlSpace
        default:
            guard tables.hasTable(kind: "bool", name: name) else { throw .propertyNotFound }
            return tables.ranges(kind: "bool", name: name)
        }
    }

    /// Rust's ages, oldest first: `Age=V` means every scalar assigned in V or before.
    private static let ageOrder = [
        "V1_1", "V2_0", "V2_1", "V3_0", "V3_1", "V3_2", "V4_0", "V4_1", "V5_0", "V5_1", "V5_2", "V6_0",
        "V6_1", "V6_2", "V6_3", "V7_0", "V8_0", "V9_0", "V10_0", "V11_0", "V12_0", "V12_1", "V13_0",
        "V14_0", "V15_0", "V15_1", "V16_0",
    ]

    /// The classes of `Age`, `Script_Extensions` and the segmentation properties.
    private static func propertyValueClass(property: String, value: String) throws(LookupError) -> ScalarSet {
        switch property {
        case "Age":
            guard let last = ageOrder.firstIndex(of: value) else { throw .propertyValueNotFound }
            var set = ScalarSet()
            for age in ageOrder[...last] { set.formUnion(tables.ranges(kind: "age", name: age)) }
            return set
        case "Script_Extensions": return try table(kind: "scx", name: value)
        case "Grapheme_Cluster_Break": return try table(kind: "gcb", name: value)
        case "Sentence_Break": return try table(kind: "sb", name: value)
        case "Word_Break": return try table(kind: "wb", name: value)
        default: throw .propertyNotFound
        }
    }

    /// A table that must exist, else `propertyValueNotFound`.
    private static func table(kind: String, name: String) throws(LookupError) -> ScalarSet {
        guard tables.hasTable(kind: kind, name: name) else { throw .propertyValueNotFound }
        return tables.ranges(kind: kind, name: name)
    }

    /// UAX44-LM3 loose matching as Rust does it: drop an `is` prefix, spaces, `_` and `-`,
    /// lowercase ASCII, drop non-ASCII; `isc` stays `isc`.
    static func symbolicNameNormalize(_ name: String) -> String {
        var bytes = Array(name.utf8)
        var start = 0
        var startsWithIs = false
        if bytes.count >= 2, bytes[0] | 0x20 == UInt8(ascii: "i"), bytes[1] | 0x20 == UInt8(ascii: "s") {
            startsWithIs = true
            start = 2
        }
        var result: [UInt8] = []
        for byte in bytes[start...] {
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") { continue }
            if byte >= UInt8(ascii: "A"), byte <= UInt8(ascii: "Z") {
                result.append(byte + 0x20)
            } else if byte <= 0x7F {
                result.append(byte)
            }
        }
        if startsWithIs, result == [UInt8(ascii: "c")] { result = Array("isc".utf8) }
        bytes = result
        return String(decoding: bytes, as: UTF8.self)
    }
}

// MARK: - Decoded tables

/// `RegexUnicodeData` decoded: the range tables by kind and name, case folding, and the name
/// maps. Immutable once built.
struct DecodedTables: Sendable {
    /// Where a table's ranges are in `RegexUnicodeData.ranges`.
    private struct Extent: Sendable {
        /// The offset of the first digit in `RegexUnicodeData.ranges` (newlines removed).
        var offset: Int
        /// The number of ranges.
        var count: Int
    }

    /// Simple case folding: sorted keys, and for each key its equivalent scalars.
    struct CaseFolding: Sendable {
        /// The scalars with equivalents, ascending.
        let keys: [UInt32]
        /// `equivalents[starts[i]..<starts[i + 1]]` are the equivalents of `keys[i]`.
        let starts: [Int]
        /// The equivalents of all keys, concatenated.
        let equivalents: [UInt32]

        /// The index of the first key `>= value` (or `keys.count`).
        func firstKey(atLeast value: UInt32) -> Int {
            var low = 0
            var high = keys.count
            while low < high {
                let middle = (low + high) / 2
                if keys[middle] < value { low = middle + 1 } else { high = middle }
            }
            return low
        }

        /// The equivalents of the key at `entry`.
        func equivalents(ofEntry entry: Int) -> ArraySlice<UInt32> {
            equivalents[starts[entry]..<starts[entry + 1]]
        }
    }

    /// Normalized property name to canonical name.
    let propertyNames: [String: String]
    /// Canonical property name to (normalized value to canonical value).
    let propertyValues: [String: [String: String]]
    /// Simple case folding.
    let caseFolding: CaseFolding
    /// `\w`, decoded once because `\b` consults it for every non-ASCII scalar.
    let perlWordSet: ScalarSet
    /// White_Space, decoded once because the parser consults it.
    let perlSpaceSet: ScalarSet
    /// Alphabetic, decoded once for capture group names.
    let alphabeticSet: ScalarSet
    /// General category Number, decoded once for capture group names.
    let numberSet: ScalarSet

    /// Every range table, by `kind:name`.
    private let tablesByName: [String: ScalarSet]

    /// Decodes `RegexUnicodeData`.
    init() {
        let rangeDigits = Array(RegexUnicodeData.ranges.utf8.filter { $0 >= Self.digitBase && $0 < Self.digitBase + 64 })
        var extents: [String: Extent] = [:]
        let directory = String(RegexUnicodeData.directory.filter { $0 != "\n" })
        for entry in directory.split(separator: ";") {
            let fields = entry.split(separator: ":", omittingEmptySubsequences: false)
            precondition(fields.count == 4, "RegexUnicodeData directory entry \(entry) is malformed")
            guard let offset = Int(fields[2]), let count = Int(fields[3]) else {
                preconditionFailure("RegexUnicodeData directory entry \(entry) is malformed")
            }
            extents[fields[0] + ":" + fields[1]] = Extent(offset: offset, count: count)
        }
        tablesByName = extents.mapValues { Self.decodeRanges(rangeDigits, $0) }
        var names: [String: String] = [:]
        for pair in String(RegexUnicodeData.propertyNames.filter { $0 != "\n" }).split(separator: ",") {
            let parts = pair.split(separator: ":")
            precondition(parts.count == 2, "RegexUnicodeData property name \(pair) is malformed")
            names[String(parts[0])] = String(parts[1])
        }
        propertyNames = names
        var values: [String: [String: String]] = [:]
        for line in RegexUnicodeData.propertyValues.split(separator: "\n") {
            let sides = line.split(separator: "=", maxSplits: 1)
            precondition(sides.count == 2, "RegexUnicodeData property values line is malformed")
            var map: [String: String] = [:]
            for pair in sides[1].split(separator: ",") {
                let parts = pair.split(separator: ":")
                precondition(parts.count == 2, "RegexUnicodeData property value \(pair) is malformed")
                map[String(parts[0])] = String(parts[1])
            }
            values[String(sides[0])] = map
        }
        propertyValues = values
        caseFolding = Self.decodeCaseFolding()
        perlWordSet = tablesByName["perl:Word"] ?? ScalarSet()
        perlSpaceSet = tablesByName["perl:Space"] ?? ScalarSet()
        alphabeticSet = tablesByName["bool:Alphabetic"] ?? ScalarSet()
        numberSet = tablesByName["gc:Number"] ?? ScalarSet()
    }

    /// Whether a table exists.
    func hasTable(kind: String, name: String) -> Bool {
        tablesByName[kind + ":" + name] != nil
    }

    /// A table's ranges (empty if there is no such table; check `hasTable` first).
    func ranges(kind: String, name: String) -> ScalarSet {
        tablesByName[kind + ":" + name] ?? ScalarSet()
    }

    /// One of the Perl tables.
    func perl(_ name: String) -> ScalarSet {
        ranges(kind: "perl", name: name)
    }

    // MARK: - Decoding

    /// The character of digit value 0.
    private static let digitBase = UInt8(ascii: "0")

    /// Reads one variable-length number at `position`, advancing it.
    private static func readNumber(_ digits: [UInt8], _ position: inout Int) -> UInt32 {
        var value: UInt32 = 0
        var shift: UInt32 = 0
        while position < digits.count {
            let digit = UInt32(digits[position] - digitBase)
            position += 1
            value |= (digit & 0x1F) << shift
            if digit & 0x20 == 0 { return value }
            shift += 5
        }
        preconditionFailure("RegexUnicodeData ends inside a number")
    }

    /// Decodes one range table.
    private static func decodeRanges(_ digits: [UInt8], _ extent: Extent?) -> ScalarSet {
        guard let extent else { return ScalarSet() }
        var position = extent.offset
        var ranges: [ClosedRange<UInt32>] = []
        ranges.reserveCapacity(extent.count)
        var previousEnd: Int64 = -1
        for _ in 0..<extent.count {
            let start = UInt32(previousEnd + 1) + readNumber(digits, &position)
            let end = start + readNumber(digits, &position)
            ranges.append(start...end)
            previousEnd = Int64(end)
        }
        return ScalarSet(ranges: ranges)
    }

    /// Decodes the case folding table.
    private static func decodeCaseFolding() -> CaseFolding {
        let digits = Array(RegexUnicodeData.caseFolding.utf8.filter { $0 >= digitBase && $0 < digitBase + 64 })
        var keys: [UInt32] = []
        var starts: [Int] = [0]
        var equivalents: [UInt32] = []
        var position = 0
        var previous: Int64 = -1
        while position < digits.count {
            let key = UInt32(previous + 1) + readNumber(digits, &position)
            let count = Int(readNumber(digits, &position))
            for _ in 0..<count {
                let zigzag = Int64(readNumber(digits, &position))
                let offset = (zigzag & 1) == 0 ? zigzag >> 1 : -((zigzag + 1) >> 1)
                equivalents.append(UInt32(Int64(key) + offset))
            }
            keys.append(key)
            starts.append(equivalents.count)
            previous = Int64(key)
        }
        return CaseFolding(keys: keys, starts: starts, equivalents: equivalents)
    }
}
