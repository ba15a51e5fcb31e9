"""The HTTP server's limits and their edges (issue 9): a half-closed client's pipeline
answered whole, the read timeout only on idle connections, real memory per connection,
file-descriptor exhaustion, the per-address connection limit."""

import os
import re
import resource
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promtext
from harness import (Conn, RedisServer, Starling, TrackerTestCase, announce_target, bdecode,
                     build_request, compact4, http_get, key, now_ms, random_hash,
                     random_peer_id, require_binary, sanitized_binary)

# Every wait below is bounded by this.
DEADLINE = 30.0


def read_until_eof(sock, timeout):
    """Every byte the server sends until it closes (or timeout seconds pass)."""
    data = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        data.append(chunk)
    return b"".join(data)


def read_slowly(sock, timeout, bite=4096, pause=0.001):
    """As read_until_eof, a bite at a time with a pause between: a client reading steadily
    but slower than the server writes, so replies back up in the server."""
    data = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(bite)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        data.append(chunk)
        time.sleep(pause)
    return b"".join(data)


def slow_reader_socket(port):
    """A client socket with a small receive buffer, so the server's output backs up."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(DEADLINE)
    s.connect(("127.0.0.1", port))
    return s


def big_swarm(test, n=1000):
    """A swarm of n leechers written straight into Redis; returns (info_hash, the target
    of an announce whose compact=0 reply lists them all, ~60 bytes a peer)."""
    h = random_hash()
    expiry = now_ms() + 3600 * 1000
    args = ["ZADD", key(h, "leechers")]
    for i in range(n):
        args += [expiry, random_peer_id() + compact4("10.0.%d.%d" % (i // 250, i % 250 + 1),
                                                     10000 + i)]
    test.assertEqual(test.rcall(*args), n)
    return h, announce_target(h, random_peer_id(), 5000, compact=0, numwant=n)


def send_then_half_close(sock, data, errors):
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError as e:
        errors.append(e)


class HalfCloseTest(TrackerTestCase):
    """A client that pipelines requests and then shuts down its sending side gets a reply
    to every complete request it sent, and then the connection closes."""

    CONFIG = {"max_num_want": 1000}

    def test_large_replies_read_slowly(self):
        # 150 replies of ~60 KB (~9 MB) to a client reading slower than the server writes:
        # the FIN is read while replies still wait for the client, and requests still wait
        # behind them.
        n = 150
        h, target = big_swarm(self)
        raw = build_request(target) * n
        s = slow_reader_socket(self.port)
        try:
            errors = []
            th = threading.Thread(target=send_then_half_close, args=(s, raw, errors),
                                  daemon=True)
            th.start()
            received = read_slowly(s, DEADLINE)
            th.join(DEADLINE)
        finally:
            s.close()
        self.assertEqual(errors, [])
        self.assertEqual(received.count(b"HTTP/1.1 200 "), n)
        last = received[received.rindex(b"\r\n\r\n") + 4:]
        self.assertEqual(len(bdecode(last)[b"peers"]), 1000)

    def pipeline_then_fin(self, raw):
        with Conn(self.port, timeout=DEADLINE) as c:
            errors = []
            th = threading.Thread(target=send_then_half_close, args=(c.sock, raw, errors),
                                  daemon=True)
            th.start()
            received = read_until_eof(c.sock, DEADLINE)
            th.join(DEADLINE)
            self.assertFalse(th.is_alive())
            self.assertEqual(errors, [])
        return received

    def test_pipeline_of_404s(self):
        # ~150 KB of replies: more than the server queues before it stops answering, so it
        # has to go on answering after the FIN was read.
        n = 1500
        received = self.pipeline_then_fin(build_request("/nothing") * n)
        self.assertEqual(received.count(b"HTTP/1.1 404 "), n)
        self.assertTrue(received.endswith(b"not found\n"))

    def test_pipeline_of_announces(self):
        n = 600
        h = random_hash()
        raw = b"".join(build_request(announce_target(h, random_peer_id(), 20000 + i, numwant=0))
                       for i in range(n))
        received = self.pipeline_then_fin(raw)
        self.assertEqual(received.count(b"HTTP/1.1 200 "), n)
        last = received[received.rindex(b"\r\n\r\n") + 4:]
        self.assertEqual(bdecode(last)[b"incomplete"], n)

    def test_incomplete_last_request_closes(self):
        # The rest after the last complete request can never complete: answered what was
        # complete, then closed.
        raw = build_request("/nothing") * 3 + b"GET /noth"
        received = self.pipeline_then_fin(raw)
        self.assertEqual(received.count(b"HTTP/1.1 404 "), 3)


class ReadTimeoutTest(TrackerTestCase):
    """http_read_timeout closes idle connections only: a client still reading its replies is
    not idle (while output waits, http_write_timeout is what applies)."""

    CONFIG = {"http_read_timeout": "1s", "http_write_timeout": "5s", "max_num_want": 1000}

    def test_client_reading_long_replies_not_cut(self):
        # The requests go at once; reading the ~9 MB of replies takes well over 1 s, with no
        # pause near the 5 s write timeout.
        n = 150
        h, target = big_swarm(self)
        s = slow_reader_socket(self.port)
        try:
            s.sendall(build_request(target) * n)
            t0 = time.monotonic()
            received = read_slowly(s, DEADLINE)  # to the close once idle
            elapsed = time.monotonic() - t0
        finally:
            s.close()
        self.assertEqual(received.count(b"HTTP/1.1 200 "), n, "after %.1f s" % elapsed)
        self.assertGreater(elapsed, 1.5, "replies read too fast to test the read timeout")

    def test_idle_after_replies_closed(self):
        with Conn(self.port) as c:
            c.send(build_request("/nothing") * 3)
            for _ in range(3):
                self.assertEqual(c.read_response().status, 404)
            t0 = time.monotonic()
            closed = c.wait_closed(5.0)
            elapsed = time.monotonic() - t0
        self.assertTrue(closed, "idle connection open 5 s after its replies")
        self.assertGreater(elapsed, 0.7)


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill_without_reading(socks, data, timeout):
    """Sends data over and over on every (non-blocking) socket, never reading, until none
    takes a byte for half a second (the server stopped reading them all) or timeout.
    Returns the bytes each took."""
    sent = [0] * len(socks)
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        moved = 0
        for i, s in enumerate(socks):
            # Go on where the last send stopped: a partial send must not cut a request.
            offset = sent[i] % len(data)
            try:
                n = s.send(data[offset:])
            except (BlockingIOError, InterruptedError):
                n = 0
            sent[i] += n
            moved += n
        if moved:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.5:
            return sent
        time.sleep(0.005 if moved else 0.05)
    raise AssertionError("the server still read after %.0f s: %d bytes sent" % (timeout, sum(sent)))


class MemoryTest(TrackerTestCase):
    """What a connection holds is bounded in real memory (README: "Limits"), whatever a client
    pipelines without reading its replies."""

    # Every client is 127.0.0.1; none reads, and filling takes a while under a sanitizer.
    CONFIG = {"http_per_address_limit": 0, "http_write_timeout": "120s",
              "http_request_timeout": "120s"}
    CLIENTS = 100
    # README's worst case for a connection whose replies are small, in KiB: its input
    # buffer (http_max_request_bytes, 8), the replies waiting (8, and one more past the
    # mark), partly used output buffers (8), its state (1): 25; rounded up for malloc.
    BOUND_KIB = 32

    def test_non_reading_pipeliners(self):
        pid = self.tracker.proc.pid
        with Conn(self.port) as c:  # the first connection's allocations are not the limit's
            self.assertEqual(c.request("/nothing").status, 404)
        time.sleep(0.2)
        before = vm_rss_kib(pid)
        socks = []
        try:
            for _ in range(self.CLIENTS):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
                s.connect(("127.0.0.1", self.port))
                s.setblocking(False)
                socks.append(s)
            sent = fill_without_reading(socks, build_request("/nothing") * 512, DEADLINE)
            after = vm_rss_kib(pid)
        finally:
            for s in socks:
                s.close()
        per_conn = (after - before) / self.CLIENTS
        self.tracker.assert_alive()
        if sanitized_binary():
            self.skipTest("RSS under AddressSanitizer's allocator (redzones, quarantine) is not "
                          "the frontend's; filled %d connections" % len(socks))
        sys.stderr.write("\nVmRSS %d KiB -> %d KiB with %d non-reading pipelining clients "
                         "(%d KiB sent each on average): %.1f KiB a connection\n"
                         % (before, after, self.CLIENTS, sum(sent) // len(sent) // 1024, per_conn))
        self.assertLess(per_conn, self.BOUND_KIB)


def open_fds(pid):
    return {int(n) for n in os.listdir("/proc/%d/fd" % pid)}


def served(conn, timeout):
    """Whether conn's request is answered within timeout seconds."""
    try:
        return conn.read_response(timeout=timeout).status == 404
    except socket.timeout:
        return False


