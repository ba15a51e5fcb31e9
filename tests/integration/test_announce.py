"""Announce semantics end to end: reply bytes, swarm rules, what lands in Redis, expiry."""

import os
import random
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (RedisError, RedisServer, TrackerTestCase, announce_reply, bdecode, bstr,
                     compact4, failure, key, now_ms, random_hash, random_peer_id, split_peers)

LOCAL = "127.0.0.1"
DEFAULT_TTL_MS = 30 * 60 * 1000 * 3 // 2  # 1.5 x announce "30m"
DEFAULT_KEY_TTL_MS = 2 * DEFAULT_TTL_MS  # an idle swarm's keys outlive its last peer 2x


def member(peer_id, port, ip=LOCAL):
    """A sorted-set member: peer_id followed by the compact IPv4 endpoint."""
    return peer_id + compact4(ip, port)


class AnnounceTest(TrackerTestCase):
    CONFIG = {"default_num_want": 3, "max_num_want": 5}

    def test_first_announce_exact_bytes(self):
        r = self.announce(random_hash(), random_peer_id(), 6881, compact=1)
        self.assertEqual(r.body, b"d8:completei0e10:incompletei1e8:intervali1800e"
                                 b"12:min intervali900e5:peers0:6:peers60:e")
        self.assertEqual(r.header("Content-Type"), "text/plain")
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))

    def test_compact_is_the_default(self):
        r = self.announce(random_hash(), random_peer_id(), 6881, compact=None)
        self.assertEqual(r.body, announce_reply(0, 1))

    def test_first_seeder_exact_bytes(self):
        r = self.announce(random_hash(), random_peer_id(), 6881, left=0, event="started")
        self.assertEqual(r.body, announce_reply(1, 0))

    def test_two_peers_see_each_other(self):
        h = random_hash()
        a, b = random_peer_id(), random_peer_id()
        self.announce(h, a, 40001, event="started")
        r = self.announce(h, b, 40002, event="started")
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 40001)))
        self.assertEqual(compact4(LOCAL, 40001), bytes([127, 0, 0, 1, 0x9c, 0x41]))
        r = self.announce(h, a, 40001)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 40002)))

    def test_never_given_itself(self):
        h = random_hash()
        me = random_peer_id()
        self.announce(h, me, 40001)
        r = self.announce(h, me, 40001, numwant=5)
        self.assertEqual(r.body, announce_reply(0, 1))
        others = [random_peer_id() for _ in range(3)]
        for i, p in enumerate(others):
            self.announce(h, p, 40100 + i)
        for _ in range(3):  # the sample is random: ask a few times
            d = self.announce_ok(h, me, 40001, numwant=5)
            ports = sorted(port for _, port in split_peers(d[b"peers"]))
            self.assertEqual(ports, [40100, 40101, 40102])
            self.assertEqual(d[b"incomplete"], 4)

    def test_seeder_gets_only_leechers(self):
        h = random_hash()
        seeders = [random_peer_id() for _ in range(3)]
        for i, s in enumerate(seeders):
            self.announce(h, s, 41000 + i, left=0)
        leecher = random_peer_id()
        r = self.announce(h, leecher, 41100, left=500)
        d = bdecode(r.body)
        self.assertEqual((d[b"complete"], d[b"incomplete"]), (3, 1))
        self.assertEqual(sorted(split_peers(d[b"peers"])),
                         [(LOCAL, 41000), (LOCAL, 41001), (LOCAL, 41002)])
        for i, s in enumerate(seeders):
            r = self.announce(h, s, 41000 + i, left=0, numwant=5)
            self.assertEqual(r.body, announce_reply(3, 1, compact4(LOCAL, 41100)))

    def test_leecher_gets_seeders_then_leechers(self):
        h = random_hash()
        for i in range(2):
            self.announce(h, random_peer_id(), 42000 + i, left=0)
        for i in range(2):
            self.announce(h, random_peer_id(), 42100 + i, left=10)
        me = random_peer_id()
        for _ in range(3):
            d = self.announce_ok(h, me, 42200, numwant=5)
            self.assertEqual((d[b"complete"], d[b"incomplete"]), (2, 3))
            ports = [port for _, port in split_peers(d[b"peers"])]
            self.assertEqual(len(ports), 4, ports)
            self.assertEqual(sorted(ports[:2]), [42000, 42001], ports)
            self.assertEqual(sorted(ports[2:]), [42100, 42101], ports)
        # Fewer wanted than seeders: seeders only. One more than seeders: one leecher.
        for _ in range(3):
            ports = [p for _, p in split_peers(self.announce_ok(h, me, 42200, numwant=1)[b"peers"])]
            self.assertEqual(len(ports), 1)
            self.assertIn(ports[0], (42000, 42001))
            ports = [p for _, p in split_peers(self.announce_ok(h, me, 42200, numwant=3)[b"peers"])]
            self.assertEqual(sorted(ports[:2]), [42000, 42001], ports)
            self.assertEqual(len(ports), 3)
            self.assertIn(ports[2], (42100, 42101))

    def test_numwant(self):
        h = random_hash()
        for i in range(8):
            self.announce(h, random_peer_id(), 43000 + i)
        me = random_peer_id()
        cases = [(None, 3), ("2", 2), ("4", 4), ("5", 5), ("6", 5), ("1000", 5), ("-1", 3),
                 ("0", 0)]
        for numwant, expected in cases:
            d = self.announce_ok(h, me, 43100, numwant=numwant)
            peers = split_peers(d[b"peers"])
            self.assertEqual(len(peers), expected, "numwant=%s" % numwant)
            self.assertEqual(len(set(peers)), expected, "duplicates for numwant=%s" % numwant)
            self.assertNotIn((LOCAL, 43100), peers)
            self.assertEqual((d[b"complete"], d[b"incomplete"]), (0, 9))

    def test_numwant_zero_exact_bytes(self):
        h = random_hash()
        self.announce(h, random_peer_id(), 43500)
        r = self.announce(h, random_peer_id(), 43501, numwant=0)
        self.assertEqual(r.body, announce_reply(0, 2))

    def test_dictionary_list(self):
        h = random_hash()
        a = random_peer_id()
        self.announce(h, a, 44001)
        r = self.announce(h, random_peer_id(), 44002, compact=0)
        self.assertEqual(r.body, b"d8:completei0e10:incompletei2e8:intervali1800e"
                                 b"12:min intervali900e5:peersld2:ip9:127.0.0.1"
                                 b"7:peer id" + bstr(a) + b"4:porti44001eeee")
        r = self.announce(h, random_peer_id(), 44003, compact=0, extra=["no_peer_id=1"])
        d = bdecode(r.body)
        self.assertEqual(d[b"incomplete"], 3)
        self.assertNotIn(b"peers6", d)
        self.assertEqual(len(d[b"peers"]), 2)
        for p in d[b"peers"]:
            self.assertEqual(sorted(p.keys()), [b"ip", b"port"])
            self.assertEqual(p[b"ip"], b"127.0.0.1")
        self.assertEqual(sorted(p[b"port"] for p in d[b"peers"]), [44001, 44002])

    def test_dictionary_list_no_peer_id_exact_bytes(self):
        h = random_hash()
        self.announce(h, random_peer_id(), 44101, left=0)
        r = self.announce(h, random_peer_id(), 44102, compact=0, extra=["no_peer_id=1"])
        self.assertEqual(r.body, b"d8:completei1e10:incompletei1e8:intervali1800e"
                                 b"12:min intervali900e5:peersld2:ip9:127.0.0.1"
                                 b"4:porti44101eeee")

    def test_compact_other_values_are_compact(self):
        h = random_hash()
        self.announce(h, random_peer_id(), 44201)
        asker = random_peer_id()
        for value in ("1", "yes", ""):
            r = self.announce(h, asker, 44202, compact=value)
            self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 44201)),
                             "compact=%s" % value)

    def test_reannounce_from_new_port_replaces(self):
        h = random_hash()
        a = random_peer_id()
        self.announce(h, a, 45001)
        r = self.announce(h, a, 45002)
        self.assertEqual(r.body, announce_reply(0, 1))
        self.assertEqual(self.rcall("ZRANGE", key(h, "leechers"), 0, -1), [member(a, 45002)])
        self.assertEqual(self.rcall("HGET", key(h, "peers"), a), b"L" + compact4(LOCAL, 45002))
        r = self.announce(h, random_peer_id(), 45003)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 45002)))
        self.assertEqual(self.scrape_counts(h), (0, 2, 0))

    def test_stopped_removes(self):
        h = random_hash()
        a, b = random_peer_id(), random_peer_id()
        self.announce(h, a, 46001)
        self.announce(h, b, 46002)
        self.assertEqual(self.rcall("ZCARD", key(h, "leechers")), 2)
        r = self.announce(h, b, 46002, event="stopped")
        self.assertEqual(r.body, announce_reply(0, 1))
        self.assertEqual(self.rcall("ZCARD", key(h, "leechers")), 1)
        self.assertIsNone(self.rcall("HGET", key(h, "peers"), b))
        self.assertEqual(self.scrape_counts(h), (0, 1, 0))
        r = self.announce(h, random_peer_id(), 46003)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 46001)))
        # A seeder that stops leaves the seeders.
        s = random_peer_id()
        self.announce(h, s, 46004, left=0)
        r = self.announce(h, s, 46004, left=0, event="stopped")
        self.assertEqual(r.body, announce_reply(0, 2))
        self.assertEqual(self.rcall("ZCARD", key(h, "seeders")), 0)
        # Stopping a peer the swarm never saw changes nothing.
        r = self.announce(h, random_peer_id(), 46005, event="stopped")
        self.assertEqual(r.body, announce_reply(0, 2))

    def test_completed_counts_once(self):
        h = random_hash()
        a, b = random_peer_id(), random_peer_id()
        self.announce(h, a, 47001, left=100, event="started")
        d = self.announce_ok(h, a, 47001, left=0, event="completed")
        self.assertEqual((d[b"complete"], d[b"incomplete"]), (1, 0))
        self.assertEqual(self.scrape_counts(h), (1, 0, 1))
        self.announce_ok(h, a, 47001, left=0, event="completed")
        self.assertEqual(self.scrape_counts(h), (1, 0, 1))
        self.announce_ok(h, a, 47001, left=0)
        self.assertEqual(self.scrape_counts(h), (1, 0, 1))
        self.announce(h, b, 47002, left=100)
        self.announce_ok(h, b, 47002, left=0, event="completed")
        self.assertEqual(self.scrape_counts(h), (2, 0, 2))
        self.assertEqual(self.rcall("HGET", key(h, "peers"), "downloaded"), b"2")

    def test_completed_repeated_by_a_leecher_counts_once(self):
        # issue 9, item 14: a leecher (left > 0: a partial download, or a client that
        # repeats itself) re-sending `completed` made `downloaded` count every time.
        h = random_hash()
        a = random_peer_id()
        self.announce(h, a, 47101, left=100, event="started")
        for _ in range(5):
            d = self.announce_ok(h, a, 47101, left=100, event="completed")
            self.assertEqual((d[b"complete"], d[b"incomplete"]), (0, 1))
        self.assertEqual(self.scrape_counts(h), (0, 1, 1))
        # Still counted from a new address, and when it then seeds.
        self.announce_ok(h, a, 47102, left=100, event="completed")
        self.assertEqual(self.scrape_counts(h), (0, 1, 1))
        self.assertEqual(self.rcall("ZRANGE", key(h, "leechers"), 0, -1), [member(a, 47102)])
        self.announce_ok(h, a, 47102, left=0, event="completed")
        self.assertEqual(self.scrape_counts(h), (1, 0, 1))
        # A first announce that is already `completed` counts once too.
        b = random_peer_id()
        for _ in range(3):
            self.announce_ok(h, b, 47103, left=0, event="completed")
        self.assertEqual(self.scrape_counts(h), (2, 0, 2))

    def test_completed_counts_again_for_a_new_download(self):
        # A seeder that goes back to leeching (left > 0: its data was lost or re-checked)
        # starts a new download, whose completion counts; a stopped peer is forgotten.
        h = random_hash()
        a = random_peer_id()
        self.announce(h, a, 47201, left=100, event="started")
        self.announce_ok(h, a, 47201, left=0, event="completed")
        self.announce_ok(h, a, 47201, left=50)
        self.assertEqual(self.scrape_counts(h), (0, 1, 1))
        self.announce_ok(h, a, 47201, left=0, event="completed")
        self.announce_ok(h, a, 47201, left=0, event="completed")
        self.assertEqual(self.scrape_counts(h), (1, 0, 2))
        self.announce_ok(h, a, 47201, left=0, event="stopped")
        self.announce_ok(h, a, 47201, left=0, event="completed")
        self.assertEqual(self.scrape_counts(h), (1, 0, 3))

    def test_leecher_becomes_seeder(self):
        h = random_hash()
        a = random_peer_id()
        other = random_peer_id()
        self.announce(h, other, 48000)
        before = now_ms()
        self.announce(h, a, 48001, left=100)
        self.assertIsNotNone(self.rcall("ZSCORE", key(h, "leechers"), member(a, 48001)))
        self.assertIsNone(self.rcall("ZSCORE", key(h, "seeders"), member(a, 48001)))
        r = self.announce(h, a, 48001, left=0)
        after = now_ms()
        self.assertEqual(r.body, announce_reply(1, 1, compact4(LOCAL, 48000)))
        self.assertIsNone(self.rcall("ZSCORE", key(h, "leechers"), member(a, 48001)))
        score = self.rcall("ZSCORE", key(h, "seeders"), member(a, 48001))
        self.assertIsNotNone(score)
        # The score is the expiry: the announce's clock + 1.5 x interval.
        self.assertGreaterEqual(float(score), before + DEFAULT_TTL_MS - 2000)
        self.assertLessEqual(float(score), after + DEFAULT_TTL_MS + 2000)
        self.assertEqual(self.rcall("HGET", key(h, "peers"), a), b"S" + compact4(LOCAL, 48001))
        self.assertEqual(self.scrape_counts(h), (1, 1, 0))
        # ... and back: a seeder announcing left>0 is a leecher again, listed once.
        self.announce(h, a, 48001, left=5)
        self.assertEqual(self.rcall("ZCARD", key(h, "seeders")), 0)
        self.assertEqual(self.rcall("ZCARD", key(h, "leechers")), 2)

    def test_redis_keys_and_ttl(self):
        h = random_hash()
        a, s = random_peer_id(), random_peer_id()
        self.announce(h, a, 49001, left=1)
        self.announce(h, s, 49002, left=0)
        hexh = h.hex()
        self.assertEqual(hexh, hexh.lower())
        for kind in ("seeders", "leechers", "peers"):
            name = "{%s}:%s" % (hexh, kind)
            self.assertEqual(self.rcall("EXISTS", name), 1, name)
            pttl = self.rcall("PTTL", name)
            self.assertGreater(pttl, 0, name)
            self.assertGreater(pttl, DEFAULT_TTL_MS, name)
            self.assertLessEqual(pttl, DEFAULT_KEY_TTL_MS, name)
        self.assertEqual(self.rcall("TYPE", key(h, "seeders")), b"zset")
        self.assertEqual(self.rcall("TYPE", key(h, "leechers")), b"zset")
        self.assertEqual(self.rcall("TYPE", key(h, "peers")), b"hash")
        self.assertEqual(self.rcall("ZRANGE", key(h, "leechers"), 0, -1), [member(a, 49001)])
        self.assertEqual(self.rcall("ZRANGE", key(h, "seeders"), 0, -1), [member(s, 49002)])

    def test_paused_and_empty_events_are_plain_announces(self):
        h = random_hash()
        a = random_peer_id()
        for event in ("", "empty", "paused", "started"):
            r = self.announce(h, a, 49101, event=event)
            self.assertEqual(r.body, announce_reply(0, 1), "event=%s" % event)


