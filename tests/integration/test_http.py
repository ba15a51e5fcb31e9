"""The HTTP layer: keep-alive, pipelining, HTTP/1.0, timeouts, the connection limit, the
client address (real_ip_header, ip spoofing, IPv6, respect_af)."""

import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Conn, TrackerTestCase, announce, announce_reply, announce_target, bdecode,
                     bstr, build_request, compact4, compact6, ipv6_available, key,
                     now_ms, random_hash, random_peer_id, scrape, scrape_target,
                     split_peers, split_peers6)

LOCAL = "127.0.0.1"


class ConnectionTest(TrackerTestCase):
    CONFIG = {}

    def test_keep_alive(self):
        h = random_hash()
        with Conn(self.port) as c:
            for i in range(3):
                r = c.request(announce_target(h, random_peer_id(), 10000 + i))
                self.assertEqual(r.status, 200)
                self.assertEqual(bdecode(r.body)[b"incomplete"], i + 1)
            self.assertFalse(c.wait_closed(0.5), "HTTP/1.1 connection closed after a reply")
            r = c.request(scrape_target(h))
            self.assertEqual(bdecode(r.body)[b"files"][h][b"incomplete"], 3)

    def test_pipelining(self):
        h = random_hash()
        p1, p2 = random_peer_id(), random_peer_id()
        raw = (build_request(announce_target(h, p1, 11001))
               + build_request(announce_target(h, p2, 11002))
               + build_request(scrape_target(h))
               + build_request("/nothing"))
        with Conn(self.port) as c:
            c.send(raw)
            r1, r2, r3, r4 = [c.read_response() for _ in range(4)]
            self.assertEqual(r1.body, announce_reply(0, 1))
            self.assertEqual(r2.body, announce_reply(0, 2, compact4(LOCAL, 11001)))
            self.assertEqual(bdecode(r3.body)[b"files"][h][b"incomplete"], 2)
            self.assertEqual(r4.status, 404)
            self.assertEqual(c.buf, b"")

    def test_long_pipeline_in_order(self):
        h = random_hash()
        n = 20
        raw = b"".join(build_request(announce_target(h, random_peer_id(), 12000 + i, numwant=0))
                       for i in range(n))
        with Conn(self.port) as c:
            c.send(raw)
            counts = [bdecode(c.read_response().body)[b"incomplete"] for _ in range(n)]
        self.assertEqual(counts, list(range(1, n + 1)))

    def test_deep_pipeline_with_large_replies(self):
        # ~200 KB of requests and ~200 KB of replies: more than the server buffers on
        # either side, so it must stop reading and resume, and still answer in order.
        hashes = [random_hash() for _ in range(74)]
        self.announce(hashes[0], random_peer_id(), 12500, left=0)
        req = build_request(scrape_target(*hashes))
        n = 40
        expected = scrape(self.port, *hashes).body
        self.assertEqual(len(bdecode(expected)[b"files"]), 74)
        with Conn(self.port, timeout=10.0) as c:
            errors = []

            def sender():
                try:
                    c.sock.sendall(req * n)
                except OSError as e:
                    errors.append(e)
            th = threading.Thread(target=sender, daemon=True)
            th.start()
            bodies = [c.read_response(timeout=10.0).body for _ in range(n)]
            th.join(10.0)
            self.assertFalse(th.is_alive())
            self.assertEqual(errors, [])
        for i, body in enumerate(bodies):
            self.assertEqual(body, expected, "reply %d" % i)

    def test_half_closed_client_gets_reply(self):
        with Conn(self.port) as c:
            c.send(build_request(announce_target(random_hash(), random_peer_id(), 13100)))
            c.sock.shutdown(socket.SHUT_WR)
            r = c.read_response()
            self.assertEqual(r.body, announce_reply(0, 1))
            self.assertTrue(c.wait_closed(3.0))

    def test_request_split_into_small_writes(self):
        h = random_hash()
        raw = build_request(announce_target(h, random_peer_id(), 13000))
        with Conn(self.port) as c:
            for i in range(0, len(raw), 7):
                c.send(raw[i:i + 7])
                time.sleep(0.002)
            r = c.read_response()
        self.assertEqual(r.body, announce_reply(0, 1))

    def test_http10_closes(self):
        with Conn(self.port) as c:
            r = c.request(announce_target(random_hash(), random_peer_id(), 14000),
                          version="HTTP/1.0")
            self.assertEqual(r.body, announce_reply(0, 1))
            self.assertTrue(c.wait_closed(3.0), "HTTP/1.0 connection left open")

    def test_http10_keep_alive(self):
        h = random_hash()
        with Conn(self.port) as c:
            r = c.request(announce_target(h, random_peer_id(), 14101), version="HTTP/1.0",
                          headers=["Connection: keep-alive"])
            self.assertEqual(r.body, announce_reply(0, 1))
            self.assertFalse(c.wait_closed(0.5), "keep-alive HTTP/1.0 connection closed")
            r = c.request(announce_target(h, random_peer_id(), 14102), version="HTTP/1.0",
                          headers=["Connection: keep-alive"])
            self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 14101)))

    def test_connection_close(self):
        for value in ("close", "Close"):
            with Conn(self.port) as c:
                r = c.request(announce_target(random_hash(), random_peer_id(), 14200),
                              headers=["Connection: " + value])
                self.assertEqual(r.body, announce_reply(0, 1))
                self.assertTrue(c.wait_closed(3.0), "Connection: %s ignored" % value)

    def test_ip_parameters_ignored_without_spoofing(self):
        h = random_hash()
        self.announce(h, random_peer_id(), 15001,
                      extra=["ip=10.9.8.7", "ipv4=10.9.8.6:7000", "ipv6=%5B2001:db8::1%5D:7001"])
        r = self.announce(h, random_peer_id(), 15002)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 15001)))


