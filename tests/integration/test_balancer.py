"""Three starling frontends on one Redis behind a real load balancer (nginx, balancer.py),
everything on loopback:

- HTTP round-robin: peers announcing through the balancer see each other, under their own
  addresses (X-Forwarded-For from the balancer, whose address is the only trusted proxy),
  whichever frontend served them; a forged X-Forwarded-For is believed neither directly
  nor through the balancer.
- UDP (BEP 15) round-robin per datagram: a connection ID from one frontend is good on the
  others (one udp_secret). A frontend sees the balancer's address for UDP (nginx's stream
  module cannot pass the client's on), so UDP peers are listed under it: production needs
  an L4 balancer that keeps source addresses (README "Behind a load balancer").
- SIGKILL of a frontend loses no swarm, and the balancer keeps serving.
- SIGTERM of a frontend under a steady load through the balancer: every request gets a
  good reply, none fails or hangs, and none is cut on the frontend (nginx's log).
- A real BitTorrent client (aria2): leechers find a seeder only through the tracker
  behind nginx, over HTTP and over UDP, and download its file.

Which frontend answered is read from the frontends' own /metrics (and nginx's
X-Upstream header, the frontend it tried last).
"""

import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promtext
from harness import (Conn, RedisServer, Starling, announce_target, bdecode, free_port,
                     http_get, ipv6_available, random_hash, random_peer_id, require_binary,
                     scrape_target, split_peers, split_peers6)
from balancer import Nginx, bound_socket, udp_free_port

NODES = 3
PROXY = "127.0.0.2"  # the balancer's address towards the frontends: the one trusted proxy
CLIENT_A = "127.0.0.3"
CLIENT_B = "127.0.0.4"
SECRET = "balancer-test-udp-secret-0123456789"
FRONTEND_CONFIG = {
    "real_ip_header": "X-Forwarded-For",
    "trusted_proxies": [PROXY + "/32"],
    "udp_secret": SECRET,
    # Enough for a busy reply under ASan while the test's redis is shared.
    "redis": {"command_timeout": "1s"},
}
REQUEST_TIMEOUT = 5.0  # a client's bound on one request: past it, the request hung

PROTOCOL_ID = 0x41727101980
UDP_CONNECT, UDP_ANNOUNCE, UDP_ERROR = 0, 1, 3


# ---------------------------------------------------------------------------
# processes: one redis, NODES frontends, nginx over them

class Stack:
    """A redis-server, NODES frontends on it and nginx in front, cleaned up by the test."""

    def __init__(self, test):
        require_binary()
        self.redis = RedisServer()
        test.addCleanup(self.redis.cleanup)
        self.redis.start()
        self.nodes = []
        for _ in range(NODES):
            node = Starling(self.redis, FRONTEND_CONFIG)
            # finish(): a sanitizer report, or a death the test did not cause, fails it.
            test.addCleanup(self.finish_node, node)
            self.nodes.append(node.start())
        self.killed = set()
        self.nginx = Nginx([n.addr() for n in self.nodes], [n.udp_addr() for n in self.nodes],
                           http_listen6=ipv6_available())
        test.addCleanup(self.nginx.cleanup)
        self.nginx.start()

    def finish_node(self, node):
        if node in self.killed:
            node.cleanup()
        else:
            node.finish()

    def counts(self):
        """[per node: {(endpoint or udp action, result): requests}] from each /metrics."""
        out = []
        for node in self.nodes:
            if node in self.killed:
                out.append({})
                continue
            r = http_get(node.metrics_port, "/metrics")
            assert r.status == 200, r
            fams = promtext.parse(r.body.decode())
            c = {}
            for _, labels, v in fams["starling_http_requests_total"]["samples"]:
                c[(labels["endpoint"], labels["result"])] = int(v)
            for _, labels, v in fams["starling_udp_requests_total"]["samples"]:
                c[("udp_" + labels["action"], labels["result"])] = int(v)
            out.append(c)
        return out


