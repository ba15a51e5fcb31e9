#!/usr/bin/env python3
"""Measures starling on Redis Cluster through faults, for README's figures (not run by the
test suite; the tests that assert the behaviour are tests/integration/test_cluster_frontend.py).

    scripts/cluster-failover.py [--kills N] [--reshard-slots N] [--node-timeout MS]
                                [--command-timeout DURATION] [--pause S] [--threads N]

It starts a Redis Cluster of 3 masters + 3 replicas on loopback (redis-server and
redis-cli, in temp dirs), one starling frontend on it (build/starling, or STARLING_BIN)
and a steady load of announces and scrapes over HTTP (keep-alive) and UDP (BEP 15) on
swarms spread over every master (tests/integration/cluster_load.py). Then:

  failover (--kills times, default 3): SIGKILL of the master of some swarms. Printed: the
    time from the kill to a replica serving the slot (seen with plain Redis commands), and
    to the first good tracker reply for a swarm of those slots; the requests sent in that
    window that failed, by failure reason (dead master's slots / other slots: the whole
    cluster refuses writes until the failover, as cluster-require-full-coverage says),
    and those that hung (no answer within --answer-timeout; must be 0). The killed node
    is restarted (it rejoins as a replica) before the next round.
  reshard: a live `redis-cli --cluster reshard` of --reshard-slots slots (default 3000)
    from one master to another, the load's swarms in those slots (and 2000 more swarms
    there, so that keys move all along). Printed: its duration, requests served during it
    and those that failed or hung (the aim: none).

Bounded: every wait has a timeout, each load thread stops after --max-requests, the whole
run after about a minute per round. Only processes it started are stopped, by PID.
Needs: redis-server, redis-cli (Debian redis-server, redis-tools), a built starling.
"""

import argparse
import collections
import os
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("STARLING_BIN", os.path.join(ROOT, "build", "starling"))

from cluster_load import TrackerLoad  # noqa: E402
from harness import RespClient, Starling, random_hash, random_peer_id, require_binary  # noqa: E402
from redis_cluster import RedisCluster, swarm_slot  # noqa: E402


def hashes_on(cluster, per_master, slots=None, masters=None):
    owners = cluster.slot_owners()
    want = {m.port: [] for m in (masters or cluster.masters())}
    allowed = set(slots) if slots is not None else None
    for _ in range(500000):
        if all(len(v) >= per_master for v in want.values()):
            return [h for group in zip(*want.values()) for h in group]
        h = random_hash()
        s = swarm_slot(h)
        if (allowed is None or s in allowed) and owners[s] in want \
                and len(want[owners[s]]) < per_master:
            want[owners[s]].append(h)
    raise SystemExit("could not find info_hashes on every master")


def fill(node, hashes):
    """One live leecher per swarm, written directly on `node` (starling's layout)."""
    expiry = int(time.time() * 1000) + 3600 * 1000
    with RespClient(node.port, timeout=10.0) as c:
        for h in hashes:
            tag = "{%s}" % h.hex()
            pid = random_peer_id()
            c.send("ZADD", tag + ":leechers", expiry, pid + b"\x7f\0\0\1\x1a\xe1")
            c.send("HSET", tag + ":peers", pid, b"L\x7f\0\0\1\x1a\xe1")
        for _ in range(2 * len(hashes)):
            c.read_reply()


def fmt_counts(counter):
    if not counter:
        return "none"
    return ", ".join("%d %s" % (n, reason or outcome)
                     for (outcome, reason), n in sorted(counter.items(), key=lambda kv: -kv[1]))


