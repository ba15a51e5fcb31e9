#!/usr/bin/env python3
"""Helpers of scripts/aggbench.sh (Python 3 standard library only).

Each subcommand prints `key=value` lines (values may contain spaces) for the shell, except
`summary`, which prints the report.

  verify   PORT META            DBSIZE, a sample's ZCARD/HLEN, the sum of every ZCARD
  count    PORT                 total stored peers (sum of ZCARD of every swarm set)
  memory   PORT                 used_memory
  stats    PORT                 {starling}:stats, prefixed stats_
  slowlog-on  PORT THRESH_US MAXLEN STATE   save the slowlog config to STATE, set it,
                                SLOWLOG RESET, CONFIG RESETSTAT
  slowlog-off PORT STATE PREFIX LUADIR      read the slowlog and INFO commandstats,
                                restore the config, SLOWLOG RESET
  passes   PORT LOG W0_MS W1_MS the aggregator's passes (log + {starling}:aggregator:passes)
                                and how they overlap the window [W0, W1]
  wrk      FILE PREFIX          wrk's BENCHRESULT line and its "Latency" max
  summary  RESULTS              the final report from the collected key=value lines
"""
import calendar
import hashlib
import json
import math
import os
import re
import socket
import sys
import time

IO_TIMEOUT = 60.0


class Redis:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", int(port)), timeout=IO_TIMEOUT)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("redis error: " + rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("bad RESP: %r" % line[:40])

    @staticmethod
    def _encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def call(self, *args):
        self.s.sendall(self._encode(args))
        return self._reply()

    def pipeline(self, cmds):
        self.s.sendall(b"".join(self._encode(c) for c in cmds))
        return [self._reply() for _ in cmds]


def s(x):
    return x.decode(errors="replace") if isinstance(x, bytes) else str(x)


def emit(key, value):
    print("%s=%s" % (key, value))


COUNT_LUA = """
local c, n, k = "0", 0, 0
repeat
  local r = redis.call("SCAN", c, "MATCH", "{*}:*", "COUNT", 1000, "TYPE", "zset")
  c = r[1]
  for _, key in ipairs(r[2]) do n = n + redis.call("ZCARD", key); k = k + 1 end
until c == "0"
return {n, k}
"""


def total_peers(r):
    n, k = r.call("EVAL", COUNT_LUA, 0)
    return n, k


def cmd_verify(port, meta_path):
    meta = json.load(open(meta_path))
    r = Redis(port)
    dbsize = r.call("DBSIZE")
    cmds = []
    for e in meta["sample"]:
        tag = "{%s}" % e["hex"]
        cmds += [("ZCARD", tag + ":seeders"), ("ZCARD", tag + ":leechers"), ("HLEN", tag + ":peers")]
    replies = r.pipeline(cmds)
    bad = 0
    got_peers = 0
    for i, e in enumerate(meta["sample"]):
        zs, zl, hl = replies[3 * i:3 * i + 3]
        got_peers += zs + zl
        if (zs, zl, hl) != (e["seeders"], e["leechers"], e["hlen"]):
            bad += 1
    want_peers = sum(e["seeders"] + e["leechers"] for e in meta["sample"])
    n, k = total_peers(r)
    emit("verify_dbsize", dbsize)
    emit("verify_keys_expected", meta["keys"])
    emit("verify_sample_swarms", len(meta["sample"]))
    emit("verify_sample_peers", "%d/%d" % (got_peers, want_peers))
    emit("verify_sample_mismatches", bad)
    emit("verify_total_peers", n)
    emit("verify_zsets", k)
    ok = dbsize == meta["keys"] and bad == 0 and n == meta["peers"]
    emit("verify_ok", "yes" if ok else "NO")
    return 0 if ok else 1


def cmd_count(port):
    n, k = total_peers(Redis(port))
    emit("total_peers", n)
    emit("zsets", k)


def info_fields(r, section):
    out = {}
    for line in s(r.call("INFO", section)).splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def cmd_memory(port):
    f = info_fields(Redis(port), "memory")
    emit("used_memory", f["used_memory"])


def cmd_stats(port):
    r = Redis(port)
    h = r.call("HGETALL", "{starling}:stats") or []
    for i in range(0, len(h), 2):
        k = s(h[i])
        if k.startswith("requests:"):
            continue
        emit("stats_" + k, s(h[i + 1]))