class TimeoutTest(TrackerTestCase):
    CONFIG = {"http_request_timeout": "1s", "http_read_timeout": "3s"}

    def test_slow_client_dropped_others_served(self):
        with Conn(self.port) as slow:
            slow.send(b"GET /announce?info_hash=")
            t0 = time.monotonic()
            # Meanwhile another client is served at once.
            h = random_hash()
            r = announce(self.port, h, random_peer_id(), 16001)
            self.assertEqual(r.body, announce_reply(0, 1))
            self.assertLess(time.monotonic() - t0, 0.9, "second client waited for the slow one")
            closed = slow.wait_closed(5.0)
            elapsed = time.monotonic() - t0
        self.assertTrue(closed, "half a request line kept open for 5 s")
        # By the 1 s request timeout, not the 3 s read timeout.
        self.assertGreater(elapsed, 0.7)
        self.assertLess(elapsed, 2.5)

    def test_trickling_client_dropped(self):
        # A byte every 0.2 s never trips the 3 s read timeout; the 1 s request
        # timeout counts from the first byte.
        raw = build_request(announce_target(random_hash(), random_peer_id(), 16101))
        t0 = time.monotonic()
        closed_at = None
        with Conn(self.port) as c:
            for i in range(len(raw) - 1):
                if time.monotonic() - t0 > 5.0:
                    break
                try:
                    c.send(raw[i:i + 1])
                except OSError:
                    closed_at = time.monotonic()
                    break
                if c.wait_closed(0.2):
                    closed_at = time.monotonic()
                    break
        self.assertIsNotNone(closed_at, "trickling client never dropped")
        self.assertGreater(closed_at - t0, 0.7)
        self.assertLess(closed_at - t0, 2.5)

    def test_idle_keep_alive_closed(self):
        with Conn(self.port) as c:
            r = c.request(announce_target(random_hash(), random_peer_id(), 16201))
            self.assertEqual(r.body, announce_reply(0, 1))
            t0 = time.monotonic()
            closed = c.wait_closed(7.0)
            elapsed = time.monotonic() - t0
        self.assertTrue(closed, "idle keep-alive connection open after 7 s")
        self.assertGreater(elapsed, 2.5, "closed before http_read_timeout")
        self.assertLess(elapsed, 6.0)

    def test_idle_new_connection_closed(self):
        with Conn(self.port) as c:
            t0 = time.monotonic()
            closed = c.wait_closed(7.0)
            elapsed = time.monotonic() - t0
        self.assertTrue(closed, "silent connection open after 7 s")
        self.assertLess(elapsed, 6.0)

    def test_active_keep_alive_survives(self):
        # Requests every 1.6 s: each gap is below the read timeout, the whole is above it.
        h = random_hash()
        with Conn(self.port) as c:
            for i in range(3):
                r = c.request(announce_target(h, random_peer_id(), 16300 + i, numwant=0))
                self.assertEqual(bdecode(r.body)[b"incomplete"], i + 1)
                if i < 2:
                    time.sleep(1.6)


