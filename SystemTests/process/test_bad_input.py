"""Generated invalid requests against a real replica: each is answered 4xx with a problem code,
none is a 5xx, and the state hash (every table, the audit log included) does not change."""

import json
import urllib.request

from harness import HTTPError

ROUTES = [
    ("POST", "/v1/orgs"), ("PATCH", "/v1/orgs/alpha"), ("POST", "/v1/orgs/alpha/projects"), ("POST", "/v1/orgs/alpha/principals"),
    ("POST", "/v1/orgs/alpha/roles"), ("PUT", "/v1/orgs/alpha/roles/reader"), ("POST", "/v1/orgs/alpha/bindings"),
    ("POST", "/v1/authorize"), ("POST", "/v1/authorize?consistency=stale"), ("POST", "/v1/cluster/members"),
    ("POST", "/v1/cluster/leader"), ("POST", "/v1/tokens/revoke"),
]
BODIES = [
    b"", b"not json", b"[]", b"1", b"null", b'"text"', b"{", b'{"name":', b"{}", b'{"name":1}', b'{"name":null}', b'{"name":[]}',
    b'{"name":""}', b'{"name":"UPPER"}', b'{"name":"has space"}', b'{"name":"' + b"a" * 64 + b'"}', b'{"name":"ok","unexpected":true}',
    b'{"name":"-leading"}', b'{"name":"caf\xc3\xa9"}', b'{"suspended":"yes"}', b'{"permissions":"a.b.c"}', b'{"permissions":["nope"]}',
    b'{"principal":"ghost","role":"org.admin"}', b'{"principal":"reader","role":"no-such-role"}', b'{"replica":0}',
    b'{"action":"explode","replica":2}', b"\xff\xfe", b'{"name":"ok"}{"name":"twice"}', b'{"name":"one","name":"two"}',
    b'{"name":"one","\\u006eame":"two"}',
]
QUERIES = ["limit=0", "limit=1001", "limit=abc", "consistency=eventual", "min_revision=-4", "cursor=" + "z" * 300]
LISTINGS = [
    "/v1/orgs", "/v1/orgs/alpha/projects", "/v1/orgs/alpha/principals", "/v1/orgs/alpha/roles", "/v1/orgs/alpha/bindings", "/v1/audit",
    "/v1/revocations",
]
PATHS = [
    ("GET", "/v1/orgs/UPPER"), ("GET", "/v1/orgs/ghost"), ("DELETE", "/v1/orgs/ghost"), ("DELETE", "/v1/orgs/alpha/projects/ghost"),
    ("DELETE", "/v1/orgs/alpha/principals/ghost"), ("POST", "/v1/orgs/alpha/principals/ghost/keys"),
    ("DELETE", "/v1/orgs/alpha/roles/ghost"), ("DELETE", "/v1/orgs/alpha/bindings/nothex"), ("GET", "/v1/nothing"),
    ("DELETE", "/v1/orgs/alpha?force=maybe"), ("GET", "/v1/orgs/" + "a" * 70), ("TRACE", "/v1/orgs"), ("PUT", "/v1/orgs"),
    ("GET", "/v1/keys/rotate"), ("POST", "/v1/keys/nothex/revoke"), ("POST", "/v1/keys/0000000000000000000000000000abcd/revoke"),
]
CREDENTIALS = [None, "", "Bearer", "Bearer abc", "Bearer abc.def", "Basic dXNlcjpwYXNz", "Bearer 0000000000000000000000000000abcd.00"]


def raw(replica, method, path, body=b"", authorization=None, headers=None):
    request = urllib.request.Request(replica.endpoint + path, data=body if method != "GET" else None, method=method)
    if authorization is not None:
        request.add_header("Authorization", authorization)
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_generated_invalid_requests_are_refused_and_change_nothing(cluster):
    admin = cluster.replicas[0]
    admin.request("POST", "/v1/orgs", {"name": "alpha"}, token=cluster.token)
    admin.request("POST", "/v1/orgs/alpha/principals", {"name": "reader", "kind": "user"}, token=cluster.token)
    admin.request("POST", "/v1/orgs/alpha/roles", {"name": "reader", "permissions": ["a.b.c"]}, token=cluster.token)
    before = cluster.converged()[0]
    bearer = f"Bearer {cluster.token}"
    sent = []
    for replica in cluster.replicas:
        for method, path in ROUTES:
            for body in BODIES:
                sent.append((raw(replica, method, path, body, bearer), method, path, body))
        for listing in LISTINGS:
            for query in QUERIES:
                sent.append((raw(replica, "GET", f"{listing}?{query}", authorization=bearer), "GET", listing, query))
        for method, path in PATHS:
            sent.append((raw(replica, method, path, b"{}", bearer), method, path, ""))
        for credential in CREDENTIALS:
            sent.append((raw(replica, "POST", "/v1/orgs", b'{"name":"fresh"}', credential), "POST", "/v1/orgs", credential))
            question = b'{"principal":"alpha/reader","permission":"a.b.c","organization":"alpha"}'
            sent.append((raw(replica, "POST", "/v1/authorize?consistency=stale", question, credential), "POST", "/v1/authorize", credential))
        sent.append((raw(replica, "POST", "/v1/orgs", b'{"name":"' + b"a" * 70000 + b'"}', bearer), "POST", "/v1/orgs", "huge"))
        sent.append((raw(replica, "POST", "/v1/orgs", b'{"name":"x"}', bearer, {"X-Request-ID": "bad id"}), "POST", "/v1/orgs", "request id"))
    assert len(sent) >= 200
    for (status, payload), method, path, what in sent:
        assert 400 <= status < 500, f"{method} {path} {what!r} answered {status}: {payload[:200]!r}"
        assert "code" in json.loads(payload), f"{method} {path} {what!r} has no problem code"
    after = cluster.converged()[0]
    assert after == before, "an invalid request changed the state"