def delta(before, after, key):
    """Per node: requests of `key` between two counts()."""
    return [a.get(key, 0) - b.get(key, 0) for b, a in zip(before, after)]


def lb_get(nginx, target, source, timeout=REQUEST_TIMEOUT, headers=()):
    """One request through the balancer from the client address `source`, on a connection
    of its own (as tracker clients do). Returns the Response."""
    with Conn(nginx.http_port, nginx.listen_host, timeout, source=source) as c:
        return c.request(target, list(headers) + ["Connection: close"], timeout=timeout)


def upstream(r):
    """The frontend that answered (nginx lists every one tried; the last answered)."""
    return r.header("x-upstream").split(",")[-1].strip()


# ---------------------------------------------------------------------------
# BEP 15 through the balancer

class LostDatagram(Exception):
    pass


class UdpPeer:
    """One UDP client socket on its own address (its connection ID is bound to the
    address and port the frontend sees)."""

    def __init__(self, nginx, source):
        self.sock = bound_socket(source, socket.SOCK_DGRAM, timeout=REQUEST_TIMEOUT)
        self.server = nginx.udp_addr
        self.txid = 0x5000

    def close(self):
        self.sock.close()

    def exchange(self, packet):
        self.txid += 1
        self.sock.sendto(packet(self.txid), self.server)
        reply = self.sock.recv(2048)
        if len(reply) < 8:
            # nginx's answer when the frontend it chose refused the datagram (ICMP port
            # unreachable): an empty datagram. A client drops it and sends again.
            raise LostDatagram("reply of %d bytes" % len(reply))
        action, txid = struct.unpack(">II", reply[:8])
        assert txid == self.txid, "reply to another transaction: %r" % reply
        if action == UDP_ERROR:
            raise AssertionError("error reply: %r" % reply[8:])
        return action, reply

    def connect(self):
        action, reply = self.exchange(lambda t: struct.pack(">QII", PROTOCOL_ID, UDP_CONNECT, t))
        assert action == UDP_CONNECT and len(reply) == 16, reply
        return struct.unpack(">Q", reply[8:])[0]

    def announce(self, conn_id, info_hash, peer_id, port, left=100):
        """(seeders, leechers, [(ip, port)])"""
        action, reply = self.exchange(lambda t: struct.pack(
            ">QII20s20sQQQIIIiH", conn_id, UDP_ANNOUNCE, t, info_hash, peer_id, 0, left, 0, 0,
            0, 0x0BA1, -1, port))
        assert action == UDP_ANNOUNCE, reply
        _, leechers, seeders = struct.unpack(">III", reply[8:20])
        return seeders, leechers, split_peers(reply[20:])


# ---------------------------------------------------------------------------