class ListenLimitTest(TrackerTestCase):
    CONFIG = {"http_listen_limit": 4}

    def test_fifth_connection_waits(self):
        h = random_hash()
        conns = []
        try:
            for i in range(4):
                c = Conn(self.port)
                conns.append(c)
                r = c.request(announce_target(h, random_peer_id(), 17000 + i, numwant=0))
                self.assertEqual(bdecode(r.body)[b"incomplete"], i + 1)
            fifth = Conn(self.port)
            conns.append(fifth)
            fifth.send(build_request(announce_target(h, random_peer_id(), 17004, numwant=0)))
            try:
                r = fifth.read_response(timeout=1.0)
                self.fail("a 5th connection was served past http_listen_limit 4: %r" % r)
            except socket.timeout:
                pass
            self.assertFalse(fifth.eof, "5th connection closed instead of waiting")
            conns.pop(0).close()
            r = fifth.read_response(timeout=3.0)
            self.assertEqual(bdecode(r.body)[b"incomplete"], 5)
            # The others still work.
            r = conns[0].request(scrape_target(h))
            self.assertEqual(bdecode(r.body)[b"files"][h][b"incomplete"], 5)
        finally:
            for c in conns:
                c.close()


class TrustedProxyTest(TrackerTestCase):
    CONFIG = {"real_ip_header": "X-Forwarded-For", "trusted_proxies": ["127.0.0.1/32"]}

    def test_header_sets_address(self):
        h = random_hash()
        a = random_peer_id()
        self.announce(h, a, 18001, headers=["X-Forwarded-For: 10.1.2.3"])
        r = self.announce(h, random_peer_id(), 18002)
        self.assertEqual(r.body, announce_reply(0, 2, compact4("10.1.2.3", 18001)))
        self.assertIn(a + compact4("10.1.2.3", 18001),
                      self.rcall("ZRANGE", key(h, "leechers"), 0, -1))
        # And the header-less peer is 127.0.0.1.
        r = self.announce(h, a, 18001, headers=["X-Forwarded-For: 10.1.2.3"])
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 18002)))

    def test_last_entry_of_list(self):
        h = random_hash()
        self.announce(h, random_peer_id(), 18101,
                      headers=["X-Forwarded-For: 192.0.2.9, 10.1.2.4"])
        r = self.announce(h, random_peer_id(), 18102)
        self.assertEqual(r.body, announce_reply(0, 2, compact4("10.1.2.4", 18101)))

    def test_header_name_case_insensitive(self):
        h = random_hash()
        self.announce(h, random_peer_id(), 18201, headers=["x-forwarded-for: 10.1.2.5"])
        r = self.announce(h, random_peer_id(), 18202)
        self.assertEqual(r.body, announce_reply(0, 2, compact4("10.1.2.5", 18201)))

    def test_ipv6_and_mapped_addresses(self):
        h = random_hash()
        self.announce(h, random_peer_id(), 18301, headers=["X-Forwarded-For: 2001:db8::7"])
        self.announce(h, random_peer_id(), 18302,
                      headers=["X-Forwarded-For: ::ffff:10.1.2.6"])
        r = self.announce(h, random_peer_id(), 18303)
        self.assertEqual(r.body, announce_reply(0, 3, compact4("10.1.2.6", 18302),
                                                compact6("2001:db8::7", 18301)))


class UntrustedProxyTest(TrackerTestCase):
    CONFIG = {"real_ip_header": "X-Forwarded-For", "trusted_proxies": ["10.0.0.0/8"]}

    def test_header_ignored(self):
        h = random_hash()
        a = random_peer_id()
        self.announce(h, a, 18401, headers=["X-Forwarded-For: 10.1.2.3"])
        r = self.announce(h, random_peer_id(), 18402)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 18401)))
        self.assertEqual(self.rcall("HGET", key(h, "peers"), a), b"L" + compact4(LOCAL, 18401))


