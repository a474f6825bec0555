"""TLS between the replicas and towards clients, on real replicas: encrypted peer links, peers
refused when their certificate does not name them, and certificates renewed under load."""

import hashlib
import hmac
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness import HTTPError, binary, eventually

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "faults"))
from proxy import Proxies  # noqa: E402


def frame(kind, payload):
    """A peer frame: [length u32 big-endian][version 1][kind][payload]."""
    return struct.pack(">IBB", len(payload) + 2, 1, kind) + payload


def read_frame(sock):
    """The next peer frame's kind and payload; None when the connection closed."""
    def exactly(count):
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return data
    head = exactly(6)
    if head is None:
        return None
    length, _version, kind = struct.unpack(">IBB", head)
    payload = exactly(length - 2)
    return None if payload is None else (kind, payload)


def handshake_as(replica, claimed_id, secret, certificate, key, authority):
    """Dials `replica`'s peer port over TLS presenting `certificate`, and runs the peer handshake
    claiming to be replica `claimed_id` with the real cluster secret. Returns the socket once
    this side's proof is sent (the replica decides on it next)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(authority)
    context.load_cert_chain(certificate, key)
    sock = context.wrap_socket(socket.create_connection((replica.host, replica.peer_port), timeout=5))
    nonce = os.urandom(32)
    sock.sendall(frame(1, struct.pack("<Q", claimed_id) + nonce))
    hello = read_frame(sock)
    assert hello is not None and hello[0] == 1, "the replica says hello first"
    their_id, their_nonce = struct.unpack("<Q", hello[1][:8])[0], hello[1][8:]
    assert their_id == replica.id
    message = b"rampart-peer-v1" + their_nonce + nonce + struct.pack("<Q", claimed_id) + struct.pack("<Q", their_id)
    sock.sendall(frame(2, hmac.new(secret, message, hashlib.sha256).digest()))
    return sock


def closed_by_peer(sock, within=5.0):
    """Whether the other side closes the connection within `within` seconds (a read that times
    out means it is still open)."""
    sock.settimeout(within)
    try:
        while True:
            received = read_frame(sock)
            if received is None:
                return True
    except socket.timeout:
        return False
    except (ssl.SSLError, ConnectionError):
        return True


def test_a_replica_presenting_another_replicas_certificate_is_refused_and_the_cluster_keeps_committing(make_cluster, tmp_path):
    cluster = make_cluster(tls=True)
    cluster.start()
    one = cluster.replicas[0]
    secret = cluster.secret_path.read_bytes().strip()
    certs = cluster.certs
    authority = str(certs / "ca.pem")
    replica_2 = (str(certs / "replica-2.pem"), str(certs / "replica-2-key.pem"))
    assert one.metric("rampart_peer_identity_refused_total") == 0

    # The control: replica 2's certificate, claiming to be replica 2, with the secret, is accepted.
    honest = handshake_as(one, 2, secret, *replica_2, authority)
    assert not closed_by_peer(honest, within=1.5), "a peer whose certificate names it stays connected"
    honest.close()

    # Replica 2's certificate (valid, from the cluster's CA) and the secret, claiming to be
    # replica 3: refused, and the log says why.
    impostor = handshake_as(one, 3, secret, *replica_2, authority)
    assert closed_by_peer(impostor), "the impostor's connection is closed"
    eventually(lambda: one.metric("rampart_peer_identity_refused_total") >= 1, message="an identity refusal counted")
    log = one.log_path.read_text(errors="replace")
    refusals = [line for line in log.splitlines() if "does not name the replica it claims to be" in line]
    assert refusals and "claimed=3" in refusals[-1] and "rampart://rampart/replicas/2, not rampart://rampart/replicas/3" in refusals[-1], refusals

    # A replica certificate from another CA: the TLS handshake is refused, and logged.
    subprocess.run([binary(), "certs", "init", "--dir", str(tmp_path / "other")], check=True, capture_output=True, timeout=60)
    subprocess.run([binary(), "certs", "issue", "--dir", str(tmp_path / "other"), "--replica", "3", "--host", "127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    failures_before = one.metric("rampart_peer_handshake_failures_total")
    with pytest.raises((ssl.SSLError, ConnectionError, AssertionError)):
        stranger = handshake_as(one, 3, secret, str(tmp_path / "other" / "replica-3.pem"), str(tmp_path / "other" / "replica-3-key.pem"),
                                authority)
        # TLS 1.3 may report the refusal of the client's certificate on the first read only.
        assert not closed_by_peer(stranger)
    eventually(lambda: one.metric("rampart_peer_handshake_failures_total") > failures_before, message="a refused TLS handshake")
    assert "CERTIFICATE_VERIFY_FAILED" in one.log_path.read_text(errors="replace")

    # The cluster kept committing, on every replica.
    for replica in cluster.replicas:
        cluster.create_organization(replica)
    cluster.converged()


def test_the_peer_port_carries_no_readable_name(make_cluster):
    """A capture of everything the peers send each other, relayed through a proxy, during writes
    with a known name: with TLS it never appears; without (the control) it does."""
    needle = b"capture-needle-7f3a9c"
    for tls in (False, True):
        cluster = make_cluster(tls=tls)
        proxies = Proxies({r.id: (r.host, r.peer_port) for r in cluster.replicas}, capture=True)
        try:
            cluster.route_peers(lambda i, j: proxies.address(i, j))
            cluster.start()
            leader = cluster.leader()
            organization = needle.decode()
            leader.request("POST", "/v1/orgs", {"name": organization}, token=cluster.token)
            leader.request("POST", f"/v1/orgs/{organization}/principals", {"name": f"{organization}-svc", "kind": "service_account"},
                           token=cluster.token)
            cluster.converged()
            captured = proxies.captured()
            assert len(captured) > 2_000, f"the capture holds the peer traffic ({len(captured)} bytes)"
            if tls:
                assert needle not in captured, "a name crossed the peer port in the clear"
            else:
                assert needle in captured, "the control: without TLS the name is on the wire, so the check can see it"
        finally:
            cluster.stop()
            proxies.close()


def test_certificates_renewed_on_every_replica_under_a_write_load_fail_no_request(make_cluster, tmp_path):
    cluster = make_cluster(tls=True, tls_reload_interval_seconds=1)
    cluster.start()
    certs = cluster.certs
    expiry = 'rampart_tls_certificate_expiry_timestamp_seconds{use="peer"}'
    before = {r.id: r.metric(expiry) for r in cluster.replicas}

    failures, successes, stop, lock = [], [0], threading.Event(), threading.Lock()

    def write_load(index):
        # New HTTPS connections (urllib) through every replica in turn, and creates through them.
        count = 0
        while not stop.is_set():
            replica = cluster.replicas[count % len(cluster.replicas)]
            count += 1
            try:
                replica.request("POST", "/v1/orgs", {"name": f"renew-{index}-{count}"}, token=cluster.token, timeout=10)
                with lock:
                    successes[0] += 1
            except Exception as error:  # every failure is a finding
                with lock:
                    failures.append(f"replica {replica.id}: {error!r}")

    threads = [threading.Thread(target=write_load, args=(index,), daemon=True) for index in range(4)]
    for thread in threads:
        thread.start()
    eventually(lambda: successes[0] >= 50, timeout=60, message="the write load running")

    # Renew every replica's certificate with the same CA (a longer life, so the metric moves),
    # then put the files in place: replica 1 is told by SIGHUP, the others notice the change.
    renew = tmp_path / "renew"
    renew.mkdir()
    shutil.copy(certs / "ca.pem", renew / "ca.pem")
    shutil.copy(certs / "ca-key.pem", renew / "ca-key.pem")
    for replica in cluster.replicas:
        subprocess.run([binary(), "certs", "issue", "--dir", str(renew), "--replica", str(replica.id), "--host", replica.host, "--host",
                        "localhost", "--days", "400"], check=True, capture_output=True, timeout=60)
        for name in (f"replica-{replica.id}-key.pem", f"replica-{replica.id}.pem"):
            os.replace(renew / name, certs / name)
    cluster.replicas[0].process.send_signal(signal.SIGHUP)
    for replica in cluster.replicas:
        eventually(lambda replica=replica: replica.metric(expiry) > before[replica.id] + 30 * 86_400, timeout=30,
                   message=f"replica {replica.id} serving its renewed certificate")
    # Each replica now serves the renewed certificate to new API connections.
    for replica in cluster.replicas:
        with socket.create_connection((replica.host, replica.api_port), timeout=5) as raw:
            with cluster.ssl_context.wrap_socket(raw, server_hostname=replica.host) as tls:
                served = tls.getpeercert(binary_form=True)
        renewed = ssl.PEM_cert_to_DER_cert((certs / f"replica-{replica.id}.pem").read_text())
        assert served == renewed, f"replica {replica.id} serves its renewed certificate"
    done = successes[0]
    eventually(lambda: successes[0] >= done + 100, timeout=60, message="more writes after the renewal")
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, f"{len(failures)} failed requests during the renewal, first: {failures[:3]}"
    hashes = cluster.converged()
    assert hashes[0]["revision"] >= successes[0]
    print(f"certificate renewal under load: {successes[0]} writes, 0 failed")
    # New peer connections, both ways, use the renewed certificates: a restarted replica rejoins
    # and catches up.
    cluster.replicas[2].kill()
    cluster.replicas[2].start()
    cluster.create_organization(cluster.replicas[0])
    cluster.converged()


def https(replica, method, path, certificate=None, context=None, body=None, headers=None):
    """One request over a new HTTPS connection trusting the cluster's CA, presenting
    `certificate` ((cert file, key file)) if given; returns (status, parsed body)."""
    if context is None:
        context = ssl.create_default_context(cafile=str(replica.cluster.certs / "ca.pem"))
        if certificate:
            context.load_cert_chain(*certificate)
    import http.client
    import json
    connection = http.client.HTTPSConnection(replica.host, replica.api_port, context=context, timeout=10)
    try:
        connection.request(method, path, None if body is None else json.dumps(body), {"Content-Type": "application/json", **(headers or {})})
        answer = connection.getresponse()
        text = answer.read()
        is_json = "json" in (answer.getheader("Content-Type") or "")
        return answer.status, json.loads(text) if text and is_json else text
    finally:
        connection.close()


def expired_client_certificate(certs, directory, principal):
    """A client certificate naming `principal`, signed by the cluster's CA, that expired
    yesterday (made with the `cryptography` package: `rampart certs` never backdates)."""
    return dated_certificate(certs, directory, f"rampart://rampart/principals/{principal}", days_from=-10, days_to=-1, name="stale")


def dated_certificate(certs, directory, uri, days_from, days_to, name, hosts=()):
    """A certificate naming `uri` (and `hosts`), signed by the cluster's CA, valid from `days_from`
    to `days_to` days from now; returns (certificate file, key file)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    authority_key = serialization.load_pem_private_key((certs / "ca-key.pem").read_bytes(), None)
    authority = x509.load_pem_x509_certificate((certs / "ca.pem").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    import ipaddress
    names = [x509.UniformResourceIdentifier(uri), *(x509.IPAddress(ipaddress.ip_address(host)) for host in hosts)]
    certificate = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(authority.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now + datetime.timedelta(days=days_from)).not_valid_after(now + datetime.timedelta(days=days_to))
                   .add_extension(x509.SubjectAlternativeName(names), critical=False)
                   .sign(authority_key, hashes.SHA256()))
    paths = (directory / f"{name}.pem", directory / f"{name}-key.pem")
    paths[0].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return tuple(str(p) for p in paths)


