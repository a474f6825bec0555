"""Rampart and etcd side by side on this machine: a 3-replica Rampart cluster and a 3-member
etcd cluster (Debian's etcd-server, fsync on), both on loopback, driven by the same wrk loads.

    python3 SystemTests/bench/compare.py [--seconds 10] [--markdown docs/BENCHMARKS.md] [--tls off|on|both]

Cases: writes at 1, 16 and 64 connections (Rampart: create a unique principal through the
leader; etcd: kv/put of a unique key with a 100-byte value through the gateway), linearizable
reads at 16 connections (Rampart: GET an organization; etcd: kv/range), and for Rampart alone
stale reads and `authorize` on a follower. The clusters run one after the other, so each has
the machine's two cores to itself while measured. Prints one table: req/s and p50/p99/p99.9
per system, the ratio, the CPU seconds each cluster used, and its replicas' peak RSS.

With `--tls on` both systems run with TLS: clients over HTTPS (connections kept alive) and the
members over mutual TLS (Rampart with its certificates from `rampart certs`; etcd with
`--cert-file`, `--peer-cert-file` and their CA from the same tool). `--tls both` runs every case
plain and then over TLS, in the same run, so the table shows what TLS costs.
"""

import argparse
import json
import os
import platform
import shutil
import ssl
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