class ExpiryTest(TrackerTestCase):
    # announce 2s: peers live 3 s after their last announce.
    CONFIG = {"announce": "2s", "min_announce": "1s"}

    def test_interval_and_min_interval(self):
        r = self.announce(random_hash(), random_peer_id(), 6881)
        self.assertEqual(r.body, announce_reply(0, 1, interval=2, min_interval=1))

    def test_peers_expire(self):
        h = random_hash()
        a, b = random_peer_id(), random_peer_id()
        t0 = time.monotonic()
        self.announce(h, a, 50001)
        for kind in ("leechers", "peers"):
            pttl = self.rcall("PTTL", key(h, kind))
            self.assertGreater(pttl, 3000, kind)
            self.assertLessEqual(pttl, 6000, kind)
        time.sleep(max(0.0, t0 + 2.0 - time.monotonic()))
        r = self.announce(h, b, 50002)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 50001),
                                                interval=2, min_interval=1))
        self.assertEqual(self.scrape_counts(h), (0, 2, 0))
        # a expires at t0 + 3 s, b at t0 + 5 s.
        time.sleep(max(0.0, t0 + 3.8 - time.monotonic()))
        self.assertEqual(self.scrape_counts(h), (0, 1, 0))
        r = self.announce(h, b, 50002)
        self.assertEqual(r.body, announce_reply(0, 1, interval=2, min_interval=1))
        self.assertEqual(self.rcall("ZRANGE", key(h, "leechers"), 0, -1), [member(b, 50002)])
        self.assertIsNone(self.rcall("HGET", key(h, "peers"), a))

    def test_abandoned_swarm_vanishes(self):
        h = random_hash()
        t0 = time.monotonic()
        self.announce(h, random_peer_id(), 50101, left=0, event="completed")
        self.assertEqual(self.scrape_counts(h), (1, 0, 1))
        # The peer expires at t0 + 3 s (no longer counted); the keys at t0 + 6 s.
        time.sleep(max(0.0, t0 + 3.6 - time.monotonic()))
        self.assertEqual(self.scrape_counts(h), (0, 0, 1))
        time.sleep(max(0.0, t0 + 6.6 - time.monotonic()))
        self.assertEqual(self.scrape_counts(h), (0, 0, 0))
        for kind in ("seeders", "leechers", "peers"):
            self.assertEqual(self.rcall("EXISTS", key(h, kind)), 0, kind)


