"""Private tracker mode (Gazelle/Ocelot-compatible) with a real redis-server and three
frontends: passkeys in the path, every refusal with its text and metric, every update
action of the site API applied on every frontend within about a second, passkey change,
private scrape, UDP with BEP 41 URL data, the bulk loader, and secrets kept out of logs."""

import os
import socket
import struct
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promtext
from harness import (Aggregator, RedisServer, Starling, TrackerTestCase, announce_target, bdecode, failure,
                     http_get, key, pct, random_hash, random_peer_id, require_binary,
                     starling_bin, wait_until)
from test_udp import ANNOUNCE, ERROR, UdpClient, next_txid

SITE = "S" * 16 + "ite0123456789abc"   # 32 [0-9A-Za-z]
REPORT = "R" * 16 + "eport0123456789a"
PROPAGATION_S = 3.0


def passkey():
    return os.urandom(16).hex()


def metric(node, name, **labels):
    r = http_get(node.metrics_port, "/metrics")
    return promtext.value(promtext.parse(r.body), name, **labels)


class PrivateCase(TrackerTestCase):
    CONFIG = {"private_enabled": True, "site_password": SITE, "report_password": REPORT,
              "private_udp_enabled": True, "log_level": "debug"}
    NODES = 3
    READY_BY_READYZ = True
    secrets = {SITE, REPORT}

    @classmethod
    def tearDownClass(cls):
        logs = [n.log() for n in cls.nodes]
        super().tearDownClass()
        # No passkey or site secret is ever logged (the log level is debug).
        for log in logs:
            for secret in cls.secrets:
                if secret in log:
                    raise AssertionError("a secret in a starling log")

    def update(self, node=None, **params):
        q = "&".join("%s=%s" % (k, v if isinstance(v, str) else pct(v))
                     for k, v in params.items())
        r = http_get((node or self.nodes[0]).port, "/%s/update?%s" % (SITE, q))
        self.assertEqual(r.status, 200)
        return r.body

    def ok(self, **params):
        self.assertEqual(self.update(**params), b"success", params)

    def user(self, uid, can_leech=None):
        pk = passkey()
        self.secrets.add(pk)
        self.ok(action="add_user", id=str(uid), passkey=pk, visible="1")
        if can_leech is not None:
            self.ok(action="update_user", passkey=pk, can_leech=str(can_leech), visible="1")
        return pk

    def torrent(self, tid, free="0"):
        h = random_hash()
        self.ok(action="add_torrent", id=str(tid), info_hash=h, freetorrent=free)
        return h

    def body(self, node, pk, h, left=100, peer_id=None, event=None):
        target = announce_target(h, peer_id or random_peer_id(), 6881, left=left, event=event)
        if pk is not None:
            target = "/" + pk + target
        r = http_get(node.port, target)
        self.assertEqual(r.status, 200)
        return r.body

    def everywhere(self, pred, what):
        for n in self.nodes:
            wait_until(lambda: pred(n), PROPAGATION_S, interval=0.02, what=what)


