/// RFC 3339 dates as the Datalog text writes them, read and written the way the reference
/// implementation does (it uses the `time` crate's `Rfc3339` format): read with any UTC offset,
/// fractional seconds dropped, a leap second only where it can be one; written in UTC with
/// whole seconds, `2018-12-20T00:00:00Z`.
public enum DateText {
    /// The outcome of reading a date at some offset of the text.
    enum Reading: Equatable {
        /// The text there does not start like a date; the parser tries the next kind of term.
        case notADate
        /// A date: seconds since 1970, and the offset just after its text.
        case date(seconds: UInt64, end: Int)
        /// The text starts like a date (`YYYY-MM-DDTh`) but is not a valid one, and the
        /// reference parser could not read it as anything else either.
        case invalid(reason: String)
    }

    /// The first second the reference can print (0000-01-01T00:00:00Z).
    static let earliestPrintableSeconds: Int64 = -62_167_219_200
    /// The last second the reference can print (9999-12-31T23:59:59Z).
    static let latestPrintableSeconds: Int64 = 253_402_300_799

    /// Reads a date starting at `start` in `bytes`.
    ///
    /// The reference takes everything up to the next `,`, space, `)`, `]`, `;` or `}` and parses
    /// it as RFC 3339; when that fails it goes on to try an integer. A date's text never holds
    /// one of those characters, so reading the date's structure and then asking for one of them
    /// (or the end) accepts exactly the same texts, without scanning ahead.
    ///
    /// Once the text reads `YYYY-MM-DDTh` (h a digit), the integer the reference tries next
    /// leaves `T…` behind, which nothing in the grammar accepts: every failure from there on is
    /// reported as `.invalid`, with a reason.
    static func read(_ bytes: [UInt8], at start: Int) -> Reading {
        var cursor = Cursor(bytes: bytes, offset: start)
        guard let year = cursor.digits(4), cursor.skip(UInt8(ascii: "-")),
            let month = cursor.digits(2), cursor.skip(UInt8(ascii: "-")),
            let day = cursor.digits(2), cursor.skip(UInt8(ascii: "T")) || cursor.skip(UInt8(ascii: "t")),
            cursor.peekIsDigit
        else { return .notADate }
        guard let hour = cursor.digits(2), cursor.skip(UInt8(ascii: ":")),
            let minute = cursor.digits(2), cursor.skip(UInt8(ascii: ":")),
            let second = cursor.digits(2)
        else { return .invalid(reason: "expected a time hh:mm:ss after the date's `T`") }
        if cursor.skip(UInt8(ascii: ".")) {
            guard cursor.peekIsDigit else { return .invalid(reason: "expected digits after the seconds' `.`") }
            while cursor.peekIsDigit { cursor.offset += 1 }
        }
        var offsetSeconds = 0
        if !(cursor.skip(UInt8(ascii: "Z")) || cursor.skip(UInt8(ascii: "z"))) {
            let sign: Int
            if cursor.skip(UInt8(ascii: "+")) {
                sign = 1
            } else if cursor.skip(UInt8(ascii: "-")) {
                sign = -1
            } else {
                return .invalid(reason: "expected `Z` or an offset such as +01:00 after the time")
            }
            guard let offsetHour = cursor.digits(2), cursor.skip(UInt8(ascii: ":")), let offsetMinute = cursor.digits(2) else {
                return .invalid(reason: "expected an offset such as +01:00 after the time")
            }
            guard offsetHour <= 23, offsetMinute <= 59 else {
                return .invalid(reason: "the offset \(sign < 0 ? "-" : "+")\(twoDigits(offsetHour)):\(twoDigits(offsetMinute)) is out of range")
            }
            offsetSeconds = sign * (offsetHour * 3600 + offsetMinute * 60)
        }
        if cursor.offset < bytes.count && !isDelimiter(bytes[cursor.offset]) {
            return .invalid(reason: "a date must be followed by a space, `,`, `)`, `]`, `}` or `;`")
        }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(month, year: year) else {
            return .invalid(reason: "\(year)-\(twoDigits(month))-\(twoDigits(day)) is not a day of the calendar")
        }
        guard hour <= 23, minute <= 59, second <= 60 else {
            return .invalid(reason: "\(twoDigits(hour)):\(twoDigits(minute)):\(twoDigits(second)) is not a time of day")
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offsetSeconds)
        if second == 60 {
            // Leap seconds are read as the second before, and only where one can be: the last
            // second of a month, in UTC.
            let (utcYear, utcMonth, utcDay) = civilFromDays(floorDivide(seconds, 86_400))
            guard seconds - floorDivide(seconds, 86_400) * 86_400 == 86_399, utcDay == daysInMonth(utcMonth, year: utcYear) else {
                return .invalid(reason: "a leap second (:60) is only valid at 23:59:60 UTC on the last day of a month")
            }
        }
        guard seconds >= 0 else { return .invalid(reason: "a date cannot be before 1970-01-01T00:00:00Z") }
        return .date(seconds: UInt64(seconds), end: cursor.offset)
    }

