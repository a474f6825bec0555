"""Named fault schedules. Each runs in its own thread until `stop` is set, then `heal()` undoes
every fault it left (resumes paused replicas, restarts killed ones), and `report()` says what it
did and measured."""

import os
import random
import shutil
import signal
import statistics
import subprocess
import time


class Nemesis:
    """The base schedule: no fault."""

    #: Settings for the cluster this schedule runs against.
    cluster_settings = {}
    #: Whether the schedule makes replicas fail on purpose (a full disk); otherwise a replica
    #: that stops itself with a failure is a finding.
    fails_replicas = False
    #: The shortest run that shows the schedule's faults under load (the run lasts at least this).
    minimum_seconds = 0

    def __init__(self, cluster, history, stop):
        self.cluster = cluster
        self.history = history
        self.stop = stop
        self.events = []
        self.kill_times = []

    @classmethod
    def prepare(cls, cluster):
        """Sets the cluster up before it starts (the default needs nothing)."""

    def wait(self, seconds):
        """Sleeps unless the run ends first; returns whether it should go on."""
        return not self.stop.wait(seconds)

    def note(self, text):
        self.events.append(text)
        self.history.add(process="nemesis", type="info", f="nemesis", key=None, value=text, request_id=f"nemesis-{len(self.events)}")

    def leader(self):
        try:
            return self.cluster.leader(timeout=10)
        except AssertionError:
            return None

    def run(self):
        self.stop.wait()

    def heal(self):
        """Resumes paused replicas and brings every replica up: one still shutting down after a
        failure (a full disk) is waited for, one that hangs is killed, and both are restarted."""
        for replica in self.cluster.replicas:
            if replica.process is not None and replica.process.poll() is None:
                os.kill(replica.process.pid, signal.SIGCONT)
        deadline = time.monotonic() + 20
        for replica in self.cluster.replicas:
            while replica.running() and not self.healthy(replica) and time.monotonic() < deadline:
                time.sleep(0.1)
            if replica.running() and not self.healthy(replica):
                replica.kill()
            if not replica.running():
                replica.start()

    @staticmethod
    def healthy(replica):
        try:
            return replica.request("GET", "/healthz", timeout=1).startswith("ok")
        except Exception:
            return False

    def failover_times(self):
        """For each leader kill: the time to the first acknowledged write after it."""
        oks = sorted(e["time"] for e in self.history.events if e["type"] == "ok" and e["f"] in ("create", "cas"))
        times = []
        for killed in self.kill_times:
            after = next((t for t in oks if t > killed), None)
            if after is not None:
                times.append(after - killed)
        return times

    def report(self):
        lines = [f"nemesis: {len(self.events)} faults"]
        times = self.failover_times()
        if times:
            times.sort()
            p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
            lines.append(
                f"leader kill to first acknowledged write: median {statistics.median(times) * 1000:.0f} ms, "
                f"p99 {p99 * 1000:.0f} ms, worst {times[-1] * 1000:.0f} ms over {len(times)} kills")
        return lines


class LeaderKill(Nemesis):
    """kill -9 the leader, restart it a second later, again and again."""

    def run(self):
        while self.wait(1.5):
            leader = self.leader()
            if leader is None:
                continue
            leader.kill()
            self.kill_times.append(time.monotonic() - self.history.start)
            self.note(f"killed leader {leader.id}")
            if not self.wait(1.0):
                break
            leader.start()
            self.note(f"restarted {leader.id}")


class KillAll(Nemesis):
    """kill -9 every replica at once, then restart them all."""

    def run(self):
        while self.wait(3.0):
            for replica in self.cluster.replicas:
                replica.kill()
            self.note("killed every replica")
            if not self.wait(0.5):
                break
            for replica in self.cluster.replicas:
                replica.start()
            self.note("restarted every replica")


class LeaderPause(Nemesis):
    """SIGSTOP the leader for longer than an election timeout, then SIGCONT it: it comes back
    as a deposed leader with stale state."""

    def run(self):
        while self.wait(1.5):
            leader = self.leader()
            if leader is None:
                continue
            os.kill(leader.process.pid, signal.SIGSTOP)
            self.note(f"paused leader {leader.id}")
            self.stop.wait(1.5)
            os.kill(leader.process.pid, signal.SIGCONT)
            self.note(f"resumed {leader.id}")


