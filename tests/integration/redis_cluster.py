"""A real Redis Cluster on loopback for the integration tests (and scripts/): masters and
replicas as redis-server processes in their own temp dirs, joined with
`redis-cli --cluster create`, then waited for (bounded) until every node says
cluster_state:ok, every node knows every other one, and every replica is in sync.

    cluster = RedisCluster(masters=3, replicas_per_master=1, node_timeout_ms=1500).start()
    try:
        seeds = cluster.seeds()                  # ["127.0.0.1:P", ...]
        node = cluster.master_of_slot(key_slot(b"{abc}:peers"))
        cluster.kill(node)                       # SIGKILL, by PID
        new, took = cluster.wait_failover(slot)  # a replica took over
    finally:
        cluster.stop_all()                       # only the PIDs it started

Set-up takes ~3 s for 3 + 3 nodes: `repl-diskless-sync-delay 0` (the default 5 s delay
would make it ~8 s) and a node timeout of 1-2 s. Measured behaviour of Redis Cluster on
these machines: ../shared/NOTES-redis-cluster.md (developers' notes, not shipped).

Only the Python standard library, redis-server and redis-cli. Every wait is bounded.
"""

import os
import shutil
import signal
import subprocess
import time
import unittest

from harness import RedisError, RedisServer, RespClient, free_port, wait_until

CLUSTER_SLOTS = 16384
# Bounds of the cluster-wide waits, in seconds (a loaded 2-core machine, ASan tests beside).
READY_TIMEOUT = 20.0
CLI_TIMEOUT = 120.0


# ---------------------------------------------------------------------------
# key slots (CRC16/XMODEM of the hash tag, as storage/keyslot.c)

def _crc16_table():
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
        table.append(crc)
    return table


_CRC16 = _crc16_table()


def crc16(data):
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[((crc >> 8) ^ b) & 0xFF]
    return crc


def key_slot(key):
    """The cluster slot of a key (bytes or str): CRC16 of the text between the first `{`
    and the next `}` when that is non-empty, else of the whole key, & 16383."""
    if isinstance(key, str):
        key = key.encode()
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return crc16(key) & (CLUSTER_SLOTS - 1)


def swarm_slot(info_hash):
    """The slot of a swarm's keys: starling tags them {<40 hex digits of the info_hash>}."""
    return key_slot(info_hash.hex().encode())


_SLOT_KEYS = {}


def key_in_slot(slot):
    """A short key whose slot is `slot` (found once, then cached)."""
    if not _SLOT_KEYS:
        i = 0
        while len(_SLOT_KEYS) < CLUSTER_SLOTS:
            k = b"k%d" % i
            _SLOT_KEYS.setdefault(crc16(k) & (CLUSTER_SLOTS - 1), k)
            i += 1
    return _SLOT_KEYS[slot]


def redis_cli_bin():
    found = shutil.which("redis-cli")
    if found is None:
        raise unittest.SkipTest("redis-cli not installed (Debian package redis-tools)")
    return found


class ClusterNode(RedisServer):
    """A redis-server with cluster mode on (not in any cluster until it is joined)."""

    def __init__(self, node_timeout_ms):
        super().__init__()
        # The cluster bus gets a free port of its own (not the default port + 10000, which
        # may be taken, or beyond 65535).
        self.bus_port = free_port()
        with open(self.conf_path, "a") as f:
            f.write("cluster-enabled yes\n")
            f.write("cluster-port %d\n" % self.bus_port)
            f.write("cluster-config-file %s\n" % os.path.join(self.dir, "nodes.conf"))
            f.write("cluster-node-timeout %d\n" % node_timeout_ms)
            # A replica's first sync starts at once (the default waits 5 s for others).
            f.write("repl-diskless-sync yes\n")
            f.write("repl-diskless-sync-delay 0\n")
        self.killed = False

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None and not self.killed

    def execute(self, *args, timeout=2.0):
        """One command; the reply (a RedisError instance for an error reply)."""
        with RespClient(self.port, timeout=timeout) as c:
            return c.execute(*args)

    def info(self, section):
        """INFO <section> as {field: text}."""
        out = {}
        for line in self.call("INFO", section).decode().splitlines():
            k, sep, v = line.partition(":")
            if sep:
                out[k] = v.strip()
        return out

    def __repr__(self):
        return "<ClusterNode %s%s>" % (self.addr, " killed" if self.killed else "")


