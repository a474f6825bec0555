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
        guard let unit = text.last, let amount = Int64(text.dropLast()), amount >= 0 else { return nil }
        let unitSeconds: Int64
        switch unit {
        case "s": unitSeconds = 1
        case "m": unitSeconds = 60
        case "h": unitSeconds = 3600
        case "d": unitSeconds = 86_400
        case "w": unitSeconds = 604_800
        default: return nil
        }
        let (seconds, overflow) = amount.multipliedReportingOverflow(by: unitSeconds)
        guard !overflow, seconds < 100 * 365 * 86_400 else { return nil }
        return Int64(now.timeIntervalSince1970 * 1000) - seconds * 1000
    }
}