class FollowerCutOff(Nemesis):
    """Pauses a follower until the leader has compacted its log past it, then resumes it: it
    must catch up by snapshot."""

    cluster_settings = {"snapshot_interval": 30}

    def run(self):
        while self.wait(1.0):
            leader = self.leader()
            if leader is None:
                continue
            follower = next(r for r in self.cluster.replicas if r.id != leader.id)
            start = leader.status()["snapshot_index"]
            os.kill(follower.process.pid, signal.SIGSTOP)
            self.note(f"paused follower {follower.id}")
            # Far enough that the entries the follower lacks are no longer in the leader's log,
            # nor in flight to it: only a snapshot can bring it back.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not self.stop.is_set():
                try:
                    if leader.status()["snapshot_index"] > start + 400:
                        break
                except Exception:
                    break
                time.sleep(0.1)
            os.kill(follower.process.pid, signal.SIGCONT)
            self.note(f"resumed {follower.id} after compaction")

    def report(self):
        installed = sum(r.metric("rampart_snapshots_installed_total") for r in self.cluster.replicas if r.running())
        return super().report() + [f"snapshots installed by the replicas' current processes: {installed:.0f}"]


def records_extent(path):
    """Where the records at the start of a log segment end (the space the replica reserves past
    them, zeros, begins there) and where the last of them starts. Follows the framing (payload
    length, checksum, type byte, payload) without checking checksums."""
    data = path.read_bytes()
    offset = 0
    last = 0
    while offset + 9 <= len(data):
        length = int.from_bytes(data[offset:offset + 4], "little")
        if data[offset + 8] == 0 or offset + 9 + length > len(data):
            break
        last = offset
        offset += 9 + length
    return offset, last


class TornTail(Nemesis):
    """Kills a follower, damages the tail of its newest log segment (the last record cut short,
    its payload zeroed as a write torn inside reserved space, or a flipped bit in it), and
    restarts it: recovery must drop the damaged tail, and the replica catch up from the leader."""

    def run(self):
        round_number = 0
        while self.wait(1.5):
            leader = self.leader()
            if leader is None:
                continue
            follower = next(r for r in self.cluster.replicas if r.id != leader.id)
            follower.kill()
            segments = sorted((follower.data / "raft").glob("wal-*.log"))
            if segments:
                newest = segments[-1]
                end, last = records_extent(newest)
                round_number += 1
                with open(newest, "r+b") as file:
                    if round_number % 3 == 0 and end > 8:
                        file.truncate(end - 7)
                        self.note(f"cut {follower.id}'s last log record short by 7 bytes")
                    elif round_number % 3 == 1 and end > last + 9:
                        # Its header reached the disk, its payload (never all zeros: a term is
                        # at least 1) did not, as in space the replica had reserved.
                        file.seek(last + 9)
                        file.write(bytes(end - last - 9))
                        self.note(f"zeroed the payload of {follower.id}'s last log record ({end - last - 9} bytes)")
                    elif end > 3:
                        file.seek(end - 3)
                        byte = file.read(1)
                        file.seek(end - 3)
                        file.write(bytes([byte[0] ^ 0x10]))
                        self.note(f"flipped a bit in {follower.id}'s last log record")
            follower.start()


class DiskFull(Nemesis):
    """Fills the leader's disk (each replica's data lives on its own small tmpfs). Its next
    durable write fails; a replica whose disk fails stops rather than risk diverging, the
    others elect a leader, and once space is freed the stopped replica restarts and catches up.
    Needs root (mount)."""

    fails_replicas = True

    cluster_settings = {"tmpfs_megabytes": 48}

    def fill(self, replica):
        filler = replica.data / "filler"
        chunk = b"\0" * (1 << 20)
        try:
            with open(filler, "wb") as file:
                while True:
                    file.write(chunk)
                    file.flush()
        except OSError:
            pass  # full
        return filler

    def run(self):
        while self.wait(1.5):
            leader = self.leader()
            if leader is None:
                continue
            filler = self.fill(leader)
            self.note(f"filled leader {leader.id}'s disk")
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and leader.running() and not self.stop.is_set():
                time.sleep(0.05)
            stopped = not leader.running()
            filler.unlink(missing_ok=True)
            self.note(f"freed {leader.id}'s disk ({'it stopped' if stopped else 'still running'})")
            if stopped:
                leader.start()
                self.note(f"restarted {leader.id}")

    def heal(self):
        for replica in self.cluster.replicas:
            (replica.data / "filler").unlink(missing_ok=True)
        super().heal()


