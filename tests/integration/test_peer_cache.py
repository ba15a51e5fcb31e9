"""The frontend's peer cache (frontend/peer_cache.h) against a real Redis: announce.lua's
fill mode keeps members that expire before the horizon out of the windows; a popular swarm's
replies come from the cache without listing the announcer or an expired peer, with exact
counts; with the cache off, no announce touches it."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promtext
from harness import (TrackerTestCase, bdecode, compact4, http_get, key, now_ms, random_hash,
                     random_peer_id, split_peers, starling_bin)

LOCAL = "127.0.0.1"


def cache_counts(node):
    """{result: announces} of starling_peer_cache_announces_total."""
    r = http_get(node.metrics_port, "/metrics")
    fams = promtext.parse(r.body)
    return {labels["result"]: value
            for _, labels, value in fams["starling_peer_cache_announces_total"]["samples"]}


def announce_script():
    """The announce script as the binary embeds it (lua/embed.cmake writes it beside)."""
    path = os.path.join(os.path.dirname(starling_bin()), "generated", "lua", "announce.lua")
    with open(path, "rb") as f:
        return f.read()


class FillModeTest(TrackerTestCase):
    """announce.lua called directly, as a frontend's fill calls it."""

    def fill(self, h, peer_id, port, horizon_ms, numwant, seeding=False):
        now = now_ms()
        args = [now, now + 600000, 1200000, peer_id, compact4(LOCAL, port),
                "1" if seeding else "0", "0", numwant, "0", "1", 12345, "(%d" % horizon_ms]
        keys = [key(h, "seeders"), key(h, "leechers"), key(h, "peers")]
        return self.rcall("EVAL", announce_script(), 3, *keys, *args)

    def test_windows_hold_only_members_live_past_the_horizon(self):
        h = random_hash()
        now = now_ms()
        soon, later = {}, {}
        # 40 leechers expiring in 2 s, 30 in 10 min; 5 seeders in 2 s, 5 in 10 min.
        for i in range(80):
            pid = random_peer_id()
            expires = now + 2000 if i % 2 == 0 else now + 600000
            role = "seeders" if i >= 70 else "leechers"
            self.rcall("ZADD", key(h, role), expires, pid + compact4(LOCAL, 30000 + i))
            self.rcall("HSET", key(h, "peers"), pid, ("S" if role == "seeders" else "L")
                       .encode() + compact4(LOCAL, 30000 + i))
            (soon if i % 2 == 0 else later)[30000 + i] = role
        me = random_peer_id()
        r = self.fill(h, me, 31000, now + 5000, 20)
        nseeders, nleechers, hs, hl, k = r[:5]
        self.assertEqual((nseeders, nleechers), (10, 71))  # every live one, and the announcer
        self.assertEqual((hs, hl), (5, 36))  # live past the horizon (the announcer's is too)
        self.assertEqual(k, 5)
        members = r[5:]
        self.assertEqual(len(members), 5 + 20)
        ports = [int.from_bytes(m[-2:], "big") for m in members]
        for p in ports:
            self.assertNotIn(p, soon, "a member expiring before the horizon was read")
        self.assertTrue(all(later.get(p) == "seeders" for p in ports[:5]), ports[:5])
        self.assertTrue(all(p == 31000 or later.get(p) == "leechers" for p in ports[5:]),
                        ports[5:])

    def test_a_window_holding_everyone_is_whole(self):
        h = random_hash()
        me = random_peer_id()
        r = self.fill(h, me, 32000, now_ms() + 5000, 20)
        # The announcer alone, included: the cache serves it to the others.
        self.assertEqual(r, [0, 1, 0, 1, 0, me + compact4(LOCAL, 32000)])


class PopularSwarmTest(TrackerTestCase):
    # Peers live 6 s (1.5 x announce); a window serves 1 s and holds members live until
    # 1.3 s past its read (peer_cache_ttl + redis.command_timeout, 300ms in the harness).
    CONFIG = {"announce": "4s", "min_announce": "1s", "default_num_want": 10,
              "max_num_want": 10}

    def test_replies_from_the_cache(self):
        # 150 early peers, then 12 regulars re-announcing for 5 s: the early ones are most
        # of the swarm until they expire, so a window read without the horizon would hold
        # some of them and be served after they expired.
        h = random_hash()
        t0 = time.monotonic()
        early = set()
        for i in range(150):
            self.announce_ok(h, random_peer_id(), 52000 + i)
            early.add(52000 + i)
        early_all_expired = time.monotonic() + 6.0 + 0.1  # last announce + peer ttl + slack
        time.sleep(max(0.0, t0 + 2.5 - time.monotonic()))
        regulars = [(random_peer_id(), 53000 + i) for i in range(12)]
        for pid, port in regulars:
            self.announce_ok(h, pid, port)
        before = cache_counts(self.tracker)
        checked_after_expiry = 0
        j = 0
        while time.monotonic() < t0 + 7.8 and j < 40000:
            j += 1
            pid, port = regulars[j % len(regulars)]  # each is in the cached window at times
            sent = time.monotonic()
            d = self.announce_ok(h, pid, port)
            ports = [p for _, p in split_peers(d[b"peers"])]
            self.assertNotIn(port, ports, "given itself")
            self.assertEqual(len(ports), 10)
            self.assertEqual(len(set(ports)), 10)
            if sent > early_all_expired:
                self.assertFalse(early & set(ports), "an expired peer was given")
                self.assertEqual(d[b"incomplete"], 12, "count not exact")
                checked_after_expiry += 1
            elif time.monotonic() < t0 + 5.9:
                self.assertEqual(d[b"incomplete"], 162, "count not exact")
        after = cache_counts(self.tracker)
        self.assertGreater(checked_after_expiry, 20)
        hits = after["hit"] - before["hit"]
        fills = after["fill"] - before["fill"]
        # ~5 s of announces: a fill each second at most, the rest hits.
        self.assertGreater(hits, 50, after)
        self.assertGreaterEqual(fills, 1, after)
        self.assertLessEqual(fills, 8, after)

    def test_small_swarm_replies_come_from_redis(self):
        h = random_hash()
        before = cache_counts(self.tracker)
        ports = []
        for i in range(8):
            d = self.announce_ok(h, random_peer_id(), 55000 + i)
            got = sorted(p for _, p in split_peers(d[b"peers"]))
            self.assertEqual(got, ports, "a newcomer missing from a small swarm's reply")
            ports.append(55000 + i)
        after = cache_counts(self.tracker)
        self.assertEqual(after["hit"], before["hit"])
        self.assertEqual(after["fill"], before["fill"])


class CacheOffTest(TrackerTestCase):
    CONFIG = {"peer_cache_swarms": 0, "default_num_want": 5, "max_num_want": 5}

    def test_no_announce_planned(self):
        h = random_hash()
        for i in range(30):
            d = self.announce_ok(h, random_peer_id(), 56000 + i)
            self.assertEqual(len(split_peers(d[b"peers"])), min(i, 5))
        self.assertEqual(cache_counts(self.tracker), {"bypass": 0, "fill": 0, "hit": 0})


if __name__ == "__main__":
    unittest.main()
