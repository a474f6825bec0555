"""Backup and restore with real processes: `rampart snapshot save` from a live cluster under
writes, `inspect` offline, `restore` into a new cluster that serves the same state and goes on
from it; and every bad input refused, changing nothing."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import Cluster, HTTPError, binary, eventually

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from compare import wrk  # noqa: E402  (the one wrk runner, with SystemTests/bench's scripts)

#: The principals the round trip holds (the issue's proof asks for 100,000).
PRINCIPALS = int(os.environ.get("RAMPART_SNAPSHOT_PRINCIPALS", "100000"))


def rampart(*arguments, check=True, timeout=600):
    result = subprocess.run([binary(), *map(str, arguments)], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"rampart {' '.join(map(str, arguments))} exited {result.returncode}: {result.stderr}")
    return result


def save(cluster, file, endpoints, *extra, check=True):
    return rampart("snapshot", "save", file, "--endpoints", endpoints, "--api-key-file", cluster.root / "admin.key", "-o", "json",
                   "--timeout", "60", *extra, check=check)


def populate(cluster, leader, count):
    """Creates `count` principals in organization `bench` with wrk (64 connections, in rounds of
    10 s until enough were acknowledged); returns how many were."""
    leader.request("POST", "/v1/orgs", {"name": "bench"}, token=cluster.token)
    created = 0
    round_number = 0
    while created < count:
        round_number += 1
        result = wrk("rampart-create.lua", leader.endpoint, 64, 10, {"RAMPART_TOKEN": cluster.token, "BENCH_RUN": f"r{round_number}"})
        created += int(result["rate"] * 10) - result["failed"]
        assert round_number <= 60, f"only {created} principals after {round_number} rounds"
    return created


def restore_cluster(old, root, snapshot):
    """A new cluster (new secret, the old key-encryption key) seeded from `snapshot` on every
    replica, started without a bootstrap: its administrators are the snapshot's."""
    root.mkdir()
    new = Cluster(root, election_timeout_ticks=old.election_timeout_ticks)
    shutil.copyfile(old.kek_path, new.kek_path)
    voters = ",".join(str(r.id) for r in new.replicas)
    for replica in new.replicas:
        result = rampart("snapshot", "restore", snapshot, "--data-dir", replica.data, "--replica-id", replica.id, "--initial-cluster",
                         voters, "--cluster-secret-file", new.secret_path, "--key-encryption-key-file", new.kek_path, "-o", "json")
        assert json.loads(result.stdout)["replica_id"] == replica.id
    new.token = old.token
    for replica in new.replicas:
        replica.start()
    eventually(lambda: all(new.accepts_key(r) for r in new.replicas), timeout=60, message="the restored replicas serving the old admin key")
    return new


def test_save_under_writes_inspect_and_restore_a_new_cluster_with_the_same_state(make_cluster, tmp_path):
    # An election timeout of 1 s: three debug-built replicas, wrk and a save share two cores.
    old = make_cluster(election_timeout_ticks=50)
    old.start()
    leader = old.leader()
    started = time.monotonic()
    created = populate(old, leader, PRINCIPALS)
    print(f"\n{created} principals created in {time.monotonic() - started:.0f} s")
    follower = next(r for r in old.replicas if r.id != leader.id)

    # A save from a follower while writes go on through the leader: none of them fails.
    load = {}
    writer = threading.Thread(target=lambda: load.update(wrk("rampart-create.lua", leader.endpoint, 16, 8, {
        "RAMPART_TOKEN": old.token, "BENCH_RUN": "during", "RAMPART_CREATE": "org"})))
    writer.start()
    time.sleep(1)
    busy = tmp_path / "busy.snapshot"
    started = time.monotonic()
    saved = json.loads(save(old, busy, follower.endpoint).stdout)
    save_seconds = time.monotonic() - started
    writer.join()
    assert load["failed"] == 0 and load["rate"] > 0, load
    assert saved["bytes"] == busy.stat().st_size and saved["replica_id"] == follower.id
    inspected = json.loads(rampart("snapshot", "inspect", busy, "-o", "json").stdout)
    assert inspected["header"]["revision"] == saved["revision"]
    assert inspected["rows"]["principals"] >= PRINCIPALS
    print(f"saved {saved['bytes']} bytes at revision {saved['revision']} in {save_seconds:.1f} s under writes")

    # At rest, a save holds exactly the live state.
    quiet = old.converged()[0]
    rest = tmp_path / "rest.snapshot"
    header = json.loads(save(old, rest, ",".join(r.endpoint for r in old.replicas)).stdout)
    assert (header["revision"], header["state_hash"], header["audit_sequence"]) == (
        quiet["revision"], quiet["state_hash"], quiet["audit_sequence"])
    assert header["cluster_id"] == leader.status()["cluster_id"]

    started = time.monotonic()
    new = restore_cluster(old, tmp_path / "restored", rest)
    restore_seconds = time.monotonic() - started
    print(f"restored three replicas and served in {restore_seconds:.1f} s")
    # The same policy and audit log; the revision moved on by the new leader's no-op entry only.
    restored = new.converged(timeout=60)[0]
    assert (restored["state_hash"], restored["audit_head"], restored["audit_sequence"]) == (
        quiet["state_hash"], quiet["audit_head"], quiet["audit_sequence"])
    assert restored["revision"] > quiet["revision"]
    assert new.leader().status()["cluster_id"] not in (None, header["cluster_id"])
    # Same root keys: tokens the old cluster issued verify with the new cluster's key set.
    keys = new.replicas[0].request("GET", "/v1/keys")["items"]
    assert keys and keys == old.replicas[0].request("GET", "/v1/keys")["items"]
    # It goes on: a write at a later revision, chained onto the snapshot's audit head.
    written = new.create_organization(new.replicas[1])
    assert written["revision"] > header["revision"]
    after = new.converged()[0]
    assert after["audit_sequence"] == header["audit_sequence"] + 1
    endpoints = ",".join(r.endpoint for r in new.replicas)
    verify = rampart("audit", "verify", "--endpoints", endpoints, "--api-key-file", old.root / "admin.key")
    assert verify.stdout.count(f"{after['audit_sequence']} records, chain intact") == 3, verify.stdout
    new.stop()


