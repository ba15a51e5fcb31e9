"""starling-aggregator on a real Redis Cluster (3 masters on loopback): it walks each master
separately, purges expired peers on every node, and publishes totals that cover all of
them, each key written on the node that owns its slot; and it keeps doing so while slots
migrate and a master joins (issue 9, item 9).

(Swarms are written here directly, in starling's layout, on the node that owns each
swarm's slot; the frontends on a cluster are tested in test_cluster_frontend.py.)"""

import os
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Aggregator, RedisError, RespClient, random_hash, random_peer_id,
                     require_aggregator, require_binary, wait_until)
from redis_cluster import RedisCluster, key_slot


class ClusterTestCase(unittest.TestCase):
    """A cluster of 3 masters (no replicas) on loopback for the class."""

    @classmethod
    def setUpClass(cls):
        require_binary()
        require_aggregator()
        cls.cluster = RedisCluster(masters=3, replicas_per_master=0, node_timeout_ms=2000)
        cls.cluster.start()
        cls.nodes = list(cls.cluster.nodes)  # the three masters; nodes added later are not

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop_all()

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


class ClusterAggregatorTest(ClusterTestCase):
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


def call_routed(nodes, *args, hops=5):
    """A command on whichever node serves it: follows MOVED (and ASK) replies."""
    node = nodes[0]
    for _ in range(hops):
        with node.client() as c:
            asking = False
            reply = c.execute(*args)
            if isinstance(reply, RedisError) and str(reply).startswith(("MOVED ", "ASK ")):
                port = int(str(reply).rsplit(":", 1)[1])
                node = next(n for n in nodes if n.port == port)
                asking = str(reply).startswith("ASK ")
                if asking:
                    with node.client() as c2:
                        c2.call("ASKING")
                        reply = c2.execute(*args)
                        if not isinstance(reply, RedisError):
                            return reply
                continue
            if isinstance(reply, RedisError):
                raise reply
            return reply
    raise AssertionError("%r: too many redirects" % (args,))