class ClientWhitelistTest(TrackerTestCase):
    # The harness's readiness probe announces as "-ST0001-".
    CONFIG = {"client_whitelist_enabled": True,
              "client_whitelist": ["-qB4", "UT2210", "-ST0001"]}

    def test_only_approved_clients(self):
        h = random_hash()
        qb = b"-qB4650-" + os.urandom(12)
        ut = b"-UT2210-" + os.urandom(12)
        r = self.announce(h, qb, 58001)
        self.assertEqual(r.body, announce_reply(0, 1))
        r = self.announce(h, ut, 58002)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 58001)))
        for pid in (b"-ST0002-" + os.urandom(12), b"-qB3300-" + os.urandom(12),
                    b"XUT2210-" + os.urandom(12)):
            r = self.announce(h, pid, 58003)
            self.assertEqual(r.body, failure("client is not approved"), pid)
        # Refused before Redis: the swarm holds the two approved peers only.
        self.assertEqual(self.rcall("ZCARD", key(h, "leechers")), 2)
        self.assertEqual(self.scrape_counts(h), (0, 2, 0))


class JitterTest(TrackerTestCase):
    CONFIG = {"announce": "20m", "min_announce": "10m", "announce_jitter": "2m"}

    def test_interval_varies_within_bounds(self):
        h = random_hash()
        seen = set()
        for i in range(40):
            d = self.announce_ok(h, random_peer_id(), 57000 + i, numwant=0)
            self.assertGreaterEqual(d[b"interval"], 18 * 60)
            self.assertLessEqual(d[b"interval"], 22 * 60)
            self.assertEqual(d[b"min interval"], 10 * 60)
            seen.add(d[b"interval"])
        self.assertGreater(len(seen), 10, "clients that start together must spread out")
        # Peers outlive the longest interval given by half of it.
        pttl_bound = (22 * 60 * 1000) * 3 // 2
        score = self.rcall("ZSCORE", key(h, "leechers"), self.rcall(
            "ZRANGE", key(h, "leechers"), -1, -1)[0])
        self.assertGreater(int(float(score)) - now_ms(), pttl_bound - 5000)
        self.assertLessEqual(int(float(score)) - now_ms(), pttl_bound)


