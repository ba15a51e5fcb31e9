#!/usr/bin/env python3
"""Generate the swarms of scripts/aggbench.sh as RESP, for `redis-cli --pipe`.

usage: gen.py PEERS SWARMS OUTDIR > load.resp

Writes the load commands (RESP) to stdout and, in OUTDIR:
  meta.json     what was generated: counts, the swarm size distribution, the biggest
                swarms, a verification sample, and WRK_PEERS (see below)
  expire2.resp  `ZADD key XX <past score> member ...` for a second, disjoint ~5% slice of
                the peers: piped in later so that a later pass has purging to do as well

Layout (README "Data in Redis"), per swarm with info_hash H (40 lowercase hex):
  {H}:seeders, {H}:leechers  sorted sets; member = 20-byte peer_id + 4-byte IPv4 + 2-byte
                             port (big-endian), score = expiry in ms since the epoch
  {H}:peers                  hash; peer_id -> 'S' or 'L' + the same 6 endpoint bytes,
                             and "downloaded" -> a small integer
  Every key gets PEXPIRE 90 min (2 x the default 45 min peer lifetime), as announce.lua
  gives swarms with purge_inactive_torrents.

Which peers, which swarms (chosen so that wrk with scripts/bench/tracker.lua re-announces
exactly the peers that were loaded):
  - info_hash of swarm i = ih_bytes(i) of scripts/bench/hashes.py, i = 0 .. SWARMS-1
    (the wrk script derives the same ones);
  - peer p (p = 0, 1, ...) is the tracker.lua simulated peer p: peer_id "-SB0001-" + p in
    12 decimal digits, port 1024 + p % 64000, seeder iff p % 10 < 3 (30%), address
    127.0.0.1 (wrk's announces come from there), in swarm TOR[p]: tracker.lua's own
    Zipf (s = 1) draw over SWARMS torrents, recomputed here bit for bit;
  - peers are taken in that order until the swarms still empty can get exactly one
    "filler" peer each and the total is PEERS: WRK_PEERS = that number of Zipf peers.
    So the swarm sizes are Zipf (s = 1) by rank, every swarm has at least one peer, and
    `wrk ... -- announce SWARMS WRK_PEERS SEED` announces only loaded peers (mostly
    plain re-announces: score refresh). Filler peers continue the same numbering;
  - expiry: ~5% of the peers (random, seeded) are already expired (score 1 s - 10 min
    in the past); the others expire 15 - 45 min from now (uniform), so none expires by
    itself during a benchmark run. Another disjoint ~5% is in expire2.resp.
"""
import bisect
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from hashes import ih_bytes  # noqa: E402  (scripts/bench/hashes.py)

M32 = 1 << 32
CHUNK = 1000            # members per ZADD / fields per HSET
KEY_TTL_MS = 90 * 60 * 1000
SEED = 20261125


def zipf_cdf(n):
    """tracker.lua's CDF: running sum of 1/t in doubles, divided by the total."""
    cdf, s = [], 0.0
    for t in range(1, n + 1):
        s += 1 / t
        cdf.append(s)
    cdf = [c / s for c in cdf]
    cdf[-1] = 1.0
    return cdf


