"""Runs one fault schedule against a real 3-replica cluster and checks the history.

    python3 SystemTests/faults/run.py --schedule leader-kill --seconds 20 [--history FILE] [--keep DIR]

While the nemesis injects its faults, clients on every replica run the workloads: unique creates
(a set; every other one without an idempotency key, which the server's fast path serves),
conditional updates of a role's permissions with If-Match and linearizable reads of it (a
register), idempotent retries after timeouts, tokens issued on the client's replica and revoked
(a set of revocation ids: none acknowledged may be lost), each revoked token then used on its
replica once it has applied the revocation (it must be refused), and an auditor paging through
the audit log.
Then every fault is healed, the replicas must converge (same applied index, state hash and audit
head), timed-out requests are resolved from the audit log by request id, and the checkers run.
The history (one JSON object per line) is written for every run. Exit status 0 when every
checker is valid.
"""

import argparse
import json
import os
import subprocess
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "process"))
from checkers import check_audit, check_register, check_revoked_tokens, check_set  # noqa: E402
from harness import Cluster, eventually  # noqa: E402

from nemesis import NEEDS_NETNS, SCHEDULES  # noqa: E402

ORGANIZATION = "jepsen"
REGISTER = "register"
REQUEST_TIMEOUT_MS = 2000


class History:
    """The shared, thread-safe history, written to a file as it grows."""

    def __init__(self, path: Path):
        self.lock = threading.Lock()
        self.events = []
        self.start = time.monotonic()
        self.file = open(path, "w")

    def add(self, **event):
        with self.lock:
            event["time"] = time.monotonic() - self.start
            self.events.append(event)
            self.file.write(json.dumps(event) + "\n")

    def close(self):
        self.file.close()


