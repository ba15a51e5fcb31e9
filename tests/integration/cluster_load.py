"""A steady, bounded tracker load over HTTP and UDP (BEP 15) that records every request's
outcome, for the Redis Cluster tests and scripts/cluster-failover.py.

    load = TrackerLoad(http=[(host, port)], udp=[(host, port)], hashes=[...]).start()
    ...                                   # kill a master, reshard, add a node
    load.stop()
    load.counts()                         # Counter of (outcome, reason)

Each thread keeps one client (a keep-alive HTTP connection, or one UDP socket with its
connection ID) on one frontend and loops over the hashes (starting at its own offset):
announces, and every SCRAPE_EVERY-th request a scrape of SCRAPE_WIDTH hashes. Every
request ends as one of:
  ok       a tracker reply
  failed   a refusal with its text: a bencoded `failure reason` (HTTP) or a BEP 15 error
  hung     nothing within answer_timeout (the client then drops the connection)
  dropped  the connection closed or reset without a reply (HTTP)
  bad      anything else (a wrong status, undecodable bytes, a wrong transaction id)
A frontend must never leave a request `hung`, `dropped` or `bad`.

Bounded: each thread stops after max_requests, and stop() ends every thread.
"""

import collections
import os
import socket
import struct
import threading
import time

from harness import Conn, announce_target, bdecode, scrape_target

PROTOCOL_ID = 0x41727101980
SCRAPE_EVERY = 5
SCRAPE_WIDTH = 3


class Record:
    __slots__ = ("t_send", "t_done", "proto", "kind", "slots", "outcome", "reason")

    def __init__(self, t_send, t_done, proto, kind, slots, outcome, reason):
        self.t_send, self.t_done = t_send, t_done
        self.proto, self.kind, self.slots = proto, kind, slots
        self.outcome, self.reason = outcome, reason

    def __repr__(self):
        return "<%s %s %s %r at %.3f+%.3f>" % (self.proto, self.kind, self.outcome,
                                                self.reason, self.t_send,
                                                self.t_done - self.t_send)


def http_outcome(resp):
    if resp.status != 200:
        return "bad", "status %d" % resp.status
    try:
        d = bdecode(resp.body)
    except (ValueError, IndexError):
        return "bad", "undecodable %r" % resp.body[:80]
    if not isinstance(d, dict):
        return "bad", "not a dict %r" % resp.body[:80]
    if b"failure reason" in d:
        return "failed", d[b"failure reason"].decode(errors="replace")
    return "ok", None