def cpu_over(pid, seconds):
    """The CPU time pid uses in the next `seconds` of wall time: a process spinning on a
    ready event burns about all of it, an idle one next to none."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return cpu_seconds(pid) - before


class FdLimitTest(unittest.TestCase):
    """Running out of file descriptors: the connection limit fits the open files limit, and
    when accept() fails anyway (EMFILE) the frontend pauses accepting instead of spinning,
    and accepts again by itself once descriptors are free."""

    NOFILE = 64

    def setUp(self):
        require_binary()
        self.redis = RedisServer().start()
        self.node = None
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        report = self.node.cleanup() if self.node else None
        self.redis.cleanup()
        self.assertIsNone(report)

    def connect(self, n):
        """n new connections, each with a request sent (answered or waiting)."""
        out = []
        for _ in range(n):
            c = Conn(self.node.port)
            self.conns.append(c)
            c.send(build_request("/nothing"))
            out.append(c)
        return out

    def accept_failures(self):
        return len(re.findall(r"accept failed", self.node.log()))

    def test_connection_limit_fits_fd_limit(self):
        nofile = self.NOFILE
        self.node = Starling(self.redis, {}, preexec_fn=lambda:
                             resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))).start()
        pid = self.node.proc.pid
        # More connections than descriptors: those past the limit wait in the backlog.
        conns = self.connect(nofile + 6)
        answered = [c for c in conns if served(c, 0.5 if c is conns[0] else 0.05)]
        waiting = [c for c in conns if c not in answered]
        self.assertTrue(waiting)
        cpu = cpu_over(pid, 2.0)
        sys.stderr.write("\nopen files limit %d: %d connections served, %d waiting, %.2f s "
                         "CPU in 2 s\n" % (nofile, len(answered), len(waiting), cpu))
        self.assertLess(cpu, 0.25, "busy while connections wait")
        m = re.search(r"http: at most (\d+) connections", self.node.log())
        self.assertIsNotNone(m, self.node.log()[-2000:])
        self.assertEqual(len(answered), int(m.group(1)))
        self.assertLess(len(open_fds(pid)), nofile)  # room left for Redis and the rest
        self.assertEqual(self.accept_failures(), 0)
        for c in answered[:3]:
            c.close()
        for c in waiting[:3]:
            self.assertTrue(served(c, 3.0), "a waiting connection not served after others closed")
        self.node.assert_alive()

    def test_accept_pauses_when_out_of_descriptors(self):
        self.node = Starling(self.redis, {}).start()
        pid = self.node.proc.pid
        held = self.connect(4)
        for c in held:
            self.assertTrue(served(c, 3.0))
        # The open files limit lowered under the process's feet to its lowest free
        # descriptor: the next accept() fails with EMFILE.
        fds = open_fds(pid)
        lowest_free = min(set(range(len(fds) + 1)) - fds)
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, hard))
        try:
            waiting = self.connect(3)
            self.assertFalse(served(waiting[0], 0.5))
            cpu = cpu_over(pid, 2.0)
            sys.stderr.write("\nEMFILE: %.2f s CPU in 2 s, %d accept failure lines logged\n"
                             % (cpu, self.accept_failures()))
            self.assertLess(cpu, 0.25, "spinning on accept failures")
            self.assertGreaterEqual(self.accept_failures(), 1)
            self.assertLessEqual(self.accept_failures(), 4)  # log_limited: one a second
            # Descriptors come free: accepting resumes by itself.
            for c in held[:3]:
                c.close()
            for c in waiting:
                self.assertTrue(served(c, 3.0), "not accepting again after descriptors freed")
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        self.node.assert_alive()


    def test_metrics_listener_pauses_when_out_of_descriptors(self):
        self.node = Starling(self.redis, {}).start()
        pid = self.node.proc.pid
        fds = open_fds(pid)
        lowest_free = min(set(range(len(fds) + 1)) - fds)
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, hard))
        try:
            # A scraper's connection waits in the metrics listener's backlog: accept() fails.
            scraper = Conn(self.node.metrics_port)
            self.conns.append(scraper)
            scraper.send(build_request("/metrics"))
            cpu = cpu_over(pid, 2.0)
            self.assertLess(cpu, 0.25, "spinning on the metrics listener's accept failures")
            lines = self.node.log().count("metrics: accept failed")
            self.assertGreaterEqual(lines, 1)
            self.assertLessEqual(lines, 4)  # log_limited: one a second
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        # Descriptors back: the scraper is answered once the pause ends.
        self.assertEqual(scraper.read_response(timeout=5.0).status, 200)
        self.node.assert_alive()


class ConnFrom(Conn):
    """A Conn from a given loopback source address (127.0.0.0/8 all reaches 127.0.0.1)."""

    def __init__(self, port, source, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self.buf = b""
        self.eof = False


def closed_unanswered(port, source):
    """Whether a new connection from source is closed (or reset) with no reply to a request:
    the reset may come as soon as connect() returns, or before."""
    try:
        c = ConnFrom(port, source)
    except ConnectionError:
        return True
    with c:
        try:
            c.send(build_request("/nothing"))
        except ConnectionError:
            return True
        return c.wait_closed(3.0) and c.buf == b""


def metric(node, name):
    r = http_get(node.metrics_port, "/metrics")
    return promtext.value(promtext.parse(r.body), name)


class PerAddressLimitTest(TrackerTestCase):
    """http_per_address_limit: a client address past it has new connections closed at once,
    unread and unanswered, and counted; other addresses are served as usual."""

    CONFIG = {"http_per_address_limit": 3}
    OVER = "starling_http_connections_over_address_limit_total"

    def test_connection_past_the_limit_closed(self):
        before = metric(self.tracker, self.OVER)
        conns = [ConnFrom(self.port, "127.0.0.7") for _ in range(3)]
        try:
            for c in conns:
                self.assertEqual(c.request("/nothing").status, 404)
            self.assertTrue(closed_unanswered(self.port, "127.0.0.7"),
                            "a 4th connection from one address served")
            self.assertEqual(metric(self.tracker, self.OVER), before + 1)
            # Another address is not affected.
            with ConnFrom(self.port, "127.0.0.8") as other:
                self.assertEqual(other.request("/nothing").status, 404)
            # One closes: the address may open one again.
            conns.pop(0).close()
            again = None
            deadline = time.monotonic() + 3.0
            while again is None and time.monotonic() < deadline:
                c = ConnFrom(self.port, "127.0.0.7")
                conns.append(c)
                try:
                    again = c.request("/nothing", timeout=1.0)
                except (ConnectionError, OSError):
                    time.sleep(0.1)  # the server may not have seen the close yet
            self.assertIsNotNone(again)
            self.assertEqual(again.status, 404)
            for c in conns[:2]:
                self.assertEqual(c.request("/nothing").status, 404)
        finally:
            for c in conns:
                c.close()


class TrustedProxyExemptTest(TrackerTestCase):
    """Connections from trusted_proxies carry many clients: they are not limited per address."""

    CONFIG = {"http_per_address_limit": 2, "trusted_proxies": ["127.0.0.9/32"]}

    def test_proxy_not_limited(self):
        conns = [ConnFrom(self.port, "127.0.0.9") for _ in range(6)]
        try:
            for c in conns:
                self.assertEqual(c.request("/nothing").status, 404)
        finally:
            for c in conns:
                c.close()
        self.assertEqual(metric(self.tracker, PerAddressLimitTest.OVER), 0)


if __name__ == "__main__":
    unittest.main()
