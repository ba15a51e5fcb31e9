"""Operations of the frontend: /metrics (Prometheus text 0.0.4, checked by promtext),
/healthz, /readyz, the request counters each frontend reports to Redis, graceful shutdown
on SIGTERM, and SIGHUP reopening log_file. Also self-tests of the promtext checker."""

import math
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promtext
from harness import (STORAGE_UNAVAILABLE, Conn, RedisServer, Starling, announce,
                     announce_reply, announce_target, build_request, failure, http_get, now_ms,
                     random_hash, random_peer_id, readme_metrics, require_binary, scrape,
                     wait_until)

ENDPOINTS = ("announce", "scrape", "other")
RESULTS = ("ok", "bad_params", "storage_error", "storage_busy", "storage_full", "bad_http",
           "not_found")
HISTOGRAM = "starling_http_request_duration_seconds"
# The README's table of starling metrics: name -> type.
FRONTEND_METRICS = {
    "starling_http_requests_total": "counter",
    HISTOGRAM: "histogram",
    "starling_http_open_connections": "gauge",
    "starling_http_connections_total": "counter",
    "starling_redis_calls_total": "counter",
    "starling_redis_errors_total": "counter",
    "starling_redis_timeouts_total": "counter",
    "starling_redis_reconnects_total": "counter",
    "starling_redis_noscript_total": "counter",
    "starling_redis_ready": "gauge",
    "starling_draining": "gauge",
}
NODE_RE = re.compile(r"started as (\S+?);")
# Slack on top of the configured bounds of shutdown (process exit, ASan's leak check).
EXIT_SLACK = 1.5
DRAIN_IDLE_GRACE = 1.0  # frontend/http.c DRAIN_IDLE_GRACE_MS


def fetch_metrics(port):
    """GET /metrics: parsed families (raises on a format violation)."""
    r = http_get(port, "/metrics")
    if r.status != 200:
        raise AssertionError("/metrics answered %r" % r)
    ctype = r.header("content-type") or ""
    if not (ctype.startswith("text/plain") and "version=0.0.4" in ctype):
        raise AssertionError("/metrics Content-Type %r" % ctype)
    return promtext.parse(r.body)


def request_counts(families):
    """{(endpoint, result): value} of starling_http_requests_total."""
    out = {}
    for name, labels, value in families["starling_http_requests_total"]["samples"]:
        out[(labels["endpoint"], labels["result"])] = value
    return out


def gauge(port, name):
    return promtext.value(fetch_metrics(port), name)