class BalancedTest(unittest.TestCase):
    def setUp(self):
        self.d = Stack(self)
        self.nginx = self.d.nginx

    def announce(self, info_hash, peer_id, port, source, **kw):
        """An announce through the balancer that must succeed: (reply dict, frontend)."""
        r = lb_get(self.nginx, announce_target(info_hash, peer_id, port, **kw), source)
        self.assertEqual(r.status, 200, r)
        d = bdecode(r.body)
        self.assertNotIn(b"failure reason", d, r.body)
        return d, upstream(r)

    def test_http_peers_see_each_other_across_frontends(self):
        before = self.d.counts()
        h = random_hash()
        peers = [(random_peer_id(), 31000 + i, (CLIENT_A, CLIENT_B)[i % 2]) for i in range(6)]
        served = []
        for pid, port, source in peers:
            _, node = self.announce(h, pid, port, source)
            served.append(node)
        # Each peer again: it must see the five others, under the address it connected to
        # the balancer from, whichever frontend recorded them and whichever answers now.
        for pid, port, source in peers:
            d, node = self.announce(h, pid, port, source, numwant=50)
            served.append(node)
            expected = {(s, p) for q, p, s in peers if q != pid}
            self.assertEqual(set(split_peers(d[b"peers"])), expected)
            self.assertEqual((d[b"complete"], d[b"incomplete"]), (0, 6))
        frontends = {"%s:%d" % n.addr() for n in self.d.nodes}
        self.assertEqual(set(served), frontends, "round-robin missed a frontend")
        # The frontends' own counters agree: all 12 announces, spread over the three.
        per_node = delta(before, self.d.counts(), ("announce", "ok"))
        self.assertEqual(sum(per_node), 12, per_node)
        self.assertTrue(all(n > 0 for n in per_node), per_node)

    def test_ipv6_clients_through_the_balancer(self):
        """Clients reaching the balancer over IPv6, the frontends behind it on IPv4: each
        is listed under its IPv6 address (nginx's X-Forwarded-For), never under the
        balancer's, and peers see each other in peers6 whichever frontend answers."""
        if self.nginx.http_port6 is None:
            self.skipTest("no IPv6 loopback here")
        h = random_hash()
        peers = [(random_peer_id(), 33000 + i) for i in range(4)]
        served = set()
        for round_ in range(2):
            for pid, port in peers:
                r = http_get(self.nginx.http_port6, announce_target(h, pid, port, numwant=50),
                             host="::1", timeout=REQUEST_TIMEOUT)
                self.assertEqual(r.status, 200, r)
                d = bdecode(r.body)
                self.assertNotIn(b"failure reason", d, r.body)
                served.add(r.header("x-upstream").split(",")[-1].strip())
                if round_ == 1:
                    self.assertEqual(set(split_peers6(d.get(b"peers6", b""))),
                                     {("::1", p) for q, p in peers if q != pid})
                    self.assertEqual(split_peers(d.get(b"peers", b"")), [])
                    self.assertEqual((d[b"complete"], d[b"incomplete"]), (0, 4))
        self.assertGreater(len(served), 1, "round-robin over IPv6 stayed on one frontend")
        # An IPv4 client in the same swarm is not handed the balancer's address either.
        d, _ = self.announce(h, random_peer_id(), 33010, CLIENT_A, numwant=50)
        self.assertNotIn(PROXY, [ip for ip, _ in split_peers(d.get(b"peers", b""))])

    def test_forged_forwarded_for_not_believed(self):
        h = random_hash()
        forged = ["X-Forwarded-For: 10.9.8.7"]
        # Straight to a frontend, from an address that is not the balancer's.
        direct, through = random_peer_id(), random_peer_id()
        with Conn(self.d.nodes[0].port, source=CLIENT_A) as c:
            reply = c.request(announce_target(h, direct, 32001), forged + ["Connection: close"])
        self.assertNotIn(b"failure reason", bdecode(reply.body), reply)
        # Through the balancer with the same forged header: nginx appends the real
        # client's address, and the frontend reads the last entry.
        r = lb_get(self.nginx, announce_target(h, through, 32002), CLIENT_B, headers=forged)
        self.assertNotIn(b"failure reason", bdecode(r.body), r)
        d, _ = self.announce(h, random_peer_id(), 32003, CLIENT_A, numwant=50)
        self.assertEqual(sorted(split_peers(d[b"peers"])),
                         sorted([(CLIENT_A, 32001), (CLIENT_B, 32002)]))

    def answered_by(self, exchange, key):
        """Runs exchange() and returns (its result, the index of the frontend that counted
        it under `key`: exactly one must have)."""
        before = self.d.counts()
        result = exchange()
        rises = delta(before, self.d.counts(), key)
        self.assertEqual(sorted(rises), [0] * (NODES - 1) + [1], (key, rises))
        return result, rises.index(1)

    def test_udp_connection_id_good_on_every_frontend(self):
        h = random_hash()
        a, b = UdpPeer(self.nginx, CLIENT_A), UdpPeer(self.nginx, CLIENT_B)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        connect, announce = ("udp_connect", "ok"), ("udp_announce", "ok")
        pid_a, pid_b = random_peer_id(), random_peer_id()
        # Each datagram is a session of its own, so round-robin sends consecutive ones to
        # consecutive frontends: a's connection ID, made by one, is taken by both others.
        id_a, made_a = self.answered_by(a.connect, connect)
        got, first = self.answered_by(lambda: a.announce(id_a, h, pid_a, 33001), announce)
        self.assertEqual(got, (0, 1, []))
        got, second = self.answered_by(lambda: a.announce(id_a, h, pid_a, 33001), announce)
        self.assertEqual(got, (0, 1, []))
        self.assertEqual(sorted((made_a, first, second)), list(range(NODES)))
        id_b, made_b = self.answered_by(b.connect, connect)
        got, used = self.answered_by(lambda: b.announce(id_b, h, pid_b, 33002, left=0), announce)
        self.assertNotEqual(used, made_b)
        # The frontends see nginx's address (PROXY), not the client's: UDP carries no
        # X-Forwarded-For. The peer's port is the one it announced.
        self.assertEqual(got, (1, 1, [(PROXY, 33001)]))
        got, _ = self.answered_by(lambda: a.announce(id_a, h, pid_a, 33001), announce)
        self.assertEqual(got, (1, 1, [(PROXY, 33002)]))

    def test_sigkill_of_a_frontend_loses_no_swarm(self):
        swarms = [random_hash() for _ in range(4)]
        peers = {h: [(random_peer_id(), 34000 + 10 * i + j) for j in range(3)]
                 for i, h in enumerate(swarms)}
        for h in swarms:
            for j, (pid, port) in enumerate(peers[h]):
                self.announce(h, pid, port, (CLIENT_A, CLIENT_B)[j % 2], left=0 if j else 9)
        victim = self.d.nodes[1]
        victim.proc.kill()
        victim.proc.wait(timeout=5)
        self.d.killed.add(victim)
        # More requests than frontends after the kill, so the dead one's turn comes round
        # (nginx then marks it down): every one answered, and every swarm whole.
        served = []
        for rnd in range(2):
            for i, h in enumerate(swarms):
                d, node = self.announce(h, random_peer_id(), 35000 + 10 * i + rnd, CLIENT_A,
                                        left=5, numwant=50)
                served.append(node)
                listed = set(split_peers(d[b"peers"]))
                for j, (pid, port) in enumerate(peers[h]):
                    self.assertIn(((CLIENT_A, CLIENT_B)[j % 2], port), listed)
                self.assertEqual(d[b"complete"], 2)
        r = lb_get(self.nginx, scrape_target(*swarms), CLIENT_B)
        files = bdecode(r.body)[b"files"]
        for h in swarms:
            self.assertEqual(files[h][b"complete"], 2)
            self.assertEqual(files[h][b"incomplete"], 3)
        self.assertNotIn("%s:%d" % victim.addr(), served)
        # UDP: the datagram that meets the dead frontend is lost (nginx answers it with an
        # empty datagram and takes the frontend out for fail_timeout); a client sends it
        # again, as BEP 15 clients do after a timeout. Every exchange after that succeeds.
        peer = UdpPeer(self.nginx, CLIENT_B)
        self.addCleanup(peer.close)
        outcomes = []
        pid = random_peer_id()
        for _ in range(2 * NODES):
            try:
                conn_id = peer.connect()
                _, _, got = peer.announce(conn_id, swarms[0], pid, 36000, left=5)
                self.assertEqual(len(got), 3 + 2)  # the swarm's peers announced over HTTP
                outcomes.append("ok")
            except LostDatagram:
                outcomes.append("lost")
        self.assertLessEqual(outcomes.count("lost"), 1, outcomes)
        self.assertNotIn("lost", outcomes[2:], outcomes)

    def test_sigterm_drain_loses_no_request(self):
        """A steady load through the balancer (THREADS clients, each request on a
        connection of its own with a timeout) while one frontend drains: every request
        gets a good reply."""
        threads, per_thread, term_after = 8, 50, 120
        swarms = [random_hash() for _ in range(5)]
        victim = self.d.nodes[1]
        lock = threading.Lock()
        done = [0]
        failed, hung, answered = [], [], []  # answered: (monotonic time, frontend)
        go_term = threading.Event()
        deadline = time.monotonic() + 30.0  # a bound on the whole load, not expected

        def client(k):
            source = (CLIENT_A, CLIENT_B)[k % 2]
            pid = random_peer_id()
            for i in range(per_thread):
                if time.monotonic() > deadline:
                    break
                target = announce_target(swarms[i % len(swarms)], pid, 38000 + k)
                try:
                    r = lb_get(self.nginx, target, source)
                    if r.status != 200 or b"failure reason" in r.body:
                        failed.append(r)
                    else:
                        answered.append((time.monotonic(), upstream(r)))
                except socket.timeout:
                    hung.append(i)
                except OSError as e:  # refused, reset, closed early
                    failed.append(repr(e))
                with lock:
                    done[0] += 1
                    if done[0] == term_after:
                        go_term.set()

        workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        try:
            self.assertTrue(go_term.wait(20.0), "the load never reached %d requests" % term_after)
            t_term = time.monotonic()
            victim.proc.send_signal(signal.SIGTERM)
            rc = victim.proc.wait(timeout=15.0)
        finally:
            for w in workers:
                w.join(timeout=40.0)
        self.d.killed.add(victim)  # it is gone, by our signal
        self.assertFalse(any(w.is_alive() for w in workers), "a client thread hung")
        self.assertEqual(rc, 0, victim.log()[-2000:])
        self.assertIsNone(victim.sanitizer_report())
        self.assertEqual((len(failed), len(hung)), (0, 0),
                         "failed %r, hung %r; nginx log:\n%s"
                         % (failed[:5], hung[:5], self.nginx.log()[-3000:]))
        self.assertEqual(len(answered), threads * per_thread)
        # nginx passes a request that failed on one frontend to the next, so the clients
        # would not see a request the draining frontend dropped: its log does. Only
        # connections refused (the listener closed, nothing sent) may be there, not a
        # request sent and then cut (a reset or a close before the reply's head).
        errors = [line for line in self.nginx.log().splitlines() if "[error]" in line]
        cut = [line for line in errors if "Connection refused) while connecting" not in line]
        self.assertEqual(cut, [], "requests the draining frontend dropped")
        name = "%s:%d" % victim.addr()
        self.assertTrue(any(t < t_term and n == name for t, n in answered),
                        "the drained frontend served nothing before its SIGTERM")
        self.assertTrue(sum(1 for t, _ in answered if t > t_term) > 50,
                        "too little load after the SIGTERM to mean anything")