def test_bodies_are_bounded_on_every_route(cluster):
    """Outside review, finding 12: routes without a body read and discarded bodies of any size.
    A declared length over the limit is answered 413 before a byte of the body arrives; a
    chunked body is cut off at the limit, closing the connection."""
    import socket
    replica = cluster.replicas[0]
    with socket.create_connection(("127.0.0.1", replica.api_port), timeout=10) as sock:
        sock.sendall(f"GET /v1/cluster HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.token}\r\n"
                     "Content-Length: 10000000\r\n\r\n".encode())
        answer = b""
        while b"body_too_large" not in answer:  # answered at once, without a byte of the body sent
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
        assert b"Connection: close" in answer
        try:  # the body sent anyway is not read past the limit: the connection closes
            for _ in range(200):
                sock.sendall(b"x" * 0x10000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        else:
            raise AssertionError("the server read a declared body far past its limit")
    with socket.create_connection(("127.0.0.1", replica.api_port), timeout=10) as sock:
        sock.sendall(f"GET /v1/cluster HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cluster.token}\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        sent = 0
        try:
            while sent < 10_000_000:
                sock.sendall(b"10000\r\n" + b"x" * 0x10000 + b"\r\n")
                sent += 0x10000
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sent < 10_000_000, "the server read a chunked body far past its limit"


def test_bad_tokens_are_refused_on_every_replica_and_change_nothing(cluster):
    """Malformed, truncated, tampered, oversized, expired, revoked, unknown-key, another
    issuer's, and attenuated-to-fail tokens, as bearer credentials and in authorize questions:
    each a 401 or 403 problem with a token code (never a 5xx), and nothing changes."""
    import time

    import biscuit_auth

    admin = cluster.replicas[0]
    admin.request("POST", "/v1/orgs", {"name": "bad"}, token=cluster.token)
    issued = admin.request("POST", "/v1/tokens", {"ttl_seconds": 600}, token=cluster.token)
    short = admin.request("POST", "/v1/tokens", {"ttl_seconds": 1}, token=cluster.token)
    revoked = admin.request("POST", "/v1/tokens", {"ttl_seconds": 600}, token=cluster.token)
    admin.request("POST", "/v1/tokens/revoke", {"token": revoked["token"]}, token=cluster.token)
    failing = admin.request("POST", "/v1/tokens", {"ttl_seconds": 600, "attenuation": ['check if resource("orgs/nowhere");']},
                            token=cluster.token)
    text = issued["token"]
    middle = len(text) // 2
    tampered = text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1:]

    def foreign(root_key_id):
        builder = biscuit_auth.BiscuitBuilder(
            'principal("system/admin"); principal_kind("user"); organization("system"); api_key("00"); issued_at(2026-01-01T00:00:00Z);'
            ' right("cluster", "*.*.*");')
        builder.set_root_key_id(root_key_id)
        return builder.build(biscuit_auth.KeyPair().private_key).to_base64()

    cases = {
        "malformed": ("!!!not base64!!!", "token_malformed"), "truncated": (text[:middle], "token_malformed"),
        "tampered": (tampered, None), "oversized": ("A" * 40000, None), "expired": (short["token"], "token_expired"),
        "revoked": (revoked["token"], "token_revoked"), "unknown key": (foreign(issued["root_key_id"] ^ 1), "token_unknown_key"),
        "another issuer": (foreign(issued["root_key_id"]), "token_invalid_signature"),
        "checks fail": (failing["token"], "token_checks_failed"),
    }
    time.sleep(1.5)  # `short` expires
    before = cluster.converged()[0]
    question = {"permission": "compute.instances.get", "organization": "bad"}
    for replica in cluster.replicas:
        for name, (token, code) in cases.items():
            for method, path, body in (("GET", "/v1/orgs", b""), ("POST", "/v1/orgs", b'{"name":"made-by-a-bad-token"}')):
                status, payload = raw(replica, method, path, body, f"Bearer {token}")
                assert status in (401, 403), f"{name} as bearer on {method} {path}: {status} {payload[:200]!r}"
                problem = json.loads(payload)
                if code and not (name == "checks fail" and method == "GET"):
                    assert problem["code"] == code, f"{name} on {method} {path}: {problem}"
            status, payload = raw(replica, "POST", "/v1/authorize", json.dumps(dict(question, token=token)).encode(), f"Bearer {cluster.token}")
            assert 400 <= status < 500 or (status == 200 and name == "checks fail"), f"{name} asked about: {status} {payload[:200]!r}"
            if status == 200:
                assert json.loads(payload)["reason"] == "tokenChecksFailed"
            elif code and code != "token_checks_failed":
                assert json.loads(payload)["code"] == code, f"{name} asked about: {payload[:200]!r}"
    after = cluster.converged()[0]
    assert after == before, "a bad token changed the state"