class NoPurgeTest(TrackerTestCase):
    CONFIG = {"purge_inactive_torrents": False}

    def test_keys_have_no_ttl(self):
        h = random_hash()
        a = random_peer_id()
        self.announce(h, a, 51001, left=1)
        self.announce(h, random_peer_id(), 51002, left=0, event="completed")
        for kind in ("seeders", "leechers", "peers"):
            self.assertEqual(self.rcall("PTTL", key(h, kind)), -1, kind)
        self.assertEqual(self.scrape_counts(h), (1, 1, 1))
        self.announce(h, a, 51001, left=1, event="stopped")
        self.assertEqual(self.rcall("EXISTS", key(h, "leechers")), 0)
        self.assertEqual(self.rcall("PTTL", key(h, "peers")), -1)
        self.assertEqual(self.rcall("HGET", key(h, "peers"), "downloaded"), b"1")


def builtin_script(name):
    """The body of a script as built into the binaries (tests/tools/lua_registry)."""
    path = os.environ.get("STARLING_LUA_REGISTRY")
    if not path:
        raise unittest.SkipTest("STARLING_LUA_REGISTRY names no lua_registry binary")
    out = subprocess.run([path], check=True, stdout=subprocess.PIPE, timeout=10).stdout
    for line in out.splitlines():
        fields = line.split(b" ")
        if fields[0] == name.encode():
            return bytes.fromhex(fields[3].decode())
    raise AssertionError("no script %s in the registry" % name)


