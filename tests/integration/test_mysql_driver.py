"""driver "mysql" end to end with real processes: a real mariadbd holding Gazelle's tables
(tests/fixtures/gazelle_schema.sql) with users, torrents, a token and a whitelist entry
inserted as a site inserts them, a real redis-server, two frontends in private mode and
starling-aggregator. The site's rows reach every frontend (and a change after SIGUSR1);
a known pattern of announces (a client restart, stopped and started again, freeleech,
neutral, a token, completed downloads), with MySQL stopped for a while and restarted and
the aggregator SIGKILLed and replaced (and a second one beside it) mid-run, ends in exactly
the Uploaded/Downloaded, Snatched, xbt_snatched, xbt_files_users and users_freeleeches an
independent model expects; a batch already applied is never applied again."""

import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promtext
from harness import (Aggregator, RedisServer, Starling, announce_target, bdecode, http_get,
                     random_hash, readme_metrics, require_aggregator, require_binary, source_dir,
                     wait_until)
from mariadb import MariaDB, require_mariadb
from test_accounting import AGENT, PATTERN, Model, slot_tag

SCHEMA = os.path.join(source_dir(), "tests", "fixtures", "gazelle_schema.sql")
SITE = "Mysql0123456789abcdefABCDEF0123"[:32].ljust(32, "x")
SETTLED_S = 30.0


def passkey(uid):
    return "pk%030d" % uid


class MysqlDriverCase(unittest.TestCase):
    RELOAD = "1h"  # reloads come from the start and SIGUSR1 only

    def setUp(self):
        require_binary()
        require_aggregator()
        require_mariadb()
        self.db = MariaDB().start()
        self.addCleanup(self.db.cleanup)
        self.db.execute_file(SCHEMA)
        self.redis = RedisServer()
        self.redis.start()
        self.addCleanup(self.redis.cleanup)
        self.config = {
            "private_enabled": True, "site_password": SITE, "driver": "mysql",
            "aggregator": {"interval": "1s", "lock_ttl": "1s"},
            "mysql": {"host": "127.0.0.1", "port": self.db.port, "user": self.db.user,
                      "database": self.db.database, "flush_interval": "300ms",
                      "reload_interval": self.RELOAD, "statement_rows": 3,
                      "connect_timeout": "1s", "command_timeout": "5s"}}
        self.env = {"STARLING_MYSQL_PASSWORD": self.db.password}
        self.nodes, self.aggs = [], []
        for _ in range(2):
            n = Starling(self.redis, self.config).start(wait_ready=False)
            self.addCleanup(n.cleanup)
            self.nodes.append(n)
        for n in self.nodes:
            wait_until(lambda: http_get(n.metrics_port, "/readyz").status == 200, 10,
                       what="/readyz")

    def tearDown(self):
        for a in self.aggs:
            a.kill()
            a.stop()
            report = a.sanitizer_report()
            if report:
                raise AssertionError("aggregator sanitizer report:\n" + report)
            if self.db.password in a.log():
                raise AssertionError("the MySQL password in an aggregator log")

    def aggregator(self):
        a = Aggregator(self.redis, self.config, env=self.env).start()
        self.aggs.append(a)
        return a

    # ---- the site's rows, as a site inserts them ----

    def add_user(self, uid, enabled="1", visible="1", can_leech=1):
        self.db.execute("INSERT INTO users_main (ID, Username, Email, PassHash, Secret, Title, "
                        "PermissionID, torrent_pass, Enabled, Visible, can_leech) VALUES "
                        "(%d, 'user%d', 'u%d@example.org', 'x', 's', '', 2, '%s', '%s', '%s', %d)"
                        % (uid, uid, uid, passkey(uid), enabled, visible, can_leech))

    def add_torrent(self, tid, free="0", size=100000):
        h = random_hash()
        self.db.execute("INSERT INTO torrents (ID, GroupID, UserID, info_hash, FileCount, "
                        "FileList, Size, FreeTorrent, Time) VALUES (%d, 1, 1, UNHEX('%s'), 1, "
                        "'a.flac', %d, '%s', NOW())" % (tid, h.hex(), size, free))
        return h

    def announce(self, node, uid, h, peer_id=None, event=None, up=0, down=0, left=100):
        target = "/" + passkey(uid) + announce_target(h, peer_id or os.urandom(20), 6881,
                                                      left=left, uploaded=up, downloaded=down,
                                                      event=event)
        r = http_get(node.port, target, headers=["User-Agent: " + AGENT])
        self.assertEqual(r.status, 200)
        return bdecode(r.body)

    def everywhere(self, pred, what):
        for n in self.nodes:
            wait_until(lambda: pred(n), SETTLED_S, interval=0.05, what=what)

    def metric(self, agg, name):
        r = http_get(agg.metrics_port, "/metrics")
        return promtext.value(promtext.parse(r.body), name)

    def value(self, sql):
        rows = self.db.query(sql)
        return rows[0][0] if rows else None


