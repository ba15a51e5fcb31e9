"""Redis down, slow, restarted or erroring: clients get `storage unavailable, retry later`
quickly, never a hang, and service resumes by itself. The frontends' request totals in
Redis stay exact through all of it: reports are idempotent (issue 9, item 10)."""

import hashlib
import os
import re
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promtext
from harness import (STORAGE_UNAVAILABLE, Conn, RedisServer, Starling, announce,
                     announce_reply, announce_target, build_request, compact4, failure,
                     http_get, key, now_ms, random_hash, random_peer_id, require_binary,
                     scrape, scrape_target, source_dir, wait_until)

LOCAL = "127.0.0.1"
COMMAND_TIMEOUT = 0.3  # redis.command_timeout below
# Generous bounds on how long a refusal may take: "no hang", not a benchmark.
REFUSAL_BOUND = 3.0


class RedisFailureTest(unittest.TestCase):
    """A fresh redis-server and starling per test: each test breaks them."""

    def setUp(self):
        require_binary()
        self.redis = RedisServer()
        self.addCleanup(self.redis.cleanup)
        self.redis.start()
        self.tracker = Starling(self.redis, {"redis": {"command_timeout": "300ms",
                                                       "connect_timeout": "300ms"}})
        self.addCleanup(self.check_tracker)
        self.tracker.start()
        self.port = self.tracker.port

    def check_tracker(self):
        self.tracker.finish()

    def timed_announce(self, *args, **kw):
        t0 = time.monotonic()
        r = announce(self.port, *args, timeout=10.0, **kw)
        return r, time.monotonic() - t0

    def assert_unavailable(self, bound=REFUSAL_BOUND, info_hash=None):
        r, elapsed = self.timed_announce(info_hash or random_hash(), random_peer_id(), 6881)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, failure(STORAGE_UNAVAILABLE))
        self.assertEqual(r.body, b"d14:failure reason32:storage unavailable, retry latere")
        self.assertLess(elapsed, bound, "refusal took %.2fs" % elapsed)
        return elapsed

    def wait_service(self, timeout=10.0):
        def works():
            r = announce(self.port, random_hash(), random_peer_id(), 6881, event="stopped",
                         timeout=5.0)
            return b"failure reason" not in r.body
        wait_until(works, timeout, interval=0.1, what="service to resume")

    def test_redis_stopped_and_restarted(self):
        h = random_hash()
        r = announce(self.port, h, random_peer_id(), 30001)
        self.assertEqual(r.body, announce_reply(0, 1))
        self.redis.stop()
        self.assert_unavailable()
        # With the connection known to be down, refusals come at once.
        time.sleep(0.5)
        for _ in range(3):
            self.assert_unavailable(bound=1.0)
        r = scrape(self.port, h, timeout=REFUSAL_BOUND)
        self.assertEqual(r.body, failure(STORAGE_UNAVAILABLE))
        self.tracker.assert_alive()

        self.redis.start()  # same port, empty (no persistence)
        self.wait_service()
        r = announce(self.port, random_hash(), random_peer_id(), 30002)
        self.assertEqual(r.body, announce_reply(0, 1))
        r = announce(self.port, h, random_peer_id(), 30003)
        self.assertEqual(r.body, announce_reply(0, 1))  # the old swarm died with redis
        r = scrape(self.port, h)
        self.assertEqual(r.body, b"d5:filesd20:" + h + b"d8:completei0e10:downloadedi0e"
                                                       b"10:incompletei1eeee")

    def test_script_flush(self):
        h = random_hash()
        first = random_peer_id()
        r = announce(self.port, h, first, 31000)
        self.assertEqual(r.body, announce_reply(0, 1))
        self.assertEqual(self.redis.call("SCRIPT", "FLUSH"), b"OK")
        # Every connection meets NOSCRIPT once; all calls must still succeed.
        for i in range(1, 5):
            r = announce(self.port, h, random_peer_id(), 31000 + i, numwant=0)
            self.assertEqual(r.body, announce_reply(0, i + 1), "announce %d after flush" % i)
        r = scrape(self.port, h)
        self.assertEqual(r.body, b"d5:filesd20:" + h + b"d8:completei0e10:downloadedi0e"
                                                       b"10:incompletei5eeee")
        self.assertEqual(self.redis.call("SCRIPT", "FLUSH"), b"OK")
        r = scrape(self.port, h)
        self.assertEqual(r.body, b"d5:filesd20:" + h + b"d8:completei0e10:downloadedi0e"
                                                       b"10:incompletei5eeee")
        r = announce(self.port, h, first, 31000, event="stopped")
        self.assertEqual(r.body, announce_reply(0, 4))

    def test_builtin_script_names(self):
        """The sha compiled in for each script is the name Redis gives its body, which
        EVALSHA finds; the registry holds one script per lua/*.lua; the frontend loaded
        its own scripts (and only those) when it connected."""
        path = os.environ.get("STARLING_LUA_REGISTRY")
        if not path:
            self.skipTest("STARLING_LUA_REGISTRY names no lua_registry binary")
        out = subprocess.run([path], check=True, stdout=subprocess.PIPE, timeout=10).stdout
        scripts = [line.split(b" ") for line in out.splitlines()]
        files = sorted(f[:-4] for f in os.listdir(os.path.join(source_dir(), "lua"))
                       if f.endswith(".lua"))
        self.assertEqual([name.decode() for name, _, _, _ in scripts], files)
        shas = [sha for _, _, sha, _ in scripts]
        self.assertEqual(self.redis.call("SCRIPT", "EXISTS", *shas),
                         [1 if loader == b"frontend" else 0 for _, loader, _, _ in scripts])
        for name, _, sha, body in scripts:
            body = bytes.fromhex(body.decode())
            self.assertEqual(self.redis.call("SCRIPT", "LOAD", body), sha, name)
            self.assertEqual(hashlib.sha1(body).hexdigest().encode(), sha, name)

    def test_slow_redis(self):
        h = random_hash()
        p = random_peer_id()
        r = announce(self.port, h, p, 32001)
        self.assertEqual(r.body, announce_reply(0, 1))
        with self.redis.client(timeout=10.0) as blocker:
            t_sleep = time.monotonic()
            blocker.send("DEBUG", "SLEEP", "2")
            time.sleep(0.15)  # let redis start sleeping
            self.assert_unavailable(bound=COMMAND_TIMEOUT + 1.2)
            if time.monotonic() - t_sleep < 1.5:
                self.assert_unavailable(bound=COMMAND_TIMEOUT + 1.2)
            self.assertEqual(blocker.read_reply(), b"OK")
        self.wait_service()
        r = announce(self.port, h, random_peer_id(), 32002)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 32001)))

    def test_stalled_redis_under_load(self):
        # Redis frozen (SIGSTOP) while many calls are in flight on both connections: every
        # client gets the failure within about the command timeout, the stuck connections
        # are dropped (so later requests fail at once instead of each waiting out its own
        # deadline), and service comes back after SIGCONT.
        import signal as _signal
        import threading
        h = random_hash()
        self.assertEqual(announce(self.port, h, random_peer_id(), 33000).body,
                         announce_reply(0, 1))
        results = []

        def client(i):
            t0 = time.monotonic()
            try:
                r = announce(self.port, h, random_peer_id(), 33001 + i, timeout=10.0)
                results.append((r.body, time.monotonic() - t0))
            except OSError as e:
                results.append((repr(e).encode(), time.monotonic() - t0))
        os.kill(self.redis.proc.pid, _signal.SIGSTOP)
        try:
            threads = [threading.Thread(target=client, args=(i,)) for i in range(40)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10.0)
            self.assertEqual(len(results), 40)
            for body, elapsed in results:
                self.assertEqual(body, failure(STORAGE_UNAVAILABLE))
                self.assertLess(elapsed, REFUSAL_BOUND)
            # Still frozen: the connections were dropped, so this fails fast too.
            self.assert_unavailable()
            self.assertIn("dropped: no reply within the command timeout", self.tracker.log())
        finally:
            os.kill(self.redis.proc.pid, _signal.SIGCONT)
        self.wait_service()

    def test_clients_leave_while_calls_in_flight(self):
        # Each storage call still owes an answer to a connection that is gone: reset,
        # closed, or half-closed. The tracker must answer into the void, not crash.
        with self.redis.client(timeout=10.0) as blocker:
            blocker.send("DEBUG", "SLEEP", "1")
            time.sleep(0.1)
            conns = []
            for i in range(6):
                c = Conn(self.port)
                if i % 2:
                    c.send(build_request(announce_target(random_hash(), random_peer_id(), 34000 + i)))
                else:
                    c.send(build_request(scrape_target(random_hash(), random_hash())))
                conns.append(c)
            time.sleep(0.05)
            for i, c in enumerate(conns):
                if i % 3 == 0:
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))  # RST
                    c.close()
                elif i % 3 == 1:
                    c.close()
                else:
                    c.sock.shutdown(socket.SHUT_WR)
            # The half-closed ones still get their (failure) answer.
            for i, c in enumerate(conns):
                if i % 3 == 2:
                    r = c.read_response(timeout=REFUSAL_BOUND)
                    self.assertEqual(r.body, failure(STORAGE_UNAVAILABLE))
                    c.close()
            self.assertEqual(blocker.read_reply(), b"OK")
        self.wait_service()
        r = announce(self.port, random_hash(), random_peer_id(), 34100)
        self.assertEqual(r.body, announce_reply(0, 1))
        self.tracker.assert_alive()

    def test_redis_error_reply(self):
        bad, good = random_hash(), random_hash()
        self.redis.call("SET", key(bad, "seeders"), "not a sorted set")
        self.assert_unavailable(info_hash=bad)
        r = scrape(self.port, bad)
        self.assertEqual(r.body, failure(STORAGE_UNAVAILABLE))
        # The error concerned one swarm: others are served at once, on the same connections.
        for i in range(4):
            r = announce(self.port, good, random_peer_id(), 33000 + i, numwant=0)
            self.assertEqual(r.body, announce_reply(0, i + 1))


