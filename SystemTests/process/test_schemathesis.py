"""docs/openapi.json against a real 3-replica cluster, with schemathesis.

Schemathesis generates requests from the document, MAX_EXAMPLES per operation (derandomized:
the same requests every run), and the test sends them with the bootstrap admin key to the three
replicas in turn. Every answer must match the document: a documented status, the documented
media type, a body of the documented schema, documented headers of the documented types, and no
server error (503 and 504 are documented answers of a cluster that cannot serve, or cannot wait
long enough; any other 5xx fails). One test per operation; the failures name the operation and
give a curl command that reproduces the request.

The document's examples (acme, web, deployer, ops: the README's walk-through) and the names the
generator draws most often (`a`) are created before each operation is tried, so that requests
reach things that exist, not only 404s. Writes to the system organization are not sent: they
could delete the admin principal, its key or its binding, and every later answer would be a 401.
A request with a `min_revision` waits at most WAIT_MS for it (generated revisions are mostly far
ahead of the cluster: the documented 504 then comes after WAIT_MS, not after 10 s).

Not fuzzed: `POST /v1/cluster/members` and `POST /v1/cluster/leader` (they add, promote or remove
replicas and move the leadership: they change the cluster under the test, not its data), and the
cluster-secret paths `POST /v1/cluster/bootstrap/challenge`, `/v1/cluster/bootstrap` and
`/v1/cluster/break-glass` (they take a proof of the cluster secret rather than an API key; every
refused proof counts against the client address's authentication throttle, which after 20
failures answers 429 to every request from 127.0.0.1; test_cluster.py tests them). For the same
reason schemathesis's `ignored_auth` check, which sends requests again without a credential and
with a made-up one, is not used: test_api.py tests authentication. Nor `GET /v1/watch`: its
answer is a change stream that does not end (test_watch.py tests it).

Schemathesis and Hypothesis must be installed (CI installs them with PIP_LINE). Without them the
module fails with that line: it never skips.
"""

import time

import pytest

from harness import ROOT, Cluster, HTTPError

PIP_LINE = "python3 -m pip install -q 'schemathesis==3.39.16' 'hypothesis==6.155.2'"
DOCUMENT = ROOT / "docs" / "openapi.json"
EXCLUDED_PATHS = [
    "/v1/cluster/members",
    "/v1/cluster/leader",
    "/v1/cluster/bootstrap/challenge",
    "/v1/cluster/bootstrap",
    "/v1/cluster/break-glass",
    "/v1/watch",
]
#: Generated requests per operation.
MAX_EXAMPLES = 60
#: The longest a request with a `min_revision` waits for it, in milliseconds.
WAIT_MS = 200
#: Entities made before each operation is tried (organization, project, principal, role).
SEEDS = [("acme", "web", "deployer", "ops"), ("a", "a", "a", "a")]

try:
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, settings
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )
except ImportError as error:  # CI installs them: a missing one is a failure, not a skip
    MISSING = error
else:
    MISSING = None


if MISSING is not None:

    def test_schemathesis_is_installed():
        pytest.fail(f"schemathesis is not installed ({MISSING}); install it with: {PIP_LINE}", pytrace=False)