def h2load(url, path, connections, streams, seconds, token, body):
    """An HTTP/2 load (nghttp2's h2load): `connections` connections with `streams` concurrent
    streams each, POSTing `body` for `seconds`. h2load reports no percentiles: p50 is its mean
    latency, p99 and p99.9 its maximum."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as data:
        data.write(body)
        data.flush()
        command = ["h2load", "-t", str(min(connections, 2)), "-c", str(connections), "-m", str(streams), "-D", str(seconds),
                   "-d", data.name, "-H", f"authorization: Bearer {token}", "-H", "content-type: application/json", url + path]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finished = next(line for line in output.splitlines() if line.startswith("finished in"))
    requests = next(line for line in output.splitlines() if line.startswith("requests:"))
    timing = next(line for line in output.splitlines() if line.strip().startswith("time for request:"))
    rate = float(finished.split(",")[1].split()[0])
    counts = {word: int(number) for number, word in (pair.split()[:2] for pair in requests.split(":", 1)[1].split(","))}

    def milliseconds(text):
        value = float(text.rstrip("usm"))
        return value / 1000 if text.endswith("us") else value * 1000 if text.endswith("s") and not text.endswith("ms") else value
    fields = timing.split(":", 1)[1].split()
    return {"rate": rate, "p50": milliseconds(fields[2]), "p99": milliseconds(fields[1]), "p999": milliseconds(fields[1]),
            "failed": counts.get("failed", 0) + counts.get("errored", 0)}


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
    """A 3-member etcd cluster on loopback; with `tls`, clients over HTTPS and members over
    mutual TLS, with certificates made by `rampart certs` (a CA, one certificate per member)."""

    def __init__(self, root: Path, tls=False):
        self.root = root
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.members = []
        for number in range(1, 4):
            self.members.append({"name": f"e{number}", "client": free_port(), "peer": free_port(), "data": root / f"etcd-{number}"})
        self.processes = []
        self.context = None
        if tls:
            from harness import binary
            certs = root / "etcd-certs"
            subprocess.run([binary(), "certs", "init", "--dir", str(certs), "--cluster", "etcd-bench"], check=True, capture_output=True)
            for number in range(1, 4):
                subprocess.run([binary(), "certs", "issue", "--dir", str(certs), "--cluster", "etcd-bench", "--replica", str(number),
                                "--host", "127.0.0.1", "--host", "localhost"], check=True, capture_output=True)
            self.certs = certs
            self.context = ssl.create_default_context(cafile=str(certs / "ca.pem"))

    def tls_flags(self, number):
        if not self.tls:
            return []
        certificate, key, ca = (str(self.certs / f"replica-{number}.pem"), str(self.certs / f"replica-{number}-key.pem"),
                                str(self.certs / "ca.pem"))
        # Clients are not asked for certificates (as with Rampart's API): no --trusted-ca-file.
        return ["--cert-file", certificate, "--key-file", key,
                "--peer-cert-file", certificate, "--peer-key-file", key, "--peer-trusted-ca-file", ca, "--peer-client-cert-auth"]

    def start(self):
        scheme = self.scheme
        cluster = ",".join(f"{m['name']}={scheme}://127.0.0.1:{m['peer']}" for m in self.members)
        for number, member in enumerate(self.members, start=1):
            log = open(self.root / f"{member['name']}.log", "wb")
            self.processes.append(subprocess.Popen([
                "etcd", "--name", member["name"], "--data-dir", str(member["data"]),
                "--listen-client-urls", f"{scheme}://127.0.0.1:{member['client']}",
                "--advertise-client-urls", f"{scheme}://127.0.0.1:{member['client']}",
                "--listen-peer-urls", f"{scheme}://127.0.0.1:{member['peer']}",
                "--initial-advertise-peer-urls", f"{scheme}://127.0.0.1:{member['peer']}",
                "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "rampart-bench",
                *self.tls_flags(number),
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
        return f"{self.scheme}://127.0.0.1:{self.members[number]['client']}"

    def put(self, key, value):
        request = urllib.request.Request(self.url() + "/v3/kv/put", data=json.dumps({"key": key, "value": value}).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5, context=self.context) as response:
            response.read()

    def leader_url(self):
        with urllib.request.urlopen(urllib.request.Request(self.url() + "/v3/maintenance/status", data=b"{}", method="POST"), timeout=5,
                                    context=self.context) as r:
            leader = int(json.loads(r.read())["leader"])
        for number in range(3):
            with urllib.request.urlopen(urllib.request.Request(self.url(number) + "/v3/maintenance/status", data=b"{}", method="POST"),
                                        timeout=5, context=self.context) as r:
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


# Each case: name, connections, wrk script, target replica ("leader" or "follower"), extra environment.
RAMPART_CASES = [
    ("writes", 1, "rampart-create.lua", "leader", {"BENCH_RUN": "w1"}),
    ("writes", 16, "rampart-create.lua", "leader", {"BENCH_RUN": "w16"}),
    ("writes", 64, "rampart-create.lua", "leader", {"BENCH_RUN": "w64"}),
    ("linearizable reads", 16, "rampart-get.lua", "leader", {"RAMPART_PATH": "/v1/orgs/bench"}),
    ("stale reads on a follower", 16, "rampart-get.lua", "follower", {"RAMPART_PATH": "/v1/orgs/bench?consistency=stale"}),
    ("authorize on a follower", 16, "rampart-authorize.lua", "follower", {}),
    ("authorize on a follower", 64, "rampart-authorize.lua", "follower", {}),
    ("token authorize on a follower (cache hit)", 16, "rampart-authorize-token.lua", "follower", {}),
    ("token authorize on a follower (distinct tokens)", 16, "rampart-authorize-tokens.lua", "follower", {}),
    ("token issuance on a follower", 16, "rampart-issue.lua", "follower", {}),
]
#: Over TLS the API also offers HTTP/2 (`api_http2`); these cases load it with h2load
#: (connections, concurrent streams per connection). HTTP/2 requests are served by the router,
#: not the HTTP/1 fast path.
HTTP2_CASES = [
    ("authorize on a follower (HTTP/2)", 16, 1),
    ("authorize on a follower (HTTP/2, 8 streams a connection)", 2, 8),
]
AUTHORIZE_BODY = '{"principal":"bench/dev","permission":"compute.instances.create","organization":"bench","project":"web"}'
#: Distinct tokens for the cache-miss case: more than a replica's verified-token cache holds.
DISTINCT_TOKENS = 12_000
ETCD_CASES = [
    ("writes", 1, "etcd-put.lua", {"BENCH_RUN": "w1"}),
    ("writes", 16, "etcd-put.lua", {"BENCH_RUN": "w16"}),
    ("writes", 64, "etcd-put.lua", {"BENCH_RUN": "w64"}),
    ("linearizable reads", 16, "etcd-range.lua", {}),
]


def leader_changes(cluster):
    """Leader changes the replicas have seen so far, all together."""
    return sum(r.metric("rampart_raft_leader_changes_total") for r in cluster.replicas)


def selected(name, connections, only_cases):
    """A case runs when no filter is given or one filter matches "NAME" or "NAME/CONNECTIONS"."""
    return not only_cases or name in only_cases or f"{name}/{connections}" in only_cases


def profiled(run_case, pid, directory, label):
    """Runs a case while `perf record` samples one process (call graphs), if a directory is given."""
    if directory is None:
        return run_case()
    directory.mkdir(parents=True, exist_ok=True)
    output = directory / (label.replace(" ", "-").replace("/", "-") + ".perf.data")
    recorder = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "499", "-g", "-p", str(pid), "-o", str(output)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return run_case()
    finally:
        recorder.send_signal(2)
        recorder.wait()


def run(seconds: int, systems=("rampart", "etcd"), only_cases=(), perf_directory=None, tls=False):
    results = {}
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        if "rampart" in systems:
            (root / "rampart").mkdir()
            http2 = {"api_http2": True} if tls else {}
            cluster = Cluster(root / "rampart", tick_milliseconds=50, snapshot_interval=100_000, tls=tls, **http2)
            cluster.start()
            try:
                leader = cluster.leader()
                follower = next(r for r in cluster.replicas if r.id != leader.id)
                token = cluster.token
                leader.request("POST", "/v1/orgs", {"name": "bench"}, token=token)
                leader.request("POST", "/v1/orgs/bench/projects", {"name": "web"}, token=token)
                leader.request("POST", "/v1/orgs/bench/principals", {"name": "dev", "kind": "user"}, token=token)
                leader.request("POST", "/v1/orgs/bench/bindings", {"principal": "dev", "role": "project.admin", "project": "web"},
                               token=token)
                dev_key = leader.request("POST", "/v1/orgs/bench/principals/dev/keys", token=token)["token"]
                asked = leader.request("POST", "/v1/tokens", {"ttl_seconds": 3600}, token=dev_key)["token"]
                tokens_file = root / "tokens.txt"
                if selected("token authorize on a follower (distinct tokens)", 16, only_cases):
                    with tokens_file.open("w") as out:
                        for _ in range(DISTINCT_TOKENS):
                            out.write(leader.request("POST", "/v1/tokens", {"ttl_seconds": 3600}, token=dev_key)["token"] + "\n")
                pids = [r.process.pid for r in cluster.replicas]
                for name, connections, script, target, extra in RAMPART_CASES:
                    if not selected(name, connections, only_cases):
                        continue
                    replica = leader if target == "leader" else follower
                    environment = dict(extra, RAMPART_TOKEN=token, RAMPART_ASKED_TOKEN=asked, RAMPART_TOKENS_FILE=str(tokens_file))
                    elections = leader_changes(cluster)
                    result = measure(pids, lambda: profiled(
                        lambda: wrk(script, replica.endpoint, connections, seconds, environment),
                        replica.process.pid, perf_directory, f"rampart-{name}-{connections}"))
                    # A new leader during a case explains a stall in its tail; the table says so.
                    result["leader_changes"] = leader_changes(cluster) - elections
                    results[(name, connections, "rampart")] = result
                for name, connections, streams in (HTTP2_CASES if tls else []):
                    if not selected(name, connections, only_cases):
                        continue
                    results[(name, connections, "rampart")] = measure(pids, lambda: h2load(
                        follower.endpoint, "/v1/authorize?consistency=stale", connections, streams, seconds, token, AUTHORIZE_BODY))
            finally:
                cluster.stop()
        if "etcd" in systems:
            etcd = Etcd(root, tls=tls)
            etcd.start()
            try:
                url = etcd.leader_url()
                for name, connections, script, environment in ETCD_CASES:
                    if selected(name, connections, only_cases):
                        results[(name, connections, "etcd")] = measure(etcd.pids, lambda: wrk(
                            script, url, connections, seconds, environment))
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
            if x.get("leader_changes"):
                failed += " (a new leader was elected)"
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
    parser.add_argument("--markdown", type=Path, help="also write the results to this file (its table section)")
    parser.add_argument("--only", choices=["rampart", "etcd"], help="run one system's cases only")
    parser.add_argument("--case", action="append", default=[], metavar="NAME[/CONNECTIONS]",
                        help="run only this case (repeatable), e.g. 'writes/64' or 'authorize on a follower'")
    parser.add_argument("--perf", type=Path, metavar="DIR",
                        help="record a perf profile of the measured Rampart replica per case into DIR")
    parser.add_argument("--tls", choices=["off", "on", "both"], default="off",
                        help="HTTPS clients and mutual TLS between members for both systems; both: every case plain, then over TLS")
    arguments = parser.parse_args()
    systems = (arguments.only,) if arguments.only else ("rampart", "etcd")
    results = {}
    for tls in {"off": [False], "on": [True], "both": [False, True]}[arguments.tls]:
        for (name, connections, system), result in run(arguments.seconds, systems, tuple(arguments.case), arguments.perf, tls).items():
            results[(f"{name} (TLS)" if tls else name, connections, system)] = result
    text = table(results, arguments.seconds)
    facts = machine()
    print(facts)
    print(text)
    if arguments.markdown:
        write_markdown(arguments.markdown, arguments.seconds, facts, text)


BEGIN, END = "<!-- results: begin -->", "<!-- results: end -->"


def write_markdown(path: Path, seconds: int, facts: str, text: str):
    """Replaces the generated part of `path` (between the result markers), keeping the prose around it."""
    generated = (
        f"{BEGIN}\n"
        "Produced by `scripts/bench` (`SystemTests/bench/compare.py`). Both clusters have 3 members on loopback with fsync on, "
        "run one after the other on the same machine, and are driven by the same wrk loads "
        f"for {seconds} s per case. Rampart writes create a unique principal through the leader; etcd writes "
        "`kv/put` a unique key with a 100-byte value through its HTTP/JSON gateway on the leader. Linearizable reads: "
        "Rampart `GET /v1/orgs/{org}` (ReadIndex), etcd `kv/range`. CPU is the seconds the cluster's processes used "
        "during the case (wrk runs on the same two cores).\n\n"
        f"Machine: {facts}.\n\n{text}\n{END}")
    current = path.read_text() if path.exists() else ""
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        path.write_text(head + generated + tail)
    else:
        path.write_text("# Benchmarks: Rampart and etcd side by side\n\n" + generated + "\n" + current)

if __name__ == "__main__":
    main()