class SpoofingTest(TrackerTestCase):
    CONFIG = {"allow_ip_spoofing": True}

    def test_ip_honoured(self):
        h = random_hash()
        self.announce(h, random_peer_id(), 19001, extra=["ip=10.9.8.7"])
        r = self.announce(h, random_peer_id(), 19002)
        self.assertEqual(r.body, announce_reply(0, 2, compact4("10.9.8.7", 19001)))

    def test_ipv4_with_port(self):
        h = random_hash()
        self.announce(h, random_peer_id(), 19101, extra=["ipv4=10.9.8.8:7777"])
        r = self.announce(h, random_peer_id(), 19102)
        self.assertEqual(r.body, announce_reply(0, 2, compact4("10.9.8.8", 7777)))

    def test_host_name_ignored(self):
        h = random_hash()
        self.announce(h, random_peer_id(), 19201, extra=["ip=tracker.example.com"])
        r = self.announce(h, random_peer_id(), 19202)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 19201)))

    def test_dual_stacked_peer_in_both_lists(self):
        h = random_hash()
        a = random_peer_id()
        self.announce(h, a, 19301, extra=["ipv6=%5B2001:db8::2%5D:7778"])
        r = self.announce(h, random_peer_id(), 19302)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 19301),
                                                compact6("2001:db8::2", 7778)))
        self.assertEqual(self.rcall("HGET", key(h, "peers"), a),
                         b"L" + compact4(LOCAL, 19301) + compact6("2001:db8::2", 7778))


class WriteTimeoutTest(TrackerTestCase):
    CONFIG = {"http_write_timeout": "1s", "max_num_want": 1000}

    def test_client_not_reading_is_dropped(self):
        # A swarm of 1000 peers written straight into Redis makes each compact=0 reply
        # ~60 KB: 140 of them (~9 MB) overflow every kernel buffer between us.
        h = random_hash()
        expiry = now_ms() + 3600 * 1000
        args = ["ZADD", key(h, "leechers")]
        for i in range(1000):
            args += [expiry, random_peer_id() + compact4("10.0.%d.%d" % (i // 250, i % 250 + 1),
                                                         10000 + i)]
        self.assertEqual(self.rcall(*args), 1000)
        me = random_peer_id()
        target = announce_target(h, me, 5000, compact=0, numwant=1000)
        reply_len = len(announce(self.port, h, me, 5000, compact=0, numwant=1000).body)
        self.assertGreater(reply_len, 50000)
        # Enough to overflow the server's socket send buffer at its largest, with margin.
        n = max(140, (tcp_wmem_max() + (4 << 20)) // reply_len + 1)
        if n > 1000:
            self.skipTest("tcp_wmem max too large to overflow in a test")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(5.0)
        s.connect(("127.0.0.1", self.port))
        sender = threading.Thread(target=self._send_quietly, args=(s, build_request(target) * n),
                                  daemon=True)
        try:
            sender.start()
            time.sleep(0.5)
            # Meanwhile others are served.
            r = scrape(self.port, h)
            self.assertIn(bdecode(r.body)[b"files"][h][b"incomplete"], (1000, 1001))
            time.sleep(2.5)  # 1 s write timeout + slack, reading nothing
            received = b""
            closed = False
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                try:
                    data = s.recv(1 << 20)
                except ConnectionResetError:
                    closed = True
                    break
                except socket.timeout:
                    break
                if not data:
                    closed = True
                    break
                received += data
        finally:
            s.close()
            sender.join(5.0)
        replies = received.count(b"HTTP/1.1 200")
        self.assertTrue(closed, "a client not reading for 3 s was not dropped (%d of %d "
                                "replies read)" % (replies, n))
        self.assertLess(replies, n)
        self.tracker.assert_alive()

    @staticmethod
    def _send_quietly(sock, data):
        try:
            sock.sendall(data)
        except OSError:
            pass


def tcp_wmem_max():
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 << 20


class RespectAfDualStackTest(TrackerTestCase):
    CONFIG = {"respect_af": True, "allow_ip_spoofing": True}

    def test_dual_stacked_peer_gives_only_own_family(self):
        h = random_hash()
        a = random_peer_id()
        self.announce(h, a, 19401, extra=["ipv6=%5B2001:db8::3%5D:7779"])
        self.assertEqual(self.rcall("HGET", key(h, "peers"), a),
                         b"L" + compact4(LOCAL, 19401) + compact6("2001:db8::3", 7779))
        r = self.announce(h, random_peer_id(), 19402)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 19401)))
        r = self.announce(h, random_peer_id(), 19403, compact=0, extra=["no_peer_id=1"])
        d = bdecode(r.body)
        self.assertEqual(sorted((p[b"ip"], p[b"port"]) for p in d[b"peers"]),
                         [(b"127.0.0.1", 19401), (b"127.0.0.1", 19402)])