class ProxyChaos(Nemesis):
    """Every peer link goes through a fault-injecting proxy; in bursts, chunks are delayed,
    duplicated (the receiver must refuse the replayed frames and reconnect) or the connection
    is cut."""

    @classmethod
    def prepare(cls, cluster):
        from proxy import Proxies
        cluster.proxies = Proxies({r.id: (r.host, r.peer_port) for r in cluster.replicas})
        cluster.route_peers(cluster.proxies.address)

    def run(self):
        chaos = self.cluster.proxies.chaos
        while self.wait(1.0):
            chaos.set(cut=0.002, delay=0.02, duplicate=0.002)
            self.note("proxy chaos on: delays up to 20 ms, duplicated chunks, cut connections")
            self.stop.wait(2.0)
            chaos.set()
            self.note("proxy chaos off")

    def heal(self):
        self.cluster.proxies.chaos.set()
        super().heal()


class Partition(Nemesis):
    """The base of the partition schedules: firewall rules between the replicas' loopback
    addresses, inside the network namespace the run created (clients, on 127.0.0.1, are never
    cut off). Needs `run.py --netns` (root, iptables)."""

    cluster_settings = {"distinct_hosts": True}

    def drop(self, source, destination):
        """Drops every packet from replica `source` to replica `destination`."""
        subprocess.run(["iptables", "-A", "INPUT", "-s", source.host, "-d", destination.host, "-j", "DROP"], check=True)

    def cut(self, side, others):
        for a in side:
            for b in others:
                self.drop(a, b)
                self.drop(b, a)

    def heal_network(self):
        subprocess.run(["iptables", "-F", "INPUT"], check=True)

    def heal(self):
        self.heal_network()
        super().heal()

    def cycle(self, partition, description):
        """Partitions for a while, heals, and lets the cluster settle."""
        partition()
        self.note(description)
        self.stop.wait(2.0)
        self.heal_network()
        self.note("healed the network")


class IsolateLeader(Partition):
    """Cuts the leader off from every other replica, both ways: the majority elects a new
    leader; the old one, alone, must not acknowledge anything."""

    def run(self):
        while self.wait(1.5):
            leader = self.leader()
            if leader is None:
                continue
            others = [r for r in self.cluster.replicas if r.id != leader.id]
            self.cycle(lambda: self.cut([leader], others), f"isolated leader {leader.id}")


