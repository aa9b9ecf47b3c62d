"""A real NATS JetStream cluster on loopback, for the replication tests.

Starts `nats-server` nodes (the Debian binary) clustered with each other,
JetStream on, each with its own store directory and OS-picked free ports,
and lets a test stop, kill and restart them. Readiness is the cluster's own
monitoring endpoint (a JetStream meta leader elected), never a sleep.
"""

import collections
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
READY_TIMEOUT_S = 30.0


class NatsError(Exception):
    pass


def free_port():
    """A port nobody listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsNode:
    def __init__(self, name, work_dir, client_port, cluster_port, http_port,
                 routes, extra_config="", jetstream=True):
        self.name = name
        self.client_port = client_port
        self.http_port = http_port
        self.store_dir = os.path.join(work_dir, f"{name}-store")
        self.config_path = os.path.join(work_dir, f"{name}.conf")
        self.log_path = os.path.join(work_dir, f"{name}.log")
        cluster = ""
        if routes:
            route_list = ", ".join(f"nats://127.0.0.1:{p}" for p in routes)
            cluster = (f"cluster {{ name: related-test, listen: 127.0.0.1:{cluster_port}, "
                       f"routes: [{route_list}] }}\n")
        with open(self.config_path, "w") as f:
            f.write(f"server_name: {name}\n"
                    f"listen: 127.0.0.1:{client_port}\n"
                    f"http: 127.0.0.1:{http_port}\n"
                    # A batch of 1,000 articles of 384 floats is ~1.6 MB.
                    "max_payload: 8MB\n"
                    + (f"jetstream {{ store_dir: \"{self.store_dir}\" }}\n" if jetstream else "")
                    + cluster + extra_config)
        self.proc = None

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.client_port}"

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([NATS_SERVER, "-c", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM (nats-server shuts down cleanly), then wait."""
        if self.running():
            self.proc.terminate()
            self.proc.wait(20)

    def kill(self):
        if self.running():
            self.proc.kill()
            self.proc.wait(10)

    def monitor(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}",
                                    timeout=2) as reply:
            return json.loads(reply.read().decode())

    def log_tail(self, lines=20):
        with open(self.log_path) as f:
            return "".join(f.readlines()[-lines:])


class NatsCluster:
    """`size` clustered nodes (size 1: a single server, not clustered)."""

    def __init__(self, work_dir, size=3, extra_config="", jetstream=True):
        self._settings = (work_dir, size, extra_config, jetstream)
        self.nodes = self._make_nodes()

    def _make_nodes(self):
        work_dir, size, extra_config, jetstream = self._settings
        ports = [(free_port(), free_port(), free_port()) for _ in range(size)]
        routes = [cluster for _, cluster, _ in ports] if size > 1 else []
        nodes = [
            NatsNode(f"n{i + 1}", work_dir, client, cluster, http, routes, extra_config,
                     jetstream)
            for i, (client, cluster, http) in enumerate(ports)]
        for node in nodes:
            shutil.rmtree(node.store_dir, ignore_errors=True)
        return nodes

    @property
    def url(self):
        return ",".join(node.url for node in self.nodes)

    def start(self, attempts=3):
        """Starts every node. A port picked free can be taken by another
        process before the node binds it (tests run in parallel), and that
        node then exits: the cluster is started again on new ports."""
        for attempt in range(1, attempts + 1):
            for node in self.nodes:
                node.start()
            try:
                self.wait_ready()
                return
            except NatsError:
                if attempt == attempts:
                    raise
                self.stop()
                self.nodes = self._make_nodes()

    def stop(self):
        for node in self.nodes:
            node.stop()

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def wait_ready(self, timeout_s=READY_TIMEOUT_S):
        """Until every running node answers and sees the same JetStream meta
        leader, in a meta group that knows every node (a node that never
        joined leaves streams of 3 replicas no peers to be placed on)."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                leaders = set()
                sizes = set()
                for node in self.nodes:
                    if node.running():
                        if len(self.nodes) == 1:
                            node.monitor("/varz")  # answers: up
                            leaders.add("single")
                            continue
                        meta = node.monitor("/jsz").get("meta_cluster", {})
                        leaders.add(meta.get("leader", ""))
                        sizes.add(meta.get("cluster_size", 0))
                if (leaders and "" not in leaders and len(leaders) == 1
                        and (len(self.nodes) == 1 or sizes == {len(self.nodes)})):
                    return
                last = f"meta leaders seen: {sorted(leaders)}, group sizes {sorted(sizes)}"
            except OSError as err:
                last = str(err)
            time.sleep(0.1)  # poll interval, bounded by the deadline
        raise NatsError(f"NATS cluster not ready within {timeout_s:.0f}s ({last})\n"
                        + "\n".join(n.log_tail() for n in self.nodes))

    def stream_views(self, stream):
        """What each running node that answers reports of `stream`: (node,
        the leader it names or None, its last_seq)."""
        views = []
        for node in self.nodes:
            if not node.running():
                continue
            try:
                jsz = node.monitor("/jsz?accounts=true&streams=true")
            except OSError:
                continue
            for account in jsz.get("account_details", []):
                for detail in account.get("stream_detail", []):
                    if detail.get("name") == stream:
                        views.append((node.name,
                                      detail.get("cluster", {}).get("leader") or None,
                                      detail["state"]["last_seq"]))
        return views

    def _leader_view(self, stream):
        """The leader's own view of `stream`, or None while there is none.

        The leader is the node that most nodes name, more than half of those
        that answer. A node just restarted may name itself for a minute, with
        a last_seq thousands behind the stream's, so the first node to claim
        the lead is not enough. A single node names no leader: it leads."""
        views = self.stream_views(stream)
        if len(self.nodes) == 1:
            return views[0] if views else None
        named = collections.Counter(leader for _, leader, _ in views if leader)
        if not named:
            return None
        leader, votes = named.most_common(1)[0]
        if votes * 2 <= len(views):
            return None
        return next((view for view in views if view[0] == leader), None)

    def stream_leader(self, stream, timeout_s=READY_TIMEOUT_S):
        """The name of the node leading `stream`'s Raft group."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            view = self._leader_view(stream)
            if view is not None:
                return view[0]
            time.sleep(0.1)  # poll interval, bounded by the deadline
        raise NatsError(f"stream {stream} has no leader within {timeout_s:.0f}s: "
                        f"(node, its leader, its last_seq) {self.stream_views(stream)}")

    def stream_last_sequence(self, stream):
        """The last sequence of `stream`, as its leader reports it."""
        view = self._leader_view(stream)
        if view is None:
            raise NatsError(f"no leader of stream {stream} that most nodes agree on: "
                            f"(node, its leader, its last_seq) {self.stream_views(stream)}")
        return view[2]
