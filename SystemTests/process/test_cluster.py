"""Real replicas on loopback: crashes, restarts, catch-up by snapshot, graceful stop."""

import signal
import subprocess
import time

import pytest

from harness import HTTPError, binary, eventually


def write_until_acknowledged(cluster, replicas, deadline_seconds=30):
    """Writes through the given replicas in turn until one write is acknowledged."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        for replica in replicas:
            try:
                return cluster.create_organization(replica, timeout=5)
            except (HTTPError, OSError):
                continue
    raise AssertionError("no write was acknowledged")


def test_writes_through_every_replica_reach_every_replica(cluster):
    revisions = [cluster.create_organization(replica)["revision"] for replica in cluster.replicas]
    assert revisions == sorted(revisions) and len(set(revisions)) == 3
    hashes = cluster.converged()
    assert hashes[0]["revision"] >= revisions[-1]
    assert hashes[0]["audit_sequence"] >= 4  # the bootstrap (1) + these writes (3)


def test_kill_leader_then_new_leader_accepts_writes_and_old_leader_catches_up(cluster):
    cluster.create_organization(cluster.replicas[0])
    old = cluster.leader()
    old_term = old.status()["term"]
    old.kill()
    survivors = cluster.running()
    acknowledged = write_until_acknowledged(cluster, survivors)
    new = cluster.leader()
    assert new.id != old.id
    assert new.status()["term"] > old_term
    # The old leader restarts from its data directory and catches up.
    old.start()
    eventually(lambda: old.status()["applied_index"] >= acknowledged["revision"], message="the old leader catching up")
    hashes = cluster.converged()
    assert len(hashes) == 3


def test_replica_kept_down_past_compaction_catches_up_by_snapshot(make_cluster):
    cluster = make_cluster(snapshot_interval=20)
    cluster.start()
    leader = cluster.leader()
    lagging = next(r for r in cluster.replicas if r.id != leader.id)
    lagging.kill()
    for _ in range(60):
        cluster.create_organization(leader)
    # Snapshots are copied in the background; the log is compacted once the copy is in place.
    eventually(lambda: leader.status()["snapshot_index"] >= 40, message="the leader to compact past the lagging replica")
    lagging.start()
    cluster.converged()
    assert lagging.metric("rampart_snapshots_installed_total") >= 1
    assert leader.metric("rampart_snapshots_sent_total") >= 1


def test_sigterm_on_the_leader_hands_leadership_over_and_exits_cleanly(cluster):
    leader = cluster.leader()
    term = leader.status()["term"]
    assert leader.terminate() == 0
    successor = cluster.leader()
    assert successor.id != leader.id
    # A transfer costs one election (term + 1); no election timeout is needed.
    assert successor.status()["term"] == term + 1
    cluster.create_organization(successor)


def test_kill_all_and_restart_keeps_every_acknowledged_write(cluster):
    names = [cluster.create_organization(r)["name"] for r in cluster.replicas for _ in range(3)]
    before = cluster.converged()[0]
    for replica in cluster.replicas:
        replica.kill()
    for replica in cluster.replicas:
        replica.start()
    cluster.leader()
    after = cluster.converged()[0]
    assert after["revision"] >= before["revision"]
    # The state before the crash is intact: writing the same names again is refused.
    for name in names[:3]:
        with pytest.raises(HTTPError) as refused:
            cluster.create_organization(cluster.replicas[0], name=name)
        assert refused.value.status == 409


def test_peer_with_another_cluster_secret_is_refused(make_cluster, tmp_path):
    cluster = make_cluster()
    cluster.start()
    leader = cluster.leader()
    intruder = cluster.replicas[0]
    # Restart one replica with a different secret: it cannot talk to the others.
    intruder.kill()
    other_secret = tmp_path / "other.secret"
    other_secret.write_text("f" * 64)
    config = intruder.config_path.read_text().replace(str(cluster.secret_path), str(other_secret))
    intruder.config_path.write_text(config)
    intruder.start()
    healthy = [r for r in cluster.replicas if r.id != intruder.id]
    eventually(lambda: sum(r.metric("rampart_peer_handshake_failures_total") for r in healthy) >= 1, message="a refused handshake")
    # Its peers can refuse it before its API listens: wait for the API, not for a fixed time.
    eventually(lambda: intruder.request("GET", "/healthz", timeout=2), message="the intruder's API serving")
    assert intruder.status()["role"] != "leader"
    assert any("refused a peer connection" in r.log_path.read_text() for r in healthy), "refusals are logged"
    cluster.create_organization(healthy[0])  # the majority still serves


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--replica-id", "0"], "invalid replica_id"),
        (["--peer-listen", "nowhere"], "expected host:port"),
        (["--initial-cluster", "2,3"], "founds a cluster it is not part of"),
        (["--log-level", "loud"], "invalid log_level"),
    ],
)
def test_bad_configuration_is_refused_with_a_clear_error(cluster, flags, message):
    replica = cluster.replicas[0]
    result = subprocess.run(
        [binary(), "server", "--config", str(replica.config_path), *flags], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert message in result.stderr


def test_second_bootstrap_is_refused(cluster):
    result = subprocess.run(
        [binary(), "bootstrap", "--endpoints", cluster.replicas[1].endpoint, "--cluster-secret-file", str(cluster.secret_path),
         "--admin-key-file", str(cluster.root / "second.key"), "--wait", "5"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "already_bootstrapped" in result.stderr
    assert not (cluster.root / "second.key").exists()


def test_replica_whose_api_cannot_listen_exits_with_the_error(make_cluster):
    """A replica whose API port is taken stops and exits non-zero with the bind error, instead
    of running on in the cluster without its API."""
    import socket
    cluster = make_cluster()
    taken = cluster.replicas[2]
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", taken.api_port))
        for replica in cluster.replicas:
            replica.start()
        eventually(lambda: not taken.running(), timeout=30, message="the replica without its API exiting")
    assert taken.process.returncode != 0
    assert "Address already in use" in taken.log_path.read_text()
    assert all(r.running() for r in cluster.replicas[:2])


def test_membership_changes_are_validated(make_cluster):
    """A learner needs a peer address every replica knows, and a learner that never caught up
    is promoted only when the operator forces it (a typo would otherwise cost fault tolerance)."""
    from harness import free_port
    cluster = make_cluster(extra_peers={4: f"127.0.0.1:{free_port()}"})
    cluster.start()
    replica = cluster.replicas[1]
    members = lambda body: replica.request("POST", "/v1/cluster/members", body, token=cluster.token)
    before = replica.status()
    with pytest.raises(HTTPError) as refused:
        members({"action": "add_learner", "replica": 9})
    assert refused.value.status == 400 and "no peer address" in refused.value.body
    with pytest.raises(HTTPError) as refused:
        members({"action": "remove", "replica": 2, "force": True})
    assert refused.value.status == 400 and "force applies to promote only" in refused.value.body
    assert replica.status()["voters"] == before["voters"] and replica.status()["learners"] == []
    # Replica 4 has an address but never runs: it is a learner that acknowledged nothing.
    members({"action": "add_learner", "replica": 4})
    eventually(lambda: replica.status()["learners"] == [4], message="the learner to be added")
    with pytest.raises(HTTPError) as refused:
        members({"action": "promote", "replica": 4})
    assert refused.value.status == 409 and "has not caught up" in refused.value.body
    assert replica.status()["learners"] == [4]
    members({"action": "promote", "replica": 4, "force": True})
    eventually(lambda: sorted(replica.status()["voters"]) == [1, 2, 3, 4], message="the forced promotion")
    assert any("forced promotion" in r.log_path.read_text() for r in cluster.replicas), "a forced promotion is logged"
    cluster.create_organization(replica)  # three of four voters still commit


def test_break_glass_makes_a_new_administrator_key_and_is_audited(cluster):
    """An operator holding the cluster secret who lost every administrator key gets a new one;
    the challenge it used cannot be replayed, and the audit log records it."""
    key_file = cluster.root / "break-glass.key"
    result = subprocess.run(
        [binary(), "bootstrap", "--break-glass", "--endpoints", cluster.replicas[2].endpoint, "--cluster-secret-file",
         str(cluster.secret_path), "--admin-key-file", str(key_file), "--wait", "10"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    token = key_file.read_text().strip()
    assert token != cluster.token
    replica = cluster.replicas[0]
    replica.request("POST", "/v1/orgs", {"name": "after-break-glass"}, token=token)
    records = replica.request("GET", "/v1/audit?action=cluster.break-glass&min_revision=1", token=token)["items"]
    assert len(records) == 1 and records[0]["actor"] == "-"
    with pytest.raises(HTTPError) as refused:  # a made-up proof on a made-up challenge
        replica.request("POST", "/v1/cluster/break-glass", headers={"Authorization": "Bootstrap " + "00" * 32 + "." + "00" * 32})
    assert refused.value.status == 401


def _raw_request(sock, path):
    """Sends a GET on an open socket and returns the answer's bytes (one small answer)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_api_connection_limits_keep_the_replica_responsive(make_cluster):
    """Outside review, finding 3: trickling and idle connections were never closed, and at the
    descriptor limit a replica refused everything and logged nothing. A request head must arrive
    in time; beyond the connection limit the replica stops accepting, says so, keeps serving
    the connections it has and its peers, and accepts again once one closes."""
    import socket
    cluster = make_cluster(api_max_connections=20, api_header_timeout_seconds=1)
    cluster.start()
    replica = cluster.replicas[0]
    slow = socket.create_connection(("127.0.0.1", replica.api_port))
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
    slow.settimeout(10)
    started = time.monotonic()
    assert slow.recv(100) == b"", "a head that does not arrive in time is closed"
    assert time.monotonic() - started < 5
    held = [socket.create_connection(("127.0.0.1", replica.api_port)) for _ in range(20)]
    for sock in held:
        sock.settimeout(10)
    eventually(lambda: b"rampart_api_connections 20" in _raw_request(held[0], "/metrics"), message="20 connections open")
    waiting = socket.create_connection(("127.0.0.1", replica.api_port))  # queued by the kernel, not accepted
    waiting.settimeout(1.5)
    waiting.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(socket.timeout):
        waiting.recv(100)
    metrics = _raw_request(held[1], "/metrics").decode()
    assert "rampart_api_connection_limit_reached_total 0" not in metrics
    assert "API connection limit reached" in replica.log_path.read_text()
    cluster.create_organization(cluster.replicas[1])  # the peers are unaffected
    for sock in held[:5]:
        sock.close()
    waiting.settimeout(10)
    assert b"200 OK" in waiting.recv(1000), "accepted once connections closed"
    for sock in held[5:] + [waiting, slow]:
        sock.close()