def test_client_certificates_naming_a_principal_authenticate_and_can_be_revoked(make_cluster, tmp_path):
    cluster = make_cluster(tls=True, api_client_certificates="optional")
    cluster.start()
    leader = cluster.leader()
    token = cluster.token
    leader.request("POST", "/v1/orgs", {"name": "certs"}, token=token)
    leader.request("POST", "/v1/orgs", {"name": "elsewhere"}, token=token)
    leader.request("POST", "/v1/orgs/certs/projects", {"name": "web"}, token=token)
    leader.request("POST", "/v1/orgs/certs/principals", {"name": "deployer", "kind": "service_account"}, token=token)
    bound = leader.request("POST", "/v1/orgs/certs/bindings", {"principal": "deployer", "role": "org.viewer"}, token=token)
    certs = cluster.certs

    def issue(*arguments):
        subprocess.run([binary(), "certs", "issue", "--dir", str(certs), *arguments], check=True, capture_output=True, timeout=60)

    issue("--client", "deployer", "--principal", "certs/deployer")
    issue("--client", "ops")
    issue("--client", "ghost", "--principal", "certs/ghost")
    deployer = (str(certs / "client-deployer.pem"), str(certs / "client-deployer-key.pem"))
    read = f"/v1/orgs/certs/projects?consistency=stale&min_revision={bound['revision']}"

    # The certificate authenticates as certs/deployer on every replica: it reads its organization,
    # not another one, and cannot write.
    for replica in cluster.replicas:
        status, listed = https(replica, "GET", read, deployer)
        assert status == 200 and [p["name"] for p in listed["items"]] == ["web"], (status, listed)
        assert https(replica, "GET", "/v1/orgs/elsewhere", deployer)[0] == 403
    assert https(leader, "POST", "/v1/orgs/certs/projects", deployer, body={"name": "nope"})[0] == 403
    # The CLI with --cert/--key and no API key.
    environment = {"PATH": "/usr/bin:/bin"}
    listed = subprocess.run([binary(), "projects", "list", "--org", "certs", "--endpoints", leader.endpoint, "--cacert", str(certs / "ca.pem"),
                             "--cert", deployer[0], "--key", deployer[1], "--output", "json"], capture_output=True, text=True, timeout=60,
                            env=environment)
    assert listed.returncode == 0 and "web" in listed.stdout, listed.stderr
    # A bearer credential takes precedence over the certificate.
    assert https(leader, "GET", "/v1/orgs/elsewhere", deployer, headers={"Authorization": f"Bearer {token}"})[0] == 200
    # A token cannot be asked for with a certificate: tokens are issued to API keys.
    assert https(leader, "POST", "/v1/tokens", deployer, body={"ttl_seconds": 60})[0] == 403

    # The identity field cannot be forged: without a certificate, or with one, what a client
    # sends in its name is removed.
    forged = {"rampart-client-certificate": "ok system/admin 0 00"}
    status, problem = https(leader, "GET", "/v1/orgs/elsewhere", headers=forged)
    assert status == 401 and "client certificate" in problem["detail"], problem
    assert https(leader, "GET", "/v1/orgs/elsewhere", deployer, headers=forged)[0] == 403
    # A certificate that names no principal, or one that does not exist: 401, saying why.
    status, problem = https(leader, "GET", read, (str(certs / "client-ops.pem"), str(certs / "client-ops-key.pem")))
    assert status == 401 and "names no principal" in problem["detail"], problem
    status, problem = https(leader, "GET", read, (str(certs / "client-ghost.pem"), str(certs / "client-ghost-key.pem")))
    assert status == 401 and "does not exist" in problem["detail"], problem
    # Another CA's certificate, or an expired one from the cluster's CA: refused by TLS.
    subprocess.run([binary(), "certs", "init", "--dir", str(tmp_path / "other")], check=True, capture_output=True, timeout=60)
    subprocess.run([binary(), "certs", "issue", "--dir", str(tmp_path / "other"), "--client", "deployer", "--principal", "certs/deployer"],
                   check=True, capture_output=True, timeout=60)
    foreign = (str(tmp_path / "other" / "client-deployer.pem"), str(tmp_path / "other" / "client-deployer-key.pem"))
    for refused in (foreign, expired_client_certificate(certs, tmp_path, "certs/deployer")):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            https(leader, "GET", read, refused)

    # Revoked with the CLI (an org admin's API key would do; here the administrator's): refused everywhere.
    import json
    revoking = subprocess.run([binary(), "tokens", "revoke", "--certificate", deployer[0], "--reason", "laptop lost", "--endpoints",
                               leader.endpoint, "--cacert", str(certs / "ca.pem"), "--output", "json"], capture_output=True, text=True,
                              timeout=60, env={"PATH": "/usr/bin:/bin", "RAMPART_API_KEY_FILE": str(cluster.root / "admin.key")})
    assert revoking.returncode == 0, revoking.stderr
    revoked = json.loads(revoking.stdout)
    for replica in cluster.replicas:
        replica.request("GET", f"/v1/orgs/certs?consistency=stale&min_revision={revoked['revision']}", token=token)
        status, problem = https(replica, "GET", read, deployer)
        assert status == 401 and "revoked" in problem["detail"] and "laptop lost" in problem["detail"], problem
    # Bad revocations change nothing.
    for body in ({"certificate": "not a certificate"}, {"certificate": (certs / "client-ops.pem").read_text(), "principal": "certs/deployer"}):
        with pytest.raises(HTTPError) as refused:
            leader.request("POST", "/v1/tokens/revoke", body, token=token)
        assert refused.value.status == 400


