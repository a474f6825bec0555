"""The change stream with real processes: a watcher on each replica, across a kill -9 of the
leader, sees every acknowledged change exactly once and in order; the CLI's `rampart watch`; and
bad watches refused."""

import http.client
import json
import subprocess
import threading
import time

from harness import HTTPError, binary, eventually
from test_cluster import write_until_acknowledged


class Watcher(threading.Thread):
    """Follows `GET /v1/watch` from `first`, and when its replica goes away resumes on the next
    running one from the revision after the last line it read (as `rampart watch` does)."""

    def __init__(self, cluster, first, from_revision):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.order = [first] + [r for r in cluster.replicas if r is not first]
        self.next_revision = from_revision
        self.changes = []  # (revision, target) in the order received
        self.resumptions = 0
        self.stopping = threading.Event()

    def run(self):
        turn = 0
        while not self.stopping.is_set():
            replica = self.order[turn % len(self.order)]
            try:
                connection = http.client.HTTPConnection(replica.host, replica.api_port, timeout=15)
                connection.request("GET", f"/v1/watch?from_revision={self.next_revision}",
                                   headers={"Authorization": f"Bearer {self.cluster.token}"})
                response = connection.getresponse()
                if response.status != 200:
                    raise RuntimeError(f"{response.status} {response.read()[:200]}")
                for line in response:
                    event = json.loads(line)
                    if event["type"] == "change":
                        self.changes.append((event["revision"], event["target"]))
                    self.next_revision = event["revision"] + 1
                    if self.stopping.is_set():
                        break
            except (OSError, RuntimeError, http.client.HTTPException, ValueError):
                pass
            if not self.stopping.is_set():
                turn += 1
                self.resumptions += 1
                time.sleep(0.1)


def test_a_watcher_on_each_replica_sees_every_acknowledged_change_once_in_order_across_a_leader_kill(cluster):
    start = cluster.leader().status()["applied_index"] + 1
    watchers = [Watcher(cluster, replica, start) for replica in cluster.replicas]
    for watcher in watchers:
        watcher.start()
    acknowledged = []
    for round_number in range(40):
        acknowledged.append(write_until_acknowledged(cluster, cluster.replicas[round_number % 3:] + cluster.replicas[:round_number % 3]))
    leader = cluster.leader()
    leader.kill()
    for _ in range(40):
        acknowledged.append(write_until_acknowledged(cluster, cluster.running()))
    last = max(a["revision"] for a in acknowledged)
    for watcher in watchers:
        eventually(lambda watcher=watcher: watcher.changes and watcher.changes[-1][0] >= last, timeout=60,
                   message="every watcher reaching the last acknowledged revision")
        watcher.stopping.set()
    for watcher in watchers:
        revisions = [revision for revision, _ in watcher.changes]
        assert revisions == sorted(set(revisions)), "a change seen twice or out of order"
        seen = set(watcher.changes)
        missing = [a for a in acknowledged if (a["revision"], f"orgs/{a['name']}") not in seen]
        assert not missing, f"acknowledged changes never seen: {missing[:5]}"
    # The leader's watcher had to resume elsewhere, and lost nothing doing so.
    assert watchers[leader.id - 1].resumptions >= 1


def test_the_cli_prints_changes_and_bad_watches_are_refused(cluster):
    created = [cluster.create_organization(cluster.replicas[0]) for _ in range(3)]
    endpoints = ",".join(r.endpoint for r in cluster.replicas)
    key_file = cluster.root / "admin.key"
    result = subprocess.run(
        [binary(), "watch", "--endpoints", endpoints, "--api-key-file", str(key_file), "--from-revision", str(created[0]["revision"]),
         "--until-revision", str(created[-1]["revision"]), "-o", "json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["revision"], e["target"]) for e in lines] == [(c["revision"], f"orgs/{c['name']}") for c in created]
    assert all(e["action"] == "organization.create" and e["type"] == "change" for e in lines)

    replica = cluster.replicas[1]
    for query, message in [(f"from_revision={created[-1]['revision'] + 1000}", "is ahead of the cluster's revision"),
                           ("from_revision=0", "from_revision must be"), ("cursor=5", "unknown query parameter cursor")]:
        try:
            replica.request("GET", f"/v1/watch?{query}", token=cluster.token)
            raise AssertionError(f"{query} accepted")
        except HTTPError as error:
            assert error.status == 400 and message in error.body, (query, error.body)
    result = subprocess.run(
        [binary(), "watch", "--endpoints", endpoints, "--api-key-file", str(key_file), "--from-revision", "999999999"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "is ahead of the cluster's revision" in result.stderr, result.stderr