class SingleStackTest(TrackerTestCase):
    CONFIG = {"allow_ip_spoofing": True, "dual_stacked_peers": False}

    def test_connection_family_kept(self):
        h = random_hash()
        a = random_peer_id()
        self.announce(h, a, 19501, extra=["ipv6=%5B2001:db8::4%5D:7780"])
        self.assertEqual(self.rcall("HGET", key(h, "peers"), a), b"L" + compact4(LOCAL, 19501))
        r = self.announce(h, random_peer_id(), 19502)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 19501)))

    def test_spoofed_address_of_own_family(self):
        h = random_hash()
        self.announce(h, random_peer_id(), 19601,
                      extra=["ipv4=10.9.8.9", "ipv6=%5B2001:db8::4%5D:7780"])
        r = self.announce(h, random_peer_id(), 19602)
        self.assertEqual(r.body, announce_reply(0, 2, compact4("10.9.8.9", 19601)))


def v6_config(extra=None):
    cfg = {"http_listen_addr": ["127.0.0.1:0", "[::1]:0"]}
    cfg.update(extra or {})
    return cfg


@unittest.skipUnless(ipv6_available(), "::1 not available")
class IPv6Test(TrackerTestCase):
    CONFIG = v6_config()

    def test_listeners(self):
        self.assertEqual(sorted(h for h, _ in self.tracker.listeners), ["127.0.0.1", "::1"])

    def test_ipv6_peer_in_peers6(self):
        host6, port6 = self.tracker.addr(socket.AF_INET6)
        h = random_hash()
        a = random_peer_id()
        r = announce(port6, h, a, 20001, host=host6)
        self.assertEqual(r.body, announce_reply(0, 1))
        self.assertEqual(self.rcall("HGET", key(h, "peers"), a), b"L" + compact6("::1", 20001))
        r = self.announce(h, random_peer_id(), 20002)
        self.assertEqual(r.body, announce_reply(0, 2, b"", compact6("::1", 20001)))
        self.assertEqual(len(bdecode(r.body)[b"peers6"]), 18)
        r = announce(port6, h, a, 20001, host=host6)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 20002)))

    def test_ipv6_peer_in_dictionary_list(self):
        host6, port6 = self.tracker.addr(socket.AF_INET6)
        h = random_hash()
        a = random_peer_id()
        announce(port6, h, a, 20101, host=host6)
        r = self.announce(h, random_peer_id(), 20102, compact=0)
        self.assertEqual(r.body, b"d8:completei0e10:incompletei2e8:intervali1800e"
                                 b"12:min intervali900e5:peersld2:ip3:::17:peer id"
                                 + bstr(a) + b"4:porti20101eeee")


@unittest.skipUnless(ipv6_available(), "::1 not available")
class RespectAfTest(TrackerTestCase):
    CONFIG = v6_config({"respect_af": True})

    def test_only_own_family(self):
        host6, port6 = self.tracker.addr(socket.AF_INET6)
        h = random_hash()
        for i in range(2):
            announce(port6, h, random_peer_id(), 21000 + i, host=host6)
        for i in range(2):
            self.announce(h, random_peer_id(), 21100 + i)
        me4, me6 = random_peer_id(), random_peer_id()
        announce(port6, h, me6, 21300, host=host6)
        for _ in range(3):  # the sample is random: ask a few times
            d = self.announce_ok(h, me4, 21200)
            self.assertEqual((d[b"complete"], d[b"incomplete"]), (0, 6))
            self.assertEqual(d[b"peers6"], b"")
            self.assertEqual(sorted(split_peers(d[b"peers"])), [(LOCAL, 21100), (LOCAL, 21101)])
            r = announce(port6, h, me6, 21300, host=host6)
            d = bdecode(r.body)
            self.assertEqual((d[b"complete"], d[b"incomplete"]), (0, 6))
            self.assertEqual(d[b"peers"], b"")
            self.assertEqual(sorted(split_peers6(d[b"peers6"])), [("::1", 21000), ("::1", 21001)])

if __name__ == "__main__":
    unittest.main()
