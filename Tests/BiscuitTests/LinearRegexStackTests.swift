import Foundation
import Testing

@testable import Biscuit

/// Written by the worker thread before it signals, read by the test after the wait: the
/// semaphore orders the two, so no other synchronization is needed.
private final class ThreadResults: @unchecked Sendable {
    var lines: [String] = []
}

@Suite("LinearRegex stack use")
struct LinearRegexStackTests {
    /// Patterns at Rust's nesting limit, of every kind of nesting.
    static let deepPatterns: [String] = [
        "a" + String(repeating: "+", count: 249),
        String(repeating: "(", count: 250) + "a" + String(repeating: ")", count: 250),
        String(repeating: "(?:", count: 124) + "a" + String(repeating: "){2}", count: 124),
        String(repeating: "(", count: 124) + "a" + String(repeating: ")+", count: 124),
        String(repeating: "[", count: 250) + "a" + String(repeating: "]", count: 250),
        "a" + String(repeating: "+", count: 246) + "x|a" + String(repeating: "+", count: 246) + "y",
        String(repeating: "(?i:a", count: 125) + "b" + String(repeating: ")", count: 125),
    ]

    @Test func patternsAtTheNestingLimitCompileOnASmallThreadStack() {
        // Every pass walks the pattern with heap stacks, so nesting does not use call stack:
        // 256 KB (half of a macOS secondary thread's default) is plenty, in debug builds too.
        let results = ThreadResults()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            for pattern in Self.deepPatterns {
                do {
                    let regex = try LinearRegex(pattern)
                    results.lines.append("\(regex.matches("ab"))")
                } catch {
                    results.lines.append("\(error)")
                }
            }
            done.signal()
        }
        thread.stackSize = 256 * 1024
        thread.start()
        done.wait()
        #expect(results.lines.count == Self.deepPatterns.count)
        print(results.lines)
    }
}