class PrivateAnnounceTest(PrivateCase):
    def test_announce_with_a_passkey_on_every_frontend(self):
        pk, h = self.user(1), self.torrent(10)
        self.everywhere(lambda n: b"failure" not in self.body(n, pk, h), "announce served")
        self.assertEqual(self.redis.call("ZCARD", key(h, "leechers")), 3)

    def test_public_paths_refused(self):
        pk, h = self.user(2), self.torrent(11)
        self.everywhere(lambda n: b"failure" not in self.body(n, pk, h), "announce served")
        before = metric(self.nodes[0], "starling_announce_refusals_total", reason="passkey_required")
        got = bdecode(self.body(self.nodes[0], None, h))
        self.assertIn(b"/<passkey>/announce", got[b"failure reason"])
        r = http_get(self.nodes[0].port, "/scrape?info_hash=" + pct(h))
        self.assertIn(b"/<passkey>/announce", bdecode(r.body)[b"failure reason"])
        self.assertEqual(metric(self.nodes[0], "starling_announce_refusals_total",
                                reason="passkey_required"), before + 2)

    def test_refusals(self):
        h = self.torrent(12)
        unknown = passkey()
        self.secrets.add(unknown)
        self.everywhere(lambda n: self.body(n, unknown, h) == failure("Passkey not found"),
                        "unknown passkey")
        pk = self.user(3)
        other = random_hash()  # never added
        self.everywhere(lambda n: self.body(n, pk, other) == failure("Unregistered torrent"),
                        "unregistered")
        self.assertEqual(self.redis.call("EXISTS", key(other, "leechers")), 0)
        self.everywhere(lambda n: b"failure" not in self.body(n, pk, h), "registered")

        # can_leech = 0: leeching refused, seeding allowed.
        self.ok(action="update_user", passkey=pk, can_leech="0", visible="1")
        self.everywhere(lambda n: self.body(n, pk, h) ==
                        failure("Access denied, leeching forbidden"), "leeching forbidden")
        self.assertNotIn(b"failure", self.body(self.nodes[1], pk, h, left=0))
        self.ok(action="update_user", passkey=pk, can_leech="1", visible="0")
        self.everywhere(lambda n: b"failure" not in self.body(n, pk, h), "leeching again")
        self.assertEqual(self.redis.call("HGET", "{starling}:private:users", pk), b"3 1 0 1")

        # Disabled (remove_user), then back (add_user).
        self.ok(action="remove_user", passkey=pk)
        self.everywhere(lambda n: self.body(n, pk, h) == failure("Your account is disabled"),
                        "disabled")
        self.ok(action="add_user", id="3", passkey=pk, visible="1")
        self.everywhere(lambda n: b"failure" not in self.body(n, pk, h), "enabled again")

        for reason in ("unknown_passkey", "unregistered_torrent", "leeching_forbidden",
                       "user_disabled"):
            self.assertGreater(metric(self.nodes[0], "starling_announce_refusals_total",
                                      reason=reason), 0, reason)

    def test_remove_users_and_change_passkey(self):
        h = self.torrent(13)
        a, b = self.user(4), self.user(5)
        self.ok(action="remove_users", passkeys=a + b)
        for pk in (a, b):
            self.everywhere(lambda n: self.body(n, pk, h) == failure("Your account is disabled"),
                            "removed")
        c = self.user(6)
        new = passkey()
        self.secrets.add(new)
        self.ok(action="change_passkey", oldpasskey=c, newpasskey=new)
        self.everywhere(lambda n: self.body(n, c, h) == failure("Passkey not found"), "old key")
        self.everywhere(lambda n: b"failure" not in self.body(n, new, h), "new key")
        self.assertEqual(self.redis.call("HGET", "{starling}:private:users", new), b"6 1 1 1")

    def test_delete_torrent_with_a_reason(self):
        pk = self.user(7)
        h, g = self.torrent(14), self.torrent(15)
        self.ok(action="delete_torrent", info_hash=h, reason="0")
        self.ok(action="delete_torrent", info_hash=g)
        self.everywhere(lambda n: self.body(n, pk, h) == failure("Unregistered torrent: Dupe"),
                        "deleted with a reason")
        self.everywhere(lambda n: self.body(n, pk, g) == failure("Unregistered torrent"),
                        "deleted")
        # Added again: served.
        self.ok(action="add_torrent", id="14", info_hash=h, freetorrent="0")
        self.everywhere(lambda n: b"failure" not in self.body(n, pk, h), "added again")

    def test_freeleech_updates_and_tokens_in_redis(self):
        h, g = self.torrent(16), self.torrent(17)
        self.ok(action="update_torrent", info_hash=h, freetorrent="1")
        self.assertEqual(self.redis.call("HGET", "{starling}:private:torrents", h.hex()),
                         b"16 1 0 -1")
        self.ok(action="update_torrents", info_hashes=h + g, freetorrent="2")
        for t, tid in ((h, 16), (g, 17)):
            self.assertEqual(self.redis.call("HGET", "{starling}:private:torrents", t.hex()),
                             b"%d 2 0 -1" % tid)
        self.ok(action="add_token", info_hash=h, userid="8")
        self.assertEqual(self.redis.call("SISMEMBER", "{starling}:private:tokens",
                                         h.hex() + ":8"), 1)
        self.ok(action="remove_token", info_hash=h, userid="8")
        self.assertEqual(self.redis.call("SISMEMBER", "{starling}:private:tokens",
                                         h.hex() + ":8"), 0)

    def test_whitelist_actions_in_redis(self):
        self.ok(action="add_whitelist", peer_id="-TR30")
        self.ok(action="edit_whitelist", old_peer_id="-TR30", new_peer_id="-qB46")
        self.assertEqual(self.redis.call("SMEMBERS", "{starling}:access:clients"), [b"-qB46"])
        self.ok(action="remove_whitelist", peer_id="-qB46")
        self.assertEqual(self.redis.call("SCARD", "{starling}:access:clients"), 0)

    def test_bad_update_calls(self):
        r = http_get(self.nodes[0].port, "/%s/update?action=add_user" % ("x" * 32))
        self.assertEqual(bdecode(r.body)[b"failure reason"], b"Authentication failure")
        for params, text in (({"action": "nonsense"}, b"unknown action"),
                             ({"action": "add_torrent", "id": "1"}, b"add_torrent needs"),
                             ({"action": "add_user", "id": "1", "passkey": "short"},
                              b"add_user needs"),
                             ({"action": "update_torrents", "info_hashes": "abc",
                               "freetorrent": "1"}, b"update_torrents needs"),
                             ({"action": "update_announce_interval",
                               "new_announce_interval": "0"}, b"1 to 604800 s")):
            got = bdecode(self.update(**params))[b"failure reason"]
            self.assertIn(text, got, params)
        self.assertGreater(metric(self.nodes[0], "starling_site_updates_total",
                                  result="refused"), 0)

    def test_report(self):
        # The totals of the aggregator's last pass (written here as a pass would).
        self.redis.call("HSET", "{starling}:stats", "seeders", "5", "leechers", "7")
        r = http_get(self.nodes[1].port, "/%s/report?get=stats" % REPORT)
        self.assertEqual(r.body, b"7 leechers tracked\n5 seeders tracked\n")
        r = http_get(self.nodes[1].port, "/%s/report?get=stats" % SITE)
        self.assertEqual(bdecode(r.body)[b"failure reason"], b"Authentication failure")
        r = http_get(self.nodes[1].port, "/%s/report?get=user" % REPORT)
        self.assertEqual(bdecode(r.body)[b"failure reason"], b"Invalid action")
        r = http_get(self.nodes[1].port, "/%s/report?get=peers" % REPORT)
        self.assertEqual(bdecode(r.body)[b"failure reason"], b"unknown report")

    def test_report_of_a_users_live_peers(self):
        # Counted by a real aggregator pass: a user seeding two torrents and leeching a
        # third (one of its peers stopped), another with more leechers in one swarm than
        # one purge call counts (FAMILY_CHUNK, 500: family.lua's slices), a third idle.
        a, b, idle = self.user(60), self.user(61), self.user(62)
        h1, h2, h3, big = self.torrent(63), self.torrent(64), self.torrent(65), self.torrent(66)
        self.everywhere(lambda n: b"failure" not in self.body(n, a, h1, left=0), "served")
        self.body(self.nodes[1], a, h2, left=0)
        self.body(self.nodes[2], a, h3, left=5)
        gone = random_peer_id()
        self.body(self.nodes[0], a, h3, left=5, peer_id=gone)
        self.body(self.nodes[0], a, h3, left=5, peer_id=gone, event="stopped")
        for i in range(510):
            self.body(self.nodes[i % 3], b, big, left=1)
        self.body(self.nodes[0], b, h1, left=0)
        self.assertEqual(Aggregator(self.redis, self.CONFIG).run_once(), 0)

        def report(pk):
            return http_get(self.nodes[2].port, "/%s/report?get=user&key=%s" % (REPORT, pk)).body
        # a: the announce on every frontend is one peer per frontend (3 peer_ids) in h1.
        self.assertEqual(report(a), b"1 leeching\n4 seeding\n")
        self.assertEqual(report(b), b"510 leeching\n1 seeding\n")
        self.assertEqual(report(idle), b"0 leeching\n0 seeding\n")
        self.assertEqual(report(passkey()), b"")  # Ocelot answers nothing for an unknown key
        self.assertEqual(self.redis.call("HGET", "{starling}:private:live", "61:leeching"),
                         b"510")
        self.assertEqual(self.redis.call("TTL", "{starling}:private:live"), -1)
        # The next pass replaces them: a's seeders leave.
        self.redis.call("DEL", key(h2, "seeders"), key(h2, "peers"))
        self.assertEqual(Aggregator(self.redis, self.CONFIG).run_once(), 0)
        self.assertEqual(report(a), b"1 leeching\n3 seeding\n")

    def test_update_announce_interval(self):
        pk, h = self.user(40), self.torrent(41)
        self.everywhere(lambda n: b"failure" not in self.body(n, pk, h), "served")
        self.ok(action="update_announce_interval", new_announce_interval="2400")
        self.everywhere(lambda n: bdecode(self.body(n, pk, h))[b"interval"] == 2400,
                        "the site's interval")
        self.assertEqual(self.redis.call("HGET", "{starling}:private:settings",
                                         "announce_interval"), b"2400")
        self.ok(action="update_announce_interval", new_announce_interval="1800")
        self.everywhere(lambda n: bdecode(self.body(n, pk, h))[b"interval"] == 1800, "back")

    def test_private_scrape_answers_registered_torrents_only(self):
        pk, h = self.user(19), self.torrent(20)
        other = random_hash()
        self.everywhere(lambda n: b"failure" not in self.body(n, pk, h), "served")
        r = http_get(self.nodes[1].port, "/%s/scrape?info_hash=%s&info_hash=%s"
                     % (pk, pct(h), pct(other)))
        files = bdecode(r.body)[b"files"]
        self.assertEqual(list(files), [h])
        self.assertEqual(files[h][b"incomplete"], self.redis.call("ZCARD", key(h, "leechers")))
        r = http_get(self.nodes[1].port, "/%s/scrape?info_hash=%s" % (passkey(), pct(h)))
        self.assertEqual(r.body, failure("Passkey not found"))

    def test_udp_with_url_data(self):
        pk, h = self.user(21), self.torrent(22)
        self.everywhere(lambda n: b"failure" not in self.body(n, pk, h), "served")
        node = self.nodes[2]
        with UdpClient(("127.0.0.1", node.udp_port)) as c:
            path = ("/%s/announce" % pk).encode()
            opts = b""
            for i in range(0, len(path), 255):
                part = path[i:i + 255]
                opts += bytes([2, len(part)]) + part
            _, reply = c.announce(h, random_peer_id(), 6881, options=opts + b"\x00")
            action, = struct.unpack(">I", reply[:4])
            self.assertEqual(action, ANNOUNCE, reply)
            _, reply = c.announce(h, random_peer_id(), 6881)
            action, = struct.unpack(">I", reply[:4])
            self.assertEqual(action, ERROR)
            self.assertIn(b"/<passkey>/announce", reply[8:])
            _, reply = c.scrape(h)
            self.assertEqual(struct.unpack(">I", reply[:4])[0], ERROR)
            self.assertIn(b"over HTTP only", reply[8:])
        self.assertEqual(self.redis.call("ZCARD", key(h, "leechers")), 4)

    def test_bulk_loader(self):
        users = [(passkey(), 1000 + i) for i in range(150)]
        self.secrets.update(pk for pk, _ in users)
        text = "".join("%s %d\n" % u for u in users[:-1]) + "%s %d 0 0\n" % users[-1]
        r = subprocess.run([starling_bin(), "table", "add", "users", "--config",
                            self.nodes[0].config_path], input=text.encode(),
                           capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"150 items, 150 changed", r.stdout)
        hashes = [random_hash() for _ in range(3)]
        r = subprocess.run([starling_bin(), "table", "add", "registered", "--config",
                            self.nodes[0].config_path] +
                           ["%s %d 1" % (h.hex(), 500 + i) for i, h in enumerate(hashes)],
                           capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.redis.call("HGET", "{starling}:private:users", users[-1][0]),
                         b"1149 0 0 1")
        pk = users[0][0]
        self.everywhere(lambda n: b"failure" not in self.body(n, pk, hashes[2]), "loaded")
        for bad in ("zz", "%s x" % users[0][0]):
            r = subprocess.run([starling_bin(), "table", "add", "users", "--config",
                                self.nodes[0].config_path, bad], capture_output=True,
                               timeout=20)
            self.assertEqual(r.returncode, 2, bad)


