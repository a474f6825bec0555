"""How long a token revocation takes to be enforced everywhere, on a local 3-replica cluster:
from the moment `POST /v1/tokens/revoke` is acknowledged to the moment every replica refuses the
token (`POST /v1/authorize?consistency=stale` with it answers 401 token_revoked). Each replica
is polled by its own thread, as fast as it answers, from just before the revocation is sent.

    python3 SystemTests/bench/revocation_latency.py [--revocations 200]

Uses $RAMPART_BINARY (scripts/bench builds the release binary and sets it). Prints the
distribution of the enforcement time (p50, p90, p99, max) over the revocations, and how many
were enforced on some replica before the acknowledgement came back.
"""

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "process"))
from harness import Cluster  # noqa: E402


def refused(replica, admin, token):
    body = json.dumps({"token": token, "permission": "compute.instances.get", "organization": "latency"}).encode()
    request = urllib.request.Request(replica.endpoint + "/v1/authorize?consistency=stale", data=body, method="POST")
    request.add_header("Authorization", f"Bearer {admin}")
    try:
        with urllib.request.urlopen(request, timeout=5):
            return False
    except urllib.error.HTTPError as error:
        if error.code == 401 and json.loads(error.read())["code"] == "token_revoked":
            return True
        raise


def measure(cluster, revocations):
    leader = cluster.leader()
    leader.request("POST", "/v1/orgs", {"name": "latency"}, token=cluster.token)
    samples, early = [], 0
    for _ in range(revocations):
        token = leader.request("POST", "/v1/tokens", {"ttl_seconds": 600}, token=cluster.token)["token"]
        seen = {}
        start = threading.Event()

        def poll(replica):
            start.wait()
            while not refused(replica, cluster.token, token):
                pass
            seen[replica.id] = time.perf_counter()

        pollers = [threading.Thread(target=poll, args=(replica,)) for replica in cluster.replicas]
        for poller in pollers:
            poller.start()
        start.set()
        cluster.replicas[0].request("POST", "/v1/tokens/revoke", {"token": token}, token=cluster.token)
        acknowledged = time.perf_counter()
        for poller in pollers:
            poller.join(10)
        if len(seen) != len(cluster.replicas):
            raise AssertionError("a replica never refused the revoked token")
        samples.append(max(0.0, max(seen.values()) - acknowledged) * 1000)
        early += min(seen.values()) < acknowledged
    return sorted(samples), early


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--revocations", type=int, default=200)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        cluster = Cluster(Path(root), tick_milliseconds=50)
        cluster.start()
        try:
            samples, early = measure(cluster, arguments.revocations)
        finally:
            cluster.stop()

    def percentile(p):
        return samples[min(len(samples) - 1, int(len(samples) * p))]

    print(f"revocation enforcement on every replica after the acknowledgement, {len(samples)} revocations (ms): "
          f"p50 {percentile(0.5):.2f}, p90 {percentile(0.9):.2f}, p99 {percentile(0.99):.2f}, max {samples[-1]:.2f}; "
          f"{early} enforced on some replica before the acknowledgement arrived")


if __name__ == "__main__":
    main()
