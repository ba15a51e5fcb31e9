"""The UDP tracker (BEP 15, BEP 41): connect/announce/scrape byte for byte over IPv4 and
IPv6 loopback, swarms shared with HTTP, connection IDs across frontends and secrets, no
Redis work for a wrong ID, malformed datagrams (error texts and metrics), num_want caps,
Redis down and back, SO_REUSEPORT (and a port in use without it).

Not tested here: the real expiry of an ID (it lives 60-120 s; the tests cannot wait and
do not re-derive IDs outside the binary). IDs for another address/port and random IDs are
refused instead.
"""

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
from harness import (IO_TIMEOUT, STORAGE_UNAVAILABLE, RedisServer, RespClient, Starling,
                     announce, announce_reply, commandstats, compact4, compact6, http_get,
                     ipv6_available,
                     random_hash, random_peer_id, require_binary, scrape, wait_until)

LOCAL4 = "127.0.0.1"
LOCAL6 = "::1"
PROTOCOL_ID = 0x41727101980
CONNECT, ANNOUNCE, SCRAPE, ERROR = 0, 1, 2, 3
EV_NONE, EV_COMPLETED, EV_STARTED, EV_STOPPED = 0, 1, 2, 3
MAX_DATAGRAM = 2048
MTU_PEERS_V4 = 242
MTU_PEERS_V6 = 79
REFUSAL_BOUND = 3.0
REPLY_TIMEOUT = 3.0  # one reply (ASan builds are slower)

INVALID_ID = b"invalid connection id"
MALFORMED_REASONS = ("short", "bad_magic", "unknown_action", "short_announce", "bad_options",
                     "bad_port", "bad_event", "scrape_count")

_txid = [0x1000]


def next_txid():
    _txid[0] = (_txid[0] * 1103515245 + 12345) & 0xFFFFFFFF
    return _txid[0]


# ---------------------------------------------------------------------------
# BEP 15 packets

def connect_req(txid, magic=PROTOCOL_ID):
    return struct.pack(">QII", magic, CONNECT, txid)


def announce_req(conn_id, txid, info_hash, peer_id, port, left=100, downloaded=0, uploaded=0,
                 event=EV_NONE, ip=0, key_=0x01020304, num_want=-1, options=b""):
    return struct.pack(">QII20s20sQQQIIIiH", conn_id, ANNOUNCE, txid, info_hash, peer_id,
                       downloaded, left, uploaded, event, ip, key_, num_want, port) + options


def scrape_req(conn_id, txid, *hashes):
    return struct.pack(">QII", conn_id, SCRAPE, txid) + b"".join(hashes)


def connect_reply(txid, conn_id):
    return struct.pack(">IIQ", CONNECT, txid, conn_id)


def announce_resp(txid, interval, leechers, seeders, peers=b""):
    return struct.pack(">IIIII", ANNOUNCE, txid, interval, leechers, seeders) + peers


def scrape_resp(txid, *triples):
    return struct.pack(">II", SCRAPE, txid) + b"".join(struct.pack(">III", *t) for t in triples)


def error_resp(txid, message):
    if isinstance(message, str):
        message = message.encode()
    return struct.pack(">II", ERROR, txid) + message


def split_announce(reply, entry_len):
    """(action, txid, interval, leechers, seeders, [peer entries])"""
    assert len(reply) >= 20, "announce reply of %d bytes: %r" % (len(reply), reply)
    head = struct.unpack(">IIIII", reply[:20])
    body = reply[20:]
    assert len(body) % entry_len == 0, "peers of %d bytes: %r" % (len(body), reply)
    return head + ([body[i:i + entry_len] for i in range(0, len(body), entry_len)],)


def udp_free_port(host=LOCAL4):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