class LoadTest(MysqlDriverCase):
    def test_site_rows_reach_every_frontend(self):
        self.add_user(1)
        self.add_user(2, enabled="2")
        self.add_user(3, enabled="0")  # not confirmed: unknown to the tracker, as to Ocelot
        self.add_user(4, can_leech=0)
        h = self.add_torrent(10)
        agg = self.aggregator()
        ok = lambda n: b"failure reason" not in self.announce(n, 1, h)
        self.everywhere(ok, "user 1's announce served")
        refusal = lambda n, uid, **kw: self.announce(n, uid, h, **kw).get(b"failure reason")
        for n in self.nodes:
            self.assertEqual(refusal(n, 2), b"Your account is disabled")
            self.assertEqual(refusal(n, 3), b"Passkey not found")
            self.assertEqual(refusal(n, 4), b"Access denied, leeching forbidden")
            self.assertIsNone(refusal(n, 4, left=0))  # seeding is allowed
        self.assertEqual(self.redis.call("HGET", "{starling}:private:users", passkey(2)),
                         b"2 1 1 0")
        # Changes in MySQL reach every frontend after the next reload (SIGUSR1 asks now).
        self.db.execute("UPDATE users_main SET can_leech = 0 WHERE ID = 1")
        self.db.execute("UPDATE users_main SET Enabled = '1' WHERE ID = 3")
        h2 = self.add_torrent(11)
        self.db.execute("DELETE FROM torrents WHERE ID = 10")
        self.db.execute("INSERT INTO xbt_client_whitelist (peer_id, vstring) VALUES "
                        "('-qB46', 'qBittorrent 4.6')")
        os.kill(agg.pid, signal.SIGUSR1)
        self.everywhere(lambda n: self.announce(n, 1, h2).get(b"failure reason") ==
                        b"Access denied, leeching forbidden", "can_leech = 0 followed")
        self.everywhere(lambda n: refusal(n, 1, left=0) == b"Unregistered torrent",
                        "the deleted torrent unregistered")
        for n in self.nodes:
            self.assertNotIn(b"failure reason", self.announce(n, 3, h2))
        self.assertEqual(self.redis.call("SMEMBERS", "{starling}:access:clients"), [b"-qB46"])
        # Nothing changed since: a reload applies nothing.
        changes = lambda: self.metric(agg, "starling_aggregator_mysql_reload_changes_total")
        before = changes()
        os.kill(agg.pid, signal.SIGUSR1)
        wait_until(lambda: self.metric(agg, "starling_aggregator_mysql_reloads_total") >= 3,
                   SETTLED_S, what="the third reload")
        self.assertEqual(changes(), before)
        # Every metric of the README's table is served, with its type and a HELP.
        r = http_get(agg.metrics_port, "/metrics")
        families = promtext.parse(r.body)
        table = readme_metrics("`driver mysql` metrics")
        self.assertGreater(len(table), 5)
        for name, kind in table.items():
            with self.subTest(name):
                self.assertIn(name, families)
                self.assertEqual(families[name]["type"], kind)
                self.assertTrue(families[name]["help"])


