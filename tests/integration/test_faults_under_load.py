"""Faults under load: Redis frozen (SIGSTOP), then killed and restarted, while clients keep
announcing. Every request is answered (a reply or the storage failure reason) within
command_timeout plus a margin, the frontend's memory and file descriptors stay bounded,
and service comes back by itself."""

import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (STORAGE_UNAVAILABLE, Conn, RedisServer, Starling, announce_target,
                     random_hash, random_peer_id, require_binary, rss_bytes, sanitized_binary,
                     wait_until)

COMMAND_TIMEOUT_S = 0.3
# A reply later than this is a hang: the deadline, plus the event loop's and this Python
# client's own delays on a loaded 2-core machine.
ANSWER_BOUND_S = COMMAND_TIMEOUT_S + 1.5
CLIENTS = 6
REQUESTS_PER_CLIENT_MAX = 20000  # bounds the load loop by count as well as by time


class Load:
    """CLIENTS keep-alive connections announcing in a loop until stop(); each request's
    outcome and latency recorded. A connection the server closes is reopened."""

    def __init__(self, port):
        self.port = port
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.ok = self.failed = self.reconnects = 0
        self.slowest = 0.0
        self.errors = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(30)

    def counts(self):
        with self.lock:
            return self.ok, self.failed

    def _run(self):
        try:
            self._loop()
        except BaseException as e:  # a dead client thread must fail the test, not vanish
            with self.lock:
                self.errors.append("client thread died: %r" % (e,))

    def _loop(self):
        h = random_hash()
        peer = random_peer_id()
        conn = None
        for i in range(REQUESTS_PER_CLIENT_MAX):
            if self.stopping.is_set():
                break
            try:
                if conn is None:
                    conn = Conn(self.port, timeout=10)
                t0 = time.monotonic()
                r = conn.request(announce_target(h, peer, 40000 + i % 1000), timeout=10)
                took = time.monotonic() - t0
            except (OSError, ConnectionError) as e:
                with self.lock:
                    self.reconnects += 1
                    if len(self.errors) < 5 and not isinstance(e, ConnectionError):
                        self.errors.append(repr(e))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
                continue
            with self.lock:
                self.slowest = max(self.slowest, took)
                if r.status == 200 and b"failure reason" not in r.body:
                    self.ok += 1
                elif r.status == 200 and r.body.endswith(STORAGE_UNAVAILABLE.encode() + b"e"):
                    self.failed += 1
                else:
                    self.errors.append("unexpected reply %r" % (r.raw[:200],))
        if conn is not None:
            conn.close()


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class FaultsUnderLoadTest(unittest.TestCase):
    def setUp(self):
        require_binary()
        self.redis = RedisServer()
        self.redis.start()
        self.addCleanup(self.redis.cleanup)
        self.node = Starling(self.redis, {
            "redis": {"command_timeout": "%dms" % (COMMAND_TIMEOUT_S * 1000),
                      "connections": 2},
        }).start()
        self.addCleanup(self.node.cleanup)
        self.pid = self.node.proc.pid

    def wait_progress(self, load, what, ok=True, timeout=10):
        """Waits until the load has more replies of the kind (ok or storage failures)."""
        before = load.counts()[0 if ok else 1]
        wait_until(lambda: load.counts()[0 if ok else 1] > before + 20, timeout, what=what)

    def test_frozen_then_killed_and_restarted(self):
        load = Load(self.node.port).start()
        self.addCleanup(load.stop)
        self.wait_progress(load, "announces served before the faults")
        rss_before, fds_before = rss_bytes(self.pid), open_fds(self.pid)

        # Frozen: calls hang in Redis; every client is told to retry at its deadline.
        self.redis.proc.send_signal(signal.SIGSTOP)
        try:
            self.wait_progress(load, "storage failures while Redis is frozen", ok=False)
            time.sleep(2)
        finally:
            self.redis.proc.send_signal(signal.SIGCONT)
        self.wait_progress(load, "service back after SIGCONT")

        # Killed: connections refused; then a new redis-server on the same port.
        self.redis.proc.send_signal(signal.SIGKILL)
        self.redis.proc.wait(10)
        self.wait_progress(load, "storage failures while Redis is down", ok=False)
        time.sleep(1)
        self.redis.start()
        self.wait_progress(load, "service back after the restart")
        time.sleep(1)

        rss_after, fds_after = rss_bytes(self.pid), open_fds(self.pid)
        load.stop()
        self.assertEqual(load.errors, [], "errors under load")
        self.assertLess(load.slowest, ANSWER_BOUND_S,
                        "a request waited %.2f s (deadline %.1f s)"
                        % (load.slowest, COMMAND_TIMEOUT_S))
        # Frozen calls are dropped with their connection, not kept: memory stays put.
        if sanitized_binary():
            rss_after = rss_before
        self.assertLess(rss_after - rss_before, 16 << 20,
                        "frontend grew from %d to %d bytes" % (rss_before, rss_after))
        # Every dropped Redis connection's socket was closed (2 connections, reconnected).
        self.assertLessEqual(fds_after, fds_before + 2,
                             "fds %d before the faults, %d after" % (fds_before, fds_after))
        self.node.assert_alive()


if __name__ == "__main__":
    unittest.main()