def test_required_client_certificates_refuse_a_connection_without_one(make_cluster):
    cluster = make_cluster(size=1, tls=True, api_client_certificates="required")
    for replica in cluster.replicas:
        replica.start()
    replica = cluster.replicas[0]
    subprocess.run([binary(), "certs", "issue", "--dir", str(cluster.certs), "--client", "ops"], check=True, capture_output=True, timeout=60)
    with_certificate = (str(cluster.certs / "client-ops.pem"), str(cluster.certs / "client-ops-key.pem"))
    eventually(lambda: https(replica, "GET", "/healthz", with_certificate)[0] == 200, message="the replica serving")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        https(replica, "GET", "/healthz")


def curl(replica, method, path, *options, body=None):
    """A request with curl over HTTPS trusting the cluster's CA; returns (HTTP version, status,
    body text). curl is part of the test tools (scripts/test installs it)."""
    import json
    command = ["curl", "-sS", "--cacert", str(replica.cluster.certs / "ca.pem"), "-X", method, "-o", "-", "-w", "\n%{http_version} %{http_code}",
               *options, f"https://{replica.host}:{replica.api_port}{path}"]
    if body is not None:
        command += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    text, _, tail = result.stdout.rpartition("\n")
    version, status = tail.split()
    return version, int(status), text