class RedisCluster:
    """masters + masters * replicas_per_master nodes on loopback, joined into one cluster.
    nodes: every node started (killed ones included, flagged), in start order."""

    def __init__(self, masters=3, replicas_per_master=1, node_timeout_ms=1500):
        if masters < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 masters")
        self.n_masters = masters
        self.replicas_per_master = replicas_per_master
        self.node_timeout_ms = node_timeout_ms
        self.nodes = []
        self.cli = redis_cli_bin()
        self.dir = None
        self.started_s = None  # how long start() took

    # ------------------------------------------------------------ set-up and stop

    def new_node(self):
        """One more node, started, in no cluster yet (stopped by stop_all())."""
        node = ClusterNode(self.node_timeout_ms)
        self.nodes.append(node)
        node.start()
        return node

    def start(self):
        t0 = time.monotonic()
        try:
            self.dir = os.path.dirname(self.new_node().dir)
            for _ in range(self.n_masters * (1 + self.replicas_per_master) - 1):
                self.new_node()
            self.run_cli(["--cluster", "create"] + [n.addr for n in self.nodes]
                         + ["--cluster-replicas", str(self.replicas_per_master),
                            "--cluster-yes"])
            self.wait_ready()
        except BaseException:
            self.stop_all()
            raise
        self.started_s = time.monotonic() - t0
        return self

    def stop_all(self):
        """Stops every node this cluster started (by its own PID) and removes their dirs."""
        for node in self.nodes:
            node.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop_all()

    def run_cli(self, args, timeout=CLI_TIMEOUT):
        """redis-cli ARGS to completion; AssertionError with its output when it fails."""
        r = subprocess.run([self.cli] + list(args), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0 or "[ERR]" in r.stdout:
            raise AssertionError("redis-cli %s failed (%d):\n%s%s"
                                 % (" ".join(args[:2]), r.returncode, r.stdout[-3000:],
                                    r.stderr[-1000:]))
        return r.stdout

    # ------------------------------------------------------------ topology

    def alive_nodes(self):
        return [n for n in self.nodes if n.alive()]

    def seeds(self):
        """host:port of every live node (any of them is a valid seed)."""
        return [n.addr for n in self.alive_nodes()]

    def by_port(self, port):
        for n in self.nodes:
            if n.port == port:
                return n
        raise AssertionError("port %d is not a node of this cluster" % port)

    def node_id(self, node):
        return node.call("CLUSTER", "MYID").decode()

    def cluster_nodes(self, via=None):
        """CLUSTER NODES as seen by `via` (default: the first live node that answers):
        [{id, port, flags (set), master (id or None), slots ([(first, last)])}]."""
        out = []
        text = self._ask(via, "CLUSTER", "NODES").decode()
        for line in text.splitlines():
            f = line.split()
            if len(f) < 8:
                continue
            slots = []
            for s in f[8:]:
                if s.startswith("["):  # a slot being migrated: [slot->-id] / [slot-<-id]
                    continue
                first, _, last = s.partition("-")
                slots.append((int(first), int(last or first)))
            out.append({"id": f[0], "port": int(f[1].split("@")[0].rsplit(":", 1)[1]),
                        "flags": set(f[2].split(",")),
                        "master": None if f[3] == "-" else f[3], "slots": slots})
        return out

    def _ask(self, via, *args):
        candidates = [via] if via is not None else self.alive_nodes()
        last = None
        for node in candidates:
            try:
                return node.call(*args)
            except (OSError, RedisError) as e:
                last = e
        raise AssertionError("no live node answered %r: %r" % (args, last))

    def masters(self, via=None):
        """The live nodes that are masters serving slots, as `via` sees them."""
        out = []
        for e in self.cluster_nodes(via):
            if "master" in e["flags"] and "fail" not in e["flags"] and e["slots"]:
                node = self.by_port(e["port"])
                if node.alive():
                    out.append(node)
        return out

    def replicas_of(self, master, via=None):
        mid = self.node_id(master)
        return [self.by_port(e["port"]) for e in self.cluster_nodes(via)
                if e["master"] == mid and self.by_port(e["port"]).alive()]

    def slot_owners(self, via=None):
        """[port of the master serving slot s for s in 0..16383] (None: no one), from
        CLUSTER SLOTS."""
        owners = [None] * CLUSTER_SLOTS
        for entry in self._ask(via, "CLUSTER", "SLOTS"):
            for s in range(entry[0], entry[1] + 1):
                owners[s] = entry[2][1]
        return owners

    def master_of_slot(self, slot, via=None):
        """The node serving `slot` according to CLUSTER SLOTS of `via` (default: the first
        live node)."""
        for entry in self._ask(via, "CLUSTER", "SLOTS"):
            if entry[0] <= slot <= entry[1]:
                return self.by_port(entry[2][1])
        raise AssertionError("no node serves slot %d" % slot)

    def slots_of(self, node, via=None):
        """The slots `node` serves, ascending (CLUSTER SLOTS of `via`)."""
        out = []
        for entry in self._ask(via, "CLUSTER", "SLOTS"):
            if entry[2][1] == node.port:
                out.extend(range(entry[0], entry[1] + 1))
        return sorted(out)

    # ------------------------------------------------------------ waits

    def _ready(self, expect_nodes):
        nodes = self.alive_nodes()
        killed = {n.port for n in self.nodes if n.killed}
        views = []
        for node in nodes:
            try:
                if b"cluster_state:ok" not in node.call("CLUSTER", "INFO"):
                    return False
                view = self.cluster_nodes(node)
            except (OSError, RedisError):
                return False
            if len(view) != expect_nodes:
                return False
            # Killed nodes stay listed (failing); the live ones must all be healthy.
            view = [e for e in view if e["port"] not in killed]
            if any(f in e["flags"] for e in view
                   for f in ("handshake", "noaddr", "fail?", "fail")):
                return False
            views.append(sorted((e["id"], "master" in e["flags"], e["master"],
                                 tuple(e["slots"])) for e in view))
        if any(v != views[0] for v in views):
            return False  # the nodes do not agree on roles and slots yet
        # Every replica has its master's data and follows it.
        for node in nodes:
            info = node.info("replication")
            if info.get("role") == "slave":
                if (info.get("master_link_status") != "up"
                        or info.get("master_sync_in_progress") != "0"):
                    return False
            elif info.get("role") == "master":
                want = len([e for e in views[0] if e[2] == self.node_id(node)])
                online = [v for k, v in info.items()
                          if k.startswith("slave") and k[5:].isdigit() and "state=online" in v]
                if len(online) != want:
                    return False
        return True

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Until every live node says cluster_state:ok, all agree on the nodes, their roles
        and slots, no node is flagged failing, and every replica is synced."""
        expect = len(self.alive_nodes()) + len([n for n in self.nodes if n.killed])
        try:
            wait_until(lambda: self._ready(expect), timeout, interval=0.05,
                       what="the cluster to be ready")
        except AssertionError:
            raise AssertionError("cluster not ready within %.0fs; CLUSTER NODES:\n%s"
                                 % (timeout, self._describe())) from None

    def wait_converged(self, timeout=READY_TIMEOUT):
        """Until every live node sees the same slot owners and cluster_state:ok (after a
        reshard or failover; killed nodes may still be listed)."""
        def same():
            maps = []
            for node in self.alive_nodes():
                try:
                    if b"cluster_state:ok" not in node.call("CLUSTER", "INFO"):
                        return False
                    maps.append(self.slot_owners(node))
                except (OSError, RedisError):
                    return False
            return all(m == maps[0] for m in maps) and None not in maps[0]
        try:
            wait_until(same, timeout, interval=0.05, what="the nodes to agree on the slots")
        except AssertionError:
            raise AssertionError("slot maps did not converge within %.0fs:\n%s"
                                 % (timeout, self._describe())) from None

    def _describe(self):
        out = []
        for node in self.alive_nodes():
            try:
                out.append("%s:\n%s" % (node.addr, node.call("CLUSTER", "NODES").decode()))
            except (OSError, RedisError) as e:
                out.append("%s: %r" % (node.addr, e))
        return "\n".join(out)

    # ------------------------------------------------------------ faults

    def kill(self, node):
        """SIGKILL the node's redis-server (our own child, by PID); returns the
        time.monotonic() once it is dead (reaped): a request sent after that cannot have
        been served by it, one sent a moment before may have been."""
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(timeout=5)
        node.killed = True
        return time.monotonic()

    def restart(self, node):
        """Starts a killed node again (same port, same nodes.conf): it rejoins the cluster,
        as a replica of whoever took its slots. Returns once every node agrees and every
        replica is synced."""
        assert node.killed
        node.killed = False
        node.proc = None
        node.start()
        self.wait_ready()
        return node

    def serves(self, node, slot):
        """Whether `node` is a master that answers for `slot` itself (cluster_state:ok, the
        slot in its own map, and a read of a key of the slot answered without a
        redirect or CLUSTERDOWN)."""
        try:
            if b"cluster_state:ok" not in node.call("CLUSTER", "INFO"):
                return False
            if self.master_of_slot(slot, via=node) is not node:
                return False
            reply = node.execute("EXISTS", key_in_slot(slot))
        except (OSError, RedisError, AssertionError):
            return False
        return not isinstance(reply, RedisError)

    def wait_failover(self, slot, since=None, timeout=None):
        """After kill() of the master of `slot`: waits (bounded; default node timeout +
        15 s) until a live node serves it as master. Returns (node, seconds since `since`,
        a kill()'s return value, or since the call)."""
        t0 = time.monotonic() if since is None else since
        timeout = timeout or self.node_timeout_ms / 1000.0 + 15.0

        def new_master():
            for node in self.alive_nodes():
                if self.serves(node, slot):
                    return node
            return None
        try:
            node = wait_until(new_master, timeout, interval=0.02,
                              what="a new master for slot %d" % slot)
        except AssertionError:
            raise AssertionError("no failover of slot %d within %.0fs:\n%s"
                                 % (slot, timeout, self._describe())) from None
        return node, time.monotonic() - t0

    # ------------------------------------------------------------ resharding

    def reshard(self, src, dst, nslots, wait=True, pipeline=10, timeout=CLI_TIMEOUT):
        """Moves nslots slots (the first nslots of src's, ascending, as redis-cli picks
        them) from src to dst with a live `redis-cli --cluster reshard`. src may be "all"
        (slots taken from every master). wait=True: runs to completion, then waits until
        every node agrees on the new map; returns redis-cli's output. wait=False: returns
        the running Popen (output in a file of the cluster's first node dir; the caller
        waits for it, then calls wait_converged())."""
        src_id = "all" if src == "all" else self.node_id(src)
        args = [self.cli, "--cluster", "reshard", dst.addr, "--cluster-from", src_id,
                "--cluster-to", self.node_id(dst), "--cluster-slots", str(nslots),
                "--cluster-yes", "--cluster-pipeline", str(pipeline)]
        if not wait:
            log = open(os.path.join(self.nodes[0].dir, "reshard-%d.log" % time.time_ns()),
                       "w")
            try:
                proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT)
            finally:
                log.close()
            proc.log_path = log.name
            return proc
        out = self.run_cli(args[1:], timeout=timeout)
        self.wait_converged()
        return out

    def add_master(self, slots=None):
        """A new node joins as a master (`redis-cli --cluster add-node`) and gets slots:
        `slots` of them taken from all masters (`--cluster reshard --cluster-from all`),
        or with slots=None an even share (`--cluster rebalance
        --cluster-use-empty-masters`). Returns the node once every node agrees."""
        node = self.new_node()
        existing = next(n for n in self.alive_nodes() if n is not node)
        self.run_cli(["--cluster", "add-node", node.addr, existing.addr])
        self.wait_ready()
        if slots is None:
            self.run_cli(["--cluster", "rebalance", existing.addr,
                          "--cluster-use-empty-masters", "--cluster-yes"])
            self.wait_converged()
        elif slots > 0:
            self.reshard("all", node, slots)
        return node

    # ------------------------------------------------------------ data

    def keys_per_master(self, pattern="*"):
        """{node: keys matching pattern on it} for every live master (SCAN MATCH)."""
        out = {}
        for node in self.masters():
            n = 0
            with node.client(timeout=10.0) as c:
                cursor = b"0"
                for _ in range(100000):
                    cursor, keys = c.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
                    n += len(keys)
                    if cursor == b"0":
                        break
            out[node] = n
        return out

    def call_routed(self, *args, hops=5):
        """A command on whichever node serves its key (args[1]); follows MOVED and ASK."""
        node = self.master_of_slot(key_slot(args[1]))
        asking = False
        for _ in range(hops):
            with node.client() as c:
                if asking:
                    c.call("ASKING")
                reply = c.execute(*args)
            if isinstance(reply, RedisError) and str(reply).startswith(("MOVED ", "ASK ")):
                asking = str(reply).startswith("ASK ")
                node = self.by_port(int(str(reply).rsplit(":", 1)[1]))
                continue
            if isinstance(reply, RedisError):
                raise reply
            return reply
        raise AssertionError("%r: too many redirects" % (args,))