def failed_only(counter):
    return collections.Counter({k: v for k, v in counter.items() if k[0] != "ok"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=3, help="failover rounds (0-10)")
    ap.add_argument("--reshard-slots", type=int, default=3000, help="0 skips the reshard")
    ap.add_argument("--node-timeout", type=int, default=2000, help="cluster-node-timeout, ms")
    ap.add_argument("--command-timeout", default="500ms", help="the frontend's redis.command_timeout")
    ap.add_argument("--answer-timeout", type=float, default=5.0,
                    help="seconds after which a request counts as hung")
    ap.add_argument("--threads", type=int, default=2, help="HTTP threads, and as many UDP")
    ap.add_argument("--pause", type=float, default=0.002, help="seconds between a thread's requests")
    ap.add_argument("--max-requests", type=int, default=200000, help="per load thread")
    args = ap.parse_args()
    if not 0 <= args.kills <= 10 or not 0 <= args.reshard_slots <= 10000:
        ap.error("--kills 0-10, --reshard-slots 0-10000")
    try:
        require_binary()
    except Exception as e:  # unittest.SkipTest
        raise SystemExit("cluster-failover: %s (build it: cmake --build build)" % e)

    cluster = RedisCluster(masters=3, replicas_per_master=1, node_timeout_ms=args.node_timeout)
    fe = load = None
    try:
        cluster.start()
        print("cluster: 3 masters + 3 replicas, cluster-node-timeout %d ms, up in %.1f s"
              % (args.node_timeout, cluster.started_s))
        fe = Starling(None, {"udp_secret": "cluster-failover-secret-0123",
                             "redis": {"cluster_nodes": cluster.seeds(),
                                       "command_timeout": args.command_timeout,
                                       "connect_timeout": "300ms"}}).start()
        hashes = hashes_on(cluster, 20)
        load = TrackerLoad(http=[("127.0.0.1", fe.port)], udp=[fe.udp_addr()], hashes=hashes,
                           http_threads=args.threads, udp_threads=args.threads,
                           answer_timeout=args.answer_timeout, max_requests=args.max_requests,
                           pause_s=args.pause, slot_of=swarm_slot).start()
        load.wait_ok(200, 15, what="replies before the faults")
        t = time.monotonic()
        time.sleep(2)
        print("load: %.0f requests/s (HTTP keep-alive + UDP, %d+%d threads, announces and "
              "1 scrape in %d), command_timeout %s"
              % (len(load.select(since=t)) / (time.monotonic() - t), args.threads,
                 args.threads, 5, args.command_timeout))

        for k in range(args.kills):
            victim = cluster.master_of_slot(swarm_slot(hashes[k % len(hashes)]))
            dead = set(cluster.slots_of(victim))
            probe = next(h for h in hashes if swarm_slot(h) in dead)
            t_kill = cluster.kill(victim)
            new, promoted = cluster.wait_failover(swarm_slot(probe), since=t_kill)
            load.wait_ok(20, args.node_timeout / 1000.0 + 20, since=t_kill, slots=dead,
                         what="replies for the dead master's slots")
            first = load.first_ok(t_kill, slots=dead)
            time.sleep(1.0)
            window = dict(since=t_kill, until=first)
            dead_fail = failed_only(load.counts(slots=dead, **window))
            all_window = load.counts(**window)
            other_fail = failed_only(all_window) - dead_fail
            hung = load.problems(since=t_kill)
            after = failed_only(load.counts(since=first + 1.0))
            print("failover %d: SIGKILL %s (%d slots) -> %s master after %.2f s; first good "
                  "reply for its slots %.2f s after the kill (HTTP %.2f s, UDP %.2f s)"
                  % (k + 1, victim.addr, len(dead), new.addr, promoted, first - t_kill,
                     (load.first_ok(t_kill, slots=dead, proto="http") or 0) - t_kill,
                     (load.first_ok(t_kill, slots=dead, proto="udp") or 0) - t_kill))
            print("  requests sent in that window: %d; failed, dead master's slots: %s; "
                  "failed, other slots: %s" % (sum(all_window.values()), fmt_counts(dead_fail),
                                               fmt_counts(other_fail)))
            print("  hung/dropped/bad since the kill: %s; failed from 1 s after the first good "
                  "reply on: %s" % (sum(hung.values()) if hung else 0, fmt_counts(after)))
            cluster.restart(victim)

        if args.reshard_slots:
            src, dst = cluster.masters()[:2]
            n = min(args.reshard_slots, len(cluster.slots_of(src)))
            moving = set(cluster.slots_of(src)[:n])
            load.stop()
            fill(src, hashes_on(cluster, 2000, slots=moving, masters=[src]))
            rhashes = hashes_on(cluster, 40, slots=moving, masters=[src]) + hashes[:20]
            load = TrackerLoad(http=[("127.0.0.1", fe.port)], udp=[fe.udp_addr()],
                               hashes=rhashes, http_threads=args.threads,
                               udp_threads=args.threads, answer_timeout=args.answer_timeout,
                               max_requests=args.max_requests, pause_s=args.pause,
                               slot_of=swarm_slot).start()
            load.wait_ok(200, 15, what="replies before the reshard")
            t0 = time.monotonic()
            proc = cluster.reshard(src, dst, n, wait=False)
            try:
                rc = proc.wait(timeout=300)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            t1 = time.monotonic()
            if rc != 0:
                with open(proc.log_path) as f:
                    raise SystemExit("redis-cli reshard failed:\n" + f.read()[-3000:])
            cluster.wait_converged()
            time.sleep(1.0)
            during = load.counts(since=t0, until=t1)
            moved = load.counts(since=t0, until=t1, slots=moving)
            print("reshard: %d slots (2000+ swarms) %s -> %s in %.1f s under load: %d "
                  "requests during it (%d on the moving slots), failed: %s; hung/dropped/bad: %s"
                  % (n, src.addr, dst.addr, t1 - t0, sum(during.values()),
                     sum(moved.values()), fmt_counts(failed_only(load.counts(since=t0))),
                     sum(load.problems(since=t0).values())))
        load.stop()
        print_log_summary(fe.log())
    finally:
        if load is not None:
            load.stop()
        if fe is not None:
            fe.cleanup()
        cluster.stop_all()


def print_log_summary(log):
    """The frontend's warnings and errors, counted per message (addresses and numbers
    folded), so that what a failover logs is read rather than only counted."""
    kinds = collections.Counter()
    for line in log.splitlines():
        if "level=warn" not in line and "level=error" not in line:
            continue
        msg = line.split("msg=", 1)[-1] if "msg=" in line else line
        kinds[re.sub(r"[0-9]+", "N", msg)[:160]] += 1
    print("frontend log: %d warnings/errors" % sum(kinds.values()))
    for msg, n in kinds.most_common(12):
        print("  %5d  %s" % (n, msg))


if __name__ == "__main__":
    main()
