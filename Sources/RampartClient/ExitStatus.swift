import APIModels
import Foundation

/// How the CLI ends, documented in the README ("Exit status"): scripts can tell a refused
/// request from an unreachable cluster and from a write whose outcome is unknown.
public enum ExitStatus: Int32, Sendable {
    /// Done.
    case success = 0
    /// The cluster refused the request (a problem answer), a check failed (an audit chain, a
    /// token), or a file could not be read or written.
    case failed = 1
    /// The command line is wrong (`EX_USAGE`); the usage is printed.
    case usage = 64
    /// No endpoint could be reached or could serve the request (`EX_UNAVAILABLE`).
    case unavailable = 69
    /// A write may or may not have been applied: the connection broke after it was sent
    /// (`EX_TEMPFAIL`). Retry it with the same `--idempotency-key`.
    case unknownOutcome = 75

    /// The problem code a failure of this kind has under `--output json` when the cluster gave
    /// none.
    var code: String {
        switch self {
        case .success: return "ok"
        case .failed: return "failed"
        case .usage: return "usage"
        case .unavailable: return "unavailable"
        case .unknownOutcome: return "unknown_outcome"
        }
    }
}

/// A command's failure that is not a usage error: a file that cannot be read or written, a
/// check that fails. Exit status 1 (`ExitStatus.failed`), no usage text.
public struct CommandFailure: Error, CustomStringConvertible {
    public let description: String
    var kind = ExitStatus.failed

    /// A failure with its reason; `kind` decides the exit status.
    public init(_ description: String, kind: ExitStatus = .failed) {
        self.description = description
        self.kind = kind
    }
}

extension ClientCommands {
    /// How `error`, thrown by a client command run with `arguments`, ends the process: its exit
    /// status and the text for standard error (problem JSON under `--output json`). Nil for the
    /// errors the argument parser reports itself (usage, help).
    public static func report(_ error: any Error, arguments: [String]) -> (status: Int32, text: String)? {
        let kind: ExitStatus
        let detail: String
        var problem: Problem?
        switch error {
        case let failure as AdminClient.Failure:
            (kind, detail, problem) = (failure.kind, failure.description, failure.problem)
        case let failure as CommandFailure:
            (kind, detail) = (failure.kind, failure.description)
        default:
            return nil
        }
        guard outputIsJSON(arguments) else { return (kind.rawValue, "rampart: \(detail)") }
        var object: [String: Any] = ["code": problem?.code ?? kind.code, "detail": problem?.detail ?? detail, "exit_status": kind.rawValue]
        if let problem {
            object["status"] = problem.status
            object["title"] = problem.title
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return (kind.rawValue, String(decoding: data, as: UTF8.self))
    }

    /// Whether the command line asks for JSON output (`--output json`, `--output=json`, `-o json`).
    static func outputIsJSON(_ arguments: [String]) -> Bool {
        for (index, argument) in arguments.enumerated() {
            if argument == "--output=json" || argument == "-ojson" { return true }
            if (argument == "--output" || argument == "-o"), index + 1 < arguments.count, arguments[index + 1] == "json" { return true }
        }
        return false
    }
}