class TopologyChangeTest(ClusterTestCase):
    """issue 9, item 9: the aggregator read CLUSTER SLOTS only when a connection was lost,
    so after a slot migration every pass was abandoned on MOVED, and a master added later
    was never walked. Here passes run on while slots migrate by hand (CLUSTER SETSLOT
    IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE), the {starling} slot of the lock and the
    published keys among them, held half-migrated for a while (ASK, TRYAGAIN), and while a
    fourth master joins and takes slots: passes must keep publishing exact totals, walk the
    new master (its expired peers are purged), and never count a swarm twice."""

    SWARMS = 600

    def setUp(self):
        self.extra = []  # nodes added by the test (stopped with the cluster)

    def masters(self):
        return self.nodes + self.extra

    def node_id(self, node):
        return node.call("CLUSTER", "MYID")

    def slot_owner(self, slot):
        for entry in self.nodes[0].call("CLUSTER", "SLOTS"):
            if entry[0] <= slot <= entry[1]:
                return next(n for n in self.masters() if n.port == entry[2][1])
        raise AssertionError("no node serves slot %d" % slot)

    def write_swarms(self, n, now):
        """n swarms, one live seeder, one live leecher, one expired leecher and one
        completed download each, pipelined to each swarm's node. Returns {slot: [hash]}."""
        by_node, slots = {}, {}
        for i in range(n):
            h = random_hash()
            tag = b"{" + h.hex().encode() + b"}"
            slot = key_slot(tag)
            slots.setdefault(slot, []).append(h)
            by_node.setdefault(self.slot_owner(slot).port, []).append(tag)
        for port, tags in by_node.items():
            with RespClient(port, timeout=10.0) as c:
                for k, tag in enumerate(tags):
                    s, l, x = random_peer_id(), random_peer_id(), random_peer_id()
                    ep = bytes([127, 0, 0, 1]) + struct.pack(">H", 10000 + k % 50000)
                    c.send("ZADD", tag + b":seeders", now + 3600 * 1000, s + ep)
                    c.send("ZADD", tag + b":leechers", now + 3600 * 1000, l + ep,
                           now - 1000, x + ep)
                    c.send("HSET", tag + b":peers", s, b"S" + ep, l, b"L" + ep, x, b"L" + ep,
                           "downloaded", 1)
                for _ in range(3 * len(tags)):
                    reply = c.read_reply()
                    if isinstance(reply, RedisError):
                        raise reply
        return slots

    def migrate_slot(self, slot, src, dst, pause_after=None):
        """Moves a slot by hand; with pause_after, the keys named there go first and the
        slot stays half-migrated (MIGRATING/IMPORTING) for pause_after[1] seconds."""
        dst.call("CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(src))
        src.call("CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(dst))
        if pause_after is not None:
            first, seconds = pause_after
            src.call("MIGRATE", "127.0.0.1", dst.port, "", 0, 5000, "KEYS", *first)
            time.sleep(seconds)
        for _ in range(1000):
            keys = src.call("CLUSTER", "GETKEYSINSLOT", slot, 100)
            if not keys:
                break
            src.call("MIGRATE", "127.0.0.1", dst.port, "", 0, 5000, "KEYS", *keys)
        dst_id = self.node_id(dst)
        for node in [dst, src] + [n for n in self.masters() if n not in (dst, src)]:
            node.call("CLUSTER", "SETSLOT", slot, "NODE", dst_id)

    def add_master(self):
        node = self.cluster.new_node()
        self.extra.append(node)
        self.nodes[0].call("CLUSTER", "MEET", "127.0.0.1", node.port, node.bus_port)

        def known():
            for n in self.masters():
                lines = n.call("CLUSTER", "NODES").decode().splitlines()
                if len(lines) != len(self.masters()) or any(
                        "handshake" in line or "noaddr" in line for line in lines):
                    return False
            return b"cluster_state:ok" in node.call("CLUSTER", "INFO")
        wait_until(known, 15.0, interval=0.1, what="the new node known to every node")
        return node

    def expired_everywhere(self, now):
        left = 0
        for node in self.masters():
            cursor = b"0"
            for _ in range(10000):
                cursor, keys = node.call("SCAN", cursor, "MATCH", "{*}:*eechers", "COUNT", 500)
                for key in keys:
                    left += node.call("ZCOUNT", key, "-inf", now)
                if cursor == b"0":
                    break
        return left

    def test_passes_follow_migrations_and_a_new_master(self):
        now = int(time.time() * 1000)
        slots = self.write_swarms(self.SWARMS, now)
        expect = {b"torrents": self.SWARMS, b"seeders": self.SWARMS,
                  b"leechers": self.SWARMS, b"completed": self.SWARMS}
        agg = Aggregator(self.nodes[0], {"aggregator": {"interval": "300ms", "lock_ttl": "3s",
                                                        "scan_count": 5}})
        self.addCleanup(agg.cleanup)
        agg.start()

        def published():
            raw = call_routed(self.masters(), "HGETALL", "{starling}:stats") or []
            return dict(zip(raw[::2], raw[1::2]))

        def exact_after(t_ms):
            stats = published()
            return (all(int(stats.get(k, b"-1")) == v for k, v in expect.items())
                    and int(stats.get(b"pass_started_ms", b"0")) > t_ms)
        wait_until(lambda: exact_after(0), 20.0, interval=0.1, what="a first exact pass")

        # What every pass publishes meanwhile: never more than there is.
        seen = {"max": {}, "samples": 0, "stop": False}

        def sample():
            while not seen["stop"]:
                try:
                    stats = published()
                except (OSError, RedisError):
                    continue
                seen["samples"] += 1
                for k in expect:
                    seen["max"][k] = max(seen["max"].get(k, 0), int(stats.get(k, b"0")))
                time.sleep(0.02)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            # 1. The slot of the lock and the published keys moves, held half-migrated
            #    for 2 s with the lock already on the new node (ASK; TRYAGAIN for the
            #    script on both), then swarms' slots move between the three masters.
            g = key_slot(b"{starling}")
            src = self.slot_owner(g)
            dst = next(n for n in self.nodes if n is not src)
            self.migrate_slot(g, src, dst,
                              pause_after=([b"{starling}:aggregator:lock"], 2.0))
            moved = 0
            for slot in sorted(slots)[:40]:
                owner = self.slot_owner(slot)
                target = self.nodes[(self.nodes.index(owner) + 1) % 3]
                self.migrate_slot(slot, owner, target)
                moved += 1
            # 2. A fourth master joins and takes 60 swarms' slots; each of those swarms then
            #    gets another expired peer, which only a walk of the new master removes.
            new = self.add_master()
            for slot in sorted(slots)[40:100]:
                self.migrate_slot(slot, self.slot_owner(slot), new)
            now = int(time.time() * 1000)
            with new.client() as c:
                for slot in sorted(slots)[40:100]:
                    for h in slots[slot]:
                        tag = b"{" + h.hex().encode() + b"}"
                        x = random_peer_id()
                        c.call("ZADD", tag + b":leechers", now - 1000, x + b"\x7f\0\0\1\0\1")
                        c.call("HSET", tag + b":peers", x, b"L\x7f\0\0\1\0\1")
            t_changed = int(time.time() * 1000)
            wait_until(lambda: exact_after(t_changed) and self.expired_everywhere(now) == 0,
                       40.0, interval=0.2, what="an exact pass over the 4 masters after the "
                       "changes, with every expired peer purged")
        finally:
            seen["stop"] = True
            sampler.join(timeout=5)
        agg.assert_alive()
        log = agg.log()
        self.assertIn("slot map read again: 4 masters", log)
        self.assertGreater(seen["samples"], 10)
        for k, v in expect.items():
            self.assertLessEqual(seen["max"].get(k, 0), v, "a pass counted %s twice" % k)
        self.assertEqual(moved, 40)
        self.assertIsNone(agg.sanitizer_report())


if __name__ == "__main__":
    unittest.main()