class Client:
    """One client process of the history, bound to one replica."""

    def __init__(self, number, replica, token, history, stop):
        self.number = number
        self.replica = replica
        self.token = token
        self.history = history
        self.stop = stop
        self.counter = 0

    def request_id(self):
        self.counter += 1
        return f"c{self.number}-{self.counter}"

    def call(self, method, path, body=None, headers=None):
        """Returns (status, parsed body); -1 when the connection was refused (nothing sent), 0 for
        no answer (timeout, reset: unknown)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.replica.endpoint + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("X-Timeout-Ms", str(REQUEST_TIMEOUT_MS))
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_MS / 1000 + 1, context=self.replica.cluster.ssl_context) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            try:
                return error.code, json.loads(error.read() or b"null")
            except ValueError:
                return error.code, None
        except urllib.error.URLError as error:
            if isinstance(error.reason, ConnectionRefusedError):
                time.sleep(0.05)  # the replica is down: nothing was sent
                return -1, None
            return 0, None
        except (OSError, ValueError):
            return 0, None

    @staticmethod
    def classify(status, body):
        """ok, fail (with whether it was proposed) or info, from an answer."""
        if status in (200, 201):
            return "ok", False
        code = (body or {}).get("code") if isinstance(body, dict) else None
        if status in (409, 412) and code not in ("refused",):
            return "fail", True  # a domain rejection: applied as a failure, audited
        if status == -1 or status in (400, 401, 403, 404, 413) or (status == 503 and code in ("unavailable", "overloaded")):
            return "fail", False  # refused before it was proposed
        return "info", False  # timeout, 504, a connection that broke: unknown

    def create(self):
        request_id = self.request_id()
        value = f"p{self.number}-{self.counter}"
        # Every other create has no idempotency key: the server's fast path serves those (a
        # create with a key is the router's), and an unknown outcome is left unknown (a retry
        # without a key could not be told from a second create).
        key = f"k-{request_id}" if self.counter % 2 == 0 else None
        headers = {"X-Request-ID": request_id}
        if key:
            headers["Idempotency-Key"] = key
        self.history.add(process=self.number, type="invoke", f="create", key="projects", value=value, request_id=request_id,
                         idempotency_key=key)
        status, body = self.call("POST", f"/v1/orgs/{ORGANIZATION}/projects", {"name": value}, headers)
        kind, proposed = self.classify(status, body)
        self.history.add(process=self.number, type=kind, f="create", key="projects", value=value, request_id=request_id,
                         proposed=proposed, status=status, idempotency_key=key)
        if kind == "info" and key and not self.stop.is_set():
            # Retry once, on another request id with the same idempotency key: applied at most once.
            retry_id = self.request_id()
            self.history.add(process=self.number, type="invoke", f="create", key="projects", value=value, request_id=retry_id,
                             idempotency_key=key)
            status, body = self.call("POST", f"/v1/orgs/{ORGANIZATION}/projects", {"name": value},
                                     {"X-Request-ID": retry_id, "Idempotency-Key": key})
            kind, proposed = self.classify(status, body)
            self.history.add(process=self.number, type=kind, f="create", key="projects", value=value, request_id=retry_id,
                             proposed=proposed, status=status, idempotency_key=key)

    def read_register(self):
        request_id = self.request_id()
        self.history.add(process=self.number, type="invoke", f="read", key=REGISTER, value=None, request_id=request_id)
        status, body = self.call("GET", f"/v1/orgs/{ORGANIZATION}/roles/{REGISTER}", headers={"X-Request-ID": request_id})
        if status == 200:
            value = [body["revision"], ",".join(body["permissions"])]
            self.history.add(process=self.number, type="ok", f="read", key=REGISTER, value=value, request_id=request_id)
            return value
        kind, _ = self.classify(status, body)
        self.history.add(process=self.number, type="fail" if kind == "fail" else "info", f="read", key=REGISTER, value=None,
                         request_id=request_id)
        return None

    def cas_register(self, expected):
        request_id = self.request_id()
        new_value = f"app.r{self.number}.v{self.counter}"
        self.history.add(process=self.number, type="invoke", f="cas", key=REGISTER, value=[expected, new_value], request_id=request_id)
        status, body = self.call("PUT", f"/v1/orgs/{ORGANIZATION}/roles/{REGISTER}", {"permissions": [new_value]},
                                 {"X-Request-ID": request_id, "If-Match": str(expected)})
        kind, proposed = self.classify(status, body)
        extra = {"revision": body["revision"]} if kind == "ok" else {}
        self.history.add(process=self.number, type=kind, f="cas", key=REGISTER, value=[expected, new_value], request_id=request_id,
                         proposed=proposed, status=status, **extra)

    def revoke(self):
        """Issues a token on this replica (no write), revokes it (a write, in the history), then
        uses it on this replica once it has applied the revocation: it must be refused."""
        status, issued = self.call("POST", "/v1/tokens", {"ttl_seconds": 600})
        if status != 201:
            return
        token, revocation_id = issued["token"], issued["revocation_ids"][-1]
        request_id = self.request_id()
        self.history.add(process=self.number, type="invoke", f="revoke", key="revocations", value=revocation_id, request_id=request_id)
        status, body = self.call("POST", "/v1/tokens/revoke", {"token": token, "reason": request_id}, {"X-Request-ID": request_id})
        kind, proposed = self.classify(status, body)
        extra = {"revision": body["revision"]} if kind == "ok" else {}
        self.history.add(process=self.number, type=kind, f="revoke", key="revocations", value=revocation_id, request_id=request_id,
                         proposed=proposed, status=status, **extra)
        if kind != "ok":
            return
        question = {"token": token, "permission": "app.tokens.get", "organization": ORGANIZATION}
        use_id = self.request_id()
        status, answer = self.call("POST", f"/v1/authorize?consistency=stale&min_revision={body['revision']}", question,
                                   {"X-Request-ID": use_id})
        if status == 401 and (answer or {}).get("code") == "token_revoked":
            outcome = "refused"
        elif status == 200:
            outcome = "accepted"
        else:
            return  # no answer (a fault): nothing learned
        self.history.add(process=self.number, type=outcome, f="use-revoked", key="revocations", value=revocation_id,
                         request_id=use_id, revision=body["revision"], answer=answer)

    def run(self):
        rng = random.Random(self.number)
        while not self.stop.is_set():
            choice = rng.random()
            if choice < 0.1:
                self.revoke()
            elif choice < 0.6:
                self.create()
            else:
                seen = self.read_register()
                if seen is not None and rng.random() < 0.7:
                    self.cas_register(seen[0])


class Auditor:
    """Pages through the audit log with a cursor, checking that pages join without gaps."""

    def __init__(self, replica, token, stop):
        self.replica = replica
        self.token = token
        self.stop = stop
        self.problems = []
        self.pages = 0

    def run(self):
        cursor, last = None, 0
        while not self.stop.is_set():
            path = "/v1/audit?consistency=stale&limit=50" + (f"&cursor={cursor}" if cursor else "")
            try:
                page = self.replica.request("GET", path, token=self.token, timeout=3)
            except Exception:  # the replica may be down; try again
                time.sleep(0.2)
                continue
            self.pages += 1
            for record in page["items"]:
                if record["sequence"] != last + 1:
                    self.problems.append(f"audit page jumped from {last} to {record['sequence']}")
                last = record["sequence"]
            cursor = page.get("next_cursor") or (str(last) if last else None)
            if not page.get("next_cursor"):
                time.sleep(0.2)


def resolve_unknowns(history, log):
    """Turns timed-out requests into ok or fail from the audit log, by request id."""
    records = {r["request_id"]: r for r in log}
    resolved = []
    completed = {e["request_id"] for e in history if e["type"] != "invoke"}
    invokes = {e["request_id"]: e for e in history if e["type"] == "invoke"}
    counts = {"resolved_ok": 0, "resolved_failed": 0}
    for event in history:
        if event["type"] == "info" and event["f"] in ("create", "cas", "revoke"):
            record = records.get(event["request_id"])
            if record is not None and record["outcome"] == "ok":
                event = dict(event, type="ok", revision=record["revision"])
                counts["resolved_ok"] += 1
            elif record is not None and record["outcome"] == "replayed":
                event = dict(event, type="ok", revision=record["revision"])
                counts["resolved_ok"] += 1
            elif record is not None:
                event = dict(event, type="fail", proposed=True)
                counts["resolved_failed"] += 1
            else:
                event = dict(event, type="fail", proposed=False)
                counts["resolved_failed"] += 1
        resolved.append(event)
    for request_id, invoke in invokes.items():
        if request_id not in completed:
            resolved.append(dict(invoke, type="info", time=float("inf")))
    return resolved, counts


def replica_failures(cluster):
    """The failures replicas stopped on by themselves (storage or a bug), from their logs."""
    failures = []
    for replica in cluster.replicas:
        try:
            text = replica.log_path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if "replica failed; stopping" in line:
                failures.append(f"replica-{replica.id}: {line.strip()[:300]}")
    return failures


def fetch_all(replica, path, token):
    items, cursor = [], None
    while True:
        page = replica.request("GET", path + ("&" if "?" in path else "?") + "limit=1000" + (f"&cursor={cursor}" if cursor else ""), token=token)
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def fetch_revocations(replica, token):
    """A replica's whole revocation list, page after page."""
    items, since = [], 0
    while True:
        page = replica.request("GET", f"/v1/revocations?since={since}&limit=1000&consistency=stale", token=token)
        items += page["items"]
        since = page["next_since"]
        if not page["more"]:
            return items


