"""Rampart and etcd side by side on this machine: a 3-replica Rampart cluster and a 3-member
etcd cluster (Debian's etcd-server, fsync on), both on loopback, driven by the same wrk loads.

    python3 tests/bench/compare.py [--seconds 10] [--markdown docs/BENCHMARKS.md]

Cases: writes at 1, 16 and 64 connections (Rampart: create a unique principal through the
leader; etcd: kv/put of a unique key with a 100-byte value through the gateway), linearizable
reads at 16 connections (Rampart: GET an organization; etcd: kv/range), and for Rampart alone
stale reads and `authorize` on a follower. The clusters run one after the other, so each has
the machine's two cores to itself while measured. Prints one table: req/s and p50/p99/p99.9
per system, the ratio, the CPU seconds each cluster used, and its replicas' peak RSS.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "process"))
from harness import Cluster, free_port  # noqa: E402


def wrk(script, url, connections, seconds, environment):
    command = ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds}s", "-s", str(HERE / script), url]
    output = subprocess.run(command, env=dict(os.environ, BENCH_DIR=str(HERE), **environment), capture_output=True, text=True,
                            check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT"))
    fields = dict(item.split("=") for item in line.split()[1:])
    return {
        "rate": int(fields["requests"]) / float(fields["seconds"]), "p50": float(fields["p50"]), "p99": float(fields["p99"]),
        "p999": float(fields["p999"]), "failed": int(fields["non2xx"]) + int(fields["socket_errors"]),
    }


def cpu_seconds(pids):
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            pass
    return total


def rss_mib(pids):
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
    return peak


class Sampler:
    """Samples the peak RSS of some processes while a case runs."""

    def __init__(self, pids):
        self.pids = pids
        self.peak = 0.0

    def sample(self):
        self.peak = max(self.peak, rss_mib(self.pids))


def measure(pids, run_case):
    before = cpu_seconds(pids)
    sampler = Sampler(pids)
    import threading
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            sampler.sample()
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = run_case()
    finally:
        stop.set()
        watcher.join()
    result["cpu"] = cpu_seconds(pids) - before
    result["rss"] = sampler.peak
    return result


class Etcd:
    """A 3-member etcd cluster on loopback."""

    def __init__(self, root: Path):
        self.root = root
        self.members = []
        for number in range(1, 4):
            self.members.append({"name": f"e{number}", "client": free_port(), "peer": free_port(), "data": root / f"etcd-{number}"})
        self.processes = []

    def start(self):
        cluster = ",".join(f"{m['name']}=http://127.0.0.1:{m['peer']}" for m in self.members)
        for member in self.members:
            log = open(self.root / f"{member['name']}.log", "wb")
            self.processes.append(subprocess.Popen([
                "etcd", "--name", member["name"], "--data-dir", str(member["data"]),
                "--listen-client-urls", f"http://127.0.0.1:{member['client']}", "--advertise-client-urls", f"http://127.0.0.1:{member['client']}",
                "--listen-peer-urls", f"http://127.0.0.1:{member['peer']}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{member['peer']}",
                "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "rampart-bench",
            ], stdout=log, stderr=log))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.put("YmVuY2g=", "dmFsdWU=")
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("etcd did not start; see its logs in " + str(self.root))

    def url(self, number=0):
        return f"http://127.0.0.1:{self.members[number]['client']}"

    def put(self, key, value):
        request = urllib.request.Request(self.url() + "/v3/kv/put", data=json.dumps({"key": key, "value": value}).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    def leader_url(self):
        with urllib.request.urlopen(urllib.request.Request(self.url() + "/v3/maintenance/status", data=b"{}", method="POST"), timeout=5) as r:
            leader = int(json.loads(r.read())["leader"])
        for number in range(3):
            with urllib.request.urlopen(urllib.request.Request(self.url(number) + "/v3/maintenance/status", data=b"{}", method="POST"),
                                        timeout=5) as r:
                if int(json.loads(r.read())["header"]["member_id"]) == leader:
                    return self.url(number)
        return self.url()

    def stop(self):
        for process in self.processes:
            process.kill()
            process.wait()

    @property
    def pids(self):
        return [p.pid for p in self.processes]


def run(seconds: int):
    results = {}
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        # Rampart.
        (root / "rampart").mkdir()
        cluster = Cluster(root / "rampart", tick_milliseconds=50)
        cluster.start()
        try:
            leader = cluster.leader()
            follower = next(r for r in cluster.replicas if r.id != leader.id)
            token = cluster.token
            leader.request("POST", "/v1/orgs", {"name": "bench"}, token=token)
            leader.request("POST", "/v1/orgs/bench/projects", {"name": "web"}, token=token)
            leader.request("POST", "/v1/orgs/bench/principals", {"name": "dev", "kind": "user"}, token=token)
            leader.request("POST", "/v1/orgs/bench/bindings", {"principal": "dev", "role": "project.admin", "project": "web"}, token=token)
            pids = [r.process.pid for r in cluster.replicas]
            environment = {"RAMPART_TOKEN": token}
            for connections in (1, 16, 64):
                results[("writes", connections, "rampart")] = measure(pids, lambda: wrk(
                    "rampart-create.lua", leader.endpoint, connections, seconds, dict(environment, BENCH_RUN=f"w{connections}")))
            results[("linearizable reads", 16, "rampart")] = measure(pids, lambda: wrk(
                "rampart-get.lua", leader.endpoint, 16, seconds, dict(environment, RAMPART_PATH="/v1/orgs/bench")))
            results[("stale reads on a follower", 16, "rampart")] = measure(pids, lambda: wrk(
                "rampart-get.lua", follower.endpoint, 16, seconds, dict(environment, RAMPART_PATH="/v1/orgs/bench?consistency=stale")))
            for connections in (16, 64):
                results[("authorize on a follower", connections, "rampart")] = measure(pids, lambda: wrk(
                    "rampart-authorize.lua", follower.endpoint, connections, seconds, environment))
        finally:
            cluster.stop()
        # etcd.
        etcd = Etcd(root)
        etcd.start()
        try:
            url = etcd.leader_url()
            for connections in (1, 16, 64):
                results[("writes", connections, "etcd")] = measure(etcd.pids, lambda: wrk(
                    "etcd-put.lua", url, connections, seconds, {"BENCH_RUN": f"w{connections}"}))
            results[("linearizable reads", 16, "etcd")] = measure(etcd.pids, lambda: wrk("etcd-range.lua", url, 16, seconds, {}))
        finally:
            etcd.stop()
    return results


def table(results, seconds):
    cases = []
    for case, connections, _ in results:
        if (case, connections) not in cases:
            cases.append((case, connections))
    lines = [
        "| case | conns | Rampart req/s | p50 / p99 / p99.9 ms | etcd req/s | p50 / p99 / p99.9 ms | ratio | CPU s (R / e) | peak RSS MiB (R / e) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for case, connections in cases:
        r = results.get((case, connections, "rampart"))
        e = results.get((case, connections, "etcd"))

        def cell(x):
            if x is None:
                return "—", "—"
            failed = f" ({x['failed']} failed)" if x["failed"] else ""
            return f"{x['rate']:,.0f}{failed}", f"{x['p50']:.2f} / {x['p99']:.2f} / {x['p999']:.2f}"
        r_rate, r_lat = cell(r)
        e_rate, e_lat = cell(e)
        ratio = f"{r['rate'] / e['rate']:.2f}×" if r and e else "—"
        cpu = f"{r['cpu']:.1f} / {e['cpu']:.1f}" if r and e else (f"{r['cpu']:.1f} / —" if r else "—")
        rss = f"{r['rss']:.0f} / {e['rss']:.0f}" if r and e else (f"{r['rss']:.0f} / —" if r else "—")
        lines.append(f"| {case} | {connections} | {r_rate} | {r_lat} | {e_rate} | {e_lat} | {ratio} | {cpu} | {rss} |")
    return "\n".join(lines)


def machine():
    cpus = os.cpu_count()
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), "0")
    etcd_version = subprocess.run(["etcd", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0] if shutil.which("wrk") else "?"
    return (f"{cpus} cores ({model}), {int(memory) // 1024 // 1024} GiB, {platform.system()} {platform.release()}; "
            f"{etcd_version}; {wrk_version}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--markdown", type=Path, help="also write the results to this file")
    arguments = parser.parse_args()
    results = run(arguments.seconds)
    text = table(results, arguments.seconds)
    facts = machine()
    print(facts)
    print(text)
    if arguments.markdown:
        arguments.markdown.write_text(
            "# Benchmarks: Rampart and etcd side by side\n\n"
            "Produced by `scripts/bench` (`tests/bench/compare.py`). Both clusters have 3 members on loopback with fsync on, "
            "run one after the other on the same machine, and are driven by the same wrk loads "
            f"for {arguments.seconds} s per case. Rampart writes create a unique principal through the leader; etcd writes "
            "`kv/put` a unique key with a 100-byte value through its HTTP/JSON gateway on the leader. Linearizable reads: "
            "Rampart `GET /v1/orgs/{org}` (ReadIndex), etcd `kv/range`. CPU is the seconds the cluster's processes used "
            "during the case (wrk runs on the same two cores).\n\n"
            f"Machine: {facts}.\n\n{text}\n")


if __name__ == "__main__":
    main()
