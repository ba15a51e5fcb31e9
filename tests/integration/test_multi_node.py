"""Two starling frontends on one Redis serve the same swarms."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TrackerTestCase, announce_reply, compact4, random_hash, random_peer_id,
                     scrape)

LOCAL = "127.0.0.1"


class MultiNodeTest(TrackerTestCase):
    NODES = 2

    def test_distinct_listeners(self):
        a, b = self.nodes
        self.assertNotEqual(a.port, b.port)

    def test_peer_from_a_seen_on_b(self):
        a, b = self.nodes
        h = random_hash()
        pa, pb = random_peer_id(), random_peer_id()
        r = self.announce(h, pa, 25001, node=a)
        self.assertEqual(r.body, announce_reply(0, 1))
        r = self.announce(h, pb, 25002, node=b)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 25001)))
        r = self.announce(h, pa, 25001, node=a)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 25002)))

    def test_scrape_on_b_counts_a(self):
        a, b = self.nodes
        h = random_hash()
        p = random_peer_id()
        self.announce(h, p, 26001, node=a, left=10)
        self.announce(h, p, 26001, node=a, left=0, event="completed")
        self.announce(h, random_peer_id(), 26002, node=a, left=10)
        self.assertEqual(self.scrape_counts(h, node=b), (1, 1, 1))
        self.assertEqual(scrape(b.port, h).body, scrape(a.port, h).body)

    def test_peer_moves_between_nodes(self):
        # A peer's announces may reach any frontend: it stays one entry.
        a, b = self.nodes
        h = random_hash()
        p = random_peer_id()
        self.announce(h, p, 27001, node=a)
        r = self.announce(h, p, 27002, node=b)
        self.assertEqual(r.body, announce_reply(0, 1))
        r = self.announce(h, random_peer_id(), 27003, node=a)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 27002)))
        r = self.announce(h, p, 27002, node=a, event="stopped")
        self.assertEqual(r.body, announce_reply(0, 1))
        self.assertEqual(self.scrape_counts(h, node=b), (0, 1, 0))


if __name__ == "__main__":
    unittest.main()
