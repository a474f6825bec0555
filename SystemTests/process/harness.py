"""Real `rampart server` processes on loopback, for process-level tests and measurements.

A `Cluster` writes a configuration per replica (free ports, a fresh data directory, its own
cluster secret), starts the processes, and offers the operations tests need: find the leader,
write, kill -9, SIGTERM, restart, and compare state hashes. Waiting is always a poll of a
condition with a deadline.
"""

import json
import os
import random
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def binary() -> str:
    """The rampart binary under test: $RAMPART_BINARY, else the debug build."""
    path = os.environ.get("RAMPART_BINARY") or str(ROOT / ".build" / "debug" / "rampart")
    if not Path(path).exists():
        raise RuntimeError(f"{path} is missing: run `swift build --product rampart` first")
    return path


#: Ports this process has handed out, never handed out twice.
_handed_out = set()


def _ephemeral_range():
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port that is free now, outside the kernel's ephemeral range. A port the kernel picks
    (binding port 0) lies inside that range, from which outgoing connections also take their
    source ports: a replica's connection to a peer could take it before the server meant to
    listen there starts, which then fails to bind (seen once in CI as a replica that never
    served). Ports below the range are never given out that way."""
    low, high = _ephemeral_range()
    top = low - 1 if low > 11_000 else 60_999
    bottom = 10_000 if low > 11_000 else high + 1
    for _ in range(10_000):
        port = random.randint(bottom, top)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {bottom}-{top}")


def eventually(condition, timeout=20.0, interval=0.02, message="condition"):
    """Polls `condition` until it returns a truthy value; raises after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # a replica may be down or restarting meanwhile
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message} (last error: {last_error})")


class HTTPError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Replica:
    def __init__(self, cluster, replica_id):
        self.cluster = cluster
        self.id = replica_id
        # With distinct hosts every replica has its own loopback address (127.0.0.2, .3...),
        # so firewall rules can cut one replica off from another; clients use 127.0.0.1.
        self.host = f"127.0.0.{replica_id + 1}" if cluster.distinct_hosts else "127.0.0.1"
        self.peer_port = free_port()
        self.api_port = free_port()
        self.data = cluster.root / f"replica-{replica_id}"
        self.log_path = cluster.root / f"replica-{replica_id}.log"
        self.config_path = cluster.root / f"replica-{replica_id}.json"
        self.process = None

    @property
    def endpoint(self):
        return f"{'https' if self.cluster.tls else 'http'}://{self.host}:{self.api_port}"

    def write_config(self):
        config = {
            "replica_id": self.id,
            "data_directory": str(self.data),
            "peer_listen": f"{self.host}:{self.peer_port}",
            "api_listen": f"{self.host}:{self.api_port}",
            "peers": {**{str(r.id): self.cluster.peer_address(self, r) for r in self.cluster.replicas},
                      **{str(k): v for k, v in self.cluster.extra_peers.items()}},
            "initial_cluster": [r.id for r in self.cluster.replicas],
            "cluster_secret_file": str(self.cluster.secret_path),
            "key_encryption_key_file": str(self.cluster.kek_path),
            "tick_milliseconds": self.cluster.tick_milliseconds,
            "election_timeout_ticks": self.cluster.election_timeout_ticks,
            "snapshot_interval_entries": self.cluster.snapshot_interval,
            "log_level": "info",
            **self.cluster.tls_settings(self),
            **self.cluster.extra_settings,
        }
        self.config_path.write_text(json.dumps(config, indent=2))

    def start(self):
        assert self.process is None or self.process.poll() is not None, f"replica {self.id} is already running"
        if self.cluster.tmpfs_megabytes and not os.path.ismount(self.data):
            # A small disk of its own, so that a test can fill it (needs root).
            self.data.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.cluster.tmpfs_megabytes}m,mode=0700", "tmpfs", str(self.data)],
                           check=True)
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen([binary(), "server", "--config", str(self.config_path)], stdout=self.log, stderr=self.log)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def kill(self):
        """kill -9: no clean shutdown, no leadership transfer."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout=15):
        """SIGTERM; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def request(self, method, path, body=None, token=None, headers=None, timeout=10):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.endpoint + path, data=data, method=method)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.cluster.ssl_context) as response:
                text = response.read().decode()
                return json.loads(text) if response.headers.get("Content-Type", "").startswith("application/json") else text
        except urllib.error.HTTPError as error:
            raise HTTPError(error.code, error.read().decode()) from None

    def status(self):
        return self.request("GET", "/v1/cluster", token=self.cluster.token)

    def state_hash(self):
        return self.request("GET", "/v1/cluster/hash", token=self.cluster.token)

    def metric(self, name):
        text = self.request("GET", "/metrics")
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise KeyError(name)

    def rss_kib(self):
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")