    /// Seconds since 1970 of an RFC 3339 date that is the whole of `text`; nil for anything
    /// else.
    public static func parse(_ text: String) -> UInt64? {
        let bytes = Array(text.utf8)
        guard case .date(let seconds, let end) = read(bytes, at: 0), end == bytes.count else { return nil }
        return seconds
    }

    /// The reference's text for a date: RFC 3339 in UTC, or `<invalid date>` outside the years
    /// 0000–9999. Like the reference, a number of seconds past 2^63 is read as negative.
    public static func format(_ seconds: UInt64) -> String {
        let signed = Int64(bitPattern: seconds)
        guard signed >= earliestPrintableSeconds, signed <= latestPrintableSeconds else { return "<invalid date>" }
        let days = floorDivide(signed, 86_400)
        let secondOfDay = Int(signed - days * 86_400)
        let (year, month, day) = civilFromDays(days)
        let yearText = String(year)
        return String(repeating: "0", count: max(0, 4 - yearText.count)) + yearText + "-" + twoDigits(month) + "-"
            + twoDigits(day) + "T" + twoDigits(secondOfDay / 3600) + ":" + twoDigits(secondOfDay / 60 % 60) + ":"
            + twoDigits(secondOfDay % 60) + "Z"
    }

    // MARK: - Private helpers

    /// The characters at which the reference stops reading a date's text.
    private static func isDelimiter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: ","), UInt8(ascii: " "), UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: ";"), UInt8(ascii: "}"):
            return true
        default:
            return false
        }
    }

    /// At least two digits: 7 is `07`.
    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }

    /// Whether February of `year` has 29 days (proleptic Gregorian).
    private static func isLeapYear(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    /// The number of days of `month` (1–12) in `year`.
    private static func daysInMonth(_ month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// The quotient rounded down (toward minus infinity).
    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let shiftedYear = Int64(month <= 2 ? year - 1 : year)
        let era = floorDivide(shiftedYear, 400)
        let yearOfEra = shiftedYear - era * 400
        let shiftedMonth = Int64(month > 2 ? month - 3 : month + 9)
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a number of days since 1970-01-01 (`civil_from_days`).
    private static func civilFromDays(_ days: Int64) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = floorDivide(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * shiftedMonth + 2) / 5 + 1)
        let month = Int(shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9)
        let year = Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    /// A position in the text, advanced by the date's pieces.
    private struct Cursor {
        /// The text.
        let bytes: [UInt8]
        /// Where the next piece starts.
        var offset: Int

        /// Whether a digit is next.
        var peekIsDigit: Bool {
            offset < bytes.count && bytes[offset] >= UInt8(ascii: "0") && bytes[offset] <= UInt8(ascii: "9")
        }

        /// Exactly `count` decimal digits, as a number; nil (and no move) otherwise.
        mutating func digits(_ count: Int) -> Int? {
            guard offset + count <= bytes.count else { return nil }
            var value = 0
            for index in offset..<(offset + count) {
                let byte = bytes[index]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            offset += count
            return value
        }

        /// Steps over `byte` if it is next.
        mutating func skip(_ byte: UInt8) -> Bool {
            guard offset < bytes.count, bytes[offset] == byte else { return false }
            offset += 1
            return true
        }
    }
}
