"""Private mode's accounting, end to end with real processes: three frontends, a real
redis-server and starling-aggregator with the redis-stream driver. A known pattern of
announces (a client restart, stopped and started again, freeleech, neutral, a token, a
completed download) is sent round-robin; one frontend is SIGKILLed with a request in
flight (the client then sends it to another, as clients retry), and the aggregator is
SIGKILLed and replaced mid-run. The per-user, per-token and per-snatch sums read from the
deltas stream must equal those of an independent model of the rules, exactly."""

import os
import socket
import struct
import sys
import time
import unittest
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Aggregator, RedisServer, Starling, announce_target, bdecode,
                     build_request, http_get, pct, random_hash, require_aggregator,
                     require_binary, wait_until)

SITE = "Acct0123456789abcdefABCDEF012345"
AGENT = "qBittorrent/4.6.5"
DRAINED_S = 20.0


# The announces of the exact-totals tests (this one, test_mysql_driver.py): users 1-3,
# torrents 10 (normal), 11 (free), 12 (neutral), 13 (user 2 holds a token).
# (uid, tid, event, uploaded, downloaded, left)
PATTERN = [
    (1, 10, "started", 0, 0, 1000), (1, 10, None, 1000, 500, 500),
    (1, 10, None, 1500, 700, 300),
    (1, 10, "started", 100, 50, 250),  # the client restarted: counts from zero
    (1, 10, None, 300, 900, 100), (1, 10, "completed", 300, 1000, 0),
    (1, 10, "completed", 300, 1000, 0),  # counted once
    (1, 11, "started", 0, 0, 100), (1, 11, None, 700, 900, 0),
    (2, 12, "started", 0, 0, 100), (2, 12, None, 100, 100, 0),
    (2, 13, "started", 0, 0, 100), (2, 13, None, 40, 4000, 60),
    (3, 10, "started", 10, 20, 100), (3, 10, "stopped", 30, 40, 100),
    (3, 10, None, 90, 90, 100),  # after stopped, without started: nothing known
    (3, 10, "started", 5, 6, 100), (3, 10, "completed", 15, 16, 0),
    (2, 13, None, 80, 4500, 0), (1, 10, None, 800, 1000, 0),
]