class ExactTotalsTest(MysqlDriverCase):
    def test_exact_totals_through_mysql_down_and_aggregators_replaced(self):
        for uid in (1, 2, 3):
            self.add_user(uid, visible="0" if uid == 3 else "1")
        crowd = range(20, 40)  # announce while MySQL is down
        for uid in crowd:
            self.add_user(uid)
        torrents = {10: (self.add_torrent(10), 0), 11: (self.add_torrent(11, "1"), 1),
                    12: (self.add_torrent(12, "2"), 2), 13: (self.add_torrent(13), 0)}
        probe = self.add_torrent(14)
        self.db.execute("INSERT INTO users_freeleeches (UserID, TorrentID, Time) VALUES "
                        "(2, 13, NOW())")
        self.aggregator()
        self.everywhere(lambda n: b"failure reason" not in
                        self.announce(n, 1, probe, event="stopped"), "users loaded")
        model = Model()
        peers = {uid: b"-qB4650-" + os.urandom(12) for uid in (1, 2, 3)}
        pattern = PATTERN
        mysql_down_at, mysql_up_at, kill_aggregator_at, second_at = 5, 12, 9, 15
        for step, (uid, tid, event, up, down, left) in enumerate(pattern):
            h, free = torrents[tid]
            if step == mysql_down_at:
                self.db.stop()
                # Load while it is down: 20 users, 6 announces each over both frontends.
                for k in range(6):
                    for cu in crowd:
                        ct = 10 + cu % 4
                        ch, cfree = torrents[ct]
                        pid = b"-TR2940-%012d" % cu
                        cev = "started" if k == 0 else None
                        cup, cdown = 1000 * k + cu, 300 * k
                        self.assertNotIn(b"failure reason", self.announce(
                            self.nodes[(k + cu) % 2], cu, ch, pid, cev, cup, cdown, 50))
                        model.announce(cu, ct, ch, cfree, False, pid, cev, cup, cdown, 50)
            if step == mysql_up_at:
                # Nothing reached MySQL meanwhile; it all waited in Redis.
                self.db.restart()
            if step == kill_aggregator_at:
                # MySQL is down: flushes fail, the deltas wait in Redis, the lag shows.
                leader = self.aggs[-1]
                wait_until(lambda: self.metric(
                    leader, "starling_aggregator_mysql_flush_failures_total") > 0, SETTLED_S,
                    what="a failed flush")
                self.assertGreater(self.metric(
                    leader, "starling_aggregator_accounting_lag_seconds"), 0)
                self.assertTrue(self.redis.call("KEYS", "*:acct:draining"))
                self.aggs[-1].kill()
                self.aggregator()
            if step == second_at:
                self.aggregator()  # two replicas: one leads, the other waits
            body = self.announce(self.nodes[step % 2], uid, h, peers[uid], event, up, down,
                                 left)
            self.assertNotIn(b"failure reason", body)
            model.announce(uid, tid, h, free, tid == 13 and uid == 2, peers[uid], event, up,
                           down, left)
            time.sleep(0.1)

        def drained():
            return not (self.redis.call("KEYS", "*:acct:pending") +
                        self.redis.call("KEYS", "*:acct:draining"))
        wait_until(drained, SETTLED_S, interval=0.1, what="the accounting flushed")
        users = {int(r[0]): (int(r[1]), int(r[2])) for r in
                 self.db.query("SELECT ID, Uploaded, Downloaded FROM users_main")}
        for uid in (1, 2, 3, *crowd):
            self.assertEqual(users[uid], (model.up[uid], model.down[uid]), "user %d" % uid)
        snatched = {int(r[0]): int(r[1]) for r in
                    self.db.query("SELECT ID, Snatched FROM torrents")}
        for tid in torrents:
            want = sum(n for (u, t), n in model.snatches.items() if t == tid)
            self.assertEqual(snatched[tid], want, "torrent %d" % tid)
        rows = self.db.query("SELECT uid, fid, IP FROM xbt_snatched ORDER BY uid")
        self.assertEqual(rows, [("1", "10", "127.0.0.1"), ("3", "10", "")])  # 3 is hidden
        self.assertEqual(self.value("SELECT Downloaded FROM users_freeleeches"),
                         str(model.token_down[(2, 13)]))
        peer_rows = {(int(r[0]), int(r[1])): r[2:] for r in self.db.query(
            "SELECT uid, fid, active, uploaded, downloaded, remaining, ip, useragent, "
            "HEX(peer_id) FROM xbt_files_users WHERE fid <> 14 AND uid < 20")}
        last = {(uid, tid): (up, down, left) for uid, tid, _, up, down, left in pattern}
        self.assertEqual(set(peer_rows), set(last))
        for (uid, tid), (up, down, left) in last.items():
            active, ru, rd, rem, ip, agent, pid = peer_rows[(uid, tid)]
            self.assertEqual((int(ru), int(rd), int(rem)), (up, down, left), (uid, tid))
            self.assertEqual(active, "1")
            self.assertEqual(ip, "" if uid == 3 else "127.0.0.1")
            self.assertEqual(agent, AGENT)
            self.assertEqual(pid, peers[uid].hex().upper())
        # The aggregator's passes write each torrent's live peers (zeros once none is left).
        counts = lambda: {int(r[0]): (int(r[1]), int(r[2])) for r in self.db.query(
            "SELECT ID, Seeders, Leechers FROM torrents")}
        wait_until(lambda: counts() == {10: (2, 5), 11: (1, 5), 12: (1, 5), 13: (1, 5),
                                        14: (0, 0)},
                   SETTLED_S, interval=0.2, what="Seeders and Leechers written")
        lone = b"-qB4650-lonelypeer00"
        self.announce(self.nodes[0], 1, probe, lone, "started")
        wait_until(lambda: counts()[14] == (0, 1), SETTLED_S, interval=0.2, what="a leecher")
        self.announce(self.nodes[1], 1, probe, lone, "stopped")
        wait_until(lambda: counts()[14] == (0, 0), SETTLED_S, interval=0.2,
                   what="a torrent left by its last peer back to zero")
        # The pattern meant something: restart, free, neutral and token all showed.
        self.assertEqual(users[1], (1500 + 100 + 200 + 500 + 700, 700 + 50 + 850 + 100))
        self.assertEqual(users[2][0], 80)
        self.assertEqual(model.token_down[(2, 13)], 4500)