def cmd_slowlog_on(port, thresh, maxlen, state):
    r = Redis(port)
    orig = {}
    for name in ("slowlog-log-slower-than", "slowlog-max-len"):
        k, v = r.call("CONFIG", "GET", name)
        orig[name] = s(v)
    json.dump(orig, open(state, "w"))
    r.call("CONFIG", "SET", "slowlog-max-len", maxlen)
    r.call("CONFIG", "SET", "slowlog-log-slower-than", thresh)
    r.call("SLOWLOG", "RESET")
    r.call("CONFIG", "RESETSTAT")
    emit("slowlog_threshold_us", thresh)


def script_names(luadir):
    """sha -> file name, of the assembled scripts (build/generated/lua: the bodies Redis
    names by their SHA1, not the lua/ sources)."""
    names = {}
    for fn in sorted(os.listdir(luadir)):
        if fn.endswith(".lua"):
            with open(os.path.join(luadir, fn), "rb") as f:
                names[hashlib.sha1(f.read()).hexdigest()] = fn
    return names


SWARM_KEY = re.compile(r"^\{([0-9a-f]{40})\}:(seeders|leechers|peers)$")


# Commands that only starling's Lua scripts send here: Redis 7 logs a script's inner
# commands in the slowlog too; each is part of (and no longer than) its EVALSHA.
INNER = {"ZRANGEBYSCORE", "ZREM", "HDEL", "ZCARD", "ZRANGE", "HGET", "DEL", "ZADD",
         "HINCRBY", "PEXPIRE"}


def describe(args, names):
    """'EVALSHA purge.lua {hex}:seeders' and the swarm's hex (or None)."""
    a = [s(x) for x in args]
    cmd = a[0].upper() if a else "?"
    what = cmd
    if cmd in INNER:
        what += " (inside a script)"
    if cmd == "SCAN":
        key = ""
    elif cmd == "EVALSHA" and len(a) > 1:
        what += " " + names.get(a[1].lower(), a[1][:12])
        key = a[3] if len(a) > 3 else ""
    elif cmd == "EVAL":
        key = a[3] if len(a) > 3 else ""
        what += " (inline script)"
    else:
        key = a[1] if len(a) > 1 else ""
    m = SWARM_KEY.match(key)
    return what, (m.group(1) if m else None), key


def cmd_slowlog_off(port, state, prefix, luadir, meta_path=None):
    loaded = {}
    if meta_path:
        for e in json.load(open(meta_path))["top"]:
            loaded[e["index"]] = e
    r = Redis(port)
    entries = r.call("SLOWLOG", "GET", "-1")
    cmdstats = info_fields(r, "commandstats")
    orig = json.load(open(state))
    r.call("CONFIG", "SET", "slowlog-log-slower-than", orig["slowlog-log-slower-than"])
    r.call("CONFIG", "SET", "slowlog-max-len", orig["slowlog-max-len"])
    r.call("SLOWLOG", "RESET")
    names = script_names(luadir)
    entries = [e for e in entries
               if not (e[3] and s(e[3][0]).upper() in ("SLOWLOG", "CONFIG", "INFO"))]
    entries.sort(key=lambda e: -e[2])
    emit(prefix + "_slow_count", len(entries))
    if entries:
        emit(prefix + "_slow_max_us", entries[0][2])
    else:
        emit(prefix + "_slow_max_us", "")
    # by kind: the longest of each described command, and how many
    kinds = {}
    for e in entries:
        what, hexh, key = describe(e[3], names)
        k = kinds.setdefault(what, [0, 0, key, hexh])
        k[0] += 1
        if e[2] > k[1]:
            k[1], k[2], k[3] = e[2], key, hexh
    top = [e for e in entries if not (e[3] and s(e[3][0]).upper() in INNER)]
    for i, e in enumerate(top[:5]):
        what, hexh, key = describe(e[3], names)
        extra = ""
        if hexh:
            tag = "{%s}" % hexh
            zs, zl = r.pipeline([("ZCARD", tag + ":seeders"), ("ZCARD", tag + ":leechers")])
            idx = int(hexh[32:], 16)
            extra = " swarm #%d (%d peers now" % (idx, zs + zl)
            if idx in loaded:
                extra += "; loaded %d, %d of them expired" % (loaded[idx]["peers"], loaded[idx]["expired"])
            extra += ")"
        elif key:
            extra = " " + key
        emit("%s_slow_top%d" % (prefix, i + 1), "%d us %s%s" % (e[2], what, extra))
    for what, (n, mx, key, hexh) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        where = " swarm #%d" % int(hexh[32:], 16) if hexh else ""
        emit("%s_slow_kind" % prefix, "%s: %d calls, max %d us%s" % (what, n, mx, where))
    for name in ("evalsha", "scan", "set", "hset"):
        f = cmdstats.get("cmdstat_" + name)
        if f:
            kv = dict(x.split("=", 1) for x in f.split(","))
            emit("%s_cmd_%s_calls" % (prefix, name), kv.get("calls", ""))
            emit("%s_cmd_%s_usec" % (prefix, name), kv.get("usec", ""))