def connect_refused(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except (ConnectionRefusedError, ConnectionResetError):
        # Reset: the SYN was in the backlog of a listener that closed.
        return True
    finally:
        s.close()


# ---------------------------------------------------------------------------
# The checker itself

VALID = """# HELP a_total Things, with a \\\\ and a \\n in the help.
# TYPE a_total counter
a_total{path="/x\\"y\\\\z\\n",code="200"} 3
a_total{path="/",code="200",} 1e3 1700000000000
# A plain comment.
# TYPE g gauge
g NaN
# TYPE h histogram
h_bucket{le="0.5"} 1
h_bucket{le="1"} 2
h_bucket{le="+Inf"} 2
h_sum 0.75
h_count 2
# TYPE u untyped
u -Inf
"""


class PromTextSelfTest(unittest.TestCase):
    def test_valid_input(self):
        f = promtext.parse(VALID)
        self.assertEqual(set(f), {"a_total", "g", "h", "u"})
        self.assertEqual(f["a_total"]["type"], "counter")
        self.assertEqual(f["a_total"]["help"], "Things, with a \\ and a \n in the help.")
        self.assertEqual(promtext.value(f, "a_total", path='/x"y\\z\n', code="200"), 3)
        self.assertEqual(promtext.value(f, "a_total", path="/", code="200"), 1000)
        self.assertTrue(math.isnan(promtext.value(f, "g")))
        self.assertEqual(promtext.value(f, "h_bucket", le="+Inf"), 2)
        self.assertEqual(promtext.value(f, "u"), -math.inf)
        self.assertEqual(f["h"]["help"], None)
        with self.assertRaises(KeyError):
            promtext.value(f, "a_total", path="/")

    def test_malformed_inputs_are_rejected(self):
        bad = {
            "no TYPE": "x 1\n",
            "HELP only": "# HELP x doc\nx 1\n",
            "bad metric name": "# TYPE 1x gauge\n1x 1\n",
            "bad label name": '# TYPE x gauge\nx{1a="b"} 1\n',
            "reserved label name": '# TYPE x gauge\nx{__a="b"} 1\n',
            "bad label escape": '# TYPE x gauge\nx{a="\\t"} 1\n',
            "unterminated label value": '# TYPE x gauge\nx{a="b} 1\n',
            "unquoted label value": "# TYPE x gauge\nx{a=b} 1\n",
            "label twice": '# TYPE x gauge\nx{a="1",a="2"} 1\n',
            "bad value": "# TYPE x gauge\nx one\n",
            "python-only float": "# TYPE x gauge\nx 1_000\n",
            "no value": "# TYPE x gauge\nx\n",
            "extra token": "# TYPE x gauge\nx 1 2 3\n",
            "bad timestamp": "# TYPE x gauge\nx 1 1.5\n",
            "duplicate series": '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n',
            "second TYPE": "# TYPE x gauge\n# TYPE x counter\nx 1\n",
            "second HELP": "# HELP x a\n# HELP x b\n# TYPE x gauge\nx 1\n",
            "unknown type": "# TYPE x meter\nx 1\n",
            "TYPE after samples": "# HELP x doc\nx 1\n# TYPE x gauge\n",
            "histogram name clash": "# TYPE h_count gauge\nh_count 1\n# TYPE h histogram\n",
            "interleaved families": "# TYPE x gauge\n# TYPE y gauge\ny 1\nx 1\n",
            "negative counter": "# TYPE x counter\nx -1\n",
            "no trailing newline": "# TYPE x gauge\nx 1",
            "histogram without +Inf": ('# TYPE h histogram\nh_bucket{le="1"} 1\n'
                                       "h_sum 1\nh_count 1\n"),
            "histogram not cumulative": ('# TYPE h histogram\nh_bucket{le="1"} 2\n'
                                         'h_bucket{le="2"} 1\nh_bucket{le="+Inf"} 2\n'
                                         "h_sum 1\nh_count 2\n"),
            "+Inf bucket != count": ('# TYPE h histogram\nh_bucket{le="+Inf"} 2\n'
                                     "h_sum 1\nh_count 3\n"),
            "histogram without _count": '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\n',
            "bucket without le": "# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n",
            "bad le": ('# TYPE h histogram\nh_bucket{le="x"} 1\nh_bucket{le="+Inf"} 1\n'
                       "h_sum 1\nh_count 1\n"),
            "histogram base sample": "# TYPE h histogram\nh 1\n",
            "not UTF-8": b"# TYPE x gauge\nx{a=\"\xff\"} 1\n",
        }
        for what, text in bad.items():
            with self.subTest(what):
                with self.assertRaises(promtext.PromTextError, msg=what):
                    promtext.parse(text)


# ---------------------------------------------------------------------------
# The frontend

class FrontendTestBase(unittest.TestCase):
    """A fresh redis-server and starling per test."""

    CONFIG = {}

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

    def conn(self, port):
        c = Conn(port)
        self.conns.append(c)
        return c

    def start(self, config=None, wait_ready=True, cls=Starling):
        t = cls(self.redis, dict(self.CONFIG, **(config or {})))

        def check():
            alive = t.alive()
            log = t.log()[-3000:]
            report = t.cleanup()
            if report:
                raise AssertionError("sanitizer report in starling log:\n" + report)
            if not alive and t.proc.returncode != 0:
                raise AssertionError("starling died (%s); log:\n%s" % (t.proc.returncode, log))
        self.addCleanup(check)
        return t.start(wait_ready=wait_ready)

    def wait_readyz(self, t, status, timeout):
        def check():
            t.assert_alive()
            return http_get(t.metrics_port, "/readyz").status == status
        wait_until(check, timeout, interval=0.05, what="/readyz %d" % status)


class MetricsTest(FrontendTestBase):
    def test_names_help_and_types(self):
        t = self.start()
        f = fetch_metrics(t.metrics_port)
        # The table above, and the README's (should it grow).
        table = dict(FRONTEND_METRICS, **readme_metrics("`starling` metrics"))
        for name, kind in table.items():
            with self.subTest(name):
                self.assertIn(name, f)
                self.assertEqual(f[name]["type"], kind)
                self.assertTrue(f[name]["help"], "no HELP for %s" % name)
        self.assertEqual(set(request_counts(f)), {(e, r) for e in ENDPOINTS for r in RESULTS})
        self.assertEqual(promtext.value(f, "starling_redis_ready"), 1)
        self.assertEqual(promtext.value(f, "starling_draining"), 0)
        for e in ("announce", "scrape"):
            promtext.value(f, HISTOGRAM + "_count", endpoint=e)

    def test_counters_move_with_traffic(self):
        t = self.start()
        before = fetch_metrics(t.metrics_port)
        h = random_hash()
        # 3 announces that succeed, 1 refused for its parameters, 1 scrape, 1 unknown path
        # (404), 1 malformed request line (400): each on a connection of its own.
        for i in range(3):
            r = announce(t.port, h, random_peer_id(), 6000 + i, numwant=0)
            self.assertEqual(r.body, announce_reply(0, i + 1))
        r = http_get(t.port, "/announce?peer_id=x")
        self.assertEqual(r.body, failure("missing info_hash"))
        r = scrape(t.port, h)
        self.assertNotIn(b"failure reason", r.body)
        r = http_get(t.port, "/nothing-here")
        self.assertEqual(r.status, 404)
        with Conn(t.port) as c:
            c.send(b"NOT A REQUEST LINE\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 400)
        time.sleep(0.05)
        after = fetch_metrics(t.metrics_port)

        expected = {(e, res): 0 for e in ENDPOINTS for res in RESULTS}
        expected[("announce", "ok")] = 3
        expected[("announce", "bad_params")] = 1
        expected[("scrape", "ok")] = 1
        expected[("other", "not_found")] = 1
        expected[("other", "bad_http")] = 1
        b, a = request_counts(before), request_counts(after)

        def hist(f, endpoint, series):
            return promtext.value(f, HISTOGRAM + series, endpoint=endpoint)
        wrong = ["starling_http_requests_total%r: moved by %g, expected %g"
                 % (k, a[k] - b[k], expected[k]) for k in sorted(a) if a[k] - b[k] != expected[k]]
        for endpoint, n in (("announce", 4), ("scrape", 1)):  # announces: 3 ok + 1 refused
            moved = hist(after, endpoint, "_count") - hist(before, endpoint, "_count")
            if moved != n:
                wrong.append("%s_count{endpoint=%r}: moved by %g, expected %d"
                             % (HISTOGRAM, endpoint, moved, n))
        if wrong:
            self.fail("after 3 announces, 1 refused announce, 1 scrape, 1 404 and 1 400 "
                      "(malformed request line), each on a new connection:\n"
                      + "\n".join(wrong))
        self.assertGreater(hist(after, "announce", "_sum"), hist(before, "announce", "_sum"))
        self.assertEqual(promtext.value(after, "starling_http_connections_total")
                         - promtext.value(before, "starling_http_connections_total"), 7)
        # 3 announces and a scrape went to Redis (besides the once-a-second reports).
        self.assertGreaterEqual(promtext.value(after, "starling_redis_calls_total")
                                - promtext.value(before, "starling_redis_calls_total"), 4)
        for name in ("starling_redis_errors_total", "starling_redis_timeouts_total",
                     "starling_redis_reconnects_total", "starling_redis_noscript_total"):
            self.assertEqual(promtext.value(after, name), 0, name)

    def test_open_connections_gauge(self):
        t = self.start()
        port = t.metrics_port
        wait_until(lambda: gauge(port, "starling_http_open_connections") == 0, 3.0,
                   what="no open connection")
        idle = self.conn(t.port)
        wait_until(lambda: gauge(port, "starling_http_open_connections") == 1, 3.0,
                   what="starling_http_open_connections 1 with one idle connection")
        second = self.conn(t.port)
        r = second.request(announce_target(random_hash(), random_peer_id(), 6100))
        self.assertEqual(r.body, announce_reply(0, 1))  # kept alive
        self.assertEqual(gauge(port, "starling_http_open_connections"), 2)
        idle.close()
        second.close()
        wait_until(lambda: gauge(port, "starling_http_open_connections") == 0, 3.0,
                   what="starling_http_open_connections back to 0")

    def test_healthz_and_readyz(self):
        t = self.start({"redis": {"command_timeout": "300ms", "connect_timeout": "300ms"}})
        port = t.metrics_port
        r = http_get(port, "/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(http_get(port, "/readyz").status, 200)
        self.assertEqual(gauge(port, "starling_redis_ready"), 1)
        # (the readiness probe at start may have met storage_error: count from here)
        before = request_counts(fetch_metrics(port))
        self.redis.stop()
        self.wait_readyz(t, 503, 3.0)
        self.assertEqual(http_get(port, "/healthz").status, 200)
        self.assertEqual(gauge(port, "starling_redis_ready"), 0)
        r = announce(t.port, random_hash(), random_peer_id(), 6200)
        self.assertEqual(r.body, failure(STORAGE_UNAVAILABLE))
        self.redis.start()  # same port
        self.wait_readyz(t, 200, 10.0)
        self.assertEqual(gauge(port, "starling_redis_ready"), 1)
        r = announce(t.port, random_hash(), random_peer_id(), 6201)
        self.assertEqual(r.body, announce_reply(0, 1))
        f = fetch_metrics(port)
        after = request_counts(f)
        self.assertEqual(after[("announce", "storage_error")]
                         - before[("announce", "storage_error")], 1)
        self.assertEqual(after[("announce", "ok")] - before[("announce", "ok")], 1)
        self.assertGreaterEqual(promtext.value(f, "starling_redis_reconnects_total"), 1)

    def test_counters_reach_redis(self):
        # No readiness probe (it would be an announce): wait for /readyz instead, so the
        # counts below are exactly the requests this test sent.
        t = self.start(wait_ready=False)
        self.wait_readyz(t, 200, 10.0)
        n = 4
        h = random_hash()
        for i in range(n):
            r = announce(t.port, h, random_peer_id(), 6300 + i, numwant=0)
            self.assertEqual(r.body, announce_reply(0, i + 1))
        self.assertEqual(http_get(t.port, "/announce").body, failure("missing info_hash"))
        self.assertEqual(http_get(t.port, "/favicon.ico").status, 404)
        expected = {b"announce:ok": b"%d" % n, b"announce:bad_params": b"1",
                    b"other:not_found": b"1"}
        last = [None]

        def reported():
            raw = self.redis.call("HGETALL", "{starling}:requests")
            last[0] = dict(zip(raw[::2], raw[1::2]))
            return last[0] == expected
        try:
            wait_until(reported, 3.0, interval=0.1, what="{starling}:requests")
        except AssertionError:
            self.fail("HGETALL {starling}:requests = %r, expected %r" % (last[0], expected))
        self.assertEqual(self.redis.call("HGET", "{starling}:requests", "announce:ok"), b"4")

        m = NODE_RE.search(t.log())
        self.assertIsNotNone(m, "no 'started as NODE;' in the log")
        node = m.group(1)
        score = self.redis.call("ZSCORE", "{starling}:frontends", node)
        self.assertIsNotNone(score, "node %s not in {starling}:frontends: %r"
                             % (node, self.redis.call("ZRANGE", "{starling}:frontends", 0, -1,
                                                      "WITHSCORES")))
        self.assertLess(abs(now_ms() - float(score)), 5000)
        # Nothing more was sent: a later report adds nothing.
        time.sleep(1.2)
        raw = self.redis.call("HGETALL", "{starling}:requests")
        self.assertEqual(dict(zip(raw[::2], raw[1::2])), expected)


class ShutdownDrainTest(FrontendTestBase):
    def terminate(self, t):
        t0 = time.monotonic()
        t.proc.send_signal(signal.SIGTERM)
        return t0

    def wait_exit(self, t, t0, bound):
        try:
            rc = t.proc.wait(timeout=max(0.1, t0 + bound - time.monotonic()))
        except Exception:
            self.fail("starling still running %.1fs after SIGTERM; log:\n%s"
                      % (bound, t.log()[-2000:]))
        elapsed = time.monotonic() - t0
        report = t.sanitizer_report()
        self.assertIsNone(report, "sanitizer report at shutdown:\n%s" % report)
        self.assertEqual(rc, 0, "exit status %s after SIGTERM; log:\n%s" % (rc, t.log()[-2000:]))
        return elapsed

    def test_request_in_flight_finishes(self):
        t = self.start({"shutdown_timeout": "5s", "redis": {"command_timeout": "5s"}})
        port, mport = t.port, t.metrics_port
        idle = self.conn(port)
        r = idle.request(announce_target(random_hash(), random_peer_id(), 6400))
        self.assertEqual(r.body, announce_reply(0, 1))
        with self.redis.client(timeout=10.0) as blocker:
            blocker.send("DEBUG", "SLEEP", "1.5")
            time.sleep(0.1)
            busy = self.conn(port)
            busy.send(build_request(announce_target(random_hash(), random_peer_id(), 6401)))
            time.sleep(0.2)
            t0 = self.terminate(t)
            # New connections are refused once the signal is handled.
            wait_until(lambda: connect_refused(port), 1.0, interval=0.02,
                       what="connections to be refused after SIGTERM")
            self.assertEqual(http_get(mport, "/readyz").status, 503)
            self.assertEqual(gauge(mport, "starling_draining"), 1)
            self.assertTrue(t.alive(), "exited with a request in flight")
            # The idle one closes after the drain's grace for idle connections (1 s:
            # README, Signals).
            self.assertTrue(idle.wait_closed(DRAIN_IDLE_GRACE + 1.0),
                            "idle connection not closed after the drain's grace")
            r = busy.read_response(timeout=5.0)
            t_reply = time.monotonic()
            self.assertEqual(r.status, 200)
            self.assertIn(r.body, (announce_reply(0, 1), failure(STORAGE_UNAVAILABLE)))
            self.assertEqual((r.header("connection") or "").lower(), "close", r)
            self.assertTrue(busy.wait_closed(2.0), "connection not closed after the reply")
            self.assertEqual(blocker.read_reply(), b"OK")
        elapsed = self.wait_exit(t, t0, 5.0 + EXIT_SLACK)
        # Done once the request is: it does not wait out shutdown_timeout.
        self.assertLess(t0 + elapsed - t_reply, 2.0)

    def test_shutdown_timeout_bounds_a_stuck_request(self):
        t = self.start({"shutdown_timeout": "1s", "redis": {"command_timeout": "10s"}})
        with self.redis.client(timeout=10.0) as blocker:
            blocker.send("DEBUG", "SLEEP", "3")
            time.sleep(0.1)
            busy = self.conn(t.port)
            busy.send(build_request(announce_target(random_hash(), random_peer_id(), 6500)))
            time.sleep(0.2)
            t0 = self.terminate(t)
            self.wait_exit(t, t0, 1.0 + EXIT_SLACK)
            # The stuck client got a complete reply or a close, never half a reply.
            try:
                r = busy.read_response(timeout=1.0)
                self.assertEqual(r.status, 200)
                self.assertEqual((r.header("connection") or "").lower(), "close", r)
            except ConnectionError:
                self.assertEqual(busy.buf, b"", "half a reply before the close")


class FileLoggingStarling(Starling):
    """starling with log_file set: its log is the log file(s) plus stderr."""

    def log(self):
        text = super().log()
        path = self.config["log_file"]
        for p in (path + ".1", path):
            try:
                with open(p, errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return text


class LogFileTest(FrontendTestBase):
    def test_sighup_reopens_log_file(self):
        d = tempfile.mkdtemp(prefix="starling-logs-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "frontend.log")
        t = self.start({"log_file": path}, cls=FileLoggingStarling)
        with open(path) as f:
            self.assertIn("http listening on", f.read())
        os.rename(path, path + ".1")
        t.proc.send_signal(signal.SIGHUP)

        def reopened():
            t.assert_alive()
            try:
                with open(path) as f:
                    return f.read().strip() != ""
            except FileNotFoundError:
                return False
        wait_until(reopened, 3.0, what="a new %s with a line after SIGHUP" % path)
        with open(path + ".1") as f:
            old_size = len(f.read())
        t.proc.send_signal(signal.SIGTERM)
        self.assertEqual(t.proc.wait(timeout=5.0), 0)
        with open(path) as f:
            new = f.read()
        with open(path + ".1") as f:
            old = f.read()
        self.assertIn("stopped", new.splitlines()[-1])
        self.assertEqual(len(old), old_size, "the renamed file still gets lines")
        for line in new.splitlines():
            self.assertTrue(line.startswith("ts="), "log line %r" % line)


if __name__ == "__main__":
    unittest.main()
