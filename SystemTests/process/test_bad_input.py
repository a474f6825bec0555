"""Generated invalid requests against a real replica: each is answered 4xx with a problem code,
none is a 5xx, and the state hash (every table, the audit log included) does not change."""

import json
import urllib.request

from harness import HTTPError

ROUTES = [
    ("POST", "/v1/orgs"), ("PATCH", "/v1/orgs/alpha"), ("POST", "/v1/orgs/alpha/projects"), ("POST", "/v1/orgs/alpha/principals"),
    ("POST", "/v1/orgs/alpha/roles"), ("PUT", "/v1/orgs/alpha/roles/reader"), ("POST", "/v1/orgs/alpha/bindings"),
    ("POST", "/v1/authorize"), ("POST", "/v1/authorize?consistency=stale"), ("POST", "/v1/cluster/members"),
    ("POST", "/v1/cluster/leader"),
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
LISTINGS = ["/v1/orgs", "/v1/orgs/alpha/projects", "/v1/orgs/alpha/principals", "/v1/orgs/alpha/roles", "/v1/orgs/alpha/bindings", "/v1/audit"]
PATHS = [
    ("GET", "/v1/orgs/UPPER"), ("GET", "/v1/orgs/ghost"), ("DELETE", "/v1/orgs/ghost"), ("DELETE", "/v1/orgs/alpha/projects/ghost"),
    ("DELETE", "/v1/orgs/alpha/principals/ghost"), ("POST", "/v1/orgs/alpha/principals/ghost/keys"),
    ("DELETE", "/v1/orgs/alpha/roles/ghost"), ("DELETE", "/v1/orgs/alpha/bindings/nothex"), ("GET", "/v1/nothing"),
    ("DELETE", "/v1/orgs/alpha?force=maybe"), ("GET", "/v1/orgs/" + "a" * 70), ("TRACE", "/v1/orgs"), ("PUT", "/v1/orgs"),
    ("GET", "/v1/keys/rotate"),
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