class PrivateWhitelistTest(PrivateCase):
    CONFIG = dict(PrivateCase.CONFIG, client_whitelist_enabled=True)

    def test_whitelist_changes_live(self):
        pk, h = self.user(30), self.torrent(31)
        tr = b"-TR3000-" + os.urandom(12)
        qb = b"-qB4650-" + os.urandom(12)
        not_approved = failure("client is not approved")
        self.everywhere(lambda n: self.body(n, pk, h, peer_id=tr) == not_approved, "refused")
        self.ok(action="add_whitelist", peer_id="-TR30")
        self.everywhere(lambda n: b"failure" not in self.body(n, pk, h, peer_id=tr), "approved")
        self.ok(action="edit_whitelist", old_peer_id="-TR30", new_peer_id="-qB46")
        self.everywhere(lambda n: self.body(n, pk, h, peer_id=tr) == not_approved, "edited")
        self.everywhere(lambda n: b"failure" not in self.body(n, pk, h, peer_id=qb), "new one")
        self.ok(action="remove_whitelist", peer_id="-qB46")
        self.everywhere(lambda n: self.body(n, pk, h, peer_id=qb) == not_approved, "removed")
        self.assertGreater(metric(self.nodes[0], "starling_announce_refusals_total",
                                  reason="client_not_approved"), 0)


class PublicModeKeyedPathsTest(unittest.TestCase):
    def test_keyed_paths_are_not_found_on_a_public_tracker(self):
        require_binary()
        redis = RedisServer()
        node = None
        try:
            redis.start()
            node = Starling(redis, {"site_password": SITE}).start()
            r = http_get(node.port, "/%s/update?action=add_user" % SITE)
            self.assertEqual(r.status, 404)
            r = http_get(node.port, "/" + passkey() + announce_target(random_hash(),
                                                                      random_peer_id(), 6881))
            self.assertEqual(r.status, 404)
        finally:
            if node:
                node.cleanup()
            redis.cleanup()


if __name__ == "__main__":
    unittest.main()
