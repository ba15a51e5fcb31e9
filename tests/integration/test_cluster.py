"""starling-aggregator on a real Redis Cluster (3 masters on loopback): it walks each master
separately, purges expired peers on every node, and publishes totals that cover all of
them, each key written on the node that owns its slot.

(The frontends do not speak Redis Cluster yet: swarms are written here directly, in
starling's layout, on the node that owns each swarm's slot.)"""

import os
import shutil
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Aggregator, RedisServer, RespClient, random_hash, random_peer_id,
                     require_aggregator, require_binary, wait_until)


def cluster_port():
    """A free port P (<= 55535) whose cluster bus port P + 10000 is free too."""
    import random
    import socket
    for _ in range(200):
        port = random.randint(20000, 30000)
        socks = []
        try:
            for p in (port, port + 10000):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free port pair for a cluster node")


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def key_slot(key):
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return crc16(key) & 16383


class ClusterAggregatorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binary()
        require_aggregator()
        cli = shutil.which("redis-cli")
        if cli is None:
            raise unittest.SkipTest("redis-cli not installed")
        cls.nodes = []
        try:
            for _ in range(3):
                node = RedisServer(port=cluster_port())
                with open(node.conf_path, "a") as f:
                    f.write("cluster-enabled yes\n")
                    f.write("cluster-config-file %s\n" % os.path.join(node.dir, "nodes.conf"))
                    f.write("cluster-node-timeout 2000\n")
                node.start()
                cls.nodes.append(node)
            r = subprocess.run([cli, "--cluster", "create"]
                               + ["127.0.0.1:%d" % n.port for n in cls.nodes]
                               + ["--cluster-replicas", "0", "--cluster-yes"],
                               capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                raise AssertionError("cluster create failed: " + r.stdout + r.stderr)

            def ok():
                return all(b"cluster_state:ok" in n.call("CLUSTER", "INFO") for n in cls.nodes)
            wait_until(ok, 15.0, interval=0.1, what="cluster_state:ok on every node")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for node in getattr(cls, "nodes", []):
            node.cleanup()

    def owner(self, key):
        """The node serving key's slot (CLUSTER SLOTS)."""
        slot = key_slot(key)
        for entry in self.nodes[0].call("CLUSTER", "SLOTS"):
            first, last, master = entry[0], entry[1], entry[2]
            if first <= slot <= last:
                for n in self.nodes:
                    if n.port == master[1]:
                        return n
        raise AssertionError("no node serves slot %d" % slot)

    def test_pass_walks_every_master(self):
        now_ms = int(time.time() * 1000)
        live, dead = now_ms + 3600 * 1000, now_ms - 1000
        expect = {"torrents": 0, "seeders": 0, "leechers": 0, "completed": 0}
        used_nodes = set()
        swarms = 45
        for i in range(swarms):
            h = random_hash()
            tag = b"{" + h.hex().encode() + b"}"
            node = self.owner(tag + b":peers")
            used_nodes.add(node.port)
            nseed, nleech, nexpired = i % 3, 1 + i % 2, 1 + i % 4
            members = []
            for k in range(nseed + nleech + nexpired):
                pid = random_peer_id()
                ep = bytes([127, 0, 0, 1]) + struct.pack(">H", 10000 + k)
                seeding = k < nseed or (k >= nseed + nleech and k % 2 == 0)
                score = dead if k >= nseed + nleech else live
                members.append((seeding, pid, ep, score))
            for seeding, pid, ep, score in members:
                key = tag + (b":seeders" if seeding else b":leechers")
                node.call("ZADD", key, score, pid + ep)
                node.call("HSET", tag + b":peers", pid, (b"S" if seeding else b"L") + ep)
            node.call("HSET", tag + b":peers", "downloaded", i)
            expect["torrents"] += 1
            expect["seeders"] += nseed
            expect["leechers"] += nleech
            expect["completed"] += i
        self.assertEqual(len(used_nodes), 3, "the swarms did not spread over the 3 masters")

        agg = Aggregator(self.nodes[0], {"aggregator": {"scan_count": 10}})
        try:
            self.assertEqual(agg.run_once(timeout=30), 0, agg.log()[-3000:])
            self.assertIn("redis cluster connected: 3 masters", agg.log())
            self.assertIsNone(agg.sanitizer_report())
        finally:
            agg.stop()

        # Expired peers are gone on every node; live ones stay.
        for node in self.nodes:
            cursor = b"0"
            while True:
                cursor, keys = node.call("SCAN", cursor, "MATCH", "{*}:*eechers", "COUNT", 100)
                for key in keys:
                    self.assertEqual(node.call("ZCOUNT", key, "-inf", now_ms), 0, key)
                if cursor == b"0":
                    break
            cursor = b"0"
            while True:
                cursor, keys = node.call("SCAN", cursor, "MATCH", "{*}:seeders", "COUNT", 100)
                for key in keys:
                    self.assertEqual(node.call("ZCOUNT", key, "-inf", now_ms), 0, key)
                if cursor == b"0":
                    break

        # The totals cover all three masters, written where {starling}:stats lives.
        stats_node = self.owner(b"{starling}:stats")
        raw = stats_node.call("HGETALL", "{starling}:stats")
        stats = {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw), 2)}
        for field, value in expect.items():
            self.assertEqual(int(stats[field]), value, field)
        self.assertEqual(int(stats["peers_ipv4"]), expect["seeders"] + expect["leechers"])
        self.assertGreater(int(stats["peers_expired"]), swarms)
        # The full-scrape snapshot lists every swarm.
        blob = self.owner(b"{starling}:fullscrape").call("GET", "{starling}:fullscrape")
        self.assertEqual(blob.count(b"d8:completei"), swarms)
        # The pass history went to its own slot's node.
        hist = self.owner(b"{starling}:aggregator:passes").call(
            "LRANGE", "{starling}:aggregator:passes", 0, -1)
        self.assertEqual(len(hist), 1)


if __name__ == "__main__":
    unittest.main()