class Cluster:
    def __init__(self, root: Path, size=3, tick_milliseconds=20, election_timeout_ticks=10, snapshot_interval=10000,
                 distinct_hosts=False, tmpfs_megabytes=0, extra_peers=None, tls=False, **extra_settings):
        self.root = root
        # With tls, `rampart certs` makes a cluster CA and a certificate per replica, and the API
        # serves HTTPS only; clients here trust the CA (`ssl_context`).
        self.tls = tls
        self.ssl_context = None
        # Peer addresses of replicas that are configured but not started ({id: "host:port"}).
        self.extra_peers = extra_peers or {}
        self.peer_route = None
        self.distinct_hosts = distinct_hosts
        self.tmpfs_megabytes = tmpfs_megabytes
        self.extra_settings = extra_settings
        self.tick_milliseconds = tick_milliseconds
        self.election_timeout_ticks = election_timeout_ticks
        self.snapshot_interval = snapshot_interval
        self.secret_path = root / "cluster.secret"
        self.kek_path = root / "key-encryption.key"
        self.secret_path.write_text(secrets.token_hex(32))
        self.kek_path.write_text(secrets.token_hex(32))
        os.chmod(self.secret_path, 0o600)
        os.chmod(self.kek_path, 0o600)
        self.replicas = []
        self.replicas = [Replica(self, n) for n in range(1, size + 1)]
        if tls:
            self.certs = root / "certs"
            subprocess.run([binary(), "certs", "init", "--dir", str(self.certs)], check=True, capture_output=True, timeout=60)
            for replica in self.replicas:
                subprocess.run([binary(), "certs", "issue", "--dir", str(self.certs), "--replica", str(replica.id), "--host", replica.host,
                                "--host", "localhost"], check=True, capture_output=True, timeout=60)
            import ssl
            self.ssl_context = ssl.create_default_context(cafile=str(self.certs / "ca.pem"))
        for replica in self.replicas:
            replica.write_config()
        self.token = None
        self.counter = 0

    def tls_settings(self, replica):
        """The TLS settings of `replica`'s configuration (none without tls)."""
        if not self.tls:
            return {}
        return {"tls_cert_file": str(self.certs / f"replica-{replica.id}.pem"), "tls_key_file": str(self.certs / f"replica-{replica.id}-key.pem"),
                "tls_ca_file": str(self.certs / "ca.pem")}

    def peer_address(self, dialer, peer):
        """Where `dialer` reaches `peer`: its peer port, or a route set with `route_peers`."""
        if self.peer_route is not None and dialer.id != peer.id:
            return self.peer_route(dialer.id, peer.id)
        return f"{peer.host}:{peer.peer_port}"

    def route_peers(self, route):
        """Makes every replica dial its peers at `route(dialer id, peer id)` (a proxy)."""
        self.peer_route = route
        for replica in self.replicas:
            replica.write_config()

    def start(self):
        for replica in self.replicas:
            replica.start()
        self.bootstrap()
        # The bootstrap needs a majority only: a replica that could not start would go unseen.
        for replica in self.replicas:
            def serving(replica=replica):
                if not replica.running():
                    tail = replica.log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"replica {replica.id} exited at start-up; its log ends with:\n{tail}")
                return replica.request("GET", "/healthz", timeout=2)
            try:
                eventually(serving, timeout=20, message=f"replica {replica.id} serving")
            except AssertionError:
                if not replica.running():
                    serving()  # raises with the log's tail
                raise

    def bootstrap(self):
        key_file = self.root / "admin.key"
        endpoints = ",".join(r.endpoint for r in self.replicas)
        trust = ["--cacert", str(self.certs / "ca.pem")] if self.tls else []
        subprocess.run(
            [binary(), "bootstrap", "--endpoints", endpoints, "--cluster-secret-file", str(self.secret_path),
             "--admin-key-file", str(key_file), "--wait", "60", *trust],
            check=True, capture_output=True, timeout=90)
        assert (key_file.stat().st_mode & 0o777) == 0o600
        self.token = key_file.read_text().strip()
        # The bootstrap answered once the replica the CLI reached had applied it; another replica
        # that has not yet refuses the new key like an unknown one (authentication comes before
        # any wait, by design). Tests start once every running replica knows the key.
        eventually(lambda: all(self.accepts_key(r) for r in self.replicas if r.running()), timeout=60,
                   message="every running replica knows the admin key")

    def accepts_key(self, replica):
        """Whether `replica` authenticates the admin key (False while it has not applied it)."""
        try:
            replica.request("GET", "/v1/cluster", token=self.token)
            return True
        except HTTPError as error:
            if error.status == 401:
                return False
            raise

    def stop(self):
        for replica in self.replicas:
            if replica.running():
                replica.process.kill()
                replica.process.wait()
            if self.tmpfs_megabytes and os.path.ismount(replica.data):
                subprocess.run(["umount", str(replica.data)], check=False)

    def running(self):
        return [r for r in self.replicas if r.running()]

    def leader(self, timeout=20):
        """The replica every running replica names as leader."""
        def agreed():
            statuses = [r.status() for r in self.running()]
            leaders = {s["leader"] for s in statuses}
            if len(leaders) != 1 or None in leaders:
                return None
            leader_id = leaders.pop()
            replica = self.replicas[leader_id - 1]
            return replica if replica.running() and replica.status()["role"] == "leader" else None
        return eventually(agreed, timeout=timeout, message="an agreed leader")

    def create_organization(self, via, name=None, timeout=10):
        self.counter += 1
        name = name or f"org-{self.counter}-{secrets.token_hex(3)}"
        return via.request("POST", "/v1/orgs", {"name": name}, token=self.token, timeout=timeout)

    def converged(self, timeout=30):
        """Waits until every running replica reports the same revision, state hash and audit head,
        and a leader has nothing in flight (its last, commit and applied index are that revision):
        replicas can agree for a moment on an older revision while a new leader is still
        committing what its predecessor left."""
        def same():
            hashes = [r.state_hash() for r in self.running()]
            keys = {(h["revision"], h["state_hash"], h["audit_head"], h["audit_sequence"]) for h in hashes}
            if len(keys) != 1:
                return None
            revision = hashes[0]["revision"]
            settled = any(s["role"] == "leader" and s["last_index"] == s["commit_index"] == s["applied_index"] == revision
                          for s in (r.status() for r in self.running()))
            return hashes if settled else None
        return eventually(same, timeout=timeout, message="identical state on every replica")