def test_cluster_status_and_health_show_every_endpoint(cluster):
    """`rampart cluster status` asks each endpoint on its own: one row per replica, the leader's
    view of each follower, failure tolerance, whether the state hashes agree; a replica that is
    down is its own row and the exit status says so. `cluster health` likewise."""
    import json

    endpoints = ",".join(r.endpoint for r in cluster.replicas)
    environment = {"RAMPART_API_KEY_FILE": str(cluster.root / "admin.key"), "RAMPART_ENDPOINTS": endpoints, "PATH": "/usr/bin:/bin"}

    def rampart(*arguments):
        return subprocess.run([binary(), *arguments], capture_output=True, text=True, timeout=60, env=environment)

    leader = cluster.leader()
    cluster.create_organization(leader)
    cluster.converged()
    shown = rampart("cluster", "status")
    assert shown.returncode == 0, shown.stderr
    table, _, members = shown.stdout.partition("\nMEMBER ")
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["ENDPOINT", "ID", "ROLE", "TERM"] and len(lines) == 5, shown.stdout
    assert all(len(line) <= 100 for line in lines[:4] + members.splitlines()), "the tables fit 100 columns"
    # Then the leader's members: each with its configured peer address.
    assert [line.split()[0] for line in members.splitlines()[1:]] == ["1", "2", "3"], shown.stdout
    assert all("configured" in line for line in members.splitlines()[1:]), shown.stdout
    assert sorted(line.split()[1] for line in lines[1:4]) == ["1", "2", "3"]
    built = json.loads(subprocess.run([binary(), "version", "-o", "json"], capture_output=True, text=True, check=True).stdout)
    assert lines[0].split()[-1] == "VERSION" and all(line.split()[-1] == built["version"] for line in lines[1:4]), shown.stdout
    assert f"leader {leader.id}" in lines[-1] and "3 voters (tolerates 1 failure)" in lines[-1] and "state hashes agree" in lines[-1], lines[-1]
    as_json = json.loads(rampart("cluster", "status", "--output", "json").stdout)
    leader_row = next(row for row in as_json if row["status"]["role"] == "leader")
    progress = leader_row["status"]["progress"]
    assert sorted(p["id"] for p in progress) == sorted(r.id for r in cluster.replicas if r.id != leader.id)
    assert all(p["voter"] and p["lag"] >= 0 and 0 <= p["last_contact_ms"] < 5000 for p in progress), progress
    assert leader_row["status"]["failure_tolerance"] == 1 and leader_row["state"]["state_hash"]
    healthy = rampart("cluster", "health")
    assert healthy.returncode == 0 and healthy.stdout.count("healthy, ready") == 3, healthy.stdout

    # A replica down: its row says so, the others still answer, and the exit status is 1.
    down = next(r for r in cluster.replicas if r.id != leader.id)
    down.kill()
    shown = rampart("cluster", "status")
    assert shown.returncode == 1
    assert any(line.startswith(down.endpoint.split("://")[1]) and "unreachable" in line for line in shown.stdout.splitlines()), shown.stdout
    assert any(line.startswith(f"leader {leader.id},") for line in shown.stdout.splitlines()), shown.stdout
    health = rampart("cluster", "health")
    assert health.returncode == 1 and health.stdout.count("healthy, ready") == 2 and f"{down.endpoint}: unreachable" in health.stdout


