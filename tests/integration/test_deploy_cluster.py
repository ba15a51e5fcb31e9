"""The Redis side of deploy/k8s: the overlays' redis.conf files load in the real
redis-server, and the redis-cluster overlay's bootstrap.sh (the Job's script) makes six
local nodes, started here with that redis.conf, one cluster of 3 masters with a replica
each, with and without a password; run again it changes nothing; a node that never
answers fails it within its wait."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (RedisError, RespClient, free_port, redis_server_bin, source_dir,
                     stop_pid, wait_until)

OVERLAYS = os.path.join(source_dir(), "deploy", "k8s", "overlays")
BOOTSTRAP = os.path.join(OVERLAYS, "redis-cluster", "bootstrap.sh")
SLOTS = 16384


def cluster_port():
    """A free port whose cluster bus port (+10000) is free too, as a node needs both."""
    for _ in range(200):
        port = free_port()
        if port > 55535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise AssertionError("no free port pair for a cluster node")


class Node:
    """redis-server on the overlay's redis.conf, with what a test machine needs on top:
    loopback, a free port, a temp dir, short timeouts, no append-only file."""

    def __init__(self, conf, password=None, extra=()):
        self.port = cluster_port()
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="starling-deploy-redis-")
        # The file as shipped, but for its data dir (/data in the pod): redis-server
        # changes to `dir` as it reads the file, before any argument could override it.
        with open(conf) as f:
            text = f.read()
        if "\ndir /data\n" not in text:
            raise AssertionError("%s: no 'dir /data' line" % conf)
        local = os.path.join(self.dir, "redis.conf")
        with open(local, "w") as f:
            f.write(text.replace("\ndir /data\n", "\ndir %s\n" % self.dir))
        args = [redis_server_bin(), local, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--appendonly", "no", "--daemonize", "no",
                "--logfile", os.path.join(self.dir, "redis.log")] + list(extra)
        if password:
            args += ["--requirepass", password, "--masterauth", password]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=self.dir)

    def client(self):
        c = RespClient(self.port, timeout=2.0)
        if self.password:
            c.call("AUTH", self.password)
        return c

    def call(self, *args):
        with self.client() as c:
            return c.call(*args)

    def wait(self):
        def pong():
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited with %s: %s"
                                     % (self.proc.returncode, self.log()))
            try:
                return self.call("PING") == b"PONG"
            except (OSError, RedisError):
                return False
        wait_until(pong, 10, what="redis-server on port %d" % self.port)

    def info(self, section):
        text = self.call("INFO", section).decode()
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def cleanup(self):
        stop_pid(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def run_bootstrap(addrs, password=None, wait_s=20):
    sh = shutil.which("sh")
    if sh is None or shutil.which("redis-cli") is None:
        raise unittest.SkipTest("sh or redis-cli not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS")}
    env.update(REDIS_CLUSTER_NODES=",".join(addrs), WAIT_SECONDS=str(wait_s))
    if password:
        env["REDIS_PASSWORD"] = password
    return subprocess.run([sh, BOOTSTRAP], env=env, capture_output=True, text=True,
                          timeout=wait_s + 60)


class RedisConfTest(unittest.TestCase):
    def test_overlay_configs_load(self):
        for overlay, cluster in (("single-redis", "0"), ("redis-cluster", "1")):
            with self.subTest(overlay=overlay):
                conf = os.path.join(OVERLAYS, overlay, "redis.conf")
                node = Node(conf, extra=["--cluster-config-file", "nodes.conf"])
                try:
                    node.wait()
                    self.assertEqual(node.info("cluster")["cluster_enabled"], cluster)
                    cfg = node.call("CONFIG", "GET", "maxmemory-policy")
                    self.assertEqual(cfg[1], b"volatile-lru")
                    self.assertEqual(node.call("CONFIG", "GET", "save")[1], b"")
                finally:
                    node.cleanup()


class BootstrapTest(unittest.TestCase):
    def start_nodes(self, password=None):
        conf = os.path.join(OVERLAYS, "redis-cluster", "redis.conf")
        nodes = []
        self.addCleanup(lambda: [n.cleanup() for n in nodes])
        for _ in range(6):
            nodes.append(Node(conf, password, ["--cluster-config-file", "nodes.conf",
                                               "--cluster-node-timeout", "2000",
                                               "--repl-diskless-sync-delay", "0"]))
        for n in nodes:
            n.wait()
        return nodes

    def topology(self, node):
        """{node id: (role, master id or '-', slot count)} from CLUSTER NODES."""
        out = {}
        for line in node.call("CLUSTER", "NODES").decode().splitlines():
            f = line.split()
            slots = 0
            for r in f[8:]:
                if r.startswith("["):
                    continue  # a slot being migrated
                lo, _, hi = r.partition("-")
                slots += int(hi or lo) - int(lo) + 1
            role = "master" if "master" in f[2] else "replica"
            out[f[0]] = (role, f[3], slots)
        return out

    def check_cluster(self, nodes, password=None):
        addrs = ["127.0.0.1:%d" % n.port for n in nodes]
        r = run_bootstrap(addrs, password)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("bootstrap: cluster ready", r.stdout)
        for n in nodes:
            self.assertEqual(n.info("cluster")["cluster_enabled"], "1")
            self.assertIn(b"cluster_state:ok", n.call("CLUSTER", "INFO"))
        # The replicas' roles reach every node by gossip, after cluster_state is ok.
        def converged():
            topo = self.topology(nodes[0])
            masters = [i for i, (role, _, _) in topo.items() if role == "master"]
            replicas = [m for role, m, _ in topo.values() if role == "replica"]
            if len(masters) == 3 and sorted(replicas) == sorted(masters):
                return topo
            return None
        try:
            topo = wait_until(converged, 10, interval=0.1, what="3 masters with a replica each")
        except AssertionError:
            raise AssertionError("topology: %r" % self.topology(nodes[0]))
        self.assertEqual(sum(s for _, _, s in topo.values()), SLOTS)
        masters = {i for i, (role, _, s) in topo.items() if role == "master" and s > 0}
        self.assertEqual(len(masters), 3, "every master serves slots")

        # Again, as when the Job is created anew: nothing changes.
        r = run_bootstrap(addrs, password)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("the cluster exists, nothing to do", r.stdout)
        self.assertEqual(self.topology(nodes[0]), topo)

    def test_bootstrap_makes_a_cluster_once(self):
        self.check_cluster(self.start_nodes())

    def test_bootstrap_with_a_password(self):
        self.check_cluster(self.start_nodes("s3cret-pass"), "s3cret-pass")

    def test_bootstrap_waits_then_gives_up(self):
        # A node that never answers: the script fails after its wait, creating nothing.
        r = run_bootstrap(["127.0.0.1:%d" % free_port()], wait_s=2)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("does not answer after 2s", r.stderr)


if __name__ == "__main__":
    unittest.main()
