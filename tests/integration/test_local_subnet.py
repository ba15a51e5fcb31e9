"""local_subnet_priority (frontend/local_peers.h) end to end: the peers of an announcer's
own network (its /24, its /48, or a local_subnet_cidrs entry holding it) come first in its
HTTP (compact and not, both families) and UDP replies, the others after them in the order
the script read them; off, the replies are the script's own, unchanged.

Clients are placed with ip=/ipv6= (allow_ip_spoofing): every process here is on 127.0.0.1.
The swarms are small enough that the script reads them whole (live peers <= the window of
2 x numwant), so each reply is known exactly from the set's order in Redis (ZRANGE).
"""

import ipaddress
import os
import socket
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promtext
from harness import (TrackerTestCase, bdecode, http_get, key, random_hash, random_peer_id,
                     split_peers, split_peers6)
from test_udp import UdpClient, split_announce

ID_LEN = 20
CIDRS = ["100.64.0.0/10", "2001:db8:100::/40"]
ON = {"allow_ip_spoofing": True, "local_subnet_priority": True, "local_subnet_cidrs": CIDRS,
      "default_num_want": 50, "max_num_want": 100, "peer_cache_swarms": 0}
OFF = {k: v for k, v in ON.items() if k != "local_subnet_priority"}


def endpoints(member):
    """(v4 (ip, port) or None, v6 (ip, port) or None) of a sorted-set member."""
    rest = member[ID_LEN:]
    v4 = v6 = None
    if len(rest) in (6, 24):
        v4 = (socket.inet_ntop(socket.AF_INET, rest[:4]), int.from_bytes(rest[4:6], "big"))
    if len(rest) in (18, 24):
        b = rest[-18:]
        v6 = (socket.inet_ntop(socket.AF_INET6, b[:16]), int.from_bytes(b[16:], "big"))
    return v4, v6


def is_local(member, own4, own6, v4_prefix=24, v6_prefix=48, cidrs=CIDRS):
    """What README says a local peer is, written independently of the C code."""
    nets = []
    if own4:
        nets.append(ipaddress.ip_network("%s/%d" % (own4, v4_prefix), strict=False))
    if own6:
        nets.append(ipaddress.ip_network("%s/%d" % (own6, v6_prefix), strict=False))
    for c in map(ipaddress.ip_network, cidrs):
        if any(a and ipaddress.ip_address(a) in c for a in (own4, own6)):
            nets.append(c)
    addrs = [ipaddress.ip_address(e[0]) for e in endpoints(member) if e]
    return any(a.version == n.version and a in n for a in addrs for n in nets)


class LocalSubnetCase(TrackerTestCase):
    CONFIG = ON

    def join(self, h, ips, port0, ipv6s=None):
        """Announces a leecher per address (with ipv6s[i] too when given), in order."""
        for i, ip in enumerate(ips):
            extra = ["ip=" + ip]
            if ipv6s:
                extra.append("ipv6=%5B" + ipv6s[i] + "%5D")
            self.announce_ok(h, random_peer_id(), port0 + i, extra=extra)

    def others(self, h, me):
        """The swarm's members but the announcer's, in the set's (the script's) order."""
        return [m for m in self.rcall("ZRANGE", key(h, "leechers"), 0, -1)
                if m[:ID_LEN] != me]

    def expected(self, h, me, numwant, own4, own6=None, local_first=True, **kw):
        """The members a reply should list: locals first when local_first, then the rest,
        each as the set orders them, cut at numwant."""
        ms = self.others(h, me)
        if local_first:
            ms = ([m for m in ms if is_local(m, own4, own6, **kw)]
                  + [m for m in ms if not is_local(m, own4, own6, **kw)])
        return ms[:numwant]

    def local_peers_metric(self):
        fams = promtext.parse(http_get(self.tracker.metrics_port, "/metrics").body)
        return promtext.value(fams, "starling_local_peers_total")

    def swarm_with_neighbours(self, port0):
        """90 peers far away and a few in 10.1.2.0/24 (and one in 10.1.3.0/24 beside it),
        the neighbours joining last, so the script's order puts them last."""
        h = random_hash()
        far = ["192.0.2.%d" % (1 + i % 250) if i % 2 else "198.51.100.%d" % (1 + i % 250)
               for i in range(90)]
        self.join(h, far, port0)
        self.join(h, ["10.1.2.10", "10.1.3.5", "10.1.2.200", "10.1.2.3", "10.1.2.11"],
                  port0 + 100)
        return h


