"""A fault-injecting TCP proxy for peer links, written for Rampart's fault schedules.

Each directed link between two replicas (i dials j) goes through its own listening port: the
proxy accepts i's connection, opens one to j, and copies bytes both ways, chunk by chunk. While
chaos is on, each chunk may be delayed, duplicated (the receiver sees bytes twice, which the
peer protocol's sealed, sequenced frames must refuse), or the connection cut (a lost segment
on a stream ends in a reset). Links can also be blackholed: connections are accepted and then
nothing flows.
"""

import random
import socket
import threading
import time


class Link:
    """One directed link: listens on `port`, forwards to `target`; with `capture`, it keeps a copy
    of every byte it relays, both ways (`captured`)."""

    def __init__(self, target, chaos, capture=False):
        self.target = target
        self.chaos = chaos
        self.capture = capture
        self.captured = bytearray()
        self.capture_lock = threading.Lock()
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.connections = []
        self.closed = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            self.connections += [client, upstream]
            for source, destination in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(source, destination), daemon=True).start()

    def pump(self, source, destination):
        rng = random.Random()
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                if self.capture:
                    with self.capture_lock:
                        self.captured += chunk
                settings = self.chaos.settings
                if settings["cut"] and rng.random() < settings["cut"]:
                    break
                if settings["delay"]:
                    time.sleep(rng.uniform(0, settings["delay"]))
                destination.sendall(chunk)
                if settings["duplicate"] and rng.random() < settings["duplicate"]:
                    destination.sendall(chunk)
        except OSError:
            pass
        for sock in (source, destination):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self):
        self.closed = True
        self.server.close()
        for sock in self.connections:
            try:
                sock.close()
            except OSError:
                pass


class Chaos:
    """The shared chaos settings of every link: probabilities per chunk and a delay bound."""

    def __init__(self):
        self.settings = {"cut": 0.0, "delay": 0.0, "duplicate": 0.0}

    def set(self, cut=0.0, delay=0.0, duplicate=0.0):
        self.settings = {"cut": cut, "delay": delay, "duplicate": duplicate}


class Proxies:
    """A link for every ordered pair of replicas; `address(i, j)` is where i dials j."""

    def __init__(self, peer_addresses, capture=False):
        self.chaos = Chaos()
        self.links = {}
        for i in peer_addresses:
            for j, target in peer_addresses.items():
                if i != j:
                    self.links[(i, j)] = Link(target, self.chaos, capture)

    def address(self, i, j):
        return f"127.0.0.1:{self.links[(i, j)].port}"

    def captured(self):
        """Every byte relayed so far on every link (with `capture`)."""
        total = bytearray()
        for link in self.links.values():
            with link.capture_lock:
                total += link.captured
        return bytes(total)

    def close(self):
        for link in self.links.values():
            link.close()
