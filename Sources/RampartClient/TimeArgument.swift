import ArgumentParser
import Foundation

/// A point in time on the command line, in any of three forms: an RFC 3339 date-time
/// (`2026-12-07T10:00:00Z`), a time before now (`90s`, `30m`, `1h`, `2d`, `1w`), or milliseconds
/// since 1970 (what the API takes).
struct TimeArgument: ExpressibleByArgument, Sendable {
    /// Milliseconds since 1970.
    let milliseconds: Int64

    init?(argument: String) {
        guard let milliseconds = Self.milliseconds(argument, now: Date()) else { return nil }
        self.milliseconds = milliseconds
    }

    static var defaultCompletionKind: CompletionKind { .default }

    /// The instant `text` names, as of `now`; nil when it is none of the three forms.
    static func milliseconds(_ text: String, now: Date) -> Int64? {
        if let seconds = RFC3339.seconds(text) { return Int64(seconds) * 1000 }
        if !text.isEmpty, text.allSatisfy(\.isNumber), let milliseconds = Int64(text) { return milliseconds }
        guard let unit = text.last, let amount = Int64(text.dropLast()), amount >= 0,
            let unitSeconds = DurationArgument.unitSeconds(unit).map(Int64.init)
        else { return nil }
        let (seconds, overflow) = amount.multipliedReportingOverflow(by: unitSeconds)
        guard !overflow, seconds < 100 * 365 * 86_400 else { return nil }
        return Int64(now.timeIntervalSince1970 * 1000) - seconds * 1000
    }
}

/// A length of time on the command line: seconds (`900`), or an amount and a unit (`90s`,
/// `15m`, `1h`, `2d`, `1w`).
struct DurationArgument: ExpressibleByArgument, Sendable {
    /// Whole seconds.
    let seconds: Int

    init?(argument: String) {
        guard let seconds = Self.seconds(argument) else { return nil }
        self.seconds = seconds
    }

    static var defaultCompletionKind: CompletionKind { .default }

    /// The seconds `text` names; nil when it is neither form, or longer than 100 years.
    static func seconds(_ text: String) -> Int? {
        if !text.isEmpty, text.allSatisfy(\.isNumber) { return Int(text).flatMap { $0 <= 100 * 365 * 86_400 ? $0 : nil } }
        guard let unit = text.last, !text.dropLast().isEmpty, text.dropLast().allSatisfy(\.isNumber), let amount = Int(text.dropLast()) else {
            return nil
        }
        guard let unitSeconds = unitSeconds(unit) else { return nil }
        let (seconds, overflow) = amount.multipliedReportingOverflow(by: unitSeconds)
        return overflow || seconds > 100 * 365 * 86_400 ? nil : seconds
    }

    /// The seconds of one `unit`: s, m, h, d or w; nil for anything else.
    static func unitSeconds(_ unit: Character) -> Int? {
        switch unit {
        case "s": return 1
        case "m": return 60
        case "h": return 3600
        case "d": return 86_400
        case "w": return 604_800
        default: return nil
        }
    }
}
