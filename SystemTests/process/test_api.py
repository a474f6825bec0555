"""The admin API and CLI end to end, on a real 3-replica cluster."""

import http.client
import json
import subprocess
import urllib.error
import urllib.request

import pytest

from harness import HTTPError, binary, eventually


def cli(cluster, *arguments, token_file=None, check=True):
    """Runs a rampart admin command against every endpoint of the cluster."""
    endpoints = ",".join(r.endpoint for r in cluster.replicas)
    command = [binary(), *arguments, "--endpoints", endpoints, "--output", "json"]
    environment = {"RAMPART_API_KEY_FILE": str(token_file or cluster.root / "admin.key"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=environment)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(arguments)} failed: {result.stderr}")
    return result


def member(cluster, organization, name, role):
    admin = cluster.replicas[0]
    admin.request("POST", f"/v1/orgs/{organization}/principals", {"name": name, "kind": "user"}, token=cluster.token)
    admin.request("POST", f"/v1/orgs/{organization}/bindings", {"principal": name, "role": role}, token=cluster.token)
    return admin.request("POST", f"/v1/orgs/{organization}/principals/{name}/keys", token=cluster.token)["token"]


def test_read_your_writes_on_a_follower_with_min_revision(cluster):
    leader = cluster.leader()
    follower = next(r for r in cluster.replicas if r.id != leader.id)
    created = leader.request("POST", "/v1/orgs", {"name": "ryw"}, token=cluster.token)
    found = follower.request("GET", f"/v1/orgs/ryw?consistency=stale&min_revision={created['revision']}", token=cluster.token)
    assert found["name"] == "ryw"
    linearizable = follower.request("GET", "/v1/orgs/ryw", token=cluster.token)
    assert linearizable["revision"] == created["revision"]


def test_authorize_fast_path_answers_as_the_router_does_in_order(cluster):
    """`POST /v1/authorize?consistency=stale` is answered in the channel pipeline when all is in
    order; anything else goes to the router. On one keep-alive connection, requests of both
    kinds, interleaved, are answered in order, and the fast answers equal the router's (an
    `X-Timeout-Ms` header sends the same question through the router)."""
    leader = cluster.leader()
    leader.request("POST", "/v1/orgs", {"name": "fast"}, token=cluster.token)
    leader.request("POST", "/v1/orgs/fast/projects", {"name": "web"}, token=cluster.token)
    created = leader.request("POST", "/v1/orgs/fast/principals", {"name": "dev", "kind": "user"}, token=cluster.token)
    bound = leader.request("POST", "/v1/orgs/fast/bindings", {"principal": "dev", "role": "project.admin", "project": "web"},
                           token=cluster.token)
    assert bound["revision"] > created["revision"]
    follower = next(r for r in cluster.replicas if r.id != leader.id)
    eventually(lambda: follower.request("GET", f"/v1/orgs/fast?consistency=stale&min_revision={bound['revision']}", token=cluster.token))
    allowed = {"principal": "fast/dev", "permission": "compute.instances.create", "organization": "fast", "project": "web"}
    denied = dict(allowed, project=None)
    host, port = follower.endpoint.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    auth = {"Authorization": f"Bearer {cluster.token}", "Content-Type": "application/json"}
    answers = []
    for question, extra in [(allowed, {}), (allowed, {"X-Timeout-Ms": "5000"}), (denied, {}), (denied, {"X-Timeout-Ms": "5000"}),
                            ({**allowed, "x": 1}, {}), (allowed, {"X-Request-ID": "fast-1"})]:
        connection.request("POST", "/v1/authorize?consistency=stale", body=json.dumps(question), headers={**auth, **extra})
        response = connection.getresponse()
        answers.append((response.status, json.loads(response.read()), response.getheader("X-Request-ID")))
    connection.close()
    def decision(answer):  # the revision may move between two requests (the leader's key maintenance writes)
        status, body, _ = answer
        assert body.get("revision", 0) >= bound["revision"], answer
        return status, {key: value for key, value in body.items() if key != "revision"}

    assert decision(answers[0]) == decision(answers[1]) == (200, {"allowed": True, "binding": bound["id"]})
    assert decision(answers[2]) == decision(answers[3]) == (200, {"allowed": False, "reason": "noMatchingBinding"})
    assert answers[4][0] == 400 and answers[4][1]["code"] == "bad_request"
    assert answers[5][0] == 200 and answers[5][2] == "fast-1"
    assert all(answer[2] for answer in answers)


def pipelined(endpoint, requests, timeout=10):
    """Sends `requests` (method, path, headers, body) on one connection in one write, as a
    pipelining client does, and reads the answers: (status, headers, body) each, in order."""
    import socket
    host, port = endpoint.removeprefix("http://").split(":")
    payload = b""
    for method, path, headers, body in requests:
        data = json.dumps(body).encode() if body is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(data)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        payload += ("\r\n".join(lines) + "\r\n\r\n").encode() + data
    answers, buffer = [], b""
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(payload)
        while len(answers) < len(requests):
            head_end = buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                lines = buffer[:head_end].decode().split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
                length = int(headers["content-length"])
                if len(buffer) >= head_end + 4 + length:
                    body = buffer[head_end + 4:head_end + 4 + length]
                    parsed = json.loads(body) if "json" in headers.get("content-type", "") else body.decode()
                    answers.append((int(lines[0].split()[1]), headers, parsed))
                    buffer = buffer[head_end + 4 + length:]
                    continue
            chunk = connection.recv(65536)
            assert chunk, f"the connection closed after {len(answers)} answers"
            buffer += chunk
    return answers