class Model:
    """The accounting rules (README "Private tracker"), written independently of
    lua/lib/account.lua."""

    def __init__(self):
        self.records = {}  # (info_hash, peer_id) -> (uid, up, down)
        self.up = defaultdict(int)
        self.down = defaultdict(int)
        self.token_down = defaultdict(int)
        self.snatches = defaultdict(int)
        self.completed_seen = set()

    def announce(self, uid, tid, info_hash, free, token, peer_id, event, up, down, left):
        prev = self.records.get((info_hash, peer_id))
        if prev is not None and prev[0] == uid:
            dup = up - prev[1] if up >= prev[1] else up
            ddown = down - prev[2] if down >= prev[2] else down
        elif event == "started":
            dup, ddown = up, down
        else:
            dup, ddown = 0, 0
        if event == "stopped":
            self.records.pop((info_hash, peer_id), None)
        else:
            self.records[(info_hash, peer_id)] = (uid, up, down)
        if free == 2:
            dup, ddown = 0, 0
        elif free == 1:
            ddown = 0
        elif token:
            self.token_down[(uid, tid)] += ddown
            ddown = 0
        self.up[uid] += dup
        self.down[uid] += ddown
        if event == "completed" and (info_hash, peer_id) not in self.completed_seen:
            self.completed_seen.add((info_hash, peer_id))
            self.snatches[(uid, tid)] += 1


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def slot_tag(slot):
    """storage/keyslot.c's tag of a slot: the first of [0-9a-z]{1,4} landing there."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    for length in range(1, 5):
        for n in range(36 ** length):
            tag, v = "", n
            for _ in range(length):
                tag = digits[v % 36] + tag
                v //= 36
            if crc16(tag.encode()) % 16384 == slot:
                return tag
    raise AssertionError("no tag for slot %d" % slot)


class AccountingCase(unittest.TestCase):
    CONFIG = {"private_enabled": True, "site_password": SITE, "driver": "redis-stream",
              "aggregator": {"interval": "1s", "accounting_interval": "200ms",
                             "lock_ttl": "1s"}}

    def setUp(self):
        require_binary()
        require_aggregator()
        self.redis = RedisServer()
        self.nodes, self.aggs = [], []
        self.redis.start()
        for _ in range(3):
            self.nodes.append(Starling(self.redis, self.CONFIG).start(wait_ready=False))
        for n in self.nodes:
            wait_until(lambda: http_get(n.metrics_port, "/readyz").status == 200, 10,
                       what="/readyz")
        self.aggs.append(Aggregator(self.redis, self.CONFIG).start())

    def tearDown(self):
        for n in self.nodes:
            n.cleanup()
        for a in self.aggs:
            if a.proc is not None and a.proc.poll() is None:
                a.proc.kill()
                a.proc.wait()
        self.redis.cleanup()

    def update(self, **params):
        q = "&".join("%s=%s" % (k, v if isinstance(v, str) else pct(v))
                     for k, v in params.items())
        r = http_get(self.nodes[0].port, "/%s/update?%s" % (SITE, q))
        self.assertEqual(r.body, b"success", params)

    def live_nodes(self):
        return [n for n in self.nodes if n.proc.poll() is None]

    def send(self, node, target):
        r = http_get(node.port, target, headers=["User-Agent: " + AGENT])
        self.assertEqual(r.status, 200)
        self.assertNotIn(b"failure", r.body, r.body)

    def deltas(self):
        """Sums of the deltas stream: per user, per (user, torrent) token, per snatch."""
        up, down = defaultdict(int), defaultdict(int)
        token, snatch = defaultdict(int), defaultdict(int)
        self.agents = set()
        self.reported = {}  # (user, torrent) -> the client's counters in its last peer entry
        last = "-"
        while True:
            got = self.redis.call("XRANGE", "{starling}:acct:deltas",
                                  last if last == "-" else "(" + last, "+", "COUNT", "1000")
            if not got:
                break
            for entry_id, fields in got:
                f = {fields[i].decode(): fields[i + 1].decode()
                     for i in range(0, len(fields), 2)}
                if f["type"] == "user":
                    up[int(f["user"])] += int(f["uploaded"])
                    down[int(f["user"])] += int(f["downloaded"])
                elif f["type"] == "token":
                    token[(int(f["user"]), int(f["torrent"]))] += int(f["downloaded"])
                elif f["type"] == "peer":
                    self.agents.add(f["useragent"])
                    self.reported[(int(f["user"]), int(f["torrent"]))] = (
                        int(f["reported_uploaded"]), int(f["reported_downloaded"]))
                elif f["type"] == "snatch":
                    snatch[(int(f["user"]), int(f["torrent"]))] += int(f["count"])
                last = entry_id.decode()
        return up, down, token, snatch



class ExactTotalsTest(AccountingCase):
    def test_exact_totals(self):
        users = {1: "u1" + "a" * 30, 2: "u2" + "b" * 30, 3: "u3" + "c" * 30}
        for uid, pk in users.items():
            self.update(action="add_user", id=str(uid), passkey=pk, visible="1")
        torrents = {10: (random_hash(), 0), 11: (random_hash(), 1), 12: (random_hash(), 2),
                    13: (random_hash(), 0)}
        for tid, (h, free) in torrents.items():
            self.update(action="add_torrent", id=str(tid), info_hash=h, freetorrent=str(free))
        self.update(action="add_token", info_hash=torrents[13][0], userid="2")
        time.sleep(1.0)  # every frontend has the tables (about 250 ms)

        model = Model()
        peers = {uid: b"-qB4650-" + os.urandom(12) for uid in users}
        pattern = PATTERN
        kill_frontend_at, replace_aggregator_at = 7, 13
        rr = 0
        for step, (uid, tid, event, up, down, left) in enumerate(pattern):
            h, free = torrents[tid]
            target = "/" + users[uid] + announce_target(h, peers[uid], 6881, left=left,
                                                       uploaded=up, downloaded=down,
                                                       event=event)
            if step == kill_frontend_at:
                # A request in flight when its frontend dies: the client does not know
                # whether it counted, and sends it again elsewhere.
                victim = self.nodes[0]
                s = socket.create_connection(("127.0.0.1", victim.port))
                s.sendall(build_request(target, ["Connection: close"]))
                victim.proc.kill()
                victim.proc.wait()
                s.close()
            if step == replace_aggregator_at:
                old = self.aggs[-1]
                old.proc.kill()
                old.proc.wait()
                self.aggs.append(Aggregator(self.redis, self.CONFIG).start())
            live = self.live_nodes()
            self.send(live[rr % len(live)], target)
            rr += 1
            model.announce(uid, tid, h, free, tid == 13 and uid == 2, peers[uid], event, up,
                           down, left)

        def drained():
            keys = self.redis.call("KEYS", "*:acct:pending") + \
                self.redis.call("KEYS", "*:acct:draining")
            return not keys
        wait_until(drained, DRAINED_S, interval=0.1, what="the accounting drained")
        up, down, token, snatch = self.deltas()
        nonzero = lambda d: {k: v for k, v in d.items() if v}
        self.assertEqual(nonzero(up), nonzero(model.up))
        self.assertEqual(nonzero(down), nonzero(model.down))
        self.assertEqual(nonzero(token), nonzero(model.token_down))
        self.assertEqual(dict(snatch), dict(model.snatches))
        # The pattern meant something: restart, free, neutral, token and snatch all showed.
        self.assertEqual(up[1], 1500 + 100 + 200 + 500 + 700)
        self.assertEqual(down[1], 700 + 50 + 850 + 100)
        self.assertEqual(token[(2, 13)], 4500)
        self.assertEqual(snatch[(1, 10)], 1)
        self.assertEqual(up[2], 80)  # neutral: nothing; token: upload only
        self.assertEqual(self.agents, {AGENT})  # every peer record names its client
        # Peer entries carry the client's own counters of its last announce (Ocelot's).
        last = {(uid, tid): (up, down) for uid, tid, _, up, down, _ in pattern}
        self.assertEqual(self.reported, last)


class PublishedOnceTest(AccountingCase):
    def test_a_batch_applied_before_is_not_published_again(self):
        # As if a leader died after delivering batch 7 of slot 5 and before deleting it.
        tag = slot_tag(5)
        entry = b"9:10:" + b"P" * 20
        # lua/lib/account.lua's ACCT_PENDING: up, down, token_down, seed_ms, snatched,
        # announces, left, active, last_ms, spent_ms, up_speed, down_speed, the client's
        # uploaded and downloaded
        value = struct.pack(">dddddddBdddddd", 100, 200, 0, 0, 0, 1, 0, 1, 1800000000000, 0,
                            0, 0, 100, 200) + b"\x00" + b"agent/1.0"  # no endpoints
        self.redis.call("HSET", "{%s}:acct:draining" % tag, "#batch", "7", entry, value)
        self.redis.call("SET", "{%s}:acct:batch" % tag, "7")
        self.redis.call("HSET", "{starling}:acct:applied", "5", "7")
        wait_until(lambda: self.redis.call("EXISTS", "{%s}:acct:draining" % tag) == 0, 10,
                   what="the batch settled")
        self.assertEqual(self.redis.call("XLEN", "{starling}:acct:deltas"), 0)
        # The next batch of that slot is new: published.
        self.redis.call("HSET", "{%s}:acct:pending" % tag, entry, value)
        wait_until(lambda: self.redis.call("XLEN", "{starling}:acct:deltas") > 0, 10,
                   what="batch 8 published")
        self.assertEqual(self.redis.call("HGET", "{starling}:acct:applied", "5"), b"8")
        up, down, _, _ = self.deltas()
        self.assertEqual((up[9], down[9]), (100, 200))


class PruneDeletedTest(AccountingCase):
    def test_torrents_deleted_a_day_ago_leave(self):
        live, recent, old = random_hash(), random_hash(), random_hash()
        for tid, h in ((1, live), (2, recent), (3, old)):
            self.update(action="add_torrent", id=str(tid), info_hash=h, freetorrent="0")
        self.update(action="delete_torrent", info_hash=recent, reason="1")
        # As if deleted a day and a minute ago (written as the update API would have).
        day_ago = int(time.time()) - 86400 - 60
        self.update(action="delete_torrent", info_hash=old, reason="2")
        self.redis.call("HSET", "{starling}:private:torrents", old.hex(), "3 0 %d 2" % day_ago)
        wait_until(lambda: self.redis.call("HEXISTS", "{starling}:private:torrents",
                                           old.hex()) == 0, 10, what="the old deletion pruned")
        self.assertEqual(self.redis.call("HGET", "{starling}:private:torrents", live.hex()),
                         b"1 0 0 -1")
        self.assertEqual(self.redis.call("HEXISTS", "{starling}:private:torrents",
                                         recent.hex()), 1)
        self.assertIn(b"pruned: 1", self.aggs[-1].log().encode())
        # Through the tables' one writer: the frontends' replicas were told.
        last = self.redis.call("XREVRANGE", "{starling}:tables:changes", "+", "-", "COUNT", "1")
        fields = last[0][1]
        change = dict(zip(fields[::2], fields[1::2]))
        self.assertEqual((change[b"o"], change[b"k"]), (b"del", old.hex().encode()))


if __name__ == "__main__":
    unittest.main()