class LocalFirstTest(LocalSubnetCase):
    def test_neighbours_first_compact(self):
        h = self.swarm_with_neighbours(21000)
        me = random_peer_id()
        before = self.local_peers_metric()
        d = self.announce_ok(h, me, 21500, numwant=50, extra=["ip=10.1.2.3"])
        self.assertEqual(self.local_peers_metric() - before, 4)
        want = self.expected(h, me, 50, "10.1.2.3")
        self.assertEqual(split_peers(d[b"peers"]), [endpoints(m)[0] for m in want])
        got_ips = [ip for ip, _ in split_peers(d[b"peers"])]
        self.assertEqual(sorted(got_ips[:4]), ["10.1.2.10", "10.1.2.11", "10.1.2.200",
                                               "10.1.2.3"])
        self.assertFalse([ip for ip in got_ips[4:] if ip.startswith("10.1.2.")])
        self.assertEqual(len(got_ips), 50)
        self.assertEqual(d[b"incomplete"], 96)

    def test_neighbours_first_whole_swarm_and_no_peer_lost(self):
        h = self.swarm_with_neighbours(22000)
        me = random_peer_id()
        d = self.announce_ok(h, me, 22500, numwant=100, extra=["ip=10.1.2.3"])
        got = split_peers(d[b"peers"])
        want = self.expected(h, me, 100, "10.1.2.3")
        self.assertEqual(got, [endpoints(m)[0] for m in want])
        self.assertEqual(sorted(got), sorted(endpoints(m)[0] for m in self.others(h, me)))

    def test_neighbours_first_non_compact(self):
        h = self.swarm_with_neighbours(23000)
        me = random_peer_id()
        d = self.announce_ok(h, me, 23500, numwant=50, compact=0, extra=["ip=10.1.2.3"])
        got = [(p[b"ip"].decode(), p[b"port"], p[b"peer id"]) for p in d[b"peers"]]
        want = self.expected(h, me, 50, "10.1.2.3")
        self.assertEqual(got, [endpoints(m)[0] + (m[:ID_LEN],) for m in want])
        self.assertTrue(all(ip.startswith("10.1.2.") for ip, _, _ in got[:4]), got[:5])

    def test_ipv6_neighbours_by_48(self):
        # Everyone dual-stacked with distinct IPv4 networks: only the /48 makes neighbours.
        h = random_hash()
        self.join(h, ["192.0.2.%d" % i for i in range(1, 41)], 24000,
                  ["2001:db8:9:%x::1" % i for i in range(1, 41)])
        self.join(h, ["198.51.100.%d" % i for i in range(1, 4)], 24100,
                  ["2001:db8:1:%x::7" % i for i in range(1, 4)])
        me = random_peer_id()
        d = self.announce_ok(h, me, 24500, numwant=25,
                             extra=["ip=203.0.113.1", "ipv6=%5B2001:db8:1:2::5%5D"])
        want = self.expected(h, me, 25, "203.0.113.1", "2001:db8:1:2::5")
        self.assertEqual(split_peers6(d[b"peers6"]), [endpoints(m)[1] for m in want])
        self.assertEqual(split_peers(d[b"peers"]), [endpoints(m)[0] for m in want])
        self.assertEqual(sorted(ip for ip, _ in split_peers6(d[b"peers6"])[:3]),
                         ["2001:db8:1:%x::7" % i for i in range(1, 4)])

    def test_cidr_entry_makes_neighbours(self):
        # The announcer is in 100.64.0.0/10: every peer in it is local, not only its /24.
        h = random_hash()
        self.join(h, ["192.0.2.%d" % i for i in range(1, 61)], 25000)
        cgn = ["100.100.0.1", "100.128.0.1", "100.70.1.9", "100.127.255.254", "100.63.255.1"]
        self.join(h, cgn, 25100)
        me = random_peer_id()
        d = self.announce_ok(h, me, 25500, numwant=40, extra=["ip=100.70.1.1"])
        want = self.expected(h, me, 40, "100.70.1.1")
        got = split_peers(d[b"peers"])
        self.assertEqual(got, [endpoints(m)[0] for m in want])
        self.assertEqual(sorted(ip for ip, _ in got[:3]),
                         ["100.100.0.1", "100.127.255.254", "100.70.1.9"])
        # Outside every entry, the same peers are no one's neighbours: the script's order.
        me2 = random_peer_id()
        d = self.announce_ok(h, me2, 25501, numwant=100, extra=["ip=10.9.9.9"])
        self.assertEqual(split_peers(d[b"peers"]),
                         [endpoints(m)[0] for m in self.others(h, me2)])

    def test_udp(self):
        h = self.swarm_with_neighbours(26000)
        me = random_peer_id()
        with UdpClient(self.tracker.udp_addr()) as c:
            txid, reply = c.announce(h, me, 26500, num_want=50,
                                     ip=int(ipaddress.ip_address("10.1.2.3")))
        action, rtx, _, leechers, seeders, peers = split_announce(reply, 6)
        self.assertEqual((action, rtx, leechers, seeders), (1, txid, 96, 0))
        want = self.expected(h, me, 50, "10.1.2.3")
        self.assertEqual(peers, [m[ID_LEN:ID_LEN + 6] for m in want])
        self.assertTrue(all(p[:3] == bytes([10, 1, 2]) for p in peers[:4]), peers[:5])

    def test_stopped_and_numwant_zero_list_no_one(self):
        h = self.swarm_with_neighbours(27000)
        d = self.announce_ok(h, random_peer_id(), 27500, numwant=0, extra=["ip=10.1.2.3"])
        self.assertEqual(d[b"peers"], b"")
        d = self.announce_ok(h, random_peer_id(), 27501, event="stopped", extra=["ip=10.1.2.3"])
        self.assertEqual(d[b"peers"], b"")


