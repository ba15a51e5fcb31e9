"""SIGTERM: the frontend stops promptly with status 0 whatever its connections are doing,
and (under ASan) without a sanitizer report: open, idle and half-sent connections, and a
storage call still in flight when the signal arrives."""

import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Conn, RedisServer, Starling, announce_reply, announce_target,
                     build_request, random_hash, random_peer_id, require_binary, wait_until)


class ShutdownTest(unittest.TestCase):
    def setUp(self):
        require_binary()
        self.redis = RedisServer()
        self.addCleanup(self.redis.cleanup)
        self.redis.start()
        self.conns = []
        self.addCleanup(self.close_conns)

    def close_conns(self):
        for c in self.conns:
            c.close()

    def start(self, config=None):
        t = Starling(self.redis, config)
        self.addCleanup(t.cleanup)
        return t.start()

    def conn(self, port):
        c = Conn(port)
        self.conns.append(c)
        return c

    def terminate(self, t, bound=5.0):
        t0 = time.monotonic()
        t.proc.send_signal(signal.SIGTERM)
        try:
            rc = t.proc.wait(timeout=bound)
        except Exception:
            self.fail("starling still running %.0fs after SIGTERM" % bound)
        elapsed = time.monotonic() - t0
        report = t.sanitizer_report()
        self.assertIsNone(report, "sanitizer report at shutdown:\n%s" % report)
        self.assertEqual(rc, 0, "exit status %s after SIGTERM; log tail:\n%s"
                         % (rc, t.log()[-1500:]))
        return elapsed

    def test_idle(self):
        t = self.start()
        self.terminate(t)

    def test_open_connections(self):
        t = self.start()
        self.conn(t.port)  # connected, silent
        keep = self.conn(t.port)  # after one keep-alive request
        r = keep.request(announce_target(random_hash(), random_peer_id(), 5001))
        self.assertEqual(r.body, announce_reply(0, 1))
        self.conn(t.port).send(b"GET /annou")  # half a request line
        time.sleep(0.2)
        self.terminate(t)

    def test_request_on_idle_keep_alive_connection_answered(self):
        # A load balancer's pooled connection is idle when SIGTERM lands, and the balancer
        # sends a request on it a moment later (it cannot know yet): the request is answered
        # (Connection: close), not lost to a closed socket.
        t = self.start()
        c = self.conn(t.port)
        r = c.request(announce_target(random_hash(), random_peer_id(), 5003))
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("connection"))
        t.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: "draining connections" in t.log(), 5.0, what="the drain to start")
        time.sleep(0.1)
        h, p = random_hash(), random_peer_id()
        r = c.request(announce_target(h, p, 5004))
        self.assertEqual(r.body, announce_reply(0, 1))
        self.assertEqual(r.header("connection"), "close")
        self.assertTrue(c.wait_closed(2.0))
        self.terminate(t)

    def test_idle_connections_closed_within_the_grace(self):
        # ... and a pooled connection that stays silent is closed after a short grace
        # (DRAIN_IDLE_GRACE_MS), not after http_read_timeout.
        t = self.start({"http_read_timeout": "30s"})
        c = self.conn(t.port)
        c.request(announce_target(random_hash(), random_peer_id(), 5005))
        elapsed = self.terminate(t)
        self.assertTrue(c.wait_closed(0.1))
        self.assertLess(elapsed, 4.0)

    def test_storage_call_in_flight(self):
        # command_timeout longer than the test: the call is still owed when SIGTERM lands.
        t = self.start({"redis": {"command_timeout": "3s"}})
        with self.redis.client(timeout=10.0) as blocker:
            blocker.send("DEBUG", "SLEEP", "1.5")
            time.sleep(0.1)
            c = self.conn(t.port)
            c.send(build_request(announce_target(random_hash(), random_peer_id(), 5002)))
            time.sleep(0.3)
            self.terminate(t)
            blocker.read_reply()


if __name__ == "__main__":
    unittest.main()