def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: gen.py PEERS SWARMS OUTDIR > load.resp")
    npeers, nswarms, outdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    if not (1 <= nswarms <= npeers <= 3000000):
        sys.exit("gen.py: need 1 <= SWARMS <= PEERS <= 3000000")
    t_start = time.time()
    now_ms = int(t_start * 1000)

    # --- membership: tracker.lua's Zipf peers until the empty swarms can be filled
    cdf = zipf_cdf(nswarms)
    members = [[] for _ in range(nswarms)]   # peer numbers per swarm
    covered, p = 0, 0
    while p + (nswarms - covered) < npeers:
        u = (((p * 2654435761) % M32) + 0.5) / M32
        t = bisect.bisect_left(cdf, u)          # smallest t with CDF[t] >= u, as zipf()
        if not members[t]:
            covered += 1
        members[t].append(p)
        p += 1
    wrk_peers = p
    for t in range(nswarms):
        if not members[t]:
            members[t].append(p)
            p += 1
    assert p == npeers

    # --- write
    rng = random.Random(SEED)
    out = sys.stdout.buffer
    expire2 = open(os.path.join(outdir, "expire2.resp"), "wb")
    ip = bytes([127, 0, 0, 1])
    live_lo, live_hi = now_ms + 15 * 60000, now_ms + 45 * 60000
    past2 = b"%d" % (now_ms - 1000)
    ttl = b"%d" % KEY_TTL_MS
    tot = {"seeders": 0, "leechers": 0, "expired": 0, "expire2": 0, "keys": 0,
           "commands": 0}
    sample_every = max(1, nswarms // 1000)
    sample, top = [], []
    for t in range(nswarms):
        hexh = ih_bytes(t).hex().encode()
        tag = b"{" + hexh + b"}"
        sets = {b"S": [], b"L": []}      # role -> [(score, member)]
        fields = []
        exp2 = {b"S": [], b"L": []}
        nexp = 0
        for q in members[t]:
            pid = b"-SB0001-%012d" % q
            ep = ip + (1024 + q % 64000).to_bytes(2, "big")
            role = b"S" if q % 10 < 3 else b"L"
            r = rng.random()
            if r < 0.05:
                score = now_ms - rng.randint(1000, 600000)
                nexp += 1
            else:
                score = rng.randint(live_lo, live_hi)
            m = pid + ep
            sets[role].append((b"%d" % score, m))
            fields.append((pid, role + ep))
            if 0.05 <= r < 0.10:
                exp2[role].append(m)
        keys = []
        for role, suffix in ((b"S", b":seeders"), (b"L", b":leechers")):
            lst = sets[role]
            if not lst:
                continue
            key = tag + suffix
            keys.append(key)
            for i in range(0, len(lst), CHUNK):
                part = lst[i:i + CHUNK]
                buf = [b"*%d\r\n$4\r\nZADD\r\n" % (2 + 2 * len(part)), bulk(key)]
                for s, m in part:
                    buf.append(bulk(s))
                    buf.append(bulk(m))
                out.write(b"".join(buf))
                tot["commands"] += 1
            ex = exp2[role]
            for i in range(0, len(ex), CHUNK):
                part = ex[i:i + CHUNK]
                buf = [b"*%d\r\n$4\r\nZADD\r\n" % (3 + 2 * len(part)), bulk(key), b"$2\r\nXX\r\n"]
                for m in part:
                    buf.append(bulk(past2))
                    buf.append(bulk(m))
                expire2.write(b"".join(buf))
        downloaded = rng.randint(0, max(1, len(members[t]) // 2))
        fields.append((b"downloaded", b"%d" % downloaded))
        pkey = tag + b":peers"
        keys.append(pkey)
        for i in range(0, len(fields), CHUNK):
            part = fields[i:i + CHUNK]
            buf = [b"*%d\r\n$4\r\nHSET\r\n" % (2 + 2 * len(part)), bulk(pkey)]
            for f, v in part:
                buf.append(bulk(f))
                buf.append(bulk(v))
            out.write(b"".join(buf))
            tot["commands"] += 1
        for key in keys:
            out.write(b"*3\r\n$7\r\nPEXPIRE\r\n" + bulk(key) + bulk(ttl))
            tot["commands"] += 1
        ns, nl = len(sets[b"S"]), len(sets[b"L"])
        tot["seeders"] += ns
        tot["leechers"] += nl
        tot["expired"] += nexp
        tot["expire2"] += len(exp2[b"S"]) + len(exp2[b"L"])
        tot["keys"] += len(keys)
        if t < 10 or t % sample_every == 0:
            sample.append({"index": t, "hex": hexh.decode(), "seeders": ns, "leechers": nl,
                           "hlen": len(fields)})
        if t < 10:
            top.append({"index": t, "hex": hexh.decode(), "peers": ns + nl, "expired": nexp})
    expire2.close()
    out.flush()

    sizes = sorted((len(m) for m in members), reverse=True)
    buckets = [(1, 1), (2, 9), (10, 99), (100, 999), (1000, 9999), (10000, 10 ** 9)]
    hist = {("%d-%d" % (lo, hi) if hi < 10 ** 9 else "%d+" % lo):
            sum(1 for s in sizes if lo <= s <= hi) for lo, hi in buckets}
    meta = {
        "peers": npeers, "swarms": nswarms, "wrk_peers": wrk_peers,
        "filler_peers": npeers - wrk_peers, "now_ms": now_ms,
        "seeders": tot["seeders"], "leechers": tot["leechers"],
        "expired": tot["expired"], "expire2": tot["expire2"], "keys": tot["keys"],
        "commands": tot["commands"], "largest": sizes[:5],
        "median": sizes[len(sizes) // 2], "size_histogram": hist,
        "top": top, "sample": sample, "gen_seconds": round(time.time() - t_start, 2),
    }
    with open(os.path.join(outdir, "meta.json"), "w") as f:
        json.dump(meta, f)


if __name__ == "__main__":
    main()
