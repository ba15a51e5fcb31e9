"""Shared tables (storage/tables.h) with a real redis-server and three frontends: the torrent
access list (allow and deny) and the client whitelist kept in Redis, changed with
`starling table ...` while the frontends run and applied by every one within about a
second; a gap in the change stream makes a frontend load again; a restarted frontend
rebuilds from Redis."""

import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promtext
from harness import (TrackerTestCase, announce, failure, http_get, key, random_hash,
                     random_peer_id, starling_bin, wait_until)

NOT_ALLOWED = failure("Requested download is not authorized for use with this tracker.")
NOT_APPROVED = failure("client is not approved")
# A change reaches every frontend within about TABLES_POLL_MS (250 ms); this is the bound
# a test waits for, with room for a loaded CI machine.
PROPAGATION_S = 3.0


def metric(node, name, **labels):
    r = http_get(node.metrics_port, "/metrics")
    return promtext.value(promtext.parse(r.body), name, **labels)


class TablesCase(TrackerTestCase):
    NODES = 3
    READY_BY_READYZ = True

    def table(self, op, table, *items, stdin=None):
        r = subprocess.run([starling_bin(), "table", op, table, "--config",
                            self.nodes[0].config_path, *items], input=stdin,
                           capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.decode()

    def body(self, node, h, peer_id=None, port=6881):
        r = announce(node.port, h, peer_id or random_peer_id(), port)
        self.assertEqual(r.status, 200)
        return r.body

    def wait_everywhere(self, pred, what):
        """Until pred(node) holds on every frontend; returns the seconds it took."""
        t0 = time.monotonic()
        for n in self.nodes:
            wait_until(lambda: pred(n), PROPAGATION_S, interval=0.02, what=what)
        return time.monotonic() - t0


class AllowListTest(TablesCase):
    CONFIG = {"access_list_mode": "allow"}

    def test_only_listed_torrents(self):
        h = random_hash()
        for n in self.nodes:
            self.assertEqual(self.body(n, h), NOT_ALLOWED)
        # Refused before Redis: no swarm was made.
        self.assertEqual(self.redis.call("EXISTS", key(h, "leechers"), key(h, "peers")), 0)

        out = self.table("add", "torrents", h.hex().upper())  # either case; kept lowercase
        self.assertIn("1 changed", out)
        self.assertEqual(self.redis.call("SISMEMBER", "{starling}:access:torrents", h.hex()), 1)
        took = self.wait_everywhere(lambda n: b"failure" not in self.body(n, h), "allowed")
        self.assertLess(took, PROPAGATION_S)
        self.assertEqual(self.redis.call("ZCARD", key(h, "leechers")), 3)
        entries = metric(self.nodes[1], "starling_shared_table_entries", table="torrents")
        self.assertEqual(entries, self.redis.call("SCARD", "{starling}:access:torrents"))

        # Again: nothing changes, nothing is logged.
        self.assertIn("0 changed", self.table("add", "torrents", h.hex()))
        self.table("del", "torrents", h.hex())
        self.wait_everywhere(lambda n: self.body(n, h) == NOT_ALLOWED, "refused again")

    def test_many_from_standard_input(self):
        hashes = [random_hash() for _ in range(300)]  # three batches
        text = "# a comment\n\n" + "".join(h.hex() + "\n" for h in hashes)
        self.assertIn("300 changed", self.table("add", "torrents", stdin=text.encode()))
        last = hashes[-1]
        self.wait_everywhere(lambda n: b"failure" not in self.body(n, last), "allowed")
        for h in hashes[:5]:
            self.assertNotIn(b"failure", self.body(self.nodes[2], h))

    def test_bad_items_refused(self):
        for item in ("abc", "g" * 40, "0" * 41):
            r = subprocess.run([starling_bin(), "table", "add", "torrents", "--config",
                                self.nodes[0].config_path, item], capture_output=True,
                               timeout=20)
            self.assertEqual(r.returncode, 2, item)
            self.assertIn(b"40-hex info_hash", r.stderr)
        r = subprocess.run([starling_bin(), "table", "grow", "torrents"], capture_output=True,
                           timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"usage", r.stderr)

    def test_gap_in_the_stream_loads_again(self):
        loads = [metric(n, "starling_shared_tables_loads_total") for n in self.nodes]
        # A change number skipped: as if the stream had been trimmed past the frontends.
        self.redis.call("INCR", "{starling}:tables:seq")
        h = random_hash()
        self.table("add", "torrents", h.hex())
        self.wait_everywhere(lambda n: b"failure" not in self.body(n, h), "allowed")
        for n, before in zip(self.nodes, loads):
            self.assertEqual(metric(n, "starling_shared_tables_loads_total"), before + 1)
            self.assertEqual(metric(n, "starling_shared_tables_ready"), 1)

    def test_restarted_frontend_rebuilds_from_redis(self):
        h = random_hash()
        self.table("add", "torrents", h.hex())
        n = self.nodes[2]
        n.proc.kill()
        n.proc.wait()
        n.start(wait_ready=False)
        n.wait_readyz()
        self.assertNotIn(b"failure", self.body(n, h))
        self.assertEqual(self.body(n, random_hash()), NOT_ALLOWED)


class DenyListTest(TablesCase):
    CONFIG = {"access_list_mode": "deny"}

    def test_listed_torrents_refused(self):
        h, other = random_hash(), random_hash()
        self.assertNotIn(b"failure", self.body(self.nodes[0], h))
        self.table("add", "torrents", h.hex())
        self.wait_everywhere(lambda n: self.body(n, h) == NOT_ALLOWED, "refused")
        for n in self.nodes:
            self.assertNotIn(b"failure", self.body(n, other))


class SharedClientWhitelistTest(TablesCase):
    CONFIG = {"client_whitelist_enabled": True, "client_whitelist": ["-ST0001"]}

    def test_clients_added_in_redis(self):
        h = random_hash()
        tr = b"-TR3000-" + os.urandom(12)
        for n in self.nodes:
            self.assertEqual(self.body(n, h, tr), NOT_APPROVED)
        self.table("add", "clients", "-TR30")
        self.wait_everywhere(lambda n: b"failure" not in self.body(n, h, tr), "approved")
        # The config's entries still count.
        self.assertNotIn(b"failure", self.body(self.nodes[0], h))
        self.table("del", "clients", "-TR30")
        self.wait_everywhere(lambda n: self.body(n, h, tr) == NOT_APPROVED, "refused again")


if __name__ == "__main__":
    unittest.main()