# ---------------------------------------------------------------------------
# a real BitTorrent client

def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, dict):
        return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"
    raise TypeError(type(v))


ARIA2_COMMON = ["--no-conf", "--enable-dht=false", "--enable-dht6=false", "--disable-ipv6=true",
                "--bt-enable-lpd=false", "--enable-peer-exchange=false", "--file-allocation=none",
                "--console-log-level=warn", "--summary-interval=0", "--bt-tracker-interval=1"]


class RealClientTest(unittest.TestCase):
    """aria2 (Debian package aria2) as seeder and leecher: they find each other only through
    the tracker behind nginx (no DHT, local peer discovery or peer exchange), and the leecher
    downloads the seeder's file. The seeder announces over HTTP, so it is listed under its
    own address; the leechers announce over HTTP, then over UDP (the UDP leecher is listed
    under nginx's address, which no one needs to reach here)."""

    def setUp(self):
        self.aria2 = shutil.which("aria2c")
        if self.aria2 is None:
            raise unittest.SkipTest("aria2c not installed (Debian package aria2)")
        self.d = Stack(self)
        self.dir = tempfile.mkdtemp(prefix="starling-bt-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.data = os.urandom(300 * 1000)
        piece = 32 * 1024
        info = {"name": "payload.bin", "length": len(self.data), "piece length": piece,
                "pieces": b"".join(hashlib.sha1(self.data[i:i + piece]).digest()
                                   for i in range(0, len(self.data), piece))}
        self.info_hash = hashlib.sha1(bencode(info)).digest()
        nginx = self.d.nginx
        self.torrents = {}
        for scheme, port in (("http", nginx.http_port), ("udp", nginx.udp_port)):
            path = os.path.join(self.dir, "%s.torrent" % scheme)
            url = "%s://%s:%d/announce" % (scheme, nginx.listen_host, port)
            with open(path, "wb") as f:
                f.write(bencode({"announce": url, "info": info}))
            self.torrents[scheme] = path

    def client_args(self, name, source, torrent):
        where = os.path.join(self.dir, name)
        os.makedirs(where, exist_ok=True)
        return [self.aria2] + ARIA2_COMMON + [
            "--interface=" + source, "--listen-port=%d" % free_port(source), "-d", where,
            "--log=" + os.path.join(self.dir, name + ".log"), "--log-level=info", torrent]

    def start_seeder(self):
        os.makedirs(os.path.join(self.dir, "seed"))
        with open(os.path.join(self.dir, "seed", "payload.bin"), "wb") as f:
            f.write(self.data)
        out = open(os.path.join(self.dir, "seed.out"), "wb")
        self.addCleanup(out.close)
        seeder = subprocess.Popen(
            self.client_args("seed", CLIENT_A, self.torrents["http"])
            + ["--check-integrity=true", "--seed-ratio=0.0", "--seed-time=5"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop, seeder)

        def seeding():
            self.assertIsNone(seeder.poll(), "aria2c seeder exited")
            r = lb_get(self.d.nginx, scrape_target(self.info_hash), CLIENT_B)
            return bdecode(r.body)[b"files"][self.info_hash][b"complete"] == 1
        deadline = time.monotonic() + 20.0
        while not seeding():
            self.assertLess(time.monotonic(), deadline, "the seeder never announced")
            time.sleep(0.1)

    @staticmethod
    def stop(proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5.0)

    def leech(self, name, scheme):
        extra = []
        if scheme == "udp":
            # aria2 speaks UDP to trackers only from its DHT socket: DHT on, with no node to
            # start from and none to learn of (the seeder's is off), so it finds no peer.
            extra = ["--enable-dht=true", "--dht-listen-port=%d" % udp_free_port(CLIENT_B),
                     "--dht-file-path=" + os.path.join(self.dir, name + ".dht")]
        try:
            p = subprocess.run(self.client_args(name, CLIENT_B, self.torrents[scheme])
                               + ["--seed-time=0", "--bt-stop-timeout=20"] + extra,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=40.0)
        except subprocess.TimeoutExpired as e:
            self.fail("aria2c leecher still running after 40 s: %r" % e.output[-2000:])
        self.assertEqual(p.returncode, 0, p.stdout[-2000:])
        with open(os.path.join(self.dir, name, "payload.bin"), "rb") as f:
            self.assertEqual(f.read(), self.data)

    def test_seeder_and_leechers_meet_through_the_balancer(self):
        before = self.d.counts()
        self.start_seeder()
        self.leech("leech-http", "http")
        self.leech("leech-udp", "udp")
        after = self.d.counts()
        http = delta(before, after, ("announce", "ok"))
        udp = delta(before, after, ("udp_announce", "ok"))
        self.assertGreater(sum(udp), 0, udp)
        self.assertEqual(sum(delta(before, after, ("udp_announce", "bad_connection_id"))), 0)
        # Both leechers left (event=stopped); the seeder is there still.
        r = lb_get(self.d.nginx, scrape_target(self.info_hash), CLIENT_B)
        entry = bdecode(r.body)[b"files"][self.info_hash]
        self.assertEqual((entry[b"complete"], entry[b"incomplete"]), (1, 0))
        self.assertTrue(all(n > 0 for n in http), "announces per frontend: %s" % http)


if __name__ == "__main__":
    unittest.main()
