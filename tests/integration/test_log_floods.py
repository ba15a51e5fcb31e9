"""Log floods: a line that can repeat per request is written at most about once a second,
with a count of what was suppressed (issue 9, item 4)."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (STORAGE_UNAVAILABLE, Conn, TrackerTestCase, announce_target, key,
                     random_hash, random_peer_id)

REQUESTS = 400


class RedisErrorFloodTest(TrackerTestCase):
    def test_error_replies_log_once_a_second(self):
        # A swarm key of the wrong type: every announce to it is an error reply from Redis.
        h = random_hash()
        self.redis.call("SET", key(h, "seeders"), "not a sorted set")
        t0 = time.monotonic()
        with Conn(self.port) as c:
            for i in range(REQUESTS):
                r = c.request(announce_target(h, random_peer_id(), 20000 + i, left=0))
                self.assertIn(STORAGE_UNAVAILABLE.encode(), r.body)
        seconds = time.monotonic() - t0
        lines = [l for l in self.tracker.log().splitlines() if "redis error from" in l]
        # One line per started second, plus the first.
        self.assertLessEqual(len(lines), int(seconds) + 2,
                             "%d error lines for %d failed requests in %.1f s"
                             % (len(lines), REQUESTS, seconds))
        self.assertIn("WRONGTYPE", lines[0])
        time.sleep(1.1)
        with Conn(self.port) as c:
            c.request(announce_target(h, random_peer_id(), 21000, left=0))
        last = [l for l in self.tracker.log().splitlines() if "redis error from" in l][-1]
        self.assertRegex(last, r"\(\d+ similar lines suppressed\)")


if __name__ == "__main__":
    unittest.main()