def fetch_logs(cluster, attempts=3):
    """Every replica's audit log, read one after the other. The cluster may still write after it
    converged (a new leader's key maintenance), so logs read across such a write end at
    different heads: then it converges again and they are read again, a few times at most; a
    real divergence stays."""
    for attempt in range(attempts):
        logs = {f"replica-{r.id}": fetch_all(r, "/v1/audit?consistency=stale", cluster.token) for r in cluster.replicas}
        heads = {records[-1]["hash"] if records else None for records in logs.values()}
        if len(heads) == 1 or attempt == attempts - 1:
            return logs
        cluster.converged(timeout=60)


def run(schedule: str, seconds: float, history_path: Path, root: Path, clients_per_replica: int = 2, tls: bool = False) -> bool:
    nemesis_class = SCHEDULES[schedule]
    settings = dict(nemesis_class.cluster_settings)
    # With TLS the clients speak HTTPS with the cluster's CA and the replicas mutual TLS.
    settings["tls"] = tls
    if "RAMPART_IN_NETNS" in os.environ:
        settings["distinct_hosts"] = True  # in our own namespace every replica gets its own address
    cluster = Cluster(root, **settings)
    nemesis_class.prepare(cluster)
    cluster.start()
    stop = threading.Event()
    history = History(history_path)
    try:
        admin = cluster.replicas[0]
        admin.request("POST", "/v1/orgs", {"name": ORGANIZATION}, token=cluster.token)
        created = admin.request("POST", f"/v1/orgs/{ORGANIZATION}/roles", {"name": REGISTER, "permissions": ["app.r0.v0"]}, token=cluster.token)
        initial = (created["revision"], "app.r0.v0")
        clients = [Client(n, cluster.replicas[n % len(cluster.replicas)], cluster.token, history, stop)
                   for n in range(clients_per_replica * len(cluster.replicas))]
        auditor = Auditor(cluster.replicas[-1], cluster.token, stop)
        nemesis = nemesis_class(cluster, history, stop)
        nemesis_errors = []

        def run_nemesis():
            try:
                nemesis.run()
            except Exception as error:  # a schedule that could not inject its faults is a failed run
                nemesis_errors.append(f"{type(error).__name__}: {error}")

        threads = [threading.Thread(target=c.run) for c in clients] + [threading.Thread(target=auditor.run),
                                                                       threading.Thread(target=run_nemesis)]
        for thread in threads:
            thread.start()
        seconds = max(seconds, nemesis_class.minimum_seconds)
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        nemesis.heal()
        try:
            hashes = cluster.converged(timeout=60)
        except AssertionError:
            for replica in cluster.replicas:
                try:
                    print(f"  replica {replica.id} did not converge: {replica.status()}")
                except Exception as error:
                    print(f"  replica {replica.id} did not answer: {error}")
            raise
        divergences = 0 if len({(h["state_hash"], h["audit_head"]) for h in hashes}) == 1 else 1
        logs = fetch_logs(cluster)
        events, resolution = resolve_unknowns(history.events, logs["replica-1"])
        final_sets = {f"replica-{r.id}": [p["name"] for p in fetch_all(r, f"/v1/orgs/{ORGANIZATION}/projects?consistency=stale", cluster.token)]
                      for r in cluster.replicas}
        revoked = {f"replica-{r.id}": [item["revocation_id"] for item in fetch_revocations(r, cluster.token)] for r in cluster.replicas}
        verdicts = [
            check_set([e for e in events if e["f"] == "create"], final_sets, key="projects"),
            check_register(events, REGISTER, initial),
            check_audit(events, logs),
            check_set([e for e in events if e["f"] == "revoke"], revoked, key="revocations", f="revoke"),
            check_revoked_tokens(events),
        ]
        if auditor.problems:
            verdicts[2].fail("; ".join(auditor.problems[:3]))
        failures = [] if nemesis_class.fails_replicas else replica_failures(cluster)
        acknowledged = sum(1 for e in events if e["type"] == "ok" and e["f"] in ("create", "cas", "revoke"))
        print(f"schedule {schedule}: {seconds:.0f} s, {len(history.events)} history events in {history_path}")
        print(f"  acknowledged writes checked: {acknowledged}; lost: {verdicts[0].counts.get('lost', 0)}; divergences: {divergences}; "
              f"timed-out requests resolved from the audit log: {resolution['resolved_ok']} applied, {resolution['resolved_failed']} not")
        print(f"  auditor read {auditor.pages} pages")
        for line in nemesis.report():
            print(f"  {line}")
        for verdict in verdicts:
            print("  " + str(verdict).replace("\n", "\n  "))
        for problem in nemesis_errors:
            print(f"  nemesis failed: {problem}")
        for failure in failures:
            print(f"  replica failed by itself: {failure}")
        nemesis_problems = getattr(nemesis, "problems", [])
        return all(v.valid for v in verdicts) and divergences == 0 and not nemesis_errors and not failures and not nemesis_problems
    finally:
        stop.set()
        history.close()
        cluster.stop()
        if hasattr(cluster, "proxies"):
            cluster.proxies.close()