class TrackerLoad:
    """http / udp: lists of (host, port) of frontends; threads are spread over them.
    slot_of(info_hash) names a hash's slot in the records (default: none)."""

    def __init__(self, http=(), udp=(), hashes=(), http_threads=2, udp_threads=2,
                 answer_timeout=3.0, max_requests=20000, pause_s=0.0, slot_of=None):
        if not hashes:
            raise ValueError("no hashes to load")
        self.hashes = list(hashes)
        self.answer_timeout = answer_timeout
        self.max_requests = max_requests
        self.pause_s = pause_s
        self.slot_of = slot_of or (lambda h: None)
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.records = []
        self.thread_errors = []
        self.threads = []
        for i in range(http_threads if http else 0):
            self.threads.append(threading.Thread(
                target=self._guard, args=(self._http_loop, http[i % len(http)], i),
                daemon=True))
        for i in range(udp_threads if udp else 0):
            self.threads.append(threading.Thread(
                target=self._guard, args=(self._udp_loop, udp[i % len(udp)], 100 + i),
                daemon=True))

    # ---------------------------------------------------------------- control

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(self.answer_timeout + 10)
        alive = [t for t in self.threads if t.is_alive()]
        if alive:
            raise AssertionError("%d load threads still running after stop()" % len(alive))

    def _guard(self, loop, addr, n):
        try:
            loop(addr, n)
        except BaseException as e:  # a dead thread must fail the test, not vanish
            with self.lock:
                self.thread_errors.append("load thread %d died: %r" % (n, e))

    def _record(self, *fields):
        with self.lock:
            self.records.append(Record(*fields))

    def _requests(self, n):
        """(kind, [hashes]) for thread n, cycling over the hashes from its own offset."""
        count = len(self.hashes)
        for i in range(self.max_requests):
            if self.stopping.is_set():
                return
            j = (n * 7 + i) % count
            if i % SCRAPE_EVERY == SCRAPE_EVERY - 1:
                yield i, "scrape", [self.hashes[(j + k * 11) % count]
                                    for k in range(min(SCRAPE_WIDTH, count))]
            else:
                yield i, "announce", [self.hashes[j]]
            if self.pause_s:
                time.sleep(self.pause_s)

    # ---------------------------------------------------------------- HTTP

    def _http_loop(self, addr, n):
        host, port = addr
        peer_id = b"-CL0001-" + b"%012d" % (os.getpid() * 1000 + n)
        conn = None
        for i, kind, hashes in self._requests(n):
            slots = tuple(self.slot_of(h) for h in hashes)
            if kind == "scrape":
                target = scrape_target(*hashes)
            else:
                target = announce_target(hashes[0], peer_id, 20000 + n, left=100 * (n % 2))
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = Conn(port, host, timeout=self.answer_timeout)
                resp = conn.request(target, timeout=self.answer_timeout)
            except socket.timeout:
                self._record(t0, time.monotonic(), "http", kind, slots, "hung", None)
                conn.close()
                conn = None
                continue
            except OSError as e:  # ConnectionError included: closed or reset, no reply
                self._record(t0, time.monotonic(), "http", kind, slots, "dropped", repr(e))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
                continue
            outcome, reason = http_outcome(resp)
            self._record(t0, time.monotonic(), "http", kind, slots, outcome, reason)
        if conn is not None:
            conn.close()

    # ---------------------------------------------------------------- UDP (BEP 15)

    def _udp_loop(self, addr, n):
        host, port = addr
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.connect((host, port))
        peer_id = b"-CL0001-" + b"%012d" % (os.getpid() * 1000 + n)
        txid = (n << 24) & 0xFFFFFFFF
        conn_id = None
        try:
            for i, kind, hashes in self._requests(n):
                slots = tuple(self.slot_of(h) for h in hashes)
                if conn_id is None:
                    txid = (txid + 1) & 0xFFFFFFFF
                    reply = self._udp_call(sock, struct.pack(">QII", PROTOCOL_ID, 0, txid), txid)
                    if reply is None or len(reply) < 16 or reply[:4] != b"\0\0\0\0":
                        self._record(time.monotonic(), time.monotonic(), "udp", "connect", (),
                                     "hung" if reply is None else "bad", repr(reply))
                        continue
                    conn_id = struct.unpack(">Q", reply[8:16])[0]
                txid = (txid + 1) & 0xFFFFFFFF
                if kind == "scrape":
                    pkt = struct.pack(">QII", conn_id, 2, txid) + b"".join(hashes)
                else:
                    pkt = struct.pack(">QII20s20sQQQIIIiH", conn_id, 1, txid, hashes[0],
                                      peer_id, 0, 100 * (n % 2), 0, 0, 0, n, -1, 20000 + n)
                t0 = time.monotonic()
                reply = self._udp_call(sock, pkt, txid)
                t1 = time.monotonic()
                if reply is None:
                    self._record(t0, t1, "udp", kind, slots, "hung", None)
                    continue
                action = struct.unpack(">I", reply[:4])[0]
                want = 2 if kind == "scrape" else 1
                if action == 3:
                    reason = reply[8:].decode(errors="replace")
                    self._record(t0, t1, "udp", kind, slots, "failed", reason)
                    if reason == "invalid connection id":
                        conn_id = None
                elif action == want and (kind != "scrape" or len(reply) == 8 + 12 * len(hashes)):
                    self._record(t0, t1, "udp", kind, slots, "ok", None)
                else:
                    self._record(t0, t1, "udp", kind, slots, "bad", repr(reply[:40]))
        finally:
            sock.close()

    def _udp_call(self, sock, pkt, txid):
        """Sends pkt, returns the reply with this txid, or None after answer_timeout (late
        replies to earlier requests are skipped)."""
        sock.send(pkt)
        deadline = time.monotonic() + self.answer_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            sock.settimeout(left)
            try:
                data = sock.recv(4096)
            except socket.timeout:
                return None
            except ConnectionRefusedError:  # ICMP port unreachable: the frontend is gone
                return None
            if len(data) >= 8 and struct.unpack(">I", data[4:8])[0] == txid:
                return data

    # ---------------------------------------------------------------- results

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def select(self, since=None, until=None, slots=None, proto=None):
        """Records of requests sent in [since, until), touching any of `slots`."""
        out = []
        for r in self.snapshot():
            if since is not None and r.t_send < since:
                continue
            if until is not None and r.t_send >= until:
                continue
            if slots is not None and not any(s in slots for s in r.slots):
                continue
            if proto is not None and r.proto != proto:
                continue
            out.append(r)
        return out

    def counts(self, **kw):
        """Counter of (outcome, reason) over select(**kw)."""
        return collections.Counter((r.outcome, r.reason) for r in self.select(**kw))

    def ok_count(self, **kw):
        return sum(1 for r in self.select(**kw) if r.outcome == "ok")

    def first_ok(self, since, slots=None, proto=None):
        """The earliest t_done of an ok request sent at or after `since` (None: none)."""
        done = [r.t_done for r in self.select(since=since, slots=slots, proto=proto)
                if r.outcome == "ok"]
        return min(done) if done else None

    def wait_ok(self, more, timeout, what="ok replies", **kw):
        """Until `more` further ok replies (among select(**kw)) arrive; AssertionError after
        timeout seconds, with the outcomes seen meanwhile."""
        base = self.ok_count(**kw)
        deadline = time.monotonic() + timeout
        while self.ok_count(**kw) < base + more:
            if self.thread_errors:
                raise AssertionError("; ".join(self.thread_errors))
            if time.monotonic() >= deadline:
                raise AssertionError("timed out after %.1fs waiting for %d %s; outcomes: %s"
                                     % (timeout, more, what, dict(self.counts(**kw))))
            time.sleep(0.02)

    def problems(self, **kw):
        """Counter of the outcomes a frontend must never give: hung, dropped, bad."""
        return collections.Counter(
            (r.proto, r.outcome, r.reason) for r in self.select(**kw)
            if r.outcome in ("hung", "dropped", "bad"))
