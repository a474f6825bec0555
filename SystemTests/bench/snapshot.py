"""Backup and restore, measured: what a save costs the writes going on meanwhile, and how long a
save, an inspection and a restore of a large cluster take (not part of the test suite).

    python3 SystemTests/bench/snapshot.py [--principals 100000] [--seconds 10] [--pairs 3] [--connections 16,64]
                                          [--client rampart|curl] [--load wrk|python] [--isolate]

A 3-replica cluster (release build from $RAMPART_BINARY, ticks of 50 ms as in compare.py; no
Raft snapshot during the run, so that only the saves differ between the runs of a pair) is
filled with `--principals` principals. Then writes (a unique principal each, through the
leader, at each number of connections) run for `--seconds`, in pairs: once alone and once while
a follower saves snapshots back to back, the order alternating between pairs so that drift hits
both sides. The saving client runs on this machine too, so it takes its share of the two cores.
With `--isolate` the saving follower (replica 3) runs on a core and a disk (a tmpfs) of its own,
as on a host of its own, which is how a production cluster is laid out.
Prints the write rate and p50/p99/p99.9 of each run, the p99 ratio of each pair, then the size
and time of one save at rest, of `rampart snapshot inspect` and of restoring three replicas of
a new cluster until they serve the same state hash.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "process"))
from harness import Cluster, binary, eventually  # noqa: E402
from compare import wrk  # noqa: E402


def rampart(*arguments):
    """Runs the CLI; arguments before "snapshot" (a `taskset` prefix) run it."""
    prefix = list(arguments[:arguments.index("snapshot")]) if "snapshot" in arguments else []
    arguments = arguments[len(prefix):]
    return subprocess.run([*prefix, binary(), *map(str, arguments)], capture_output=True, text=True, check=True, timeout=1800)


def save(cluster, endpoint, file):
    return json.loads(rampart(*PIN, "snapshot", "save", file, "--force", "--quiet", "--endpoints", endpoint, "--api-key-file",
                              cluster.root / "admin.key", "-o", "json", "--timeout", "120").stdout)


def fill(cluster, leader, count):
    leader.request("POST", "/v1/orgs", {"name": "bench"}, token=cluster.token)
    created, round_number = 0, 0
    while created < count:
        round_number += 1
        result = wrk("rampart-create.lua", leader.endpoint, 64, 5, {"RAMPART_TOKEN": cluster.token, "BENCH_RUN": f"fill{round_number}"})
        created += int(result["rate"] * 5) - result["failed"]
    return created


#: Who saves during the loaded runs: `rampart` (the CLI, writing and checking the file here) or
#: `curl` (reading the answer into /dev/null: what the save costs the server alone).
CLIENT = "rampart"
#: The command prefix that runs the saving client where the saving follower runs (`--isolate`).
PIN = []


#: What makes the write load: `wrk` (rampart-create.lua) or `python` (httpload.py, which times
#: each request end to end; see its docstring for why).
LOAD = "wrk"


def writes(cluster, leader, connections, seconds, label):
    if LOAD == "python":
        output = subprocess.run([sys.executable, str(HERE / "httpload.py"), leader.endpoint, cluster.token, "--connections", str(connections),
                                 "--seconds", str(seconds), "--run", label], capture_output=True, text=True, check=True, timeout=seconds + 120)
        return json.loads(output.stdout)
    return wrk("rampart-create.lua", leader.endpoint, connections, seconds, {"RAMPART_TOKEN": cluster.token, "BENCH_RUN": label})


def writes_while_saving(cluster, leader, follower, connections, seconds, label, scratch):
    """Writes for `seconds` while the follower saves snapshots back to back; returns the load's
    result and the saves made."""
    stop = threading.Event()
    saves = []

    def saver():
        while not stop.is_set():
            started = time.monotonic()
            if CLIENT == "curl":
                # The server's side alone: the answer is read and dropped, nothing is written here.
                subprocess.run([*PIN, "curl", "-sf", "-o", "/dev/null", "-H", f"Authorization: Bearer {cluster.token}",
                                follower.endpoint + "/v1/snapshot"], check=True, timeout=600)
                saves.append((None, time.monotonic() - started))
            else:
                saves.append((save(cluster, follower.endpoint, scratch / "during.snapshot"), time.monotonic() - started))

    thread = threading.Thread(target=saver)
    thread.start()
    try:
        return writes(cluster, leader, connections, seconds, label), saves
    finally:
        stop.set()
        thread.join()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--principals", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=3, help="0: only the save, inspection and restore at rest")
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--client", choices=["rampart", "curl"], default="rampart")
    parser.add_argument("--load", choices=["wrk", "python"], default="wrk", help="the write load's generator (python: httpload.py)")
    parser.add_argument("--isolate", action="store_true",
                        help="the saving follower on a core and a disk (tmpfs) of its own, as on a host of its own")
    arguments = parser.parse_args()
    global CLIENT, PIN, LOAD
    CLIENT = arguments.client
    LOAD = arguments.load
    PIN = ["taskset", "-c", "1"] if arguments.isolate else []
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "old").mkdir()
        cluster = Cluster(root / "old", tick_milliseconds=50, snapshot_interval=100_000_000)
        saver = cluster.replicas[2]
        if arguments.isolate:
            # The saving replica on a disk of its own (a tmpfs: as on a host of its own, the
            # copy's writes do not queue before the other replicas' fsyncs; needs root).
            saver.data.mkdir(parents=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8g,mode=0700", "tmpfs", str(saver.data)], check=True)
        cluster.start()
        try:
            leader = cluster.leader()
            if leader is saver:
                other = cluster.replicas[0]
                leader.request("POST", "/v1/cluster/leader", {"replica": other.id}, token=cluster.token)
                leader = eventually(lambda: cluster.leader() if cluster.leader() is other else None, message="the transfer")
            follower = saver
            if arguments.isolate:
                # And on a core of its own, with the saving client: the leader, the other
                # follower and wrk on the first core, the saving follower on the second.
                for replica in cluster.replicas:
                    subprocess.run(["taskset", "-a", "-p", "-c", "1" if replica is follower else "0", str(replica.process.pid)],
                                   check=True, capture_output=True)
                os.sched_setaffinity(0, {0})
            started = time.monotonic()
            created = fill(cluster, leader, arguments.principals)
            print(f"filled: {created} principals in {time.monotonic() - started:.0f} s")
            print(f"{'run':<36} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'failed':>7} {'saves':>6}")
            for connections in [int(n) for n in arguments.connections.split(",")]:
                ratios = []
                for pair in range(arguments.pairs):
                    order = ["alone", "saving"] if pair % 2 == 0 else ["saving", "alone"]
                    results = {}
                    for kind in order:
                        label = f"c{connections}p{pair}{kind}"
                        if kind == "alone":
                            result, saves = writes(cluster, leader, connections, arguments.seconds, label), []
                        else:
                            result, saves = writes_while_saving(cluster, leader, follower, connections, arguments.seconds, label, root)
                        results[kind] = result
                        name = f"{connections} conns, pair {pair + 1}, " + ("alone" if kind == "alone" else "saving")
                        pauses = f"  pauses at {result['pauses']} s" if result.get("pauses") else ""
                        print(f"{name:<36} {result['rate']:>8.0f} {result['p50']:>8.2f} {result['p99']:>8.2f} {result['p999']:>9.2f} "
                              f"{result['failed']:>7} {len(saves):>6}{pauses}")
                    ratios.append(results["saving"]["p99"] / results["alone"]["p99"])
                if not ratios:
                    continue
                print(f"{connections} connections: p99 during saves / alone, per pair: {', '.join(f'{r:.2f}' for r in ratios)}; "
                      f"mean {sum(ratios) / len(ratios):.3f}")

            cluster.converged(timeout=120)
            file = root / "rest.snapshot"
            started = time.monotonic()
            saved = save(cluster, follower.endpoint, file)
            print(f"save at rest: {saved['bytes']} bytes ({saved['bytes'] / 1048576:.1f} MiB) at revision {saved['revision']} "
                  f"in {time.monotonic() - started:.2f} s")
            started = time.monotonic()
            inspected = json.loads(rampart("snapshot", "inspect", file, "-o", "json").stdout)
            print(f"inspect: {inspected['rows']['principals']} principals, {inspected['rows']['audit']} audit records verified "
                  f"in {time.monotonic() - started:.2f} s")
            (root / "new").mkdir()
            restored = Cluster(root / "new", tick_milliseconds=50, snapshot_interval=100_000_000)
            shutil.copyfile(cluster.kek_path, restored.kek_path)
            started = time.monotonic()
            for replica in restored.replicas:
                rampart("snapshot", "restore", file, "--data-dir", replica.data, "--replica-id", replica.id, "--initial-cluster", "1,2,3",
                        "--cluster-secret-file", restored.secret_path, "--key-encryption-key-file", restored.kek_path)
            seeded = time.monotonic() - started
            restored.token = cluster.token
            for replica in restored.replicas:
                replica.start()
            hashes = restored.converged(timeout=300)
            assert hashes[0]["state_hash"] == saved["state_hash"], "the restored cluster's state hash differs"
            print(f"restore: three replicas seeded in {seeded:.2f} s, serving the snapshot's state hash "
                  f"{time.monotonic() - started:.2f} s after the first restore began")
            restored.stop()
        finally:
            cluster.stop()
            if arguments.isolate:
                subprocess.run(["umount", str(saver.data)], check=False)


if __name__ == "__main__":
    main()