class OffTest(LocalSubnetCase):
    CONFIG = OFF

    def test_replies_are_the_scripts(self):
        h = self.swarm_with_neighbours(31000)
        me = random_peer_id()
        d = self.announce_ok(h, me, 31500, numwant=100, extra=["ip=10.1.2.3"])
        got = split_peers(d[b"peers"])
        self.assertEqual(got, [endpoints(m)[0] for m in self.others(h, me)])
        self.assertNotEqual(got[0][0][:7], "10.1.2.")  # the neighbours stay last
        self.assertEqual(self.local_peers_metric(), 0)
        # A reply of fewer: one run of the set's order from a random place, as always.
        me2 = random_peer_id()
        d = self.announce_ok(h, me2, 31501, numwant=50, extra=["ip=10.1.2.3"])
        got = split_peers(d[b"peers"])
        order = [endpoints(m)[0] for m in self.others(h, me2)]
        self.assertEqual(len(got), 50)
        start = order.index(got[0])
        self.assertEqual(got, order[start:start + 50])

    def test_udp_unchanged(self):
        h = self.swarm_with_neighbours(32000)
        me = random_peer_id()
        with UdpClient(self.tracker.udp_addr()) as c:
            _, reply = c.announce(h, me, 32500, num_want=100,
                                  ip=int(ipaddress.ip_address("10.1.2.3")))
        peers = split_announce(reply, 6)[5]
        self.assertEqual(peers, [m[ID_LEN:ID_LEN + 6] for m in self.others(h, me)])


class CachedRepliesTest(LocalSubnetCase):
    """Replies served from the peer cache's windows are ordered too."""
    CONFIG = dict(ON, default_num_want=10, max_num_want=20, peer_cache_swarms=1024,
                  peer_cache_ttl="5s")

    def test_locals_first_from_the_cache(self):
        h = random_hash()
        # 220 peers, every 11th in the announcer's /24, spread through the set's order.
        ips = ["10.1.2.%d" % (10 + i // 11) if i % 11 == 5 else "192.0.2.%d" % (1 + i % 250)
               for i in range(220)]
        self.join(h, ips, 41000)

        def hits():
            fams = promtext.parse(http_get(self.tracker.metrics_port, "/metrics").body)
            return sum(v for _, labels, v in
                       fams["starling_peer_cache_announces_total"]["samples"]
                       if labels["result"] == "hit")

        before = hits()
        me = random_peer_id()
        with_locals = 0
        for _ in range(60):
            d = self.announce_ok(h, me, 41500, extra=["ip=10.1.2.3"])
            flags = [ip.startswith("10.1.2.") for ip, _ in split_peers(d[b"peers"])]
            self.assertEqual(len(flags), 10)
            # Never a neighbour after a stranger.
            self.assertEqual(flags, sorted(flags, reverse=True), flags)
            with_locals += flags[0]
        self.assertGreater(hits() - before, 30)
        self.assertGreater(with_locals, 10)


if __name__ == "__main__":
    unittest.main()