def test_http2_by_alpn_serves_the_api_and_http1_still_takes_the_fast_path(make_cluster):
    cluster = make_cluster(tls=True, api_http2=True, api_client_certificates="optional")
    cluster.start()
    leader = cluster.leader()
    token = cluster.token
    bearer = ["-H", f"Authorization: Bearer {token}"]
    leader.request("POST", "/v1/orgs", {"name": "h2"}, token=token)
    leader.request("POST", "/v1/orgs/h2/projects", {"name": "web"}, token=token)
    leader.request("POST", "/v1/orgs/h2/principals", {"name": "dev", "kind": "user"}, token=token)
    bound = leader.request("POST", "/v1/orgs/h2/bindings", {"principal": "dev", "role": "project.admin", "project": "web"}, token=token)
    question = {"principal": "h2/dev", "permission": "compute.instances.create", "organization": "h2", "project": "web"}
    for replica in cluster.replicas:
        version, status, text = curl(replica, "POST", f"/v1/authorize?consistency=stale&min_revision={bound['revision']}", "--http2", *bearer,
                                     body=question)
        assert (version, status) == ("2", 200) and '"allowed":true' in text, (version, status, text)
        version, status, _ = curl(replica, "POST", "/v1/orgs/h2/projects", "--http2", *bearer, body={"name": f"over-h2-{replica.id}"})
        assert (version, status) == ("2", 201)
        # HTTP/1.1 clients are served as before (the fast path answers authorize).
        version, status, text = curl(replica, "POST", "/v1/authorize?consistency=stale", "--http1.1", *bearer, body=question)
        assert (version, status) == ("1.1", 200) and '"allowed":true' in text
    # Client certificates over HTTP/2: the certificate authenticates, a forged field does not.
    subprocess.run([binary(), "certs", "issue", "--dir", str(cluster.certs), "--client", "dev", "--principal", "h2/dev"], check=True,
                   capture_output=True, timeout=60)
    certificate = ["--cert", str(cluster.certs / "client-dev.pem"), "--key", str(cluster.certs / "client-dev-key.pem")]
    version, status, text = curl(leader, "GET", "/v1/orgs/h2/projects/web", "--http2", *certificate)
    assert (version, status) == ("2", 200) and "web" in text, text
    version, status, text = curl(leader, "GET", "/v1/orgs/h2/projects", "--http2", *certificate)
    assert (version, status) == ("2", 403), "dev is an admin of one project, not of the organization"
    version, status, text = curl(leader, "GET", "/v1/orgs/h2/projects", "--http2", *certificate, "-H",
                                 "rampart-client-certificate: ok system/admin 0 00")
    assert (version, status) == ("2", 403), "a forged field next to a certificate changes nothing"
    version, status, text = curl(leader, "GET", "/v1/orgs/h2/projects/web", "--http2", "-H", "rampart-client-certificate: ok system/admin 0 00")
    assert (version, status) == ("2", 401), text
    # Bad input over HTTP/2 gets the same clear errors.
    version, status, text = curl(leader, "POST", "/v1/orgs", "--http2", *bearer, "-H", "Content-Type: application/json", "--data", "{not json")
    assert (version, status) == ("2", 400) and '"code"' in text, text
    cluster.converged()


