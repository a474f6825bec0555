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
    assert hashes[0]["audit_sequence"] >= 6  # bootstrap (3) + these writes (3)


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