def test_pipelined_creates_and_other_requests_are_answered_in_order(cluster):
    """Creates the fast path proposes, requests the router answers and authorize decisions, sent
    together on one connection to a follower (which forwards the writes), are answered in the
    order they were sent, each as the router would answer it."""
    leader = cluster.leader()
    leader.request("POST", "/v1/orgs", {"name": "pipe"}, token=cluster.token)
    follower = next(r for r in cluster.replicas if r.id != leader.id)
    auth = {"Authorization": f"Bearer {cluster.token}", "Content-Type": "application/json"}
    question = {"principal": "pipe/a", "permission": "compute.instances.create", "organization": "pipe"}
    answers = pipelined(follower.endpoint, [
        ("POST", "/v1/orgs/pipe/principals", {**auth, "X-Request-ID": "pipe-1"}, {"name": "a", "kind": "user"}),
        ("GET", "/healthz", {}, None),
        ("POST", "/v1/orgs/pipe/principals", auth, {"name": "b", "kind": "service_account"}),
        ("POST", "/v1/orgs/pipe/principals", auth, {"name": "a", "kind": "user"}),
        ("POST", "/v1/orgs/pipe/projects", {**auth, "Idempotency-Key": "pipe-k"}, {"name": "web"}),
        ("POST", "/v1/authorize?consistency=stale", auth, question),
        ("POST", "/v1/orgs/pipe/projects", auth, {"name": "api"}),
    ])
    assert [status for status, _, _ in answers] == [201, 200, 201, 409, 201, 200, 201], answers
    assert answers[0][2]["name"] == "a" and answers[0][1]["x-request-id"] == "pipe-1"
    assert answers[2][2]["name"] == "b" and answers[2][2]["kind"] == "service_account"
    assert answers[3][2]["code"] == "already_exists"
    assert answers[4][2]["name"] == "web" and answers[6][2]["name"] == "api"
    assert answers[5][2]["allowed"] is False
    revisions = [answers[i][2]["revision"] for i in (0, 2, 4, 6)]
    assert revisions == sorted(revisions) and len(set(revisions)) == 4
    principals = leader.request("GET", "/v1/orgs/pipe/principals", token=cluster.token)["items"]
    assert sorted(p["name"] for p in principals) == ["a", "b"]


def test_idempotent_retry_across_a_leader_kill_applies_once(cluster):
    leader = cluster.leader()
    headers = {"Idempotency-Key": "create-acme-1"}
    first = leader.request("POST", "/v1/orgs", {"name": "acme"}, token=cluster.token, headers=headers)
    leader.kill()
    survivor = next(r for r in cluster.replicas if r.running())
    retry = eventually(
        lambda: survivor.request("POST", "/v1/orgs", {"name": "acme"}, token=cluster.token, headers=headers, timeout=5),
        message="the retry answered by the new leader")
    assert retry["revision"] == first["revision"]
    audit = survivor.request("GET", "/v1/audit?action=organization.create", token=cluster.token)["items"]
    assert [r["outcome"] for r in audit if r["target"] == "orgs/acme"].count("ok") == 1


def test_tenants_are_isolated_and_auditors_only_read(cluster):
    admin = cluster.replicas[0]
    for name in ("alpha", "beta"):
        admin.request("POST", "/v1/orgs", {"name": name}, token=cluster.token)
    alpha_admin = member(cluster, "alpha", "owner", "org.admin")
    alpha_auditor = member(cluster, "alpha", "auditor", "org.auditor")
    member(cluster, "beta", "owner", "org.admin")
    replica = cluster.replicas[1]
    for method, path, body in [
        ("GET", "/v1/orgs/beta", None), ("GET", "/v1/orgs/beta/principals", None), ("DELETE", "/v1/orgs/beta/principals/owner", None),
        ("POST", "/v1/orgs/beta/projects", {"name": "p"}), ("GET", "/v1/audit?organization=beta", None),
    ]:
        with pytest.raises(HTTPError) as refused:
            replica.request(method, path, body, token=alpha_admin)
        assert refused.value.status == 403, (method, path)
    assert replica.request("POST", "/v1/orgs/alpha/projects", {"name": "web"}, token=alpha_admin)["name"] == "web"
    records = replica.request("GET", "/v1/audit?organization=alpha", token=alpha_auditor)["items"]
    assert records and all(r["organization"] == "alpha" for r in records)
    with pytest.raises(HTTPError) as refused:
        replica.request("POST", "/v1/orgs/alpha/projects", {"name": "nope"}, token=alpha_auditor)
    assert refused.value.status == 403


def test_audit_chain_is_identical_everywhere_and_verify_detects_tampering(cluster, tmp_path):
    for number in range(5):
        cli(cluster, "orgs", "create", f"audited-{number}")
    cluster.converged()
    verified = cli(cluster, "audit", "verify")
    assert verified.stdout.count("chain intact") == 3
    heads = {line.split("head ")[1] for line in verified.stdout.splitlines()}
    assert len(heads) == 1
    export = tmp_path / "audit.jsonl"
    cli(cluster, "audit", "export", "--file", str(export))
    lines = export.read_text().splitlines()
    assert len(lines) >= 6  # the bootstrap and these five creates
    assert "chain intact" in cli(cluster, "audit", "verify", "--file", str(export)).stdout

    def tampered(name, change):
        path = tmp_path / name
        path.write_text("\n".join(change(list(lines))) + "\n")
        result = cli(cluster, "audit", "verify", "--file", str(path), check=False)
        assert result.returncode != 0, name
        return result.stderr

    def edit(records):
        record = json.loads(records[3])
        record["actor"] = "someone-else"
        records[3] = json.dumps(record)
        return records

    assert "broken at record 4" in tampered("edited.jsonl", edit)
    assert "broken" in tampered("deleted.jsonl", lambda r: r[:2] + r[3:])
    assert "broken" in tampered("reordered.jsonl", lambda r: [r[0], r[2], r[1]] + r[3:])
    assert "sequence 1" in tampered("truncated.jsonl", lambda r: r[1:])


