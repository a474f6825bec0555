/// One operation of the HTTP API as the server routes it and the client calls it: a method and
/// a path template whose `{parameters}` are filled in order. The server declares each route
/// against one of these (`AdminRoutes.declarations`), the client builds its paths from them,
/// and a test checks that `docs/openapi.json` documents exactly `Endpoint.all`.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// The HTTP method, upper case.
    public let method: String
    /// The path template, such as `/v1/orgs/{org}/projects`.
    public let template: String
    /// The template's segments, split once (request paths are matched against them).
    public let segments: [Segment]
    /// The template's parameter names, in order.
    public let parameters: [String]

    /// One segment of a path template.
    public enum Segment: Sendable, Hashable {
        /// Text the segment must be.
        case literal(String)
        /// A value, called this in the template.
        case parameter(String)
    }

    /// An operation.
    public init(_ method: String, _ template: String) {
        self.method = method
        self.template = template
        segments = template.split(separator: "/").map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? .parameter(String(segment.dropFirst().dropLast())) : .literal(String(segment))
        }
        parameters = segments.compactMap { segment in
            if case .parameter(let name) = segment { return name }
            return nil
        }
    }

    /// The path with `values` in place of the parameters, in order, each percent-encoded
    /// (letters, digits and `-._~` are kept).
    public func path(_ values: String...) -> String {
        path(values)
    }

    /// `path(_:)` with the values as an array.
    public func path(_ values: [String]) -> String {
        precondition(values.count == parameters.count, "\(self) takes \(parameters.count) values, not \(values.count)")
        var remaining = values[...]
        return "/" + segments.map { segment -> String in
            switch segment {
            case .literal(let text): return text
            case .parameter: return Self.escape(remaining.removeFirst())
            }
        }.joined(separator: "/")
    }

    public var description: String { "\(method) \(template)" }

    /// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
    static func escape(_ value: String) -> String {
        var escaped = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = Array("0123456789ABCDEF".unicodeScalars)
                escaped.unicodeScalars.append("%")
                escaped.unicodeScalars.append(digits[Int(byte >> 4)])
                escaped.unicodeScalars.append(digits[Int(byte & 0x0F)])
            }
        }
        return escaped
    }
}

extension Endpoint {
    // Operations of the replica.
    public static let health = Endpoint("GET", "/healthz")
    public static let readiness = Endpoint("GET", "/readyz")
    public static let metrics = Endpoint("GET", "/metrics")
    public static let clusterStatus = Endpoint("GET", "/v1/cluster")
    public static let clusterHash = Endpoint("GET", "/v1/cluster/hash")
    public static let clusterMembers = Endpoint("POST", "/v1/cluster/members")
    public static let clusterLeader = Endpoint("POST", "/v1/cluster/leader")
    public static let bootstrapChallenge = Endpoint("POST", "/v1/cluster/bootstrap/challenge")
    public static let bootstrap = Endpoint("POST", "/v1/cluster/bootstrap")
    public static let breakGlass = Endpoint("POST", "/v1/cluster/break-glass")
    public static let snapshot = Endpoint("GET", "/v1/snapshot")
    // Organizations.
    public static let listOrganizations = Endpoint("GET", "/v1/orgs")
    public static let createOrganization = Endpoint("POST", "/v1/orgs")
    public static let getOrganization = Endpoint("GET", "/v1/orgs/{org}")
    public static let updateOrganization = Endpoint("PATCH", "/v1/orgs/{org}")
    public static let deleteOrganization = Endpoint("DELETE", "/v1/orgs/{org}")
    // Projects.
    public static let listProjects = Endpoint("GET", "/v1/orgs/{org}/projects")
    public static let createProject = Endpoint("POST", "/v1/orgs/{org}/projects")
    public static let getProject = Endpoint("GET", "/v1/orgs/{org}/projects/{project}")
    public static let deleteProject = Endpoint("DELETE", "/v1/orgs/{org}/projects/{project}")
    // Principals and their API keys.
    public static let listPrincipals = Endpoint("GET", "/v1/orgs/{org}/principals")
    public static let createPrincipal = Endpoint("POST", "/v1/orgs/{org}/principals")
    public static let getPrincipal = Endpoint("GET", "/v1/orgs/{org}/principals/{principal}")
    public static let deletePrincipal = Endpoint("DELETE", "/v1/orgs/{org}/principals/{principal}")
    public static let listAPIKeys = Endpoint("GET", "/v1/orgs/{org}/principals/{principal}/keys")
    public static let createAPIKey = Endpoint("POST", "/v1/orgs/{org}/principals/{principal}/keys")
    public static let deleteAPIKey = Endpoint("DELETE", "/v1/orgs/{org}/principals/{principal}/keys/{key}")
    // Roles.
    public static let listBuiltInRoles = Endpoint("GET", "/v1/roles")
    public static let listRoles = Endpoint("GET", "/v1/orgs/{org}/roles")
    public static let createRole = Endpoint("POST", "/v1/orgs/{org}/roles")
    public static let getRole = Endpoint("GET", "/v1/orgs/{org}/roles/{role}")
    public static let updateRole = Endpoint("PUT", "/v1/orgs/{org}/roles/{role}")
    public static let deleteRole = Endpoint("DELETE", "/v1/orgs/{org}/roles/{role}")
    // Bindings.
    public static let listBindings = Endpoint("GET", "/v1/orgs/{org}/bindings")
    public static let createBinding = Endpoint("POST", "/v1/orgs/{org}/bindings")
    public static let deleteBinding = Endpoint("DELETE", "/v1/orgs/{org}/bindings/{binding}")
    // Decisions, keys and the audit log.
    public static let authorize = Endpoint("POST", "/v1/authorize")
    public static let listKeys = Endpoint("GET", "/v1/keys")
    public static let rotateKeys = Endpoint("POST", "/v1/keys/rotate")
    public static let revokeRootKey = Endpoint("POST", "/v1/keys/{key}/revoke")
    public static let biscuitWebKeys = Endpoint("GET", "/.well-known/biscuit-web-keys")
    public static let issueToken = Endpoint("POST", "/v1/tokens")
    public static let revokeTokens = Endpoint("POST", "/v1/tokens/revoke")
    public static let revocations = Endpoint("GET", "/v1/revocations")
    public static let audit = Endpoint("GET", "/v1/audit")
    public static let watch = Endpoint("GET", "/v1/watch")

    /// Every operation, in the order the API reference lists them.
    public static let all: [Endpoint] = [
        health, readiness, metrics, clusterStatus, clusterHash, clusterMembers, clusterLeader, bootstrapChallenge, bootstrap, breakGlass, snapshot,
        listOrganizations, createOrganization, getOrganization, updateOrganization, deleteOrganization,
        listProjects, createProject, getProject, deleteProject,
        listPrincipals, createPrincipal, getPrincipal, deletePrincipal, listAPIKeys, createAPIKey, deleteAPIKey,
        listBuiltInRoles, listRoles, createRole, getRole, updateRole, deleteRole,
        listBindings, createBinding, deleteBinding,
        authorize, listKeys, rotateKeys, revokeRootKey, biscuitWebKeys, issueToken, revokeTokens, revocations, audit, watch,
    ]
}

/// The release this build belongs to, shown by `GET /v1/cluster` and `rampart --version`.
public enum RampartVersion {
    /// The version of this build.
    public static let current = "0.20.0"
}
