"""Every refusal of the README's Errors table, byte for byte; after each one the tracker
still serves a good announce on a new connection and the swarm it had is intact."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Conn, TrackerTestCase, announce, announce_reply, compact4,
                     failure, http_get, pct, random_hash, random_peer_id)

LOCAL = "127.0.0.1"


class BadInputTest(TrackerTestCase):
    CONFIG = {"http_max_request_bytes": 1024}

    def setUp(self):
        # A swarm that must survive every bad request: peer P, and checker C who is
        # given P on each check.
        self.h = random_hash()
        self.p = random_peer_id()
        self.c = random_peer_id()
        r = self.announce(self.h, self.p, 20000)
        self.assertEqual(r.body, announce_reply(0, 1))

    def assert_still_serving(self):
        self.tracker.assert_alive()
        r = announce(self.port, self.h, self.c, 20001)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 20000)))

    def query(self, drop=(), **override):
        """A good announce query with some parameters replaced or dropped."""
        params = [("info_hash", pct(random_hash())), ("peer_id", pct(random_peer_id())),
                  ("port", "6881"), ("uploaded", "0"), ("downloaded", "0"), ("left", "0")]
        out = []
        for name, value in params:
            if name in drop:
                continue
            out.append("%s=%s" % (name, override.pop(name, value)))
        out += ["%s=%s" % kv for kv in override.items()]
        return "/announce?" + "&".join(out)

    def assert_refused(self, target, reason):
        r = http_get(self.port, target)
        self.assertEqual(r.status, 200, target)
        self.assertEqual(r.body, failure(reason), target)
        self.assertEqual(r.header("Content-Type"), "text/plain")
        self.assert_still_serving()

    # -- announce parameters -------------------------------------------------

    def test_good_query_is_accepted(self):
        r = http_get(self.port, self.query())
        self.assertEqual(r.body, announce_reply(1, 0))
        self.assert_still_serving()

    def test_failure_bytes(self):
        self.assertEqual(failure("invalid port"), b"d14:failure reason12:invalid porte")
        self.assertEqual(failure("storage unavailable, retry later"),
                         b"d14:failure reason32:storage unavailable, retry latere")

    def test_no_query(self):
        self.assert_refused("/announce", "missing info_hash")

    def test_info_hash(self):
        self.assert_refused(self.query(drop=["info_hash"]), "missing info_hash")
        h = random_hash()
        self.assert_refused(self.query(info_hash=pct(h[:19])), "invalid info_hash")
        self.assert_refused(self.query(info_hash=pct(h + b"\x00")), "invalid info_hash")

    def test_peer_id(self):
        self.assert_refused(self.query(drop=["peer_id"]), "missing peer_id")
        p = random_peer_id()
        self.assert_refused(self.query(peer_id=pct(p[:19])), "invalid peer_id")
        self.assert_refused(self.query(peer_id=pct(p + b"x")), "invalid peer_id")

    def test_port(self):
        self.assert_refused(self.query(drop=["port"]), "missing port")
        for bad in ("0", "65536", "abc", "-1", "80x", "99999999999"):
            self.assert_refused(self.query(port=bad), "invalid port")
        r = http_get(self.port, self.query(port="65535"))
        self.assertNotIn(b"failure", r.body)

    def test_counters(self):
        for name in ("uploaded", "downloaded", "left"):
            self.assert_refused(self.query(drop=[name]), "missing " + name)
            for bad in ("-1", "abc", "1.5", "-0x1"):
                self.assert_refused(self.query(**{name: bad}), "invalid " + name)

    def test_event(self):
        for bad in ("foo", "start", "stopped2"):
            self.assert_refused(self.query(event=bad), "invalid event")

    def test_numwant(self):
        for bad in ("abc", "5x"):
            self.assert_refused(self.query(numwant=bad), "invalid numwant")

    def test_key(self):
        self.assert_refused(self.query(key="k" * 65), "invalid key")
        r = http_get(self.port, self.query(key="k" * 64))
        self.assertEqual(r.body, announce_reply(1, 0))
        self.assert_still_serving()

    def test_bad_escapes(self):
        h, p = random_hash(), random_peer_id()
        self.assert_refused(self.query(info_hash="%G1" + pct(h[1:])), "malformed query")
        self.assert_refused(self.query(peer_id=pct(p[:19]) + "%Z9"), "malformed query")
        # A truncated escape at the very end of the query.
        self.assert_refused(self.query(drop=["info_hash"]) + "&info_hash=" + pct(h[:19]) + "%4",
                            "malformed query")
        self.assert_refused(self.query(drop=["info_hash"]) + "&info_hash=" + pct(h[:19]) + "%",
                            "malformed query")

    def test_first_problem_wins(self):
        # Invalid info_hash comes before a missing peer_id, which comes before the port.
        self.assert_refused(self.query(drop=["peer_id", "port"], info_hash="short"),
                            "invalid info_hash")
        self.assert_refused(self.query(drop=["peer_id"], port="0"), "missing peer_id")
        self.assert_refused(self.query(port="0", left="x", event="bad"), "invalid port")
        self.assert_refused(self.query(left="x", event="bad", numwant="y"), "invalid left")
        self.assert_refused(self.query(event="bad", numwant="y", key="k" * 65), "invalid event")
        self.assert_refused(self.query(numwant="y", key="k" * 65), "invalid numwant")

    def test_repeated_parameter_refused(self):
        # Which value was meant is a guess: refused, naming the parameter, and nothing is
        # recorded under either value.
        h1, h2 = random_hash(), random_hash()
        p = random_peer_id()
        target = ("/announce?info_hash=%s&info_hash=%s&peer_id=%s&port=21001&port=21002"
                  "&uploaded=0&downloaded=0&left=5&left=0&compact=1&unknown=x"
                  % (pct(h1), pct(h2), pct(p)))
        self.assert_refused(target, "repeated info_hash")
        for h in (h1, h2):
            self.assertEqual(self.rcall("EXISTS", "{%s}:peers" % h.hex()), 0)
        for name, value in (("peer_id", pct(random_peer_id())), ("port", "6881"),
                            ("uploaded", "0"), ("downloaded", "0"), ("left", "0"),
                            ("event", "started"), ("numwant", "5"), ("key", "k"),
                            ("compact", "1"), ("no_peer_id", "1"), ("ip", "10.0.0.1"),
                            ("ipv4", "10.0.0.1"), ("ipv6", "::1")):
            self.assert_refused(self.query(**{name: value}) + "&%s=%s" % (name, value),
                                "repeated " + name)
        # Unknown parameters may repeat.
        r = http_get(self.port, self.query() + "&x=1&x=2")
        self.assertEqual(r.body, announce_reply(1, 0))

    def test_plus_is_literal(self):
        h = b"+" + random_hash()[1:]
        target = announce_target_raw("+" + pct(h[1:]), pct(random_peer_id()), 21101)
        r = http_get(self.port, target)
        self.assertEqual(r.body, announce_reply(0, 1))
        self.assertEqual(self.rcall("ZCARD", "{%s}:leechers" % h.hex()), 1)

    # -- HTTP level ----------------------------------------------------------

    def test_unknown_path_404_keeps_connection(self):
        with Conn(self.port) as c:
            for target in ("/nothing", "/", "/announce/x"):
                r = c.request(target)
                self.assertEqual(r.status, 404, target)
                self.assertEqual(r.body, b"not found\n")
                self.assertEqual(r.header("Content-Type"), "text/plain")
            # The same connection still serves.
            r = c.request("/announce?info_hash=%s&peer_id=%s&port=20001&uploaded=0"
                          "&downloaded=0&left=1" % (pct(self.h), pct(self.c)))
            self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 20000)))
        self.assert_still_serving()

    def assert_refused_and_closed(self, raw, status, reason):
        with Conn(self.port) as c:
            c.send(raw)
            r = c.read_response()
            self.assertEqual(r.status, status, raw[:100])
            self.assertEqual(r.body, failure(reason), raw[:100])
            self.assertTrue(c.wait_closed(3.0), "connection left open after %d" % status)
            self.assertEqual(c.buf, b"", "bytes after the %d reply" % status)
        self.assert_still_serving()
        return r

    def test_post_405(self):
        target = "/announce?info_hash=%s&peer_id=%s&port=1&uploaded=0&downloaded=0&left=0" % (
            pct(random_hash()), pct(random_peer_id()))
        r = self.assert_refused_and_closed(
            ("POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n" % target).encode(),
            405, "method not allowed")
        self.assertEqual(r.header("Allow"), "GET")
        r = self.assert_refused_and_closed(b"PUT /scrape HTTP/1.1\r\nHost: t\r\n\r\n",
                                           405, "method not allowed")
        self.assertEqual(r.header("Allow"), "GET")

    def test_garbage_request_line_400(self):
        self.assert_refused_and_closed(b"GARBAGE\r\n\r\n", 400, "bad request")
        self.assert_refused_and_closed(b"GET /announce HTTP/1.1 extra\r\n\r\n", 400, "bad request")

    def test_malformed_header_400(self):
        self.assert_refused_and_closed(b"GET /announce HTTP/1.1\r\nno colon here\r\n\r\n",
                                       400, "bad request")

    def test_request_line_too_long_414(self):
        raw = b"GET /announce?pad=" + b"a" * 1100 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
        self.assert_refused_and_closed(raw, 414, "request too large")

    def test_headers_too_large_431(self):
        raw = b"GET /announce HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 1100 + b"\r\n\r\n"
        self.assert_refused_and_closed(raw, 431, "request too large")
        many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 40) for i in range(30))
        raw = b"GET /announce HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n"
        self.assert_refused_and_closed(raw, 431, "request too large")

    def test_request_just_under_limit_is_served(self):
        base = "/announce?info_hash=%s&peer_id=%s&port=20001&uploaded=0&downloaded=0&left=1" % (
            pct(self.h), pct(self.c))
        head = "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Pad: \r\n\r\n" % base
        pad = 1024 - len(head) - 16  # comfortably inside the limit
        raw = head.replace("X-Pad: ", "X-Pad: " + "p" * pad).encode()
        self.assertLess(len(raw), 1024)
        with Conn(self.port) as c:
            c.send(raw)
            r = c.read_response()
        self.assertEqual(r.body, announce_reply(0, 2, compact4(LOCAL, 20000)))

    def test_get_with_body_400(self):
        target = "/announce?info_hash=%s&peer_id=%s&port=1&uploaded=0&downloaded=0&left=0" % (
            pct(random_hash()), pct(random_peer_id()))
        self.assert_refused_and_closed(
            ("GET %s HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello" % target).encode(),
            400, "bad request")
        self.assert_refused_and_closed(
            ("GET %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n0\r\n\r\n" % target).encode(),
            400, "bad request")


def announce_target_raw(info_hash_q, peer_id_q, port):
    return ("/announce?info_hash=%s&peer_id=%s&port=%d&uploaded=0&downloaded=0&left=1"
            % (info_hash_q, peer_id_q, port))


if __name__ == "__main__":
    unittest.main()