else:
    # The document is OpenAPI 3.1, which schemathesis 3.x reads behind this switch.
    schemathesis.experimental.OPEN_API_3_1.enable()
    SCHEMA = schemathesis.from_path(str(DOCUMENT)).exclude(path=EXCLUDED_PATHS)

    def no_server_error(ctx, response, case):
        """5xx answers other than 503 (unavailable, overloaded) and 504 (timed out) are bugs."""
        if response.status_code >= 500 and response.status_code not in (503, 504):
            raise AssertionError(f"server error {response.status_code}: {response.text[:500]}")

    CHECKS = (
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        no_server_error,
    )

    class Target:
        """The running cluster as the test uses it, and what was sent to it."""

        def __init__(self, cluster):
            self.cluster = cluster
            self.endpoints = [replica.endpoint for replica in cluster.replicas]
            self.headers = {"Authorization": f"Bearer {cluster.token}"}
            self.session = requests.Session()
            self.operation = None
            self.sent = 0
            self.not_sent = 0
            self.statuses = {}

        def next_endpoint(self):
            """The replicas in turn: leader and followers (which forward writes) alike."""
            self.sent += 1
            return self.endpoints[self.sent % len(self.endpoints)]

        def seed(self):
            replica = self.cluster.replicas[0]
            for organization, project, principal, role in SEEDS:
                for path, body in [
                    ("/v1/orgs", {"name": organization}),
                    (f"/v1/orgs/{organization}/projects", {"name": project}),
                    (f"/v1/orgs/{organization}/principals", {"name": principal, "kind": "service_account"}),
                    (f"/v1/orgs/{organization}/roles", {"name": role, "permissions": ["compute.*.get", "compute.instances.*"]}),
                    (f"/v1/orgs/{organization}/bindings", {"principal": principal, "role": role, "project": project}),
                ]:
                    try:
                        replica.request("POST", path, body, token=self.cluster.token, timeout=30)
                    except HTTPError as error:
                        if error.status != 409:  # 409: it exists already
                            raise

    @pytest.fixture(scope="module")
    def target(tmp_path_factory, request):
        """One cluster for every operation of the module."""
        cluster = Cluster(tmp_path_factory.mktemp("schemathesis"))
        try:
            cluster.start()
            cluster.leader()
            started = time.monotonic()
            served = Target(cluster)
            yield served
            # What was sent, in the run's output (outside the captured output of the tests).
            reporter = request.config.pluginmanager.get_plugin("terminalreporter")
            capture = request.config.pluginmanager.get_plugin("capturemanager")
            if reporter is not None and capture is not None:
                statuses = ", ".join(f"{status}: {count}" for status, count in sorted(served.statuses.items()))
                with capture.global_and_fixture_disabled():
                    reporter.write_line(
                        f"\nschemathesis: {served.sent} requests in {time.monotonic() - started:.0f} s ({statuses}); "
                        f"{served.not_sent} generated writes to the system organization not sent")
        finally:
            cluster.stop()

    def protected(case):
        """A write to the system organization (the admin principal, its key and its binding)."""
        return case.method.upper() != "GET" and (case.path_parameters or {}).get("org") == "system"

    def bound_waiting(case):
        """Makes a request with a `min_revision` wait at most WAIT_MS for it."""
        if case.query and "min_revision" in case.query:
            headers = dict(case.headers or {})
            given = headers.get("X-Timeout-Ms")
            headers["X-Timeout-Ms"] = str(min(int(given), WAIT_MS) if given is not None else WAIT_MS)
            case.headers = headers

    def unique_idempotency_key(case, number):
        """Makes a generated Idempotency-Key unique to its request. The server answers a request
        whose key an earlier request used with that request's outcome, whatever either request
        was (a defect reported with this test); with the short keys generated, the answers would
        otherwise depend on which earlier request drew the same key."""
        headers = case.headers or {}
        if "Idempotency-Key" in headers:
            case.headers = {**headers, "Idempotency-Key": f"{headers['Idempotency-Key'][:100]}.{number}"}

    @SCHEMA.parametrize()
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    def test_answers_conform_to_the_document(case, target):
        if target.operation != case.operation.verbose_name:
            target.operation = case.operation.verbose_name
            target.seed()
        if protected(case):
            target.not_sent += 1
            return
        bound_waiting(case)
        unique_idempotency_key(case, target.sent)
        # Set on the operation too, for the curl command a failure shows.
        case.operation.base_url = target.next_endpoint()
        response = case.call(base_url=case.operation.base_url, session=target.session, headers=target.headers, timeout=30)
        target.statuses[response.status_code] = target.statuses.get(response.status_code, 0) + 1
        # JSON is UTF-8 (RFC 8259) and application/problem+json has no charset parameter;
        # without this, requests guesses the encoding of a problem's body, wrongly for some
        # non-ASCII details, and the body then looks like invalid JSON.
        if response.headers.get("Content-Type", "").startswith(("application/json", "application/problem+json")):
            response.encoding = "utf-8"
        case.validate_response(response, checks=CHECKS, headers=target.headers)