class KeyLifetimeTest(unittest.TestCase):
    """issue 9, item 8: with purge_inactive_torrents the swarm's keys carry a TTL; a peer
    that announces within its interval must never vanish with an expiring key, whatever
    the swarm's shape. The frontends pass now_ms to lua/announce.lua, so this test calls
    the script itself (the arguments swarm.c sends), on a clock scaled down: peers live
    PEER_TTL_MS after an announce and announce every 0.6-1 x the interval (PEER_TTL_MS /
    1.5), and the keys' TTL (2 x PEER_TTL_MS) is Redis's own, real time."""

    PEER_TTL_MS = 1200
    LIFETIMES = 4  # how many key TTLs the swarms run through
    BATCH_S = 0.04  # announces due are sent, pipelined, this often

    @classmethod
    def setUpClass(cls):
        cls.body = builtin_script("announce")
        cls.redis = RedisServer().start()
        cls.sha = cls.redis.call("SCRIPT", "LOAD", cls.body)

    @classmethod
    def tearDownClass(cls):
        cls.redis.cleanup()

    def announce_args(self, h, peer_id, port, seeding, now):
        keys = [key(h, "seeders"), key(h, "leechers"), key(h, "peers")]
        return (["EVALSHA", self.sha, 3] + keys
                + [now, now + self.PEER_TTL_MS, 2 * self.PEER_TTL_MS, peer_id,
                   compact4(LOCAL, port), "1" if seeding else "0", "0", "0", "0", "1",
                   random.getrandbits(30)])

    def test_lopsided_swarms_lose_no_live_peer(self):
        rng = random.Random(9)
        interval_ms = self.PEER_TTL_MS / 1.5
        # Two shapes: one seeder among 1000 leechers, one leecher among 300 seeders.
        lone_seeder, lone_leecher = random_hash(), random_hash()
        peers = [(lone_seeder, random_peer_id(), True)]
        peers += [(lone_seeder, random_peer_id(), False) for _ in range(1000)]
        peers += [(lone_leecher, random_peer_id(), False)]
        peers += [(lone_leecher, random_peer_id(), True) for _ in range(300)]
        start = now_ms()
        # The lone peers announce first; the others join over one interval.
        due = [start if i in (0, 1001) else start + rng.uniform(0, interval_ms)
               for i in range(len(peers))]
        end = start + self.LIFETIMES * 2 * self.PEER_TTL_MS + interval_ms
        name = {lone_seeder: "lone seeder", lone_leecher: "lone leecher"}
        checked = {"lone seeder": 0, "lone leecher": 0}
        missing = {"lone seeder": 0, "lone leecher": 0}
        sent = 0
        with self.redis.client(timeout=10.0) as c:
            while now_ms() < end and sent < 100000:
                now = now_ms()
                batch = [i for i in range(len(peers)) if due[i] <= now]
                for i in batch:
                    h, pid, seeding = peers[i]
                    c.send(*self.announce_args(h, pid, 20000 + i % 40000, seeding, now))
                for i in batch:
                    reply = c.read_reply()
                    self.assertNotIsInstance(reply, RedisError)
                    h, pid, seeding = peers[i]
                    # The lone peer of the other role is live since its first announce.
                    if i not in (0, 1001) and due[i] > start + interval_ms:
                        checked[name[h]] += 1
                        lone = reply[0] if h == lone_seeder else reply[1]
                        if lone != 1:
                            missing[name[h]] += 1
                    due[i] = now + rng.uniform(0.6, 1.0) * interval_ms
                sent += len(batch)
                time.sleep(self.BATCH_S)
        self.assertGreater(checked["lone seeder"], 2000)
        self.assertGreater(checked["lone leecher"], 600)
        self.assertEqual(missing, {"lone seeder": 0, "lone leecher": 0},
                         "announces that did not see the lone live peer, of %r" % checked)
        # Abandoned, the swarms' keys still vanish: 2 x the peer ttl after the last
        # refresh, at most, plus the lazy expiry's margin.
        time.sleep(2 * self.PEER_TTL_MS / 1000.0 + 0.5)
        for h in (lone_seeder, lone_leecher):
            for kind in ("seeders", "leechers", "peers"):
                self.assertEqual(self.redis.call("EXISTS", key(h, kind)), 0, kind)


if __name__ == "__main__":
    unittest.main()