def test_metrics_include_the_process_and_the_build(cluster):
    import time as clock
    replica = cluster.replicas[0]
    text = replica.request("GET", "/metrics")
    import json
    built = json.loads(subprocess.run([binary(), "version", "--output", "json"], capture_output=True, text=True, check=True).stdout)
    assert f'rampart_build_info{{version="{built["version"]}",revision="{built["revision"]}",build_date="{built["build_date"]}"}} 1' in text
    assert len(built["revision"].removesuffix("-dirty")) == 40 and built["build_date"].endswith("Z"), built
    one_line = subprocess.run([binary(), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert one_line == f'rampart {built["version"]} (revision {built["revision"][:12]}{"-dirty" if built["revision"].endswith("-dirty") else ""}, built {built["build_date"]})'
    rss = replica.metric("process_resident_memory_bytes")
    assert 1 << 20 < rss < 4 << 30, rss
    assert abs(rss / 1024 - replica.rss_kib()) / (rss / 1024) < 0.5, "about what /proc says of the process"
    assert 10 < replica.metric("process_open_fds") < replica.metric("process_max_fds")
    started = replica.metric("process_start_time_seconds")
    assert clock.time() - 600 < started <= clock.time() + 1, started


def test_cluster_add_by_address_proves_the_replica_first(cluster):
    """`rampart cluster add --id N --peer-address` refuses, naming the address, a replica that
    does not run there, and changes nothing; given a running replica it joins with no restart,
    is promoted by the leader once caught up, shows in the members table, and `cluster remove`
    takes it and its address out again (it stops by itself)."""
    import json
    from harness import Replica, free_port

    endpoints = ",".join(r.endpoint for r in cluster.replicas)
    environment = {"RAMPART_API_KEY_FILE": str(cluster.root / "admin.key"), "RAMPART_ENDPOINTS": endpoints, "PATH": "/usr/bin:/bin"}

    def rampart(*arguments):
        return subprocess.run([binary(), *arguments], capture_output=True, text=True, timeout=60, env=environment)

    leader = cluster.leader()
    before = leader.status()
    audit_before = leader.request("GET", "/v1/audit?limit=1000", token=cluster.token)["items"]
    nowhere = f"127.0.0.1:{free_port()}"
    refused = rampart("cluster", "add", "--id", "4", "--peer-address", nowhere)
    assert refused.returncode == 1, refused
    assert f"cannot reach replica 4 at {nowhere}" in refused.stderr, refused.stderr
    for arguments, message in [(["--id", "4", "--peer-address", "not-an-address"], "peer address"),
                               (["--id", "4", "--peer-address", "127.0.0.1:99999"], "port"),
                               (["--id", "4", "--no-auto-promote"], "--no-auto-promote applies"),
                               (["4", "--id", "5", "--peer-address", nowhere], "two different replica ids"),
                               ([], "--id")]:
        answer = rampart("cluster", "add", *arguments)
        assert answer.returncode in (1, 64) and message in answer.stderr, (arguments, answer.stderr)
    after = leader.status()
    assert (after["voters"], after["learners"]) == (before["voters"], before["learners"])
    assert leader.request("GET", "/v1/audit?limit=1000", token=cluster.token)["items"] == audit_before, "nothing was written"

    # Replica 4 runs knowing no other replica (its peers: itself alone; no initial cluster):
    # it hears the leader that adds it, answers over the leader's connection, and learns every
    # member's address from the replicated book.
    joiner = Replica(cluster, 4)
    joiner.write_config()
    config = json.loads(joiner.config_path.read_text())
    del config["initial_cluster"]
    config["peers"] = {"4": f"{joiner.host}:{joiner.peer_port}"}
    joiner.config_path.write_text(json.dumps(config))
    joiner.start()
    try:
        eventually(lambda: joiner.request("GET", "/healthz", timeout=2), message="replica 4 serving")
        added = rampart("cluster", "add", "--id", "4", "--peer-address", f"{joiner.host}:{joiner.peer_port}")
        assert added.returncode == 0, added.stderr
        assert "has heard nothing" not in added.stderr, added.stderr
        # The founders were started with auto_promote_seconds at its default (10 s).
        eventually(lambda: sorted(cluster.leader().status()["voters"]) == [1, 2, 3, 4], timeout=40, message="replica 4 promoted")
        cluster.create_organization(joiner)
        shown = rampart("cluster", "status")
        members = shown.stdout[shown.stdout.index("MEMBER"):].splitlines()
        assert any(line.split()[:2] == ["4", "voter"] and f"{joiner.host}:{joiner.peer_port}" in line and "replicated" in line
                   for line in members), shown.stdout
        assert "4 voters (tolerates 1 failure)" in shown.stdout
        assert all(len(line) <= 100 for line in members)
        removed = rampart("cluster", "remove", "--id", "4")
        assert removed.returncode == 0, removed.stderr
        joiner.process.wait(timeout=30)
        status = cluster.leader().status()
        # The founders' configured addresses went to the book with the first member added by
        # address (that is how replica 4 learnt them), and stay there.
        assert sorted(status["voters"]) == [1, 2, 3] and [m["address_source"] for m in status["members"]] == ["replicated"] * 3
        assert "heard a peer with no address" in joiner.log_path.read_text(), "replica 4 was reached with no address of its own for the leader"
        actions = [r["action"] for r in cluster.leader().request("GET", "/v1/audit?limit=1000", token=cluster.token)["items"]]
        assert "cluster.peer-address.set" in actions and "cluster.peer-address.remove" in actions
    finally:
        if joiner.running():
            joiner.kill()


def test_the_grafana_dashboard_reads_only_metrics_a_replica_exports(make_cluster):
    """cluster/grafana-dashboard.json: every series a panel queries is one a replica (with TLS,
    for the certificate panel) exports, so the dashboard cannot go stale silently; and the
    requests by route and status count what was served."""
    import json
    import re
    from pathlib import Path

    cluster = make_cluster(tls=True)
    cluster.start()
    replica = cluster.leader()
    cluster.create_organization(replica)
    with pytest.raises(HTTPError):
        replica.request("GET", "/v1/orgs/no-such-org", token=cluster.token)
    text = replica.request("GET", "/metrics")
    exported = set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "cluster" / "grafana-dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queried = {re.sub(r"_(bucket|sum|count)$", "", name) for expr in expressions for name in re.findall(r"\b((?:rampart|process)_[a-z_]+)", expr)}
    assert len(queried) >= 15, queried
    assert queried <= exported, f"queried but not exported: {sorted(queried - exported)}"
    assert re.search(r'^rampart_http_requests_total\{route="POST /v1/orgs",status="201"\} [1-9]', text, re.MULTILINE), text
    assert re.search(r'^rampart_http_requests_total\{route="GET /v1/orgs/\{org\}",status="404"\} 1$', text, re.MULTILINE)


def test_debug_logs_never_hold_the_secrets(make_cluster):
    """At the debug level the service lifecycle logs each service's description: a replica's
    must not carry the cluster secret or the key-encryption key (it once printed both)."""
    cluster = make_cluster(log_level="debug")
    cluster.start()
    cluster.create_organization(cluster.leader())
    secret = cluster.secret_path.read_text().strip()
    kek = cluster.kek_path.read_text().strip()
    as_bytes = lambda text: ", ".join(str(b) for b in text.encode()[:8])
    for replica in cluster.replicas:
        log = replica.log_path.read_text(errors="replace")
        assert "Starting service" in log, "the debug level was on"
        for needle in (secret, kek, as_bytes(secret), "clusterSecret", "keyEncryptionKeyBytes"):
            assert needle not in log, f"replica {replica.id}'s debug log holds {needle[:12]}..."