def test_a_replica_with_an_expired_or_not_yet_valid_certificate_refuses_to_start_naming_the_file(make_cluster, tmp_path):
    import json
    cluster = make_cluster(tls=True)
    replica = cluster.replicas[0]
    for name, days_from, days_to, expected in (("expired", -10, -1, "expired"), ("future", 1, 10, "valid from")):
        certificate, key = dated_certificate(cluster.certs, tmp_path, "rampart://rampart/replicas/1", days_from, days_to, name,
                                             hosts=["127.0.0.1"])
        config = json.loads(replica.config_path.read_text())
        config.update(tls_cert_file=certificate, tls_key_file=key, data_directory=str(tmp_path / f"data-{name}"))
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(config))
        refused = subprocess.run([binary(), "server", "--config", str(path)], capture_output=True, text=True, timeout=30)
        assert refused.returncode != 0 and f"tls_cert_file {certificate}" in refused.stderr and expected in refused.stderr, refused.stderr[-500:]
        assert not (tmp_path / f"data-{name}").exists(), "nothing was created"


def test_sighup_reloads_the_certificates_and_never_ends_a_replica(make_cluster):
    """With tls_reload_interval_seconds 0 only SIGHUP reloads; without TLS, SIGHUP is ignored."""
    secure = make_cluster(tls=True, tls_reload_interval_seconds=0)
    secure.start()
    plain = make_cluster()
    plain.start()
    for replica in (secure.replicas[0], plain.replicas[0]):
        replica.process.send_signal(signal.SIGHUP)
    eventually(lambda: secure.replicas[0].metric("rampart_tls_reloads_total") == 1, message="the reload on SIGHUP")
    assert "reloaded the TLS certificates" in secure.replicas[0].log_path.read_text() and "SIGHUP" in secure.replicas[0].log_path.read_text()
    assert all(r.metric("rampart_tls_reloads_total") == 0 for r in secure.replicas[1:]), "only the signalled replica reloaded"
    for cluster in (secure, plain):
        assert all(r.running() for r in cluster.replicas), "SIGHUP ended no replica"
        cluster.create_organization(cluster.replicas[0])
