"""Cluster measurements with real processes on loopback (not part of the test suite).

    python3 SystemTests/process/bench.py failover --kills 20   time from kill -9 of the leader to the
                                                          first acknowledged write on the new one
    python3 SystemTests/process/bench.py load --seconds 10 --clients 16
                                                          replicated write throughput, latency,
                                                          and the replicas' RSS at rest and under load

    python3 SystemTests/process/bench.py wrk --seconds 5   wrk against the API: writes (unique organization
                                                          names) via the leader and a follower at 1, 16 and
                                                          64 connections; linearizable and stale reads;
                                                          authorize on a follower

Uses $RAMPART_BINARY (scripts/bench-cluster sets it to the release build).
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Cluster, HTTPError  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from compare import wrk as run_wrk  # noqa: E402  (the one wrk runner, with SystemTests/bench's scripts)


def failover(kills: int) -> None:
    with tempfile.TemporaryDirectory() as root:
        cluster = Cluster(Path(root))
        cluster.start()
        try:
            durations = []
            for round_number in range(1, kills + 1):
                cluster.create_organization(cluster.replicas[0])
                leader = cluster.leader()
                survivors = [r for r in cluster.replicas if r.id != leader.id]
                leader.kill()
                started = time.monotonic()
                acknowledged = None
                while acknowledged is None:
                    for replica in survivors:
                        try:
                            acknowledged = cluster.create_organization(replica, timeout=5)
                            break
                        except (HTTPError, OSError):
                            continue
                elapsed = time.monotonic() - started
                durations.append(elapsed)
                print(f"kill {round_number:2}: leader {leader.id} killed, write acknowledged after {elapsed * 1000:.0f} ms")
                leader.start()
                cluster.converged()
            durations.sort()
            print(
                f"failover over {kills} kills of the leader: median {statistics.median(durations) * 1000:.0f} ms, "
                f"worst {durations[-1] * 1000:.0f} ms, best {durations[0] * 1000:.0f} ms "
                f"(tick {cluster.tick_milliseconds} ms, election timeout {cluster.election_timeout_ticks} ticks)")
        finally:
            cluster.stop()


def load(seconds: float, clients: int) -> None:
    with tempfile.TemporaryDirectory() as root:
        cluster = Cluster(Path(root))
        cluster.start()
        try:
            cluster.leader()
            for _ in range(20):
                cluster.create_organization(cluster.replicas[0])
            cluster.converged()
            rest = {r.id: r.rss_kib() for r in cluster.replicas}
            latencies = []
            errors = [0]
            lock = threading.Lock()
            stop = time.monotonic() + seconds

            def client(number: int) -> None:
                replica = cluster.replicas[number % len(cluster.replicas)]
                count = 0
                while time.monotonic() < stop:
                    count += 1
                    began = time.monotonic()
                    try:
                        replica.request("POST", "/v1/orgs", {"name": f"load-{number}-{count}"}, token=cluster.token)
                        with lock:
                            latencies.append(time.monotonic() - began)
                    except (HTTPError, OSError):
                        with lock:
                            errors[0] += 1

            peak = {r.id: 0 for r in cluster.replicas}
            threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            began = time.monotonic()
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads):
                for replica in cluster.replicas:
                    peak[replica.id] = max(peak[replica.id], replica.rss_kib())
                time.sleep(0.1)
            elapsed = time.monotonic() - began
            cluster.converged()
            latencies.sort()
            p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
            print(
                f"writes: {len(latencies)} acknowledged in {elapsed:.1f} s = {len(latencies) / elapsed:.0f}/s with {clients} clients "
                f"spread over {len(cluster.replicas)} replicas (followers forward); p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms; "
                f"{errors[0]} errors")
            for replica in cluster.replicas:
                print(f"replica {replica.id}: RSS at rest {rest[replica.id] / 1024:.1f} MiB, peak under load {peak[replica.id] / 1024:.1f} MiB")
        finally:
            cluster.stop()


def wrk(seconds: int) -> None:
    with tempfile.TemporaryDirectory() as root:
        cluster = Cluster(Path(root))
        cluster.start()
        try:
            leader = cluster.leader()
            follower = next(r for r in cluster.replicas if r.id != leader.id)
            token = {"RAMPART_TOKEN": cluster.token}
            leader.request("POST", "/v1/orgs", {"name": "bench"}, token=cluster.token)
            leader.request("POST", "/v1/orgs/bench/projects", {"name": "web"}, token=cluster.token)
            leader.request("POST", "/v1/orgs/bench/principals", {"name": "dev", "kind": "user"}, token=cluster.token)
            leader.request("POST", "/v1/orgs/bench/bindings", {"principal": "dev", "role": "project.admin", "project": "web"}, token=cluster.token)
            cases = []
            run = 0
            for target, role in [(leader, "leader"), (follower, "follower")]:
                for connections in (1, 16, 64):
                    run += 1
                    cases.append((f"write (create org) via the {role}", target, connections, "rampart-create.lua",
                                  {"BENCH_RUN": f"r{run}", "RAMPART_CREATE": "org"}))
            for consistency in ("linearizable", "stale"):
                for target, role in [(leader, "leader"), (follower, "follower")]:
                    cases.append((f"{consistency} read via the {role}", target, 16, "rampart-get.lua",
                                  {"RAMPART_PATH": f"/v1/orgs/bench?consistency={consistency}"}))
            for connections in (16, 64):
                cases.append(("authorize (stale) via the follower", follower, connections, "rampart-authorize.lua", {}))
            for name, target, connections, script, extra in cases:
                result = run_wrk(script, target.endpoint, connections, seconds, dict(token, **extra))
                rss = max(r.rss_kib() for r in cluster.replicas) / 1024
                print(f"{name:38} {connections:2} conns: {result['rate']:8.0f} req/s  p50 {result['p50']:6.2f} ms  p99 {result['p99']:6.2f} ms  "
                      f"failed {result['failed']}  largest RSS {rss:.0f} MiB")
            cluster.converged()
        finally:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    failover_parser = commands.add_parser("failover")
    failover_parser.add_argument("--kills", type=int, default=20)
    load_parser = commands.add_parser("load")
    load_parser.add_argument("--seconds", type=float, default=10)
    load_parser.add_argument("--clients", type=int, default=16)
    wrk_parser = commands.add_parser("wrk")
    wrk_parser.add_argument("--seconds", type=int, default=5)
    arguments = parser.parse_args()
    if arguments.command == "failover":
        failover(arguments.kills)
    elif arguments.command == "wrk":
        wrk(arguments.seconds)
    else:
        load(arguments.seconds, arguments.clients)


if __name__ == "__main__":
    main()