LOG_TS = re.compile(r"^ts=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z")


def log_ms(line):
    m = LOG_TS.match(line)
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) * 1000 + int(m.group(2))


def cmd_passes(port, log, w0, w1):
    w0, w1 = int(w0), int(w1)
    leader = None
    done = []
    with open(log, errors="replace") as f:
        for line in f:
            m = re.search(r"started as (\S+);", line)
            if m and leader is None:
                leader = m.group(1)
            if 'msg="pass done:' in line:
                kv = dict(re.findall(r"(\w+)=([0-9.]+)", line.split("msg=", 1)[1]))
                kv["log_ms"] = log_ms(line)
                done.append(kv)
    r = Redis(port)
    hist = [s(x).split() for x in (r.call("LRANGE", "{starling}:aggregator:passes", 0, -1) or [])]
    mine = [(int(h[1]), int(h[2])) for h in reversed(hist) if len(h) == 3 and h[0] == leader]
    if len(mine) != len(done):
        emit("passes_warning", "%d passes in the log, %d in {starling}:aggregator:passes"
             % (len(done), len(mine)))
    rows = []
    calls_in = []
    covered = 0
    for i, kv in enumerate(done):
        st, fi = mine[i] if i < len(mine) else (None, None)
        if st is None:
            continue
        ov = max(0, min(fi, w1) - max(st, w0))
        if ov <= 0:
            continue
        covered += ov
        if fi <= w1 and "max_call_ms" in kv:
            calls_in.append(float(kv["max_call_ms"]))
        where = ""
        if st < w0:
            where = ", started before the window"
        if fi > w1:
            where = ", finished after the window (unloaded, and with this script's SLOWLOG read)"
        rows.append("%s ms (max_call %s ms, expired %s%s)" % (
            kv.get("duration_ms", "?"), kv.get("max_call_ms", "?"), kv.get("expired", "?"), where))
    emit("passes_total", len(done))
    emit("passes_in_window", len(rows))
    emit("passes_window_coverage_pct", "%.0f" % (100.0 * covered / max(1, w1 - w0)))
    emit("passes_list", "; ".join(rows))
    if calls_in:
        emit("passes_max_call_max_ms", "%.3f" % max(calls_in))


def to_ms(text):
    m = re.match(r"([0-9.]+)(us|ms|s|m)$", text)
    if not m:
        return ""
    v, u = float(m.group(1)), m.group(2)
    return "%.3f" % (v * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[u])


def cmd_wrk(path, prefix):
    text = open(path, errors="replace").read()
    m = re.search(r"^BENCHRESULT (.*)$", text, re.M)
    if not m:
        sys.stderr.write(text)
        sys.exit("helper: no BENCHRESULT in " + path)
    for kv in m.group(1).split():
        k, v = kv.split("=", 1)
        emit("%s_%s" % (prefix, k), v)
    m = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    emit(prefix + "_max_ms", to_ms(m.group(3)) if m else "")


# ---------------------------------------------------------------- summary