class UdpClient:
    """One client socket (one source address and port, so one connection ID)."""

    def __init__(self, server, rcvbuf=None):
        host, port = server
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(self.family, socket.SOCK_DGRAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((LOCAL6 if self.family == socket.AF_INET6 else LOCAL4, 0))
        self.server = (host, port)
        self.conn_id = None

    @property
    def port(self):
        return self.sock.getsockname()[1]

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data, to=None):
        self.sock.sendto(data, to or self.server)

    def recv(self, timeout=REPLY_TIMEOUT):
        """The next datagram from the server this client talks to (others are ignored);
        AssertionError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no UDP reply from %s:%d within %.1fs"
                                     % (self.server[0], self.server[1], timeout))
            self.sock.settimeout(left)
            try:
                data, src = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            if src[0] == self.server[0] and src[1] == self.server[1]:
                return data

    def request(self, data, timeout=REPLY_TIMEOUT, to=None):
        if to is not None:
            saved, self.server = self.server, to
            try:
                self.send(data)
                return self.recv(timeout)
            finally:
                self.server = saved
        self.send(data)
        return self.recv(timeout)

    def connect(self, to=None):
        """Connects (to the default server or `to`): the connection ID, layout checked."""
        txid = next_txid()
        reply = self.request(connect_req(txid), to=to)
        assert len(reply) == 16, "connect reply of %d bytes: %r" % (len(reply), reply)
        action, rtx, conn_id = struct.unpack(">IIQ", reply)
        assert (action, rtx) == (CONNECT, txid), "connect reply %r (txid %#x)" % (reply, txid)
        if to is None:
            self.conn_id = conn_id
        return conn_id

    def announce(self, info_hash, peer_id, port, txid=None, conn_id=None, **kw):
        """(txid, raw reply)"""
        if conn_id is None:
            if self.conn_id is None:
                self.connect()
            conn_id = self.conn_id
        txid = next_txid() if txid is None else txid
        return txid, self.request(announce_req(conn_id, txid, info_hash, peer_id, port, **kw))

    def scrape(self, *hashes, txid=None, conn_id=None):
        if conn_id is None:
            if self.conn_id is None:
                self.connect()
            conn_id = self.conn_id
        txid = next_txid() if txid is None else txid
        return txid, self.request(scrape_req(conn_id, txid, *hashes))


def fetch_metrics(node):
    r = http_get(node.metrics_port, "/metrics")
    if r.status != 200:
        raise AssertionError("/metrics answered %r" % r)
    return promtext.parse(r.body.decode())


def udp_requests(families, action, result):
    return promtext.value(families, "starling_udp_requests_total", action=action, result=result)


def malformed(families, reason):
    return promtext.value(families, "starling_udp_malformed_total", reason=reason)


# ---------------------------------------------------------------------------
# base: one redis + starling processes per class, checked for sanitizer reports

class UdpCase(unittest.TestCase):
    NODE_CONFIGS = ()  # {name: config}

    @classmethod
    def setUpClass(cls):
        require_binary()
        cls.redis = RedisServer()
        cls.nodes = {}
        try:
            cls.redis.start()
            for name, config in cls.node_configs():
                cls.nodes[name] = Starling(cls.redis, config).start()
        except BaseException:
            cls._cleanup()
            raise

    @classmethod
    def node_configs(cls):
        return list(cls.NODE_CONFIGS)

    @classmethod
    def _cleanup(cls):
        reports = []
        for name, node in cls.nodes.items():
            report = node.cleanup()
            if report:
                reports.append("%s:\n%s" % (name, report))
        cls.redis.cleanup()
        return reports

    @classmethod
    def tearDownClass(cls):
        dead = ["%s (exit %s):\n%s" % (n, node.proc.returncode if node.proc else None,
                                        node.log()[-3000:])
                for n, node in cls.nodes.items() if not node.alive()]
        reports = cls._cleanup()
        if reports:
            raise AssertionError("sanitizer report in starling log:\n" + "\n".join(reports))
        if dead:
            raise AssertionError("starling died during the tests:\n" + "\n".join(dead))

    def client(self, node, family=socket.AF_INET, **kw):
        c = UdpClient(node.udp_addr(family), **kw)
        self.addCleanup(c.close)
        return c


HAVE_V6 = ipv6_available()
MAIN_INTERVAL = 1020  # "17m"
MAIN_MIN_INTERVAL = 300


def main_reply(complete, incomplete, peers=b"", peers6=b""):
    """The HTTP announce reply of the main node."""
    return announce_reply(complete, incomplete, peers, peers6, interval=MAIN_INTERVAL,
                          min_interval=MAIN_MIN_INTERVAL)


class UdpProtocolTest(UdpCase):
    """`main`: small num_want limits and a non-default interval, UDP and HTTP on both
    loopbacks (IPv6 when available). `wide`: a large max_num_want for the MTU caps."""

    @classmethod
    def node_configs(cls):
        listen = ["127.0.0.1:0"] + (["[::1]:0"] if HAVE_V6 else [])
        main = {"udp_listen_addr": listen, "http_listen_addr": listen,
                "udp_secret": "main-secret-0123456", "announce": "17m", "min_announce": "5m",
                "default_num_want": 3, "max_num_want": 5}
        wide = {"udp_listen_addr": listen, "udp_secret": "main-secret-0123456",
                "default_num_want": 50, "max_num_want": 1000}
        return [("main", main), ("wide", wide)]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.main = cls.nodes["main"]
        cls.wide = cls.nodes["wide"]

    def require_v6(self):
        if not HAVE_V6:
            self.skipTest("::1 is not available")

    # -- connect -----------------------------------------------------------

    def check_connect_layout(self, family):
        c = self.client(self.main, family)
        for txid in (0, 1, 0xFFFFFFFF, 0x80000000, 0x12345678):
            reply = c.request(connect_req(txid))
            self.assertEqual(len(reply), 16, reply)
            self.assertEqual(reply[:8], struct.pack(">II", CONNECT, txid), reply)
            self.assertEqual(reply, connect_reply(txid, struct.unpack(">Q", reply[8:])[0]))
        # Derived, not random: the same client in the same minute gets the same ID (a
        # minute boundary may fall between two connects; never between three in a row
        # both times).
        ids = [c.connect() for _ in range(3)]
        self.assertTrue(ids[0] == ids[1] or ids[1] == ids[2], ids)
        # Another source port, another ID.
        other = self.client(self.main, family)
        self.assertNotIn(other.connect(), ids)

    def test_connect_reply_layout_v4(self):
        self.check_connect_layout(socket.AF_INET)

    def test_connect_reply_layout_v6(self):
        self.require_v6()
        self.check_connect_layout(socket.AF_INET6)

    def test_connect_extra_bytes_ignored(self):
        # BEP 15 says nothing of trailing bytes on a connect: it is still a connect.
        c = self.client(self.main)
        txid = next_txid()
        reply = c.request(connect_req(txid) + b"\0" * 16)
        self.assertEqual(reply[:8], struct.pack(">II", CONNECT, txid))
        self.assertEqual(len(reply), 16)

    # -- announce ----------------------------------------------------------

    def test_announce_v4(self):
        h = random_hash()
        a, b = self.client(self.main), self.client(self.main)
        pa, pb = random_peer_id(), random_peer_id()
        txid, reply = a.announce(h, pa, 40001, txid=0xDEADBEEF, event=EV_STARTED)
        self.assertEqual(reply, announce_resp(0xDEADBEEF, MAIN_INTERVAL, 1, 0))
        self.assertEqual(reply, bytes.fromhex("00000001deadbeef000003fc0000000100000000"))
        txid, reply = b.announce(h, pb, 40002)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 2, 0,
                                              compact4(LOCAL4, 40001)))
        self.assertEqual(reply[20:], bytes([127, 0, 0, 1, 0x9C, 0x41]))
        # A seeder: counted under seeders, and the leecher is handed it.
        c = self.client(self.main)
        txid, reply = c.announce(h, random_peer_id(), 40003, left=0)
        self.assertEqual(split_announce(reply, 6)[:5], (ANNOUNCE, txid, MAIN_INTERVAL, 2, 1))
        self.assertEqual(sorted(split_announce(reply, 6)[5]),
                         sorted([compact4(LOCAL4, 40001), compact4(LOCAL4, 40002)]))
        txid, reply = a.announce(h, pa, 40001)
        head = split_announce(reply, 6)
        self.assertEqual(head[:5], (ANNOUNCE, txid, MAIN_INTERVAL, 2, 1))
        # Seeders first, then leechers.
        self.assertEqual(head[5], [compact4(LOCAL4, 40003), compact4(LOCAL4, 40002)])

    def test_announce_v6(self):
        self.require_v6()
        h = random_hash()
        a, b = self.client(self.main, socket.AF_INET6), self.client(self.main, socket.AF_INET6)
        pa, pb = random_peer_id(), random_peer_id()
        txid, reply = a.announce(h, pa, 41001)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 1, 0))
        txid, reply = b.announce(h, pb, 41002)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 2, 0,
                                              compact6(LOCAL6, 41001)))
        self.assertEqual(reply[20:], b"\0" * 15 + b"\x01" + struct.pack(">H", 41001))
        # An IPv4 peer in the same swarm is counted but not listed on the IPv6 socket; the
        # IPv4 socket lists only IPv4 peers.
        v4 = self.client(self.main)
        txid, reply = v4.announce(h, random_peer_id(), 41003)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 3, 0))
        txid, reply = a.announce(h, pa, 41001)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 3, 0,
                                              compact6(LOCAL6, 41002)))

    def test_ip_field_ignored_without_spoofing(self):
        h = random_hash()
        a, b = self.client(self.main), self.client(self.main)
        a.announce(h, random_peer_id(), 42001, ip=0x0A010203)  # 10.1.2.3
        txid, reply = b.announce(h, random_peer_id(), 42002)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 2, 0,
                                              compact4(LOCAL4, 42001)))

    def test_negative_counters_served(self):
        # int64 counters on the wire: a negative one is taken as 0, not refused; a
        # negative `left` is not a seeder.
        h = random_hash()
        c = self.client(self.main)
        txid, reply = c.announce(h, random_peer_id(), 42101, left=(1 << 64) - 1,
                                 downloaded=(1 << 63), uploaded=(1 << 64) - 5)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 0, 1))

    # -- scrape ------------------------------------------------------------

    def test_scrape(self):
        h1, h2, unknown = random_hash(), random_hash(), random_hash()
        c = self.client(self.main)
        p1 = random_peer_id()
        c.announce(h1, p1, 43001)
        c.announce(h1, p1, 43001, left=0, event=EV_COMPLETED)
        c.announce(h1, random_peer_id(), 43002)
        c.announce(h1, random_peer_id(), 43003)
        c.announce(h2, random_peer_id(), 43004, left=0)
        txid, reply = c.scrape(h1)
        self.assertEqual(reply, scrape_resp(txid, (1, 1, 2)))
        self.assertEqual(reply[8:], bytes.fromhex("000000010000000100000002"))
        # In the request's order, duplicates kept, unknown hashes as zeros.
        txid, reply = c.scrape(h2, unknown, h1, h2, h1)
        self.assertEqual(reply, scrape_resp(txid, (1, 0, 0), (0, 0, 0), (1, 1, 2), (1, 0, 0),
                                            (1, 1, 2)))
        # 74 hashes is the most, and fits.
        hashes = [h1] + [random_hash() for _ in range(72)] + [h2]
        txid, reply = c.scrape(*hashes)
        self.assertEqual(reply, scrape_resp(txid, (1, 1, 2), *([(0, 0, 0)] * 72),
                                            (1, 0, 0)))

    def test_scrape_v6(self):
        self.require_v6()
        h = random_hash()
        c4 = self.client(self.main)
        c4.announce(h, random_peer_id(), 43101)
        c6 = self.client(self.main, socket.AF_INET6)
        c6.announce(h, random_peer_id(), 43102, left=0)
        txid, reply = c6.scrape(h, random_hash())
        self.assertEqual(reply, scrape_resp(txid, (1, 0, 1), (0, 0, 0)))

    # -- one swarm, two protocols -------------------------------------------

    def test_udp_and_http_share_swarms(self):
        h = random_hash()
        ph, pu = random_peer_id(), random_peer_id()
        r = announce(self.main.port, h, ph, 44001)
        self.assertEqual(r.body, main_reply(0, 1))
        c = self.client(self.main)
        txid, reply = c.announce(h, pu, 44002)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 2, 0,
                                              compact4(LOCAL4, 44001)))
        r = announce(self.main.port, h, ph, 44001)
        self.assertEqual(r.body, main_reply(0, 2, compact4(LOCAL4, 44002)))
        # And by an HTTP scrape.
        r = scrape(self.main.port, h)
        self.assertEqual(r.body, b"d5:filesd20:" + h + b"d8:completei0e10:downloadedi0e"
                                                       b"10:incompletei2eeee")
        # A UDP stop is seen over HTTP (a stopped peer is given no peers, as over HTTP).
        txid, reply = c.announce(h, pu, 44002, event=EV_STOPPED)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 1, 0))
        r = announce(self.main.port, h, ph, 44001)
        self.assertEqual(r.body, main_reply(0, 1))

    def test_udp_and_http_share_swarms_v6(self):
        self.require_v6()
        h = random_hash()
        ph, pu = random_peer_id(), random_peer_id()
        r = announce(self.main.addr(socket.AF_INET6)[1], h, ph, 44101, host=LOCAL6)
        self.assertEqual(r.body, main_reply(0, 1))
        c = self.client(self.main, socket.AF_INET6)
        txid, reply = c.announce(h, pu, 44102)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 2, 0,
                                              compact6(LOCAL6, 44101)))
        r = announce(self.main.port, h, random_peer_id(), 44103)  # over IPv4
        two = [compact6(LOCAL6, 44101) + compact6(LOCAL6, 44102),
               compact6(LOCAL6, 44102) + compact6(LOCAL6, 44101)]
        self.assertIn(r.body, [main_reply(0, 3, b"", p6) for p6 in two])
        r = announce(self.main.addr(socket.AF_INET6)[1], h, ph, 44101, host=LOCAL6)
        self.assertEqual(r.body, main_reply(0, 3, compact4(LOCAL4, 44103),
                                            compact6(LOCAL6, 44102)))

    def test_swarm_rules(self):
        h = random_hash()
        s1, s2, l1 = self.client(self.main), self.client(self.main), self.client(self.main)
        ps1, ps2, pl1 = random_peer_id(), random_peer_id(), random_peer_id()
        # Never given itself, however often it announces.
        for _ in range(2):
            txid, reply = s1.announce(h, ps1, 45001, left=0)
            self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 0, 1))
        # A seeder is not given seeders.
        txid, reply = s2.announce(h, ps2, 45002, left=0)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 0, 2))
        txid, reply = l1.announce(h, pl1, 45003, left=5)
        head = split_announce(reply, 6)
        self.assertEqual(head[:5], (ANNOUNCE, txid, MAIN_INTERVAL, 1, 2))
        self.assertEqual(sorted(head[5]), sorted([compact4(LOCAL4, 45001),
                                                  compact4(LOCAL4, 45002)]))
        txid, reply = s2.announce(h, ps2, 45002, left=0)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 1, 2,
                                              compact4(LOCAL4, 45003)))
        # Stopped removes (the reply already counts without it).
        txid, reply = s1.announce(h, ps1, 45001, left=0, event=EV_STOPPED)
        self.assertEqual(split_announce(reply, 6)[1:5], (txid, MAIN_INTERVAL, 1, 1))
        txid, reply = l1.announce(h, pl1, 45003, left=5)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 1, 1,
                                              compact4(LOCAL4, 45002)))
        # Completed counts once per peer.
        txid, reply = l1.announce(h, pl1, 45003, left=0, event=EV_COMPLETED)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 0, 2))
        txid, reply = l1.scrape(h)
        self.assertEqual(reply, scrape_resp(txid, (2, 1, 0)))
        l1.announce(h, pl1, 45003, left=0, event=EV_COMPLETED)
        txid, reply = l1.scrape(h)
        self.assertEqual(reply, scrape_resp(txid, (2, 1, 0)))
        # A re-announce from another source port with the same peer_id replaces the entry.
        other = self.client(self.main)
        txid, reply = other.announce(h, pl1, 45004, left=0)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 0, 2))
        txid, reply = s1.announce(h, random_peer_id(), 45005, left=9)
        head = split_announce(reply, 6)
        self.assertEqual(head[:5], (ANNOUNCE, txid, MAIN_INTERVAL, 1, 2))
        self.assertEqual(sorted(head[5]), sorted([compact4(LOCAL4, 45002),
                                                  compact4(LOCAL4, 45004)]))

    # -- num_want ------------------------------------------------------------

    def fill_swarm(self, node, h, n, family=socket.AF_INET, base_port=50000):
        """n leechers from one client socket (distinct peer_ids and ports), pipelined."""
        c = self.client(node, family, rcvbuf=1 << 22)
        c.connect()
        sent = {}
        for i in range(n):
            txid = next_txid()
            sent[txid] = True
            c.send(announce_req(c.conn_id, txid, h, random_peer_id(), base_port + i,
                                num_want=1))
        for _ in range(n):
            reply = c.recv()
            action, txid = struct.unpack(">II", reply[:8])
            self.assertEqual(action, ANNOUNCE, reply)
            self.assertIn(txid, sent)
        return c

    def test_num_want(self):
        h = random_hash()
        self.fill_swarm(self.main, h, 8)
        c = self.client(self.main)
        cases = [(-1, 3), (0, 3), (-7, 3), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 5),
                 (100, 5), (0x7FFFFFFF, 5)]
        for want, expected in cases:
            txid, reply = c.announce(h, b"N" * 20, 51000, num_want=want)
            head = split_announce(reply, 6)
            self.assertEqual(head[:5], (ANNOUNCE, txid, MAIN_INTERVAL, 9, 0), want)
            self.assertEqual(len(head[5]), expected, "num_want %d" % want)
            self.assertEqual(len(set(head[5])), expected, "duplicates for num_want %d" % want)
            self.assertNotIn(compact4(LOCAL4, 51000), head[5])

    def test_mtu_cap_v4(self):
        h = random_hash()
        self.fill_swarm(self.wide, h, MTU_PEERS_V4 + 20)
        c = self.client(self.wide)
        me = random_peer_id()
        for want in (-1, 50):
            txid, reply = c.announce(h, me, 52999, num_want=want)
            self.assertEqual(len(split_announce(reply, 6)[5]), 50, want)
        txid, reply = c.announce(h, me, 52999, num_want=1000)
        head = split_announce(reply, 6)
        self.assertEqual(head[:5], (ANNOUNCE, txid, 1800, MTU_PEERS_V4 + 21, 0))
        self.assertEqual(len(head[5]), MTU_PEERS_V4)
        self.assertEqual(len(set(head[5])), MTU_PEERS_V4)
        self.assertEqual(len(reply), 20 + 6 * MTU_PEERS_V4)
        self.assertLessEqual(len(reply) + 28, 1500)

    def test_mtu_cap_v6(self):
        self.require_v6()
        h = random_hash()
        self.fill_swarm(self.wide, h, MTU_PEERS_V6 + 10, socket.AF_INET6)
        c = self.client(self.wide, socket.AF_INET6)
        txid, reply = c.announce(h, random_peer_id(), 53999, num_want=1000)
        head = split_announce(reply, 18)
        self.assertEqual(head[:5], (ANNOUNCE, txid, 1800, MTU_PEERS_V6 + 11, 0))
        self.assertEqual(len(head[5]), MTU_PEERS_V6)
        self.assertEqual(len(set(head[5])), MTU_PEERS_V6)
        self.assertEqual(len(reply), 20 + 18 * MTU_PEERS_V6)
        self.assertLessEqual(len(reply) + 48, 1500)

    # -- BEP 41 --------------------------------------------------------------

    def test_bep41_options(self):
        h = random_hash()
        c = self.client(self.main)
        first = c.announce(h, random_peer_id(), 54001)[1]
        self.assertEqual(first[8:], struct.pack(">III", MAIN_INTERVAL, 1, 0))
        url = b"/announce/0123456789abcdef?passkey=x&y=%20"
        options = [
            # URLData split over two options, a NOP, an unknown type, EndOfOptions, then
            # bytes after EndOfOptions that are not options at all.
            b"\x02" + bytes([len(url[:10])]) + url[:10] + b"\x01"
            + b"\x02" + bytes([len(url[10:])]) + url[10:]
            + b"\x7f\x03abc" + b"\x00" + b"\x02\xff garbage after the end",
            b"\x01" * 5,                            # NOPs only
            b"\x00",                                # just EndOfOptions
            b"\x02\x00",                            # empty URLData
            b"\x42\x00\x99\x02xy",                  # unknown types, one empty
            b"\xff\x05" + b"\xee" * 5,              # unknown type 255 running to the end
            (b"\x02\xff" + b"u" * 255) * 3,         # 765 bytes of URLData: cut at 255
        ]
        for i, opts in enumerate(options):
            txid = next_txid()
            req = announce_req(c.conn_id, txid, h, random_peer_id(), 54100 + i, options=opts)
            reply = c.request(req)
            head = split_announce(reply, 6)
            self.assertEqual(head[:5], (ANNOUNCE, txid, MAIN_INTERVAL, 2 + i, 0),
                             "options %r: reply %r" % (opts, reply))
        # A datagram of exactly 2048 bytes (options padded with NOPs) is still read whole.
        txid = next_txid()
        req = announce_req(c.conn_id, txid, h, random_peer_id(), 54200)
        req += b"\x01" * (MAX_DATAGRAM - len(req))
        self.assertEqual(len(req), MAX_DATAGRAM)
        reply = c.request(req)
        self.assertEqual(split_announce(reply, 6)[:5],
                         (ANNOUNCE, txid, MAIN_INTERVAL, 2 + len(options), 0))

    # -- connection IDs --------------------------------------------------------

    def test_wrong_connection_ids_refused(self):
        h = random_hash()
        a, b = self.client(self.main), self.client(self.main)
        id_a = a.connect()
        id_b = b.connect()
        self.assertNotEqual(id_a, id_b)
        bad_ids = [id_b, id_a ^ 1, id_a ^ (1 << 63), 0, PROTOCOL_ID, 0xFFFFFFFFFFFFFFFF,
                   struct.unpack(">Q", os.urandom(8))[0]]
        for bad in bad_ids:
            txid, reply = a.announce(h, random_peer_id(), 55001, conn_id=bad)
            self.assertEqual(reply, error_resp(txid, INVALID_ID), hex(bad))
            txid, reply = a.scrape(h, conn_id=bad)
            self.assertEqual(reply, error_resp(txid, INVALID_ID), hex(bad))
        # The exact bytes of one refusal.
        txid, reply = a.announce(h, random_peer_id(), 55001, txid=0x01020304, conn_id=id_b)
        self.assertEqual(reply, b"\x00\x00\x00\x03\x01\x02\x03\x04invalid connection id")
        # The ID checks come before parsing: a short announce with a bad ID is refused
        # for the ID ...
        reply = a.request(struct.pack(">QII", id_b, ANNOUNCE, 77) + b"\0" * 13)
        self.assertEqual(reply, error_resp(77, INVALID_ID))
        # ... but an unverified sender never gets a reply larger than its datagram (no
        # amplification towards a spoofed address): a 16-byte one gets nothing.
        a.send(struct.pack(">QII", id_b, ANNOUNCE, 78))
        txid = next_txid()
        reply = a.request(connect_req(txid))
        self.assertEqual(reply[:8], struct.pack(">II", CONNECT, txid), "a refusal came back")
        # An ID issued to an IPv6 client is not valid from an IPv4 one (and back).
        if HAVE_V6:
            c6 = self.client(self.main, socket.AF_INET6)
            id6 = c6.connect()
            txid, reply = a.announce(h, random_peer_id(), 55001, conn_id=id6)
            self.assertEqual(reply, error_resp(txid, INVALID_ID))
            txid, reply = c6.announce(h, random_peer_id(), 55001, conn_id=id_a)
            self.assertEqual(reply, error_resp(txid, INVALID_ID))
        # None of that touched the swarm; the right ID still works.
        txid, reply = a.scrape(h)
        self.assertEqual(reply, scrape_resp(txid, (0, 0, 0)))
        txid, reply = a.announce(h, random_peer_id(), 55001)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 1, 0))

    def test_wrong_connection_id_costs_no_redis_work(self):
        h = random_hash()
        n = 300
        c = self.client(self.main, rcvbuf=1 << 22)
        good = c.connect()
        bad = good ^ 0x5A5A
        with RespClient(self.redis.port, timeout=IO_TIMEOUT) as monitor:
            self.assertEqual(monitor.execute("MONITOR"), b"OK")
            before = fetch_metrics(self.main)
            evalsha0 = commandstats(self.redis, "evalsha")
            eval0 = commandstats(self.redis, "eval")
            t0 = time.monotonic()
            txids = []
            for i in range(n):
                txid = next_txid()
                txids.append(txid)
                if i % 2:
                    c.send(announce_req(bad, txid, h, random_peer_id(), 56000 + i))
                else:
                    c.send(scrape_req(bad, txid, h, random_hash()))
            got = [c.recv() for _ in range(n)]
            evalsha1 = commandstats(self.redis, "evalsha")
            eval1 = commandstats(self.redis, "eval")
            elapsed = time.monotonic() - t0
            after = fetch_metrics(self.main)
            marker = "udp-test-marker-%s" % os.urandom(4).hex()
            self.redis.call("ECHO", marker)
            lines = []
            while True:
                line = monitor.read_reply()
                lines.append(line)
                if marker.encode() in line:
                    break
        self.assertEqual(sorted(got), sorted(error_resp(t, INVALID_ID) for t in txids))
        # Only the counters reports (one EVALSHA a second per frontend on this Redis) may
        # have run meanwhile.
        allowance = len(self.nodes) * (int(elapsed) + 2)
        self.assertLessEqual(evalsha1 - evalsha0 + eval1 - eval0, allowance,
                             "%d requests with a wrong ID in %.2fs" % (n, elapsed))
        touched = [ln for ln in lines if h.hex().encode() in ln]
        self.assertEqual(touched, [], "Redis saw the swarm of the refused requests")
        self.assertEqual(udp_requests(after, "announce", "bad_connection_id")
                         - udp_requests(before, "announce", "bad_connection_id"), n // 2)
        self.assertEqual(udp_requests(after, "scrape", "bad_connection_id")
                         - udp_requests(before, "scrape", "bad_connection_id"), n // 2)
        # Control: the same method sees a good announce's Redis work.
        with RespClient(self.redis.port, timeout=IO_TIMEOUT) as monitor:
            self.assertEqual(monitor.execute("MONITOR"), b"OK")
            txid, reply = c.announce(h, random_peer_id(), 56999)
            self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 1, 0))
            seen = wait_until(lambda: h.hex().encode() in monitor.read_reply(), 5.0,
                              interval=0, what="the good announce in MONITOR")
            self.assertTrue(seen)

    # -- malformed datagrams ----------------------------------------------------

    def test_malformed_burst(self):
        # One socket per kind: replies are matched to their kind, and no socket's
        # receive buffer overflows.
        kinds = {}
        for reason in MALFORMED_REASONS:
            kinds[reason] = self.client(self.main, rcvbuf=1 << 20)
        for reason in ("short_announce", "bad_options", "bad_port", "bad_event",
                       "scrape_count"):
            kinds[reason].connect()
        h = random_hash()

        def valid_announce(cid, txid, **kw):
            return announce_req(cid, txid, h, random_peer_id(), 57000, **kw)

        per_kind = 60
        datagrams = {r: [] for r in MALFORMED_REASONS}  # reason -> [(bytes, txid or None)]
        for i in range(per_kind):
            # short: 0..15 bytes, and datagrams over 2048 bytes (truncated, so dropped).
            if i < 16:
                d = os.urandom(i)
            elif i < 20:
                size = [MAX_DATAGRAM + 1, MAX_DATAGRAM + 100, 9000, 60000][i - 16]
                d = connect_req(next_txid()) + os.urandom(size - 16)
            else:
                d = os.urandom(i % 16)
            datagrams["short"].append((d, None))
            # bad_magic: connects with anything but the protocol id.
            magic = [0, PROTOCOL_ID ^ 1, PROTOCOL_ID << 1, 0xFFFFFFFFFFFFFFFF,
                     struct.unpack(">Q", os.urandom(8))[0] | 1 << 62][i % 5]
            datagrams["bad_magic"].append((connect_req(next_txid(), magic) + os.urandom(i),
                                           None))
            # unknown_action: 3 (error) and up, with any ID and any tail.
            txid = next_txid()
            action = [3, 4, 5, 0xFF, 0x100, 0x7FFFFFFF, 0xFFFFFFFF][i % 7]
            # The sender is unverified: the 22-byte error goes only to datagrams at
            # least that long (no amplification); shorter ones get nothing.
            dgram = (struct.pack(">QII", PROTOCOL_ID if i % 2 else 0, action, txid)
                     + os.urandom(i * 3))
            datagrams["unknown_action"].append((dgram, txid if len(dgram) >= 22 else None))
            # short_announce: 16..97 bytes with a valid ID.
            cid = kinds["short_announce"].conn_id
            txid = next_txid()
            full = valid_announce(cid, txid)
            datagrams["short_announce"].append((full[:16 + (i * 7) % 82], txid))
            # bad_options: options that run past the datagram.
            cid = kinds["bad_options"].conn_id
            txid = next_txid()
            bad_opts = [b"\x02", b"\x02\x05abcd", b"\x7f", b"\x7f\x01", b"\x01\x01\x02\xff",
                        b"\x02\x01a\x03\x09" + b"z" * 8, b"\xff\xff" + b"q" * 254][i % 7]
            datagrams["bad_options"].append((valid_announce(cid, txid, options=bad_opts), txid))
            # bad_port: port 0 (event valid).
            cid = kinds["bad_port"].conn_id
            txid = next_txid()
            d = announce_req(cid, txid, h, random_peer_id(), 0, event=i % 4)
            datagrams["bad_port"].append((d, txid))
            # bad_event: event > 3 (port valid).
            cid = kinds["bad_event"].conn_id
            txid = next_txid()
            ev = [4, 5, 0x100, 0x7FFFFFFF, 0xFFFFFFFF][i % 5]
            datagrams["bad_event"].append((valid_announce(cid, txid, event=ev), txid))
            # scrape_count: no hash, 75+ hashes, a partial hash.
            cid = kinds["scrape_count"].conn_id
            txid = next_txid()
            tail = [b"", random_hash() * 75, random_hash() + b"\x01" * 7,
                    random_hash() * 74 + b"\x02", b"\x03" * 19, random_hash() * 100][i % 6]
            datagrams["scrape_count"].append((struct.pack(">QII", cid, SCRAPE, txid) + tail,
                                              txid))
        expected_text = {"unknown_action": "unknown action",
                         "short_announce": "malformed announce",
                         "bad_options": "malformed options", "bad_port": "invalid port",
                         "bad_event": "invalid event", "scrape_count": "malformed scrape"}
        total = sum(len(v) for v in datagrams.values())
        self.assertGreaterEqual(total, 480)

        before = fetch_metrics(self.main)
        # Interleaved, as fast as the sockets go.
        for i in range(per_kind):
            for reason in MALFORMED_REASONS:
                kinds[reason].send(datagrams[reason][i][0])
        for reason in MALFORMED_REASONS:
            c = kinds[reason]
            if reason in expected_text:
                want = sorted(error_resp(txid, expected_text[reason])
                              for _, txid in datagrams[reason] if txid is not None)
                got = sorted(c.recv() for _ in range(len(want)))
                self.assertEqual(got, want, reason)
            # Nothing else came back (dropped kinds: nothing at all): the next reply on
            # this socket is the connect sent now.
            txid = next_txid()
            reply = c.request(connect_req(txid))
            self.assertEqual(reply[:8], struct.pack(">II", CONNECT, txid),
                             "%s: unexpected reply %r" % (reason, reply))
        self.main.assert_alive()

        def counted():
            after = fetch_metrics(self.main)
            return all(malformed(after, r) - malformed(before, r) >= per_kind
                       for r in MALFORMED_REASONS) and after
        after = wait_until(counted, 5.0, what="the malformed counters")
        for reason in MALFORMED_REASONS:
            self.assertEqual(malformed(after, reason) - malformed(before, reason), per_kind,
                             reason)
        self.assertEqual(udp_requests(after, "unknown", "malformed")
                         - udp_requests(before, "unknown", "malformed"), 3 * per_kind)
        self.assertEqual(udp_requests(after, "announce", "malformed")
                         - udp_requests(before, "announce", "malformed"), 4 * per_kind)
        self.assertEqual(udp_requests(after, "scrape", "malformed")
                         - udp_requests(before, "scrape", "malformed"), per_kind)
        self.assertEqual(udp_requests(after, "connect", "ok")
                         - udp_requests(before, "connect", "ok"), len(MALFORMED_REASONS))

        # The swarm saw none of it; a good connect + announce works.
        c = self.client(self.main)
        txid, reply = c.scrape(h)
        self.assertEqual(reply, scrape_resp(txid, (0, 0, 0)))
        txid, reply = c.announce(h, random_peer_id(), 57001)
        self.assertEqual(reply, announce_resp(txid, MAIN_INTERVAL, 1, 0))
        self.main.assert_alive()

    def test_error_reply_texts(self):
        # One of each, byte for byte.
        c = self.client(self.main)
        cid = c.connect()
        h = random_hash()
        cases = [
            (struct.pack(">QII", cid, 9, 0xA1A2A3A4) + b"\0" * 6, b"unknown action"),
            (struct.pack(">QII", cid, ANNOUNCE, 0xA1A2A3A4) + b"\0" * 81,
             b"malformed announce"),
            (announce_req(cid, 0xA1A2A3A4, h, random_peer_id(), 1, options=b"\x02\x09ab"),
             b"malformed options"),
            (announce_req(cid, 0xA1A2A3A4, h, random_peer_id(), 0), b"invalid port"),
            (announce_req(cid, 0xA1A2A3A4, h, random_peer_id(), 1, event=4), b"invalid event"),
            (struct.pack(">QII", cid, SCRAPE, 0xA1A2A3A4), b"malformed scrape"),
        ]
        for req, text in cases:
            reply = c.request(req)
            self.assertEqual(reply, b"\x00\x00\x00\x03\xa1\xa2\xa3\xa4" + text, req[:20])


class UdpSecretsTest(UdpCase):
    """Connection IDs across frontends: shared secret, other secret, rotation, none."""

    NODE_CONFIGS = [
        ("x1", {"udp_secret": "secret-X-0123456789"}),
        ("x2", {"udp_secret": "secret-X-0123456789"}),
        ("y", {"udp_secret": "secret-Y-0123456789"}),
        ("y_prev_x", {"udp_secret": "secret-Y-0123456789",
                      "udp_previous_secret": "secret-X-0123456789"}),
        ("none", {}),
    ]

    def accepted(self, client, issuer, checker):
        """Whether `checker` accepts the ID `issuer` gave this client (an announce with
        it is answered, not refused)."""
        cid = client.connect(to=issuer.udp_addr())
        h = random_hash()
        txid = next_txid()
        reply = client.request(announce_req(cid, txid, h, random_peer_id(), 58001),
                               to=checker.udp_addr())
        if reply == error_resp(txid, INVALID_ID):
            # Also for a scrape.
            txid = next_txid()
            reply = client.request(scrape_req(cid, txid, h), to=checker.udp_addr())
            self.assertEqual(reply, error_resp(txid, INVALID_ID))
            return False
        self.assertEqual(split_announce(reply, 6)[:5], (ANNOUNCE, txid, 1800, 1, 0), reply)
        txid = next_txid()
        reply = client.request(scrape_req(cid, txid, h), to=checker.udp_addr())
        self.assertEqual(reply, scrape_resp(txid, (0, 0, 1)))
        return True

    def check(self, issuer, checker, expected):
        n = self.nodes
        c = UdpClient(n[issuer].udp_addr())
        with c:
            self.assertEqual(self.accepted(c, n[issuer], n[checker]), expected,
                             "ID from %s at %s" % (issuer, checker))

    def test_same_secret(self):
        self.check("x1", "x2", True)
        self.check("x2", "x1", True)
        self.check("x1", "x1", True)
        # Same secret, same client: same ID from both.
        n = self.nodes
        with UdpClient(n["x1"].udp_addr()) as c:
            ids = [c.connect(to=n["x1"].udp_addr()), c.connect(to=n["x2"].udp_addr()),
                   c.connect(to=n["x1"].udp_addr())]
            self.assertTrue(ids[0] == ids[1] or ids[1] == ids[2], ids)

    def test_different_secret(self):
        self.check("x1", "y", False)
        self.check("y", "x1", False)

    def test_previous_secret(self):
        # ids made under X are accepted by (Y, previous X), not by Y alone.
        self.check("x1", "y_prev_x", True)
        self.check("x1", "y", False)
        # The rotated node issues under Y: Y nodes accept them, X nodes do not.
        self.check("y_prev_x", "y", True)
        self.check("y", "y_prev_x", True)
        self.check("y_prev_x", "x1", False)
        self.check("y_prev_x", "y_prev_x", True)

    def test_no_secret(self):
        log = self.nodes["none"].log()
        self.assertIn("udp_secret not set", log)
        self.assertRegex(log, r"level=warn[^\n]*udp_secret not set")
        self.check("none", "none", True)
        self.check("none", "x1", False)
        self.check("x1", "none", False)
        for name in ("x1", "x2", "y", "y_prev_x"):
            self.assertNotIn("udp_secret not set", self.nodes[name].log(), name)

    def test_secret_not_logged(self):
        for name, node in self.nodes.items():
            log = node.log()
            self.assertNotIn("secret-X", log, name)
            self.assertNotIn("secret-Y", log, name)


class UdpRedisDownTest(unittest.TestCase):
    def setUp(self):
        require_binary()
        self.redis = RedisServer()
        self.addCleanup(self.redis.cleanup)
        self.redis.start()
        self.tracker = Starling(self.redis, {"redis": {"command_timeout": "300ms",
                                                       "connect_timeout": "300ms"}})
        self.addCleanup(self.check_tracker)
        self.tracker.start()

    def check_tracker(self):
        self.tracker.finish()

    def timed(self, fn, *args, **kw):
        t0 = time.monotonic()
        txid, reply = fn(*args, **kw)
        return txid, reply, time.monotonic() - t0

    def test_redis_stopped_and_restarted(self):
        c = UdpClient(self.tracker.udp_addr())
        self.addCleanup(c.close)
        h = random_hash()
        txid, reply = c.announce(h, random_peer_id(), 59001)
        self.assertEqual(reply, announce_resp(txid, 1800, 1, 0))
        before = fetch_metrics(self.tracker)
        self.redis.stop()
        txid, reply, elapsed = self.timed(c.announce, h, random_peer_id(), 59002)
        self.assertEqual(reply, error_resp(txid, STORAGE_UNAVAILABLE))
        self.assertEqual(reply[8:], b"storage unavailable, retry later")
        self.assertLess(elapsed, REFUSAL_BOUND, "refusal took %.2fs" % elapsed)
        txid, reply, elapsed = self.timed(c.scrape, h)
        self.assertEqual(reply, error_resp(txid, STORAGE_UNAVAILABLE))
        self.assertLess(elapsed, REFUSAL_BOUND)
        # Connects need no Redis.
        c.connect()
        # Several in flight at once: every one answered.
        txids = []
        for i in range(20):
            txids.append(next_txid())
            c.send(announce_req(c.conn_id, txids[-1], h, random_peer_id(), 59100 + i))
        got = sorted(c.recv(REFUSAL_BOUND) for _ in txids)
        self.assertEqual(got, sorted(error_resp(t, STORAGE_UNAVAILABLE) for t in txids))
        after = fetch_metrics(self.tracker)
        self.assertEqual(udp_requests(after, "announce", "storage_error")
                         - udp_requests(before, "announce", "storage_error"), 21)
        self.assertEqual(udp_requests(after, "scrape", "storage_error")
                         - udp_requests(before, "scrape", "storage_error"), 1)
        self.tracker.assert_alive()

        self.redis.start()  # same port, empty

        def works():
            txid, reply = c.announce(random_hash(), random_peer_id(), 59003,
                                     event=EV_STOPPED)
            return reply[:4] == struct.pack(">I", ANNOUNCE)
        wait_until(works, 10.0, interval=0.1, what="UDP announces to work again")
        txid, reply = c.announce(h, random_peer_id(), 59004)
        self.assertEqual(reply, announce_resp(txid, 1800, 1, 0))  # the old swarm is gone
        txid, reply = c.scrape(h)
        self.assertEqual(reply, scrape_resp(txid, (0, 0, 1)))


class UdpReuseportTest(unittest.TestCase):
    def setUp(self):
        require_binary()
        self.redis = RedisServer()
        self.addCleanup(self.redis.cleanup)
        self.redis.start()
        self.nodes = []

    def start(self, config, wait=True):
        node = Starling(self.redis, config)
        self.nodes.append(node)

        def check():
            alive = node.alive()
            log = node.log()[-3000:]
            report = node.cleanup()
            if report:
                raise AssertionError("sanitizer report in starling log:\n" + report)
            if wait and not alive:
                raise AssertionError("starling died; log:\n" + log)
        self.addCleanup(check)
        if wait:
            node.start()
        return node

    def test_two_frontends_share_a_port(self):
        port = udp_free_port()
        addr = "127.0.0.1:%d" % port
        config = {"udp_listen_addr": addr, "udp_reuseport": True,
                  "udp_secret": "shared-secret-0123"}
        a = self.start(config)
        b = self.start(config)
        for node in (a, b):
            self.assertEqual(node.udp_listeners, [(LOCAL4, port)])
            self.assertIn("udp listening on %s (SO_REUSEPORT)" % addr, node.log())

        def connects(node):
            return udp_requests(fetch_metrics(node), "connect", "ok")
        base = [connects(a), connects(b)]
        deadline = time.monotonic() + 10.0
        sent = 0
        while True:
            # Many source ports: the kernel spreads them over both sockets.
            for _ in range(16):
                c = UdpClient((LOCAL4, port))
                txid = next_txid()
                try:
                    reply = c.request(connect_req(txid))
                    self.assertEqual(reply[:8], struct.pack(">II", CONNECT, txid))
                    # And an announce with that ID, whichever process gets it.
                    txid, reply = c.announce(random_hash(), random_peer_id(), 60001,
                                             conn_id=struct.unpack(">Q", reply[8:])[0])
                    self.assertEqual(reply, announce_resp(txid, 1800, 1, 0))
                finally:
                    c.close()
                sent += 1
            got = [connects(a) - base[0], connects(b) - base[1]]
            if got[0] > 0 and got[1] > 0:
                break
            self.assertLess(time.monotonic(), deadline,
                            "after %d clients only one process answered: %r" % (sent, got))
        self.assertEqual(sum(got), sent)
        a.assert_alive()
        b.assert_alive()

    def test_port_in_use_without_reuseport(self):
        # Without udp_reuseport a port in use is an error at start, as for HTTP: a second
        # process must not silently share (or take over) the first one's UDP port.
        port = udp_free_port()
        addr = "127.0.0.1:%d" % port
        a = self.start({"udp_listen_addr": addr})
        b = self.start({"udp_listen_addr": addr}, wait=False)
        try:
            b.start(wait_ready=False)  # returns once HTTP listens; UDP is opened next
        except AssertionError:
            pass  # it exited before its HTTP line was read: the outcome wanted
        try:
            rc = b.proc.wait(timeout=3.0)
        except subprocess.TimeoutExpired:
            rc = None
        self.assertIsNotNone(rc, "a second starling bound UDP port %d, in use, without "
                                 "udp_reuseport and kept running; log:\n%s"
                             % (port, b.log()[-2000:]))
        self.assertEqual(rc, 1, b.log()[-2000:])
        self.assertRegex(b.log(), r"level=error msg=\"udp_listen_addr .%s.: "
                                  % re.escape(addr))
        a.assert_alive()



# -- connection IDs, re-derived (frontend/connid.c), to test expiry without waiting ----

def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & 0xFFFFFFFFFFFFFFFF


def siphash24(key, data):
    """The reference SipHash-2-4, as frontend/connid.c implements it."""
    M = 0xFFFFFFFFFFFFFFFF
    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
         k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rnd():
        v[0] = (v[0] + v[1]) & M; v[1] = _rotl(v[1], 13); v[1] ^= v[0]; v[0] = _rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & M; v[3] = _rotl(v[3], 16); v[3] ^= v[2]
        v[0] = (v[0] + v[3]) & M; v[3] = _rotl(v[3], 21); v[3] ^= v[0]
        v[2] = (v[2] + v[1]) & M; v[1] = _rotl(v[1], 17); v[1] ^= v[2]; v[2] = _rotl(v[2], 32)

    full = len(data) - len(data) % 8
    words = [struct.unpack_from("<Q", data, i)[0] for i in range(0, full, 8)]
    last = (len(data) & 0xFF) << 56
    for j, b in enumerate(data[full:]):
        last |= b << (8 * j)
    for m in words + [last]:
        v[3] ^= m
        rnd(); rnd()
        v[0] ^= m
    v[2] ^= 0xFF
    for _ in range(4):
        rnd()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def connid_key(secret):
    s = secret.encode()
    return (struct.pack("<Q", siphash24(b"starling connid1", s))
            + struct.pack("<Q", siphash24(b"starling connid2", s)))


def connid_for(secret, ip, port, window):
    packed = socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
    msg = (bytes([6 if len(packed) == 16 else 4]) + packed + struct.pack(">H", port)
           + struct.pack("<Q", window))
    return siphash24(connid_key(secret), msg)


EXPIRY_SECRET = "expiry-secret-0123"


class UdpClientWhitelistTest(UdpCase):
    NODE_CONFIGS = [("n", {"client_whitelist_enabled": True,
                          "client_whitelist": ["-qB4", "-ST0001"]})]

    def test_unapproved_client_gets_an_error(self):
        n = self.nodes["n"]
        c = self.client(n)
        h = random_hash()
        txid, data = c.announce(h, b"-qB4650-" + os.urandom(12), 6881)
        self.assertEqual(struct.unpack(">I", data[:4])[0], ANNOUNCE)
        txid, data = c.announce(h, b"-ST0002-" + os.urandom(12), 6882)
        self.assertEqual(data, error_resp(txid, b"client is not approved"))


class UdpExpiryTest(UdpCase):
    """IDs are accepted in the minute they were made and the next, never later: checked
    with IDs made here for past windows (the derivation is the one in frontend/connid.c)."""

    NODE_CONFIGS = [("n", {"udp_secret": EXPIRY_SECRET})]

    def test_window_bounds(self):
        n = self.nodes["n"]
        with UdpClient(n.udp_addr()) as c:
            # Not within a second of a minute's turn, so "now" is one window throughout.
            while 58.5 <= time.time() % 60 or time.time() % 60 < 1.0:
                time.sleep(0.2)
            window = int(time.time()) // 60
            issued = c.connect()
            # The model is right: the server's ID is ours for this window.
            self.assertEqual(issued, connid_for(EXPIRY_SECRET, LOCAL4, c.port, window))
            h = random_hash()

            def answered(cid):
                txid = next_txid()
                reply = c.request(announce_req(cid, txid, h, random_peer_id(), 58101))
                return reply != error_resp(txid, INVALID_ID)

            self.assertTrue(answered(issued))
            # Made a minute ago: still good (one to two minutes in all).
            self.assertTrue(answered(connid_for(EXPIRY_SECRET, LOCAL4, c.port, window - 1)))
            # Two and more minutes ago: expired.
            for age in (2, 3, 60):
                self.assertFalse(answered(connid_for(EXPIRY_SECRET, LOCAL4, c.port,
                                                     window - age)), age)
            # From the future: never issued, refused.
            self.assertFalse(answered(connid_for(EXPIRY_SECRET, LOCAL4, c.port, window + 1)))
            # The right window, another secret: refused.
            self.assertFalse(answered(connid_for("other-secret-01234", LOCAL4, c.port, window)))

if __name__ == "__main__":
    unittest.main()
