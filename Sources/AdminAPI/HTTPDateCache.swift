#if canImport(Glibc)
    import Glibc
#else
    import Foundation
#endif

/// The `Date` header's value (RFC 9110 IMF-fixdate), formatted once per second.
struct HTTPDateCache {
    private var second: Int = -1
    private var text = ""

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The current date.
    mutating func now() -> String {
        var seconds = time(nil)
        if seconds != second {
            second = seconds
            var parts = tm()
            gmtime_r(&seconds, &parts)
            text = Self.format(parts)
        }
        return text
    }

    static func format(_ parts: tm) -> String {
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let day = days[Int(parts.tm_wday)]
        let month = months[Int(parts.tm_mon)]
        return "\(day), \(two(parts.tm_mday)) \(month) \(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