def in_new_namespace() -> int:
    """Runs this same command inside a network namespace made for it (its loopback up, its
    own firewall), then removes the namespace. Partitions touch only that namespace."""
    name = f"rampart-faults-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        environment = dict(os.environ, RAMPART_IN_NETNS=name)
        return subprocess.run(["ip", "netns", "exec", name, sys.executable, *sys.argv], env=environment).returncode
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedule", choices=sorted(SCHEDULES), required=True)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--history", type=Path)
    parser.add_argument("--keep", type=Path, help="keep the cluster's data and logs here")
    parser.add_argument("--tls", action="store_true", help="HTTPS for the clients and mutual TLS between the replicas")
    parser.add_argument("--netns", action="store_true",
                        help="run inside a new network namespace, each replica on its own loopback address (partition schedules always do)")
    arguments = parser.parse_args()
    if (arguments.netns or arguments.schedule in NEEDS_NETNS) and "RAMPART_IN_NETNS" not in os.environ:
        sys.exit(in_new_namespace())
    root = arguments.keep or Path(tempfile.mkdtemp(prefix="rampart-faults-"))
    root.mkdir(parents=True, exist_ok=True)
    history_path = arguments.history or root / f"history-{arguments.schedule}.jsonl"
    print(f"schedule {arguments.schedule}, TLS {'on' if arguments.tls else 'off'}")
    valid = run(arguments.schedule, arguments.seconds, history_path, root, tls=arguments.tls)
    sys.exit(0 if valid else 1)


if __name__ == "__main__":
    main()