def test_bad_snapshots_requests_and_restores_are_refused_and_change_nothing(cluster, tmp_path):
    for _ in range(3):
        cluster.create_organization(cluster.replicas[0])
    endpoint = cluster.replicas[1].endpoint
    good = tmp_path / "good.snapshot"
    save(cluster, good, endpoint)

    # Without the permission (an organization's administrator): 403, no file.
    org = cluster.create_organization(cluster.replicas[0])["name"]
    leader = cluster.replicas[0]
    leader.request("POST", f"/v1/orgs/{org}/principals", {"name": "ops", "kind": "user"}, token=cluster.token)
    leader.request("POST", f"/v1/orgs/{org}/bindings", {"principal": "ops", "role": "org.admin"}, token=cluster.token)
    key = leader.request("POST", f"/v1/orgs/{org}/principals/ops/keys", token=cluster.token)["token"]
    key_file = tmp_path / "ops.key"
    key_file.write_text(key)
    refused = tmp_path / "refused.snapshot"
    eventually(lambda: cluster.accepts_key(cluster.replicas[1]))
    result = rampart("snapshot", "save", refused, "--endpoints", endpoint, "--api-key-file", key_file, check=False)
    assert result.returncode == 1 and "403" in result.stderr, result.stderr
    assert not refused.exists() and not Path(str(refused) + ".partial").exists()
    # An existing file is kept unless --force; an unreachable cluster exits 69.
    result = save(cluster, good, endpoint, check=False)
    assert result.returncode == 1 and "exists" in result.stderr
    result = save(cluster, tmp_path / "nowhere.snapshot", "http://127.0.0.1:1", check=False)
    assert result.returncode == 69, result.stderr
    # An unknown query parameter is refused by the route.
    try:
        cluster.replicas[0].request("GET", "/v1/snapshot?bogus=1", token=cluster.token)
        raise AssertionError("accepted")
    except HTTPError as error:
        assert error.status == 400

    data = good.read_bytes()
    truncated = tmp_path / "truncated.snapshot"
    truncated.write_bytes(data[:len(data) // 2])
    result = rampart("snapshot", "inspect", truncated, check=False)
    assert result.returncode == 1 and f"the file ends at offset {len(data) // 2}" in result.stderr, result.stderr
    corrupted = tmp_path / "corrupted.snapshot"
    damaged = bytearray(data)
    damaged[-3000] ^= 0x40
    corrupted.write_bytes(bytes(damaged))
    result = rampart("snapshot", "inspect", corrupted, check=False)
    assert result.returncode == 1 and "damaged snapshot at offset" in result.stderr, result.stderr

    new_secret = tmp_path / "new.secret"
    new_secret.write_text(os.urandom(32).hex())
    os.chmod(new_secret, 0o600)

    def restore(directory, secret=new_secret, file=good, voters="1,2,3"):
        return rampart("snapshot", "restore", file, "--data-dir", directory, "--replica-id", "1", "--initial-cluster", voters,
                       "--cluster-secret-file", secret, "--key-encryption-key-file", cluster.kek_path, check=False)

    # Into a replica's data directory in use: refused, the directory untouched.
    used = cluster.replicas[2].data
    before = sorted(os.listdir(used))
    result = restore(used)
    assert result.returncode == 1 and "is not empty" in result.stderr, result.stderr
    assert sorted(os.listdir(used)) == before
    fresh = tmp_path / "fresh"
    for arguments, message in [({"secret": cluster.secret_path}, "needs a new secret"), ({"file": corrupted}, "damaged snapshot"),
                               ({"file": truncated}, "truncated snapshot")]:
        result = restore(fresh, **arguments)
        assert result.returncode == 1 and message in result.stderr, (arguments, result.stderr)
        assert not fresh.exists()
    result = restore(fresh, voters="1,x")
    assert result.returncode == 64 and "is not a replica id" in result.stderr, result.stderr
    assert not fresh.exists()
    # The cluster was not disturbed.
    cluster.converged()