NODE_RE = re.compile(r"started as (\S+?);")
REQUESTS_KEY = "{starling}:requests"


def frontend_totals(tracker):
    """{"<endpoint>:<result>": n} of a frontend's own /metrics, the nonzero ones: what it
    must have reported ("udp_<action>:<result>" for UDP)."""
    r = http_get(tracker.metrics_port, "/metrics")
    f = promtext.parse(r.body.decode())
    out = {}
    for _, labels, value in f["starling_http_requests_total"]["samples"]:
        out["%s:%s" % (labels["endpoint"], labels["result"])] = int(value)
    for _, labels, value in f["starling_udp_requests_total"]["samples"]:
        out["udp_%s:%s" % (labels["action"], labels["result"])] = int(value)
    return {k: v for k, v in out.items() if v}


def add(*totals):
    out = {}
    for t in totals:
        for k, v in t.items():
            out[k] = out.get(k, 0) + v
    return out


class CounterReportsTest(unittest.TestCase):
    """{starling}:requests holds every frontend's request totals, exactly: a report that
    timed out but was applied, then sent again, counts once; a frontend that died still
    counts; nodes long silent are forgotten without losing their counts."""

    def setUp(self):
        require_binary()
        # A Unix socket: Redis reads what a dropped connection had sent (no TCP reset), so
        # reports really are applied after their callers gave up on them.
        self.redis = RedisServer(unix_socket=True)
        self.addCleanup(self.redis.cleanup)
        self.redis.start()
        self.trackers = []

    def tearDown(self):
        for t in self.trackers:
            report = t.cleanup()
            self.assertIsNone(report, "sanitizer report in starling log")

    def tracker(self):
        t = Starling(self.redis, {"redis": {"unix_socket": self.redis.unix_socket,
                                            "command_timeout": "300ms"}})
        self.trackers.append(t)
        t.start()
        return t

    def stored(self):
        raw = self.redis.call("HGETALL", REQUESTS_KEY)
        return {k.decode(): int(v) for k, v in zip(raw[::2], raw[1::2]) if int(v)}

    def assert_totals(self, expected, what, timeout=5.0):
        last = [None]

        def equal():
            last[0] = self.stored()
            return last[0] == expected
        try:
            wait_until(equal, timeout, interval=0.1, what=what)
        except AssertionError:
            self.fail("%s: {starling}:requests = %r, expected %r" % (what, last[0], expected))

    def test_totals_exact_when_reports_time_out(self):
        t = self.tracker()
        for i in range(10):
            announce(t.port, random_hash(), random_peer_id(), 6000 + i)
        self.assert_totals(frontend_totals(t), "the first reports")
        # Redis sleeping longer than command_timeout, awake between sleeps: each report
        # times out, is applied when Redis wakes, and the next one carries it again.
        slow = subprocess.Popen(["redis-cli", "-p", str(self.redis.port), "-r", "8", "DEBUG",
                                 "SLEEP", "0.6"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            for i in range(10):
                announce(t.port, random_hash(), random_peer_id(), 6100 + i, timeout=10.0)
                time.sleep(0.3)
            slow.wait(timeout=15)
        finally:
            if slow.poll() is None:
                slow.kill()
                slow.wait()
        self.assertGreater(frontend_totals(t).get("announce:storage_error", 0), 0)
        self.assert_totals(frontend_totals(t), "the totals after the slowdown")

    def test_dead_frontends_still_count(self):
        a = self.tracker()
        for i in range(3):
            announce(a.port, random_hash(), random_peer_id(), 6200 + i)
        http_get(a.port, "/nowhere")
        a_totals = frontend_totals(a)
        self.assert_totals(a_totals, "frontend A's totals")
        a.proc.kill()  # no last report: the ones before it already count
        a.proc.wait(timeout=5)
        b = self.tracker()
        for i in range(2):
            announce(b.port, random_hash(), random_peer_id(), 6300 + i)
        self.assert_totals(add(a_totals, frontend_totals(b)), "A's and B's totals")

    def test_silent_nodes_retired_and_a_retired_node_goes_on(self):
        t = self.tracker()
        announce(t.port, random_hash(), random_peer_id(), 6400)
        self.assert_totals(frontend_totals(t), "the first report")
        node = NODE_RE.search(t.log()).group(1)
        # A frontend gone for two hours: its totals are in the sum, its own hash is stale.
        self.redis.call("ZADD", "{starling}:frontends", now_ms() - 2 * 3600 * 1000, "gone:1:0")
        self.redis.call("HSET", REQUESTS_KEY + ":gone:1:0", "announce:ok", "7")
        self.redis.call("HINCRBY", REQUESTS_KEY, "announce:ok", "7")
        expected = add(frontend_totals(t), {"announce:ok": 7})

        def retired():
            return (self.redis.call("EXISTS", REQUESTS_KEY + ":gone:1:0") == 0
                    and self.redis.call("ZSCORE", "{starling}:frontends", "gone:1:0") is None)
        wait_until(retired, 3.0, interval=0.1, what="the silent node to be retired")
        self.assert_totals(expected, "totals after retiring a node")
        # This node's own hash vanishes (as if retired while it could not report): its next
        # report is refused, it goes on under a new id, and nothing is counted twice.
        self.assertEqual(self.redis.call("DEL", "%s:%s" % (REQUESTS_KEY, node)), 1)
        wait_until(lambda: "reporting as" in t.log(), 3.0, what="a new node id")
        for i in range(3):
            announce(t.port, random_hash(), random_peer_id(), 6500 + i)
        self.assert_totals(add(expected, {"announce:ok": 3}), "totals under the new id")


class RedisDownAtStartTest(unittest.TestCase):
    def test_start_before_redis(self):
        require_binary()
        redis = RedisServer()
        self.addCleanup(redis.cleanup)
        tracker = Starling(redis)

        def stop_tracker():
            report = tracker.cleanup()
            self.assertIsNone(report, "sanitizer report in starling log")
        self.addCleanup(stop_tracker)
        tracker.start(wait_ready=False)
        t0 = time.monotonic()
        r = announce(tracker.port, random_hash(), random_peer_id(), 6881, timeout=10.0)
        self.assertEqual(r.body, failure(STORAGE_UNAVAILABLE))
        self.assertLess(time.monotonic() - t0, REFUSAL_BOUND)
        redis.start()
        tracker.wait_ready(timeout=10.0)
        r = announce(tracker.port, random_hash(), random_peer_id(), 6881)
        self.assertEqual(r.body, announce_reply(0, 1))
        self.assertTrue(tracker.alive())


if __name__ == "__main__":
    unittest.main()