class RandomHalves(Partition):
    """Splits the replicas into a random minority and majority, both ways."""

    def run(self):
        rng = random.Random(7)
        while self.wait(1.5):
            replicas = list(self.cluster.replicas)
            rng.shuffle(replicas)
            minority, majority = replicas[: len(replicas) // 2], replicas[len(replicas) // 2:]
            self.cycle(lambda: self.cut(minority, majority),
                       f"split {[r.id for r in minority]} from {[r.id for r in majority]}")


class OneWayLeader(Partition):
    """Drops what the leader sends to the others, but not what they send it: the others elect
    a new leader while the old one still hears them."""

    def run(self):
        while self.wait(1.5):
            leader = self.leader()
            if leader is None:
                continue
            others = [r for r in self.cluster.replicas if r.id != leader.id]
            self.cycle(lambda: [self.drop(leader, other) for other in others], f"one-way partition from leader {leader.id}")


class LossyLinks(Partition):
    """Drops a random share of the packets between every pair of replicas (iptables'
    statistic match): lost segments, retransmissions and stalls on every peer link."""

    def run(self):
        while self.wait(1.0):
            for a in self.cluster.replicas:
                for b in self.cluster.replicas:
                    if a.id != b.id:
                        subprocess.run(["iptables", "-A", "INPUT", "-s", a.host, "-d", b.host, "-m", "statistic", "--mode", "random",
                                        "--probability", "0.2", "-j", "DROP"], check=True)
            self.note("20% packet loss on every peer link")
            self.stop.wait(2.5)
            self.heal_network()
            self.note("healed the network")


class GrowShrink(Nemesis):
    """Membership by address under load: starts replicas 4 and 5 (no `initial_cluster`; 4's
    `peers` name the current members and itself, 5's itself alone; the founders' configurations
    are never touched), adds each with `rampart cluster add --id N --peer-address`, waits for the leader to
    promote it on its own (`auto_promote_seconds`), hands leadership to replica 5, then removes
    5 (the leader itself) and 4 with `rampart cluster remove`: 3 voters to 5 and back to 3, again
    while the run lasts. Every step goes through the CLI on a founder's endpoint; the removed
    replicas must stop by themselves."""

    cluster_settings = {"auto_promote_seconds": 1}
    minimum_seconds = 25
    JOINERS = (4, 5)

    def __init__(self, cluster, history, stop):
        super().__init__(cluster, history, stop)
        self.joiners = {}
        self.cycles = 0
        self.grow_times = []
        self.shrink_times = []
        self.problems = []

    def rampart(self, *arguments):
        environment = {"RAMPART_API_KEY": self.cluster.token, "PATH": "/usr/bin:/bin",
                       "RAMPART_ENDPOINTS": ",".join(r.endpoint for r in self.cluster.replicas)}
        if self.cluster.tls:
            environment["RAMPART_CACERT"] = str(self.cluster.certs / "ca.pem")
        from harness import binary
        result = subprocess.run([binary(), *arguments], capture_output=True, text=True, timeout=60, env=environment)
        if result.returncode != 0:
            raise RuntimeError(f"rampart {' '.join(arguments)} exited {result.returncode}: {result.stderr.strip()[-500:]}")
        return result.stdout

    def start_joiner(self, replica_id):
        """Starts replica `replica_id` as a new member would be: its own data directory and
        addresses, no initial cluster."""
        import json
        from harness import Replica
        replica = Replica(self.cluster, replica_id)
        if self.cluster.tls and not (self.cluster.certs / f"replica-{replica_id}.pem").exists():
            from harness import binary
            subprocess.run([binary(), "certs", "issue", "--dir", str(self.cluster.certs), "--replica", str(replica_id), "--host", replica.host,
                            "--host", "localhost"], check=True, capture_output=True, timeout=60)
        replica.write_config()
        config = json.loads(replica.config_path.read_text())
        del config["initial_cluster"]
        # Both ways a new member may be started: replica 4 names the current members, replica 5
        # itself alone (it hears the leader that adds it, and learns the rest from the book).
        members = list(self.cluster.replicas) + [j for j in self.joiners.values() if j.running()] if replica_id == self.JOINERS[0] else []
        config["peers"] = {**{str(r.id): f"{r.host}:{r.peer_port}" for r in members}, str(replica_id): f"{replica.host}:{replica.peer_port}"}
        replica.config_path.write_text(json.dumps(config, indent=2))
        if replica.data.exists():
            shutil.rmtree(replica.data)
        replica.start()
        self.joiners[replica_id] = replica
        deadline = time.monotonic() + 20
        while not self.healthy(replica):
            if not replica.running() or time.monotonic() > deadline:
                raise RuntimeError(f"joiner {replica_id} did not start: {replica.log_path.read_text(errors='replace')[-1500:]}")
            time.sleep(0.05)
        return replica

    def members(self):
        """The voters and learners as the founders agree on them (the leader may be a joiner)."""
        views = set()
        for founder in self.cluster.replicas:
            status = founder.status()
            views.add((tuple(sorted(status["voters"])), tuple(sorted(status["learners"]))))
        if len(views) != 1:
            raise RuntimeError(f"the founders disagree on the members: {views}")
        voters, learners = views.pop()
        return list(voters), list(learners)

    def leader_id(self):
        leaders = {founder.status().get("leader") for founder in self.cluster.replicas}
        leader = leaders.pop() if len(leaders) == 1 else None
        return leader

    def await_members(self, voters, learners, timeout=40):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.members() == (sorted(voters), sorted(learners)):
                    return
            except Exception:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"members never became voters {voters} learners {learners}: {self.members()}")

    def grow(self):
        started = time.monotonic()
        for replica_id in self.JOINERS:
            replica = self.start_joiner(replica_id)
            self.rampart("cluster", "add", "--id", str(replica_id), "--peer-address", f"{replica.host}:{replica.peer_port}")
            self.note(f"added replica {replica_id} at {replica.host}:{replica.peer_port} as a learner")
            voters = [1, 2, 3] + [j for j in self.JOINERS if j <= replica_id]
            self.await_members(voters, [])
            self.note(f"replica {replica_id} promoted on its own: {len(voters)} voters")
        self.grow_times.append(time.monotonic() - started)
        # A leader that joined by address: the founders follow it, and it is removed first.
        last = self.JOINERS[-1]
        self.rampart("cluster", "transfer", "--id", str(last))
        deadline = time.monotonic() + 20
        while self.leader_id() != last:
            if time.monotonic() > deadline:
                raise RuntimeError(f"leadership never reached replica {last}")
            time.sleep(0.05)
        self.note(f"leadership handed to replica {last}")

    def shrink(self):
        started = time.monotonic()
        for replica_id in reversed(self.JOINERS):
            self.rampart("cluster", "remove", "--id", str(replica_id))
            self.note(f"removed replica {replica_id}")
            voters = [1, 2, 3] + [j for j in self.JOINERS if j < replica_id]
            self.await_members(voters, [])
            replica = self.joiners.pop(replica_id)
            try:
                replica.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.problems.append(f"removed replica {replica_id} did not stop by itself")
                replica.kill()
        self.shrink_times.append(time.monotonic() - started)
        # The founders' addresses went to the book with the first member added by address
        # (replica 5 learns them there); the joiners' left it with them.
        book = self.cluster.leader(timeout=20).status()["members"]
        if sorted(m["id"] for m in book) != [1, 2, 3] or any(m["address_source"] != "replicated" for m in book):
            self.problems.append(f"the address book kept removed members, or lacks a founder: {book}")

    def run(self):
        # A cycle once begun runs to its end (3 voters again); the run's end only stops the next.
        while self.wait(1.0):
            self.grow()
            self.stop.wait(1.0)  # writes against five voters
            self.shrink()
            self.cycles += 1

    def heal(self):
        # A cycle cut short: remove what joined, then make sure nothing of it runs.
        for replica_id in sorted(self.joiners, reverse=True):
            try:
                self.rampart("cluster", "remove", "--id", str(replica_id))
            except RuntimeError as error:
                self.note(f"heal: {error}")
        for replica in self.joiners.values():
            if replica.running():
                try:
                    replica.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    replica.kill()
        self.joiners = {}
        super().heal()

    def report(self):
        lines = super().report()
        if self.grow_times:
            lines.append(f"membership cycles: {self.cycles} (3 -> 5 voters in {max(self.grow_times):.1f} s at worst, "
                         f"5 -> 3 in {max(self.shrink_times):.1f} s at worst)")
        else:
            lines.append("membership cycles: 0")
        for problem in self.problems:
            lines.append(f"membership problem: {problem}")
        return lines


SCHEDULES = {
    "none": Nemesis,
    "leader-kill": LeaderKill,
    "kill-all": KillAll,
    "leader-pause": LeaderPause,
    "follower-cutoff": FollowerCutOff,
    "torn-tail": TornTail,
    "disk-full": DiskFull,
    "proxy-chaos": ProxyChaos,
    "isolate-leader": IsolateLeader,
    "random-halves": RandomHalves,
    "one-way-leader": OneWayLeader,
    "lossy-links": LossyLinks,
    "grow-shrink": GrowShrink,
}

#: Schedules that need `run.py --netns`.
NEEDS_NETNS = {name for name, schedule in SCHEDULES.items() if issubclass(schedule, Partition)}

#: Schedules that need root for other reasons (mounting a small disk).
NEEDS_ROOT = NEEDS_NETNS | {"disk-full"}