def cmd_summary(path):
    R = {}
    multi = {}
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" not in line:
                continue
            k, v = line.split("=", 1)
            R[k] = v
            multi.setdefault(k, []).append(v)
    g = R.get

    def num(k, default=0.0):
        try:
            return float(R[k])
        except (KeyError, ValueError):
            return default

    def ms(us_key):
        v = g(us_key, "")
        return "%.2f ms" % (int(v) / 1000.0) if v else "n/a (< threshold)"

    meta = json.load(open(g("meta")))
    P = print
    P("aggbench summary")
    P("  data     %s peers in %s swarms; sizes Zipf s=1 by rank (largest %s; median %s; histogram %s);"
      % (format(meta["peers"], ","), format(meta["swarms"], ","),
         ", ".join(str(x) for x in meta["largest"]), meta["median"],
         " ".join("%s:%d" % kv for kv in meta["size_histogram"].items())))
    P("           30%% seeders; %s (%.1f%%) expired at load, %s more re-expired before the with-pass run"
      % (format(meta["expired"], ","), 100.0 * meta["expired"] / meta["peers"],
         format(meta["expire2"], ",")))
    P("  load     %.1f s (generate + redis-cli --pipe, %s commands, %s keys); used_memory %.1f MB"
      " (%.0f B/peer over empty)"
      % (num("load_seconds"), format(meta["commands"], ","), g("verify_dbsize"),
         num("used_memory") / 1048576, (num("used_memory") - num("used_memory_empty")) / meta["peers"]))
    P("  verify   %s: DBSIZE %s (expected %s); sample of %s swarms: %s mismatches, peers %s;"
      " sum of ZCARD over all %s sets: %s"
      % (g("verify_ok"), g("verify_dbsize"), g("verify_keys_expected"), g("verify_sample_swarms"),
         g("verify_sample_mismatches"), g("verify_sample_peers"), g("verify_zsets"),
         g("verify_total_peers")))
    P("")
    P("  pass alone (starling-aggregator --once, scan_count %s, purge_inactive_torrents true, on core 1):"
      % g("scan_count"))
    P("           wall %.2f s; pass_duration_ms %s; torrents %s seeders %s leechers %s; expired %s, deleted %s"
      % (num("once_wall_s"), g("stats_pass_duration_ms"), g("stats_torrents"), g("stats_seeders"),
         g("stats_leechers"), g("stats_peers_expired"), g("stats_swarms_deleted")))
    P("           longest single call: aggregator %s ms (log; {starling}:stats pass_max_call_ms %s);"
      " SLOWLOG %s"
      % (g("once_log_max_call_ms", "?"), g("stats_pass_max_call_ms"), ms("once_slow_max_us")))
    for i in range(1, 4):
        if g("once_slow_top%d" % i):
            P("             slowlog #%d: %s" % (i, g("once_slow_top%d" % i)))
    P("           per swarm: %.1f us of pass wall time, %.1f us of redis-server CPU"
      % (1e6 * num("once_wall_s") / meta["swarms"], 1e6 * num("once_redis_cpu") / meta["swarms"]))
    P("           redis-server CPU during the pass %.2f s (%.0f%% of the wall time); EVALSHA %s calls,"
      " %.0f ms in Redis; SCAN %s calls, %.0f ms"
      % (num("once_redis_cpu"), 100 * num("once_redis_cpu") / max(1e-9, num("once_wall_s")),
         g("once_cmd_evalsha_calls", "?"), num("once_cmd_evalsha_usec") / 1000,
         g("once_cmd_scan_calls", "?"), num("once_cmd_scan_usec") / 1000))
    P("")
    P("  frontend under load: wrk -t1 -c%s keep-alive %s s on core 1, tracker.lua announces over"
      " the loaded swarms (%s loaded peers);" % (g("conns"), g("seconds"), format(meta["wrk_peers"], ",")))
    P("  starling + redis-server on core 0; aggregator (interval %s, scan_count %s) on core 1"
      % (g("interval"), g("scan_count")))
    P("           %-14s %8s %8s %8s %8s %7s %10s  %s" % ("", "req/s", "p50 ms", "p99 ms", "max ms",
                                                      "errors", "core0 CPU", "longest Redis command (SLOWLOG)"))
    for tag, label in (("nopass", "without pass"), ("pass", "with passes")):
        errs = sum(int(num("%s_%s" % (tag, k))) for k in ("connect", "write", "status", "timeout", "failures"))
        P("           %-14s %8s %8s %8s %8s %7d %9.0f%%  %s" % (
            label, g(tag + "_rps"), g(tag + "_p50_ms"), g(tag + "_p99_ms"), g(tag + "_max_ms"), errs,
            100 * num(tag + "_core0_cpu") / max(1e-9, num(tag + "_wall_s")),
            g(tag + "_slow_top1", "none over %s us" % g("slowlog_threshold_us"))))
    p99a, p99b = num("nopass_p99_ms"), num("pass_p99_ms")
    p50a, p50b = num("nopass_p50_ms"), num("pass_p50_ms")
    P("           (wrk process wall time, including its script's init: %s s / %s s)"
      % (g("nopass_wall_s"), g("pass_wall_s")))
    P("           p99 with/without passes: %.2fx   p50: %.2fx   req/s: %.2fx" % (
        p99b / p99a if p99a else 0, p50b / p50a if p50a else 0,
        num("pass_rps") / num("nopass_rps") if num("nopass_rps") else 0))
    P("           CPU s in the windows: without pass redis %.2f starling %.2f; with passes redis %.2f"
      " starling %.2f aggregator %.2f"
      % (num("nopass_redis_cpu"), num("nopass_fe_cpu"), num("pass_redis_cpu"), num("pass_fe_cpu"),
         num("pass_agg_cpu")))
    P("           passes overlapping the with-pass window: %s (a pass was running %s%% of it): %s"
      % (g("passes_in_window"), g("passes_window_coverage_pct"), g("passes_list")))
    P("           longest call of those passes that ended within the window (aggregator-measured): %s ms"
      % g("passes_max_call_max_ms", "?"))
    if g("passes_warning"):
        P("           warning: " + g("passes_warning"))
    # wrk draws peers uniformly from the loaded ones: D distinct of W. If they are the
    # loaded peers, only the ~5% the pass purged come back (minus ~1% 'stopped'); if they
    # were not, nearly every distinct peer would be new.
    W, draws = meta["wrk_peers"], num("warmup_requests") + num("nopass_requests")
    D = W * (1 - math.exp(-draws / W)) if W else 0
    before, after = num("before_nopass_total_peers"), num("after_nopass_total_peers")
    P("           stored peers across the no-pass runs (warm-up + measured): %d -> %d (%+d); expected about"
      " %+d if wrk re-announces the loaded peers, %+d if not" % (before, after, after - before,
                                                              0.04 * D, 0.99 * D))
    kinds = multi.get("pass_slow_kind", [])
    if kinds:
        P("           SLOWLOG (>= %s us) during the with-pass run, by command:" % g("slowlog_threshold_us"))
        for k in kinds[:6]:
            P("             " + k)
    kinds = multi.get("nopass_slow_kind", [])
    if kinds:
        P("           SLOWLOG (>= %s us) during the no-pass run, by command:" % g("slowlog_threshold_us"))
        for k in kinds[:4]:
            P("             " + k)
    busy, seen = [], []
    for key, wall, label in (("once_core0_other", "once_wall_s", "core 0 in the pass alone"),
                             ("nopass_core0_other", "nopass_wall_s", "core 0 in the no-pass run"),
                             ("nopass_core1_other", "nopass_wall_s", "core 1 in the no-pass run"),
                             ("pass_core0_other", "pass_wall_s", "core 0 in the with-pass run"),
                             ("pass_core1_other", "pass_wall_s", "core 1 in the with-pass run")):
        share = 100 * num(key) / max(1e-9, num(wall))
        seen.append("%s %.0f%%" % (label, share))
        if share > 5:
            busy.append("%s %.0f%%" % (label, share))
    if busy:
        P("  WARNING  other processes ran on the benchmark's cores (%s of a core):"
          " the figures are unreliable, run again on a quiet machine" % ", ".join(busy))
    else:
        P("  quiet    other processes used under 5% of a core on the benchmark's cores (/proc/stat minus"
          " the benchmark's processes; tick sampling makes it +-5%):")
        P("           " + ", ".join(seen))
    P("  notes    slowlog durations are wall time inside redis-server: under load they include"
      " time the kernel gave starling on core 0.")
    P("           The aggregator's max_call is the time between two pipelined replies (or one blocking"
      " call): under load it includes announces Redis served in between.")
    P("  total runtime %s s" % g("runtime_s"))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, a = sys.argv[1], sys.argv[2:]
    fns = {"verify": cmd_verify, "count": cmd_count, "memory": cmd_memory, "stats": cmd_stats,
           "slowlog-on": cmd_slowlog_on, "slowlog-off": cmd_slowlog_off, "passes": cmd_passes,
           "wrk": cmd_wrk, "summary": cmd_summary}
    if cmd not in fns:
        sys.exit(__doc__)
    rc = fns[cmd](*a)
    sys.exit(rc or 0)


if __name__ == "__main__":
    main()
