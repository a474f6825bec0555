// The operation table of the HTTP API.

extension AdminRoutes {
    /// Every operation the API serves, as (method, path template). `docs/openapi.json` documents
    /// exactly these, and a test checks both that the document matches and that each is routed.
    public static let operations: [(method: String, path: String)] = [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/v1/cluster"),
        ("GET", "/v1/cluster/hash"),
        ("POST", "/v1/cluster/members"),
        ("POST", "/v1/cluster/leader"),
        ("POST", "/v1/cluster/bootstrap"),
        ("GET", "/v1/orgs"),
        ("POST", "/v1/orgs"),
        ("GET", "/v1/orgs/{org}"),
        ("PATCH", "/v1/orgs/{org}"),
        ("DELETE", "/v1/orgs/{org}"),
        ("GET", "/v1/orgs/{org}/projects"),
        ("POST", "/v1/orgs/{org}/projects"),
        ("GET", "/v1/orgs/{org}/projects/{project}"),
        ("DELETE", "/v1/orgs/{org}/projects/{project}"),
        ("GET", "/v1/orgs/{org}/principals"),
        ("POST", "/v1/orgs/{org}/principals"),
        ("GET", "/v1/orgs/{org}/principals/{principal}"),
        ("DELETE", "/v1/orgs/{org}/principals/{principal}"),
        ("GET", "/v1/orgs/{org}/principals/{principal}/keys"),
        ("POST", "/v1/orgs/{org}/principals/{principal}/keys"),
        ("DELETE", "/v1/orgs/{org}/principals/{principal}/keys/{key}"),
        ("GET", "/v1/roles"),
        ("GET", "/v1/orgs/{org}/roles"),
        ("POST", "/v1/orgs/{org}/roles"),
        ("GET", "/v1/orgs/{org}/roles/{role}"),
        ("PUT", "/v1/orgs/{org}/roles/{role}"),
        ("DELETE", "/v1/orgs/{org}/roles/{role}"),
        ("GET", "/v1/orgs/{org}/bindings"),
        ("POST", "/v1/orgs/{org}/bindings"),
        ("DELETE", "/v1/orgs/{org}/bindings/{binding}"),
        ("POST", "/v1/authorize"),
        ("GET", "/v1/keys"),
        ("GET", "/v1/audit"),
    ]
}