def test_cli_fails_over_to_a_live_endpoint(cluster):
    dead = cluster.replicas[0]
    dead.kill()
    endpoints = ",".join(r.endpoint for r in cluster.replicas)  # the dead one first
    key = cluster.root / "admin.key"
    result = subprocess.run(
        [binary(), "orgs", "create", "failover", "--endpoints", endpoints, "--api-key-file", str(key), "--output", "json"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "failover"
    listed = subprocess.run(
        [binary(), "orgs", "list", "--endpoints", endpoints, "--api-key-file", str(key), "--output", "json"],
        capture_output=True, text=True, timeout=60)
    assert "failover" in listed.stdout


def test_key_rotation_is_seen_identically_on_every_replica(make_cluster):
    # No scheduled rotation (so only the one asked for happens); tokens of at most the overlap.
    cluster = make_cluster(key_activation_seconds=1, key_overlap_seconds=2, token_max_ttl_seconds=2, key_rotation_interval_seconds=0)
    cluster.start()

    def key_sets():
        return [{k["id"]: k["state"] for k in r.request("GET", "/v1/keys?consistency=stale")["items"]} for r in cluster.replicas]

    first = eventually(lambda: (lambda sets: sets[0] if all(s == sets[0] for s in sets) and sets[0] else None)(key_sets()))
    (first_id, first_state), = first.items()
    assert first_state == "active"
    rotated = json.loads(cli(cluster, "keys", "rotate").stdout)
    new_id = rotated["id"]
    assert rotated["state"] == "pending"
    eventually(lambda: all(s == {first_id: "retiring", new_id: "active"} for s in key_sets()), message="activation seen everywhere")
    eventually(lambda: all(s == {new_id: "active"} for s in key_sets()), message="retirement seen everywhere")
    cluster.converged()


def test_failed_authentication_is_throttled_and_refusals_are_audited(cluster):
    """Outside review, finding 11: wrong keys were answered at full speed with no trace, and
    refused requests were not audit events. After a burst of failures an address is answered
    429 (even with a right key), the failures are logged once and counted; a principal's
    refused requests reach the audit log, counted, within the recording interval."""
    replica = cluster.replicas[0]
    wrong = "0000000000000000000000000000abcd." + "0" * 64
    statuses = []
    for _ in range(25):
        try:
            replica.request("GET", "/v1/orgs", token=wrong)
        except HTTPError as error:
            statuses.append(error.status)
    assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
    request = urllib.request.Request(replica.endpoint + "/v1/orgs", headers={"Authorization": f"Bearer {cluster.token}"})
    with pytest.raises(urllib.error.HTTPError) as throttled:
        urllib.request.urlopen(request, timeout=5)
    assert throttled.value.code == 429 and int(throttled.value.headers["Retry-After"]) >= 1
    assert replica.metric("rampart_authentication_failures_total") == 20
    assert replica.log_path.read_text().count("authentication failed") == 1, "logged once per address and interval"
    # Another replica serves the same client; refusals there are audited.
    other = cluster.replicas[1]
    other.request("POST", "/v1/orgs", {"name": "tenant"}, token=cluster.token)
    other.request("POST", "/v1/orgs/tenant/principals", {"name": "viewer", "kind": "user"}, token=cluster.token)
    other.request("POST", "/v1/orgs/tenant/bindings", {"principal": "viewer", "role": "org.viewer"}, token=cluster.token)
    viewer = other.request("POST", "/v1/orgs/tenant/principals/viewer/keys", token=cluster.token)["token"]
    for _ in range(3):
        with pytest.raises(HTTPError) as refused:
            other.request("POST", "/v1/orgs/tenant/projects", {"name": "nope"}, token=viewer)
        assert refused.value.status == 403

    def audited():
        items = other.request("GET", "/v1/audit?action=access.denied&organization=tenant", token=cluster.token)["items"]
        return items or None
    records = eventually(audited, timeout=30, message="the refusals in the audit log")
    assert records[0]["actor"] == "tenant/viewer" and records[0]["outcome"] == "lacks_permission"
    assert records[0]["target"] == "iam.projects.create on orgs/tenant (3 requests)"


def test_every_replica_serves_the_biscuit_web_key_set_the_reference_reads(cluster):
    """The Biscuit Web Key set is public, the same on every replica once they have applied the
    same keys, names each key by the id `/v1/keys` gives it, and its keys are read by the
    reference (biscuit-python)."""
    import biscuit_auth

    def agreed():
        sets = [replica.request("GET", "/.well-known/biscuit-web-keys") for replica in cluster.replicas]
        return sets[0]["keys"] if sets[0]["keys"] and all(s == sets[0] for s in sets) else None

    keys = eventually(agreed, message="the same key set on every replica")
    listed = {k["root_key_id"]: k["public_key"] for k in cluster.replicas[0].request("GET", "/v1/keys?consistency=stale")["items"]}
    assert {k["key_id"]: k["key_bytes"] for k in keys} == listed
    retirements = {k["root_key_id"]: k["retires_at"] for k in cluster.replicas[0].request("GET", "/v1/keys?consistency=stale")["items"]}
    for key in keys:
        assert key["algorithm"] == "ed25519" and key["issuer"] == "rampart"
        assert key["expires_at"] == retirements[key["key_id"]] and key["expires_at"], "the planned retirement (scheduled rotation)"
        assert biscuit_auth.PublicKey.from_bytes(bytes.fromhex(key["key_bytes"]), biscuit_auth.Algorithm.Ed25519).to_bytes().hex() == key["key_bytes"]


def test_a_token_issued_by_any_replica_is_verified_and_authorized_by_the_reference(cluster):
    """A token from `POST /v1/tokens` on a follower verifies in the reference with the key the
    Biscuit Web Key set publishes under the token's root key id, holds the caller's rights,
    and expires when it says."""
    import datetime

    import biscuit_auth

    follower = cluster.replicas[-1]
    issued = follower.request("POST", "/v1/tokens", {"ttl_seconds": 300, "attenuation": ['check if operation("read");']},
                              token=cluster.token)
    keys = {k["key_id"]: k["key_bytes"] for k in follower.request("GET", "/.well-known/biscuit-web-keys")["keys"]}
    asked = []

    def root(key_id):
        asked.append(key_id)
        return biscuit_auth.PublicKey.from_bytes(bytes.fromhex(keys[key_id]), biscuit_auth.Algorithm.Ed25519)

    token = biscuit_auth.Biscuit.from_base64(issued["token"], root)
    assert asked == [issued["root_key_id"]]
    assert [bytes(r).hex() if not isinstance(r, str) else r for r in token.revocation_ids] == issued["revocation_ids"]
    assert 'principal("system/admin")' in token.block_source(0)
    expires = datetime.datetime.fromisoformat(issued["expires_at"].replace("Z", "+00:00"))

    def allowed(at, operation):
        authorizer = biscuit_auth.AuthorizerBuilder(
            'time({now}); operation({operation}); allow if right("cluster", "*.*.*");', {"now": at, "operation": operation}
        ).build(token)
        try:
            authorizer.authorize()
            return True
        except biscuit_auth.AuthorizationError:
            return False

    assert allowed(expires - datetime.timedelta(seconds=1), "read")
    assert not allowed(expires, "read"), "expired"
    assert not allowed(expires - datetime.timedelta(seconds=1), "write"), "the attenuation holds"


def test_the_cli_issues_a_token_that_the_cli_inspects_offline(cluster, tmp_path):
    """`rampart tokens issue` writes a token to a new file; `rampart biscuit inspect` reads it
    offline with the published key and finds what the issuer stated."""
    token_file = tmp_path / "token.b64"
    written = cli(cluster, "tokens", "issue", "--ttl", "120", "--attenuate", 'check if operation("read");',
                  "--token-file", str(token_file))
    assert "written to" in written.stdout and (token_file.stat().st_mode & 0o777) == 0o600
    keys = cluster.replicas[0].request("GET", "/.well-known/biscuit-web-keys")["keys"]
    assert len(keys) == 1
    inspected = subprocess.run(
        [binary(), "biscuit", "inspect", str(token_file), "--public-key", "ed25519/" + keys[0]["key_bytes"],
         "--authorize-with-code", 'operation("read"); allow if right("cluster", "*.*.*");', "--time", "now", "--output", "json"],
        capture_output=True, text=True, timeout=60)
    assert inspected.returncode == 0, inspected.stdout + inspected.stderr
    report = json.loads(inspected.stdout)
    assert report["verified"] and report["root_key_id"] == keys[0]["key_id"]
    assert 'principal("system/admin");' in report["blocks"][0]["source"]
    assert report["blocks"][1]["source"] == 'check if operation("read");\n'
    assert report["authorization"]["authorized"] is True
    again = cli(cluster, "tokens", "issue", "--token-file", str(token_file), check=False)
    assert again.returncode != 0, "an existing file is never overwritten"


def test_the_reference_attenuates_a_token_and_every_replica_enforces_and_revokes_it(cluster):
    """A token Rampart issues verifies in the reference with `GET /v1/keys` alone; the reference
    attenuates it (a block of version 3 and one of version 6, `reject if`); every replica then
    enforces the attenuation when asked with the token (`POST /v1/authorize`) and when the
    token is the bearer credential. Revoking the attenuated token's own block id refuses it on
    every replica that has applied the revocation while its parent still works; revoking the
    authority block's id refuses both."""
    import biscuit_auth

    leader = cluster.leader()
    leader.request("POST", "/v1/orgs", {"name": "interop"}, token=cluster.token)
    leader.request("POST", "/v1/orgs/interop/projects", {"name": "web"}, token=cluster.token)
    made = leader.request("POST", "/v1/orgs/interop/projects", {"name": "api"}, token=cluster.token)
    issued = cluster.replicas[1].request("POST", "/v1/tokens", {"ttl_seconds": 600}, token=cluster.token)
    keys = {k["root_key_id"]: k["public_key"] for k in cluster.replicas[2].request("GET", "/v1/keys?consistency=stale")["items"]}
    root = biscuit_auth.PublicKey.from_bytes(bytes.fromhex(keys[issued["root_key_id"]]), biscuit_auth.Algorithm.Ed25519)
    parent = biscuit_auth.Biscuit.from_base64(issued["token"], root)
    assert [bytes(r).hex() if not isinstance(r, str) else r for r in parent.revocation_ids] == issued["revocation_ids"]
    child = parent.append(biscuit_auth.BlockBuilder('check if operation("read");')).append(
        biscuit_auth.BlockBuilder('reject if resource_project("api");'))
    child_text = child.to_base64()
    child_ids = [bytes(r).hex() if not isinstance(r, str) else r for r in child.revocation_ids]
    assert child_ids[0] == issued["revocation_ids"][0] and len(child_ids) == 3

    def decide(replica, token, permission, project, revision):
        body = {"token": token, "permission": permission, "organization": "interop", "project": project}
        try:
            return replica.request("POST", f"/v1/authorize?min_revision={revision}", body, token=cluster.token)
        except HTTPError as error:
            return {"status": error.status, "code": json.loads(error.body)["code"]}

    for replica in cluster.replicas:
        assert decide(replica, child_text, "compute.instances.get", "web", made["revision"])["allowed"] is True
        refused_write = decide(replica, child_text, "compute.instances.create", "web", made["revision"])
        assert refused_write["allowed"] is False and refused_write["reason"] == "tokenChecksFailed", refused_write
        refused_project = decide(replica, child_text, "compute.instances.get", "api", made["revision"])
        assert refused_project["reason"] == "tokenChecksFailed", "the version 6 block holds"
        assert decide(replica, issued["token"], "compute.instances.create", "api", made["revision"])["allowed"] is True
        # As the bearer credential: reads pass, writes are refused by the token's own checks.
        assert replica.request("GET", f"/v1/orgs/interop/projects?min_revision={made['revision']}", token=child_text)["items"]
        with pytest.raises(HTTPError) as refused:
            replica.request("POST", "/v1/orgs/interop/projects", {"name": "nope"}, token=child_text)
        assert refused.value.status == 403 and json.loads(refused.value.body)["code"] == "token_checks_failed"

    revoked = cluster.replicas[2].request("POST", "/v1/tokens/revoke", {"revocation_ids": [child_ids[2]], "reason": "interop"},
                                          token=cluster.token)
    for replica in cluster.replicas:
        assert decide(replica, child_text, "compute.instances.get", "web", revoked["revision"]) == {"status": 401, "code": "token_revoked"}
        assert decide(replica, issued["token"], "compute.instances.get", "web", revoked["revision"])["allowed"] is True
    revoked = cluster.replicas[0].request("POST", "/v1/tokens/revoke", {"token": issued["token"]}, token=cluster.token)
    assert revoked["revoked"][0]["revocation_id"] == issued["revocation_ids"][0]
    for replica in cluster.replicas:
        for token in (issued["token"], child_text):
            assert decide(replica, token, "compute.instances.get", "web", revoked["revision"]) == {"status": 401, "code": "token_revoked"}
    feed = cluster.replicas[1].request("GET", f"/v1/revocations?since=0&min_revision={revoked['revision']}", token=cluster.token)
    assert [item["revocation_id"] for item in feed["items"]][-2:] == [child_ids[2], issued["revocation_ids"][0]]


def test_the_revocation_feed_long_polls_until_a_revocation_arrives(cluster):
    """A follower of the feed asks with `wait`: the page stays open until a revocation is
    applied on its replica, then answers with it."""
    import threading
    import time

    since = cluster.replicas[0].request("GET", "/v1/revocations?since=0", token=cluster.token)["revision"]
    result = {}

    def follow():
        started = time.monotonic()
        result["page"] = cluster.replicas[2].request("GET", f"/v1/revocations?since={since}&wait=20", token=cluster.token, timeout=30)
        result["waited"] = time.monotonic() - started

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(1)
    cluster.replicas[1].request("POST", "/v1/tokens/revoke", {"revocation_ids": ["abcd"], "reason": "long poll"}, token=cluster.token)
    follower.join(30)
    assert [item["revocation_id"] for item in result["page"]["items"]] == ["abcd"]
    assert 0.9 < result["waited"] < 15, result["waited"]


def test_tokens_issued_while_keys_rotate_on_a_schedule_all_verify_until_they_expire(make_cluster):
    """Keys rotate on a short schedule (activation 1 s, a new key every 3 s, overlap 4 s,
    tokens of at most 4 s) while tokens are issued on every replica: every unexpired token is
    accepted by Rampart on every replica and verified by the reference with the key set of the
    moment, across several rotations. A root key revoked in an emergency leaves the set, and a
    token it signed is refused."""
    import datetime
    import random
    import time

    import biscuit_auth

    cluster = make_cluster(key_activation_seconds=1, key_rotation_interval_seconds=3, key_overlap_seconds=4, token_max_ttl_seconds=4)
    cluster.start()
    cluster.create_organization(cluster.leader(), "rotation")
    issued, failures, signers = [], [], set()
    deadline = time.monotonic() + 16
    while time.monotonic() < deadline:
        replica = random.choice(cluster.replicas)
        token = replica.request("POST", "/v1/tokens", {"ttl_seconds": 4}, token=cluster.token)
        expires = datetime.datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00")).timestamp()
        issued.append((token, expires))
        signers.add(token["root_key_id"])
        keys = {k["root_key_id"]: k["public_key"] for k in random.choice(cluster.replicas).request("GET", "/v1/keys?consistency=stale")["items"]}
        for earlier, expiry in issued[-12:]:
            if expiry - time.time() < 1.2:
                continue  # about to expire while it is checked
            if earlier["root_key_id"] not in keys:
                failures.append(f"key {earlier['root_key_id']} left the set before its token expired")
                continue
            root = biscuit_auth.PublicKey.from_bytes(bytes.fromhex(keys[earlier["root_key_id"]]), biscuit_auth.Algorithm.Ed25519)
            biscuit_auth.Biscuit.from_base64(earlier["token"], root)
            try:
                answer = random.choice(cluster.replicas).request(
                    "POST", "/v1/authorize?consistency=stale",
                    {"token": earlier["token"], "permission": "compute.instances.get", "organization": "rotation"}, token=cluster.token)
                if answer["allowed"] is not True:
                    failures.append(f"denied: {answer}")
            except HTTPError as error:
                failures.append(f"refused: {error}")
        time.sleep(0.05)
    assert not failures, failures[:5]
    assert len(issued) > 50 and len(signers) >= 4, (len(issued), signers)
    # An emergency: the active key is revoked; a token it signed is refused at once.
    signed = cluster.replicas[0].request("POST", "/v1/tokens", {"ttl_seconds": 4}, token=cluster.token)
    keys = cluster.replicas[0].request("GET", "/v1/keys")["items"]
    active = next(k for k in keys if k["root_key_id"] == signed["root_key_id"])
    revoked = cluster.replicas[1].request("POST", f"/v1/keys/{active['id']}/revoke", token=cluster.token)
    assert revoked["state"] == "retired"
    revision = cluster.replicas[1].request("GET", "/v1/keys")["revision"]
    for replica in cluster.replicas:
        with pytest.raises(HTTPError) as refused:
            replica.request("GET", f"/v1/orgs?min_revision={revision}", token=signed["token"])
        assert refused.value.status == 401 and json.loads(refused.value.body)["code"] == "token_unknown_key"


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_service_authorizes_in_process_and_follows_revocations(make_cluster, tmp_path, tls):
    """The example service (RampartAuthorizer in process) follows the cluster's keys and
    revocation feed and decides with tokens alone: a token's rights and attenuation hold, and a
    revocation committed on any replica reaches it through the long-polled feed. Over HTTPS it
    trusts the cluster's CA (its SwiftNIO transport, `--cacert`)."""
    import pathlib
    import time

    import biscuit_auth

    from harness import free_port

    cluster = make_cluster(tls=tls)
    cluster.start()
    leader = cluster.leader()
    leader.request("POST", "/v1/orgs", {"name": "shop"}, token=cluster.token)
    for project in ("web", "api"):
        leader.request("POST", "/v1/orgs/shop/projects", {"name": project}, token=cluster.token)
    leader.request("POST", "/v1/orgs/shop/roles", {"name": "runner", "permissions": ["compute.instances.*"]}, token=cluster.token)
    leader.request("POST", "/v1/orgs/shop/principals", {"name": "ci", "kind": "service_account"}, token=cluster.token)
    leader.request("POST", "/v1/orgs/shop/bindings", {"principal": "ci", "role": "runner", "project": "web"}, token=cluster.token)
    ci_key = leader.request("POST", "/v1/orgs/shop/principals/ci/keys", token=cluster.token)["token"]
    issued = leader.request("POST", "/v1/tokens", {"ttl_seconds": 600}, token=ci_key)
    port = free_port()
    executable = pathlib.Path(binary()).parent / "rampart-example-service"
    assert executable.exists(), f"{executable} is missing: run `swift build --product rampart-example-service` first"
    service = subprocess.Popen(
        [str(executable), "--endpoints", ",".join(r.endpoint for r in cluster.replicas), "--credential-file", str(cluster.root / "admin.key"),
         "--listen", f"127.0.0.1:{port}", *(["--cacert", str(cluster.certs / "ca.pem")] if tls else [])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def call(method, path, token=None):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=b"" if method == "POST" else None)
            if token:
                request.add_header("Authorization", f"Bearer {token}")
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())
            except urllib.error.URLError:
                return None, None

        def healthy():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    return response.status == 200
            except (urllib.error.URLError, ConnectionError):
                return False

        eventually(healthy, timeout=30, message="the example service")
        assert call("GET", "/orgs/shop/projects/web/instances", issued["token"]) == (200, {"holder": "shop/ci", "instances": []})
        assert call("POST", "/orgs/shop/projects/web/instances", issued["token"])[0] == 200
        assert call("GET", "/orgs/shop/projects/api/instances", issued["token"]) == (403, {"code": "token_checks_failed"})
        assert call("GET", "/orgs/shop/projects/web/instances") == (401, {"code": "unauthenticated"})
        root = biscuit_auth.PublicKey.from_bytes(
            bytes.fromhex(next(k["public_key"] for k in leader.request("GET", "/v1/keys")["items"] if k["root_key_id"] == issued["root_key_id"])),
            biscuit_auth.Algorithm.Ed25519)
        read_only = biscuit_auth.Biscuit.from_base64(issued["token"], root).append(
            biscuit_auth.BlockBuilder('check if operation("read");')).to_base64()
        assert call("GET", "/orgs/shop/projects/web/instances", read_only)[0] == 200
        assert call("POST", "/orgs/shop/projects/web/instances", read_only) == (403, {"code": "token_checks_failed"})
        cluster.replicas[2].request("POST", "/v1/tokens/revoke", {"token": issued["token"], "reason": "test"}, token=cluster.token)
        acknowledged = time.monotonic()
        eventually(lambda: call("GET", "/orgs/shop/projects/web/instances", issued["token"]) == (401, {"code": "token_revoked"}),
                   timeout=5, interval=0.005, message="the revocation reaching the service")
        assert time.monotonic() - acknowledged < 2
        assert call("GET", "/orgs/shop/projects/web/instances", read_only) == (401, {"code": "token_revoked"}), "its descendants too"
    finally:
        service.terminate()
        service.wait(timeout=10)


def test_the_cli_inspects_attenuates_authorizes_revokes_and_follows_tokens(cluster, tmp_path):
    """`rampart tokens inspect|attenuate|revoke`, `rampart authorize --token`, `rampart
    revocations list [--follow]` and `rampart keys list` with key ids and retirements."""
    import time

    cluster.leader().request("POST", "/v1/orgs", {"name": "cli"}, token=cluster.token)
    token_file = tmp_path / "token"
    cli(cluster, "tokens", "issue", "--ttl", "300", "--token-file", str(token_file))
    inspected = json.loads(cli(cluster, "tokens", "inspect", str(token_file)).stdout)
    assert inspected["verified"] and inspected["principal"] == "system/admin" and "*.*.* on cluster" in inspected["rights"]
    assert len(inspected["revocation_ids"]) == 1 and inspected["expires_at"]
    narrowed_file = tmp_path / "narrowed"
    attenuated = subprocess.run([binary(), "tokens", "attenuate", str(token_file), "--block", 'check if operation("read");',
                                 "--token-file", str(narrowed_file)], capture_output=True, text=True, timeout=60)
    assert attenuated.returncode == 0, attenuated.stderr
    narrowed = json.loads(cli(cluster, "tokens", "inspect", str(narrowed_file)).stdout)
    assert narrowed["blocks"][1] == 'check if operation("read");\n' and narrowed["revocation_ids"][0] == inspected["revocation_ids"][0]
    read = json.loads(cli(cluster, "authorize", "--token", str(narrowed_file), "--permission", "compute.instances.get", "--org", "cli").stdout)
    assert read["allowed"] is True
    write = json.loads(cli(cluster, "authorize", "--token", str(narrowed_file), "--permission", "compute.instances.create", "--org", "cli").stdout)
    assert write["allowed"] is False and write["reason"] == "tokenChecksFailed"
    keys = json.loads(cli(cluster, "keys", "list").stdout)
    assert keys[0]["root_key_id"] == inspected["root_key_id"] and keys[0]["retires_at"]
    follower = subprocess.Popen([binary(), "revocations", "list", "--follow", "--endpoints", cluster.replicas[1].endpoint],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={"RAMPART_API_KEY_FILE": str(cluster.root / "admin.key"), "PATH": "/usr/bin:/bin"})
    try:
        time.sleep(1)
        revoked = json.loads(cli(cluster, "tokens", "revoke", "--token", str(narrowed_file), "--reason", "cli test").stdout)
        assert revoked["revoked"][0]["revocation_id"] == narrowed["revocation_ids"][1]
        line = json.loads(follower.stdout.readline())
        assert line["revocation_id"] == narrowed["revocation_ids"][1] and line["reason"] == "cli test"
    finally:
        follower.terminate()
        follower.wait(timeout=10)
    listed = json.loads(cli(cluster, "revocations", "list").stdout)
    assert [item["revocation_id"] for item in listed] == [narrowed["revocation_ids"][1]]
    refused = cli(cluster, "tokens", "inspect", "not-a-token", check=False)
    assert refused.returncode != 0 and "token_malformed" in refused.stdout


def test_the_api_serves_https_with_the_cluster_ca_and_refuses_what_it_should(make_cluster, tmp_path):
    """With `tls_cert_file` and `tls_key_file` (certificates from `rampart certs`), every
    replica serves the API over HTTPS only, the fast path's authorize and creates included; a
    client trusting another CA, and plain HTTP on the port, are refused; a replica given a key
    that is not its certificate's refuses to start, naming the file."""
    import http.client
    import ssl

    cluster = make_cluster(tls=True)
    cluster.start()
    leader = cluster.leader()
    leader.request("POST", "/v1/orgs", {"name": "secure"}, token=cluster.token)
    leader.request("POST", "/v1/orgs/secure/projects", {"name": "web"}, token=cluster.token)
    leader.request("POST", "/v1/orgs/secure/principals", {"name": "dev", "kind": "user"}, token=cluster.token)
    bound = leader.request("POST", "/v1/orgs/secure/bindings", {"principal": "dev", "role": "project.admin", "project": "web"},
                           token=cluster.token)
    question = {"principal": "secure/dev", "permission": "compute.instances.create", "organization": "secure", "project": "web"}
    for replica in cluster.replicas:
        assert replica.endpoint.startswith("https://")
        replica.request("GET", f"/v1/orgs/secure?consistency=stale&min_revision={bound['revision']}", token=cluster.token)
        connection = http.client.HTTPSConnection("127.0.0.1", replica.api_port, context=cluster.ssl_context, timeout=10)
        headers = {"Authorization": f"Bearer {cluster.token}", "Content-Type": "application/json"}
        for _ in range(3):  # one keep-alive TLS connection, answered by the fast path
            connection.request("POST", "/v1/authorize?consistency=stale", json.dumps(question), headers)
            answer = connection.getresponse()
            assert answer.status == 200 and json.loads(answer.read())["allowed"] is True
        connection.request("POST", "/v1/orgs/secure/projects", json.dumps({"name": f"p{replica.id}"}), headers)
        created = connection.getresponse()
        assert created.status == 201, created.read()
        created.read()
        connection.close()
    # The CLI over HTTPS: with the cluster's CA it works; trusting only the system's CAs, it is refused.
    endpoints = ",".join(r.endpoint for r in cluster.replicas)
    environment = {"RAMPART_API_KEY_FILE": str(cluster.root / "admin.key"), "PATH": "/usr/bin:/bin"}
    listed = subprocess.run([binary(), "projects", "list", "--org", "secure", "--endpoints", endpoints, "--output", "json", "--cacert",
                             str(cluster.certs / "ca.pem")], capture_output=True, text=True, timeout=60, env=environment)
    assert listed.returncode == 0 and "web" in listed.stdout, listed.stderr
    from_environment = subprocess.run([binary(), "projects", "list", "--org", "secure", "--output", "json"], capture_output=True, text=True,
                                      timeout=60, env=dict(environment, RAMPART_ENDPOINTS=endpoints,
                                                           RAMPART_CACERT=str(cluster.certs / "ca.pem")))
    assert from_environment.returncode == 0 and "web" in from_environment.stdout, from_environment.stderr
    untrusting = subprocess.run([binary(), "projects", "list", "--org", "secure", "--endpoints", endpoints], capture_output=True, text=True,
                                timeout=60, env=environment)
    assert untrusting.returncode != 0 and "TLS" in untrusting.stderr, untrusting.stderr
    # Another CA's trust: the handshake fails.
    subprocess.run([binary(), "certs", "init", "--dir", str(tmp_path / "other")], check=True, capture_output=True, timeout=60)
    other = ssl.create_default_context(cafile=str(tmp_path / "other" / "ca.pem"))
    with pytest.raises(urllib.error.URLError) as untrusted:
        urllib.request.urlopen(cluster.replicas[0].endpoint + "/healthz", timeout=5, context=other)
    assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError), untrusted.value
    # Plain HTTP on the TLS port: no HTTP answer.
    plain = http.client.HTTPConnection("127.0.0.1", cluster.replicas[0].api_port, timeout=5)
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        plain.request("GET", "/healthz")
        plain.getresponse().read()
    # A key that is not the certificate's: the replica refuses to start and names the file.
    config = json.loads(cluster.replicas[0].config_path.read_text())
    config["tls_key_file"] = str(cluster.certs / "replica-2-key.pem")
    config["data_directory"] = str(tmp_path / "refused")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(config))
    refused = subprocess.run([binary(), "server", "--config", str(bad)], capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "tls_key_file" in refused.stderr and "does not match" in refused.stderr, refused.stderr[-500:]


def test_the_cli_exit_statuses_and_errors_follow_the_conventions(cluster, tmp_path):
    """Exit 64 with the usage for a wrong command line (an unknown --output included), 1 for a
    request the cluster refused (under -o json, its problem as JSON on standard error), 69 when
    no endpoint answers; `--version` and `rampart version`."""
    environment = {"RAMPART_API_KEY_FILE": str(cluster.root / "admin.key"), "PATH": "/usr/bin:/bin",
                   "RAMPART_ENDPOINTS": ",".join(r.endpoint for r in cluster.replicas)}

    def rampart(*arguments, env=environment):
        return subprocess.run([binary(), *arguments], capture_output=True, text=True, timeout=60, env=env)

    version = rampart("--version")
    assert version.returncode == 0 and version.stdout.startswith("rampart ") and rampart("version").stdout == version.stdout
    wrong = rampart("orgs", "list", "--output", "yaml")
    assert wrong.returncode == 64 and "--output is table or json" in wrong.stderr and "Usage:" in wrong.stderr
    assert rampart("orgs", "list", "-o", "json").returncode == 0, "-o is --output"
    missing = rampart("orgs", "get", "no-such-org", "-o", "json")
    assert missing.returncode == 1 and missing.stdout == "", missing
    problem = json.loads(missing.stderr)
    assert problem["code"] == "not_found" and problem["status"] == 404 and problem["exit_status"] == 1, problem
    refused = rampart("orgs", "get", "no-such-org")
    assert refused.returncode == 1 and refused.stderr.startswith("rampart: 404 not_found") and "Usage" not in refused.stderr
    unreachable = rampart("orgs", "list", "-o", "json", env=dict(environment, RAMPART_ENDPOINTS="http://127.0.0.1:1"))
    assert unreachable.returncode == 69 and json.loads(unreachable.stderr)["code"] == "unavailable"
    unreadable = rampart("orgs", "list", "--api-key-file", str(tmp_path / "absent"))
    assert unreadable.returncode == 1 and "cannot read the API key file" in unreadable.stderr and "Usage" not in unreadable.stderr


def test_audit_list_takes_rfc3339_and_relative_times_and_fits_100_columns(cluster):
    environment = {"RAMPART_API_KEY_FILE": str(cluster.root / "admin.key"), "PATH": "/usr/bin:/bin",
                   "RAMPART_ENDPOINTS": ",".join(r.endpoint for r in cluster.replicas)}

    def rampart(*arguments):
        return subprocess.run([binary(), *arguments], capture_output=True, text=True, timeout=60, env=environment)

    leader = cluster.leader()
    leader.request("POST", "/v1/orgs", {"name": "a-rather-long-organization-name-for-the-table"}, token=cluster.token)
    recent = rampart("audit", "list", "--since", "1h")
    assert recent.returncode == 0, recent.stderr
    lines = recent.stdout.splitlines()
    assert lines[0].split() == ["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "HASH"] and len(lines) >= 3
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    created = next(line for line in lines[1:] if "organization.create" in line)
    assert "orgs/a-rather" in created and "…" in created and "table" not in created, "a long target is cut, with an ellipsis"
    assert lines[1].split()[1].endswith("Z") and "T" in lines[1].split()[1], "times print as RFC 3339"
    future = rampart("audit", "list", "--since", "2999-01-01T00:00:00Z", "-o", "json")
    assert future.returncode == 0 and json.loads(future.stdout) == []
    whole = json.loads(rampart("audit", "list", "--until", "1w", "-o", "json").stdout)
    assert whole == [], "nothing is older than a week"
    as_json = json.loads(rampart("audit", "list", "-o", "json").stdout)
    assert len(as_json[-1]["hash"]) == 64, "JSON keeps every field whole"
    wrong = rampart("audit", "list", "--since", "yesterday")
    assert wrong.returncode == 64 and "--since" in wrong.stderr


def test_cli_tables_fit_100_columns_durations_and_completion(cluster):
    """Lists print as tables of 100 columns at most, long hexadecimal ids by their first 8
    digits (whole under -o json); `tokens issue --ttl` takes a duration (15m); the completion
    scripts come from `--generate-completion-script`."""
    import datetime
    import re

    environment = {"RAMPART_API_KEY_FILE": str(cluster.root / "admin.key"), "PATH": "/usr/bin:/bin",
                   "RAMPART_ENDPOINTS": ",".join(r.endpoint for r in cluster.replicas)}

    def rampart(*arguments):
        result = subprocess.run([binary(), *arguments], capture_output=True, text=True, timeout=60, env=environment)
        assert result.returncode == 0, f"{arguments}: {result.stderr}"
        return result.stdout

    admin = cluster.replicas[0]
    admin.request("POST", "/v1/orgs", {"name": "tables"}, token=cluster.token)
    for n in range(3):
        name = f"a-rather-long-principal-name-for-the-table-{n}"
        admin.request("POST", "/v1/orgs/tables/principals", {"name": name, "kind": "service_account"}, token=cluster.token)
        admin.request("POST", "/v1/orgs/tables/bindings", {"principal": name, "role": "org.viewer"}, token=cluster.token)
    table = rampart("bindings", "list", "--org", "tables").splitlines()
    assert table[0].split()[0] == "ID" and len(table) == 4, table
    assert all(len(line) <= 100 for line in table), table
    whole = json.loads(rampart("bindings", "list", "--org", "tables", "-o", "json"))
    assert all(re.fullmatch(r"[0-9a-f]{32}", binding["id"]) for binding in whole)
    assert {line.split()[0] for line in table[1:]} == {binding["id"][:8] + "…" for binding in whole}
    for listing in (["principals", "list", "--org", "tables"], ["keys", "list"], ["orgs", "list"], ["roles", "list", "--org", "tables"]):
        assert all(len(line) <= 100 for line in rampart(*listing).splitlines()), listing

    issued = json.loads(rampart("tokens", "issue", "--ttl", "15m", "-o", "json"))
    expires = datetime.datetime.fromisoformat(issued["expires_at"].replace("Z", "+00:00"))
    left = (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 800 < left <= 900, issued["expires_at"]
    wrong = subprocess.run([binary(), "tokens", "issue", "--ttl", "15 minutes"], capture_output=True, text=True, timeout=60, env=environment)
    assert wrong.returncode == 64 and "--ttl" in wrong.stderr
    for extreme in ("99999999999999999999w", "9223372036854775807w", "5300w"):  # overflow, overflow, over 100 years
        refused = subprocess.run([binary(), "tokens", "issue", "--ttl", extreme], capture_output=True, text=True, timeout=60, env=environment)
        assert refused.returncode == 64 and "--ttl" in refused.stderr, extreme

    for shell, marker in (("bash", "complete -"), ("zsh", "#compdef rampart"), ("fish", "complete -c 'rampart'")):
        script = rampart("--generate-completion-script", shell)
        assert marker in script and "snapshot" in script, shell