class FakeSite:
    """The site's HTTP endpoint on loopback, recording the paths it is asked for."""

    def __init__(self):
        import http.server
        import threading
        paths = self.paths = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                paths.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass
        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class TokenReportTest(MysqlDriverCase):
    def test_a_used_up_token_is_reported_to_the_site(self):
        site = FakeSite()
        self.addCleanup(site.close)
        self.config["site_url"] = "http://127.0.0.1:%d/gazelle/" % site.port
        self.add_user(5)
        h = self.add_torrent(20, size=1000)
        self.db.execute("INSERT INTO users_freeleeches (UserID, TorrentID, Time) VALUES "
                        "(5, 20, NOW())")
        agg = self.aggregator()
        pid = b"-qB4650-tokenuser005"
        self.everywhere(lambda n: b"failure reason" not in
                        self.announce(n, 5, h, pid, "started"), "user 5 served")
        self.announce(self.nodes[0], 5, h, pid, None, 0, 600, 400)
        wait_until(lambda: self.value("SELECT Downloaded FROM users_freeleeches") == "600",
                   SETTLED_S, what="the token's use written")
        os.kill(agg.pid, signal.SIGUSR1)
        time.sleep(1.0)
        self.assertEqual(site.paths, [])  # 600 of 1000 bytes: not used up
        self.announce(self.nodes[1], 5, h, pid, None, 0, 1200, 0)
        wait_until(lambda: self.value("SELECT Downloaded FROM users_freeleeches") == "1200",
                   SETTLED_S, what="the token's use written")
        os.kill(agg.pid, signal.SIGUSR1)
        wait_until(lambda: site.paths, SETTLED_S, what="the site called")
        self.assertEqual(site.paths[0], "/gazelle/tools.php?key=%s&type=expiretoken&action=ocelot"
                                        "&tokens=5:20" % SITE)
        self.assertEqual(self.metric(agg, "starling_aggregator_mysql_tokens_reported_total"), 1)
        self.assertNotIn(SITE, agg.log())


class AppliedOnceTest(MysqlDriverCase):
    def test_a_batch_applied_before_is_not_applied_again(self):
        self.add_user(9)
        self.add_torrent(10)
        # As if a leader died after committing batch 7 of slot 5 and before deleting it.
        tables = ["users_main", "users_freeleeches", "torrents", "xbt_snatched",
                  "xbt_files_users"]
        self.db.execute("CREATE TABLE starling_applied (tbl VARCHAR(32) NOT NULL, slot "
                        "SMALLINT UNSIGNED NOT NULL, batch BIGINT UNSIGNED NOT NULL, "
                        "PRIMARY KEY (tbl, slot)) ENGINE=InnoDB")
        self.db.execute("INSERT INTO starling_applied VALUES " +
                        ", ".join("('%s', 5, 7)" % t for t in tables))
        tag = slot_tag(5)
        import struct
        value = struct.pack(">dddddddBdddddd", 100, 200, 0, 0, 1, 1, 0, 1, 1800000000000, 0,
                            0, 0, 100, 200) + b"\x00" + b"agent/1.0"
        entry = b"9:10:" + b"P" * 20
        self.redis.call("HSET", "{%s}:acct:draining" % tag, "#batch", "7", entry, value)
        self.redis.call("SET", "{%s}:acct:batch" % tag, "7")
        self.aggregator()
        wait_until(lambda: self.redis.call("EXISTS", "{%s}:acct:draining" % tag) == 0,
                   SETTLED_S, what="the batch settled")
        self.assertEqual(self.value("SELECT Uploaded FROM users_main WHERE ID = 9"), "0")
        self.assertEqual(self.value("SELECT Snatched FROM torrents WHERE ID = 10"), "0")
        self.assertEqual(self.value("SELECT COUNT(*) FROM xbt_files_users"), "0")
        # The slot's next batch is new: applied, once, and recorded.
        self.redis.call("HSET", "{%s}:acct:pending" % tag, entry, value)
        wait_until(lambda: self.value("SELECT Uploaded FROM users_main WHERE ID = 9") == "100",
                   SETTLED_S, what="batch 8 applied")
        self.assertEqual(self.value("SELECT Downloaded FROM users_main WHERE ID = 9"), "200")
        self.assertEqual(self.value("SELECT Snatched FROM torrents WHERE ID = 10"), "1")
        self.assertEqual(self.db.query("SELECT DISTINCT batch FROM starling_applied "
                                       "WHERE slot = 5"), [("8",)])


if __name__ == "__main__":
    unittest.main()
