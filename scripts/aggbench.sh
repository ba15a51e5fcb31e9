#!/usr/bin/env bash
# Benchmark starling-aggregator's pass on a large Redis, and what it does to announce
# latency, on loopback only.
#
#   scripts/aggbench.sh          (~50 s on 2 cores)
#
# Environment knobs (defaults in brackets):
#   AGGBENCH_PEERS        peers loaded into Redis                        [1000000]
#   AGGBENCH_SWARMS       swarms (info_hashes of scripts/bench/hashes.py) [100000]
#   AGGBENCH_SECONDS      length of each measured wrk run                [10]
#   AGGBENCH_WARMUP       wrk warm-up seconds before the first run       [3]
#   AGGBENCH_CONNECTIONS  wrk connections, keep-alive, one thread        [8]
#   AGGBENCH_SCAN_COUNT   aggregator.scan_count; empty: the default      []
#   AGGBENCH_SLOWLOG_US   slowlog-log-slower-than while measuring        [100]
#   AGGBENCH_QUIET_WAIT   seconds to wait at most for idle cores first   [30]
#
# What it does:
#   1. starts a private redis-server (save '', appendonly no) on a free loopback port,
#      pinned to core 0, and loads AGGBENCH_PEERS peers into AGGBENCH_SWARMS swarms in
#      starling's layout (scripts/aggbench/gen.py | redis-cli --pipe; gen.py's header
#      says exactly what: Zipf (s = 1) swarm sizes by rank, every swarm at least one peer,
#      30% seeders, ~5% of the peers already expired, the peers being tracker.lua's
#      simulated peers so that wrk re-announces them); reports load time and used_memory;
#   2. verifies the load: DBSIZE, ZCARD/HLEN of a sample of ~1000 swarms, and the sum of
#      ZCARD over every swarm set;
#   3. runs one pass alone: starling-aggregator --once (purge_inactive_torrents true,
#      scan_count default), pinned to core 1; reports its wall time, {starling}:stats
#      (pass_duration_ms, pass_max_call_ms, ...) and its log's max_call_ms, and measures
#      the longest single command on the Redis side: slowlog-log-slower-than
#      AGGBENCH_SLOWLOG_US with a large slowlog-max-len, SLOWLOG RESET before, SLOWLOG GET
#      -1 after, and the longest entries with their swarm (the config is restored after).
#      A threshold of 0 with SLOWLOG GET 10 would show the last 10 commands of the pass,
#      not the longest, and logging every command would slow the pass down;
#   4. starts build/starling on the same Redis, pinned to core 0 with redis-server, and
#      runs wrk (core 1) with scripts/bench/tracker.lua announces, keep-alive, over the
#      loaded swarms and peers: requests/s, p50, p99, max, the slowlog of the window, the
#      CPU of redis-server and starling (/proc/PID/stat);
#   5. re-expires another ~5% of the peers (ZADD XX with a past score, so the passes
#      below purge too), starts starling-aggregator with aggregator.interval 1s (passes
#      back to back) pinned to core 1, waits for its first pass to start, and repeats the
#      same wrk run (same seed). The aggregator runs on wrk's core because in production
#      it runs on another machine: core 0 keeps exactly the tracker's processes, and the
#      pass's real cost, the purge.lua calls, lands on redis-server there anyway. After
#      the window the aggregator finishes the pass in progress (bounded) and is stopped;
#      the passes overlapping the window come from its log ("pass done: ...
#      duration_ms=... max_call_ms=...") and {starling}:aggregator:passes (start/finish);
#   6. prints a summary, with a warning when processes other than this benchmark's used
#      more than 5% of a core on core 0 or core 1 during a measurement (/proc/stat per
#      core minus the benchmark's own processes): on a shared machine, run it again.
#      Before loading, it waits up to AGGBENCH_QUIET_WAIT seconds for both cores to idle.
#
# Everything lives in a mktemp -d directory removed on exit; only the processes this script
# started are stopped, by PID. Every wait and load run is bounded (timeout, loop limits).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LUA="$ROOT/scripts/bench/tracker.lua"
GEN="$ROOT/scripts/aggbench/gen.py"
HELPER="$ROOT/scripts/aggbench/helper.py"

PEERS=${AGGBENCH_PEERS:-1000000}
SWARMS=${AGGBENCH_SWARMS:-100000}
DUR=${AGGBENCH_SECONDS:-10}
WARMUP=${AGGBENCH_WARMUP:-3}
CONNS=${AGGBENCH_CONNECTIONS:-8}
SCAN_COUNT=${AGGBENCH_SCAN_COUNT:-}
SLOW_US=${AGGBENCH_SLOWLOG_US:-100}
QUIET_WAIT=${AGGBENCH_QUIET_WAIT:-30}
INTERVAL=1s

die() { echo "aggbench: $*" >&2; exit 1; }
# the developer's STARLING_* variables would override the config written below
unset "${!STARLING_@}"
say() { echo "aggbench: $*" >&2; }
for v in PEERS SWARMS DUR WARMUP CONNS SLOW_US QUIET_WAIT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
[[ -z $SCAN_COUNT || $SCAN_COUNT =~ ^[1-9][0-9]*$ ]] || die "AGGBENCH_SCAN_COUNT must be a positive integer"
(( SWARMS >= 1 && PEERS >= SWARMS && PEERS <= 3000000 && DUR >= 1 && CONNS >= 1 )) \
  || die "need 1 <= AGGBENCH_SWARMS <= AGGBENCH_PEERS <= 3000000, AGGBENCH_SECONDS >= 1, AGGBENCH_CONNECTIONS >= 1"

# ---------------------------------------------------------------- dependencies
export DEBIAN_FRONTEND=noninteractive
apt_updated=0
need_pkgs() {   # need_pkgs pkg...: install those not installed
  local missing=() p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]}"
  if ((!apt_updated)); then apt-get update -qq >&2; apt_updated=1; fi
  apt-get install -y -qq "${missing[@]}" >&2
}
pkgs=()
command -v wrk >/dev/null || pkgs+=(wrk)
command -v python3 >/dev/null || pkgs+=(python3)
command -v taskset >/dev/null || pkgs+=(util-linux)
command -v redis-server >/dev/null || pkgs+=(redis-server)
command -v redis-cli >/dev/null || pkgs+=(redis-tools)
((${#pkgs[@]} == 0)) || need_pkgs "${pkgs[@]}"

BIN="$ROOT/build/starling"
AGG="$ROOT/build/starling-aggregator"
if [[ ! -x $BIN || ! -x $AGG ]]; then
  need_pkgs cmake gcc make pkg-config libhiredis-dev libevent-dev libjansson-dev
  say "building starling"
  (cd "$ROOT" && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2 \
     && cmake --build build -j2 >&2) || die "build failed"
  [[ -x $BIN && -x $AGG ]] || die "build produced no $BIN / $AGG"
fi

if (( $(nproc) >= 2 )); then
  PIN0=(taskset -c 0); PIN1=(taskset -c 1)
else
  say "fewer than 2 cores: not pinning (figures will be muddled)"
  PIN0=(); PIN1=()
fi
TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d /tmp/starling-aggbench.XXXXXX)
PIDS=()
cleanup() {
  local pid i
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {   # wait_port PORT PID: up to 10 s for a TCP listener
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
cpu_ticks() {   # cpu_ticks PID...: sum of utime+stime (fields 14, 15) in clock ticks
  local pid t=0 rest
  for pid in "$@"; do
    rest=$(<"/proc/$pid/stat") || die "process $pid is gone"
    rest=${rest##*) }              # fields from 3 on (comm may contain spaces)
    read -r -a f <<<"$rest"
    t=$((t + f[11] + f[12]))
  done
  echo "$t"
}
core_busy() {   # core_busy N: user+nice+system+irq+softirq ticks of core N (/proc/stat)
  # (a process's own stime includes the softirq work, e.g. loopback TCP, done in its
  # context, which /proc/stat counts as softirq)
  local l
  l=$(grep "^cpu$1 " /proc/stat) || die "no cpu$1 in /proc/stat"
  read -r -a f <<<"$l"
  echo $((f[1] + f[2] + f[3] + f[6] + f[7]))
}
times_ticks() {   # times_ticks FILE: children's user+sys from a saved `times` output, in ticks
  tail -n1 "$1" | awk -v k="$TCK" 'function sec(x,  m) { m = x; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", x); sub(/s$/, "", x); return m * 60 + x }
    { printf "%d", (sec($1) + sec($2)) * k + 0.5 }'
}
secs() { awk -v t="$1" -v k="$TCK" 'BEGIN { printf "%.2f", t / k }'; }
now_ms() { date +%s%3N; }
alive() { local pid; for pid in "$@"; do kill -0 "$pid" 2>/dev/null || return 1; done; }

# The measurements need the two cores to themselves: wait (bounded) for a quiet machine.
# The summary says afterwards whether other processes ran there during the measurements.
busy_pct() {   # busy_pct: the busier core's user+nice+system share over 1 s, in percent
  local a0 a1 b0 b1
  a0=$(core_busy 0); a1=$(core_busy 1); sleep 1; b0=$(core_busy 0); b1=$(core_busy 1)
  awk -v x=$((b0 - a0)) -v y=$((b1 - a1)) -v k="$TCK" 'BEGIN { m = x > y ? x : y; printf "%d", 100 * m / k }'
}
b=0
for ((i = 0; i < QUIET_WAIT; i++)); do
  b=$(busy_pct)
  ((b < 10)) && break
  ((i == 0)) && say "the machine is busy ($b% of a core): waiting up to ${QUIET_WAIT}s for it to calm down"
done
((b < 10)) || say "still busy ($b% of a core): measuring anyway, see the summary"

RES="$TMP/results.env"
: >"$RES"
put() { echo "$1=$2" >>"$RES"; }
val() { sed -n "s/^$1=//p" "$RES" | tail -n1; }
helper() { timeout -k 5 120 python3 "$HELPER" "$@"; }

put meta "$TMP/meta.json"
put conns "$CONNS"; put seconds "$DUR"; put interval "$INTERVAL"
put scan_count "${SCAN_COUNT:-1000 (default)}"

# ---------------------------------------------------------------- 1. redis, load
RPORT=$(free_port)
"${PIN0[@]}" redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize no --dir "$TMP" >"$TMP/redis.log" 2>&1 &
RPID=$!; PIDS+=("$RPID")
wait_port "$RPORT" "$RPID" || { cat "$TMP/redis.log" >&2; die "redis-server did not start"; }
rcli() { timeout -k 5 60 redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }
for ((i = 0; i < 50; i++)); do [[ $(rcli PING 2>/dev/null) == PONG ]] && break; sleep 0.1; done
helper memory "$RPORT" | sed 's/^used_memory=/used_memory_empty=/' >>"$RES"

say "loading $PEERS peers into $SWARMS swarms (redis on 127.0.0.1:$RPORT)"
t0=$(now_ms)
timeout -k 5 300 python3 "$GEN" "$PEERS" "$SWARMS" "$TMP" \
  | timeout -k 5 300 redis-cli -h 127.0.0.1 -p "$RPORT" --pipe >"$TMP/pipe.log" 2>&1 \
  || { cat "$TMP/pipe.log" >&2; die "load failed"; }
t1=$(now_ms)
grep -q 'errors: 0,' "$TMP/pipe.log" || { cat "$TMP/pipe.log" >&2; die "load had errors"; }
put load_seconds "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')"
helper memory "$RPORT" >>"$RES"
WRK_PEERS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wrk_peers"])' "$TMP/meta.json")
say "loaded in $(val load_seconds) s, used_memory $(val used_memory) bytes"

# ---------------------------------------------------------------- 2. verify
helper verify "$RPORT" "$TMP/meta.json" >>"$RES" || { cat "$RES" >&2; die "verification failed"; }
say "verify: DBSIZE $(val verify_dbsize), all sets hold $(val verify_total_peers) peers, sample mismatches $(val verify_sample_mismatches)"

# ---------------------------------------------------------------- config
FPORT=$(free_port)
scan_line=""
[[ -n $SCAN_COUNT ]] && scan_line="\"scan_count\": $SCAN_COUNT,"
cat >"$TMP/starling.json" <<EOF
{
  "http_listen_addr": "127.0.0.1:$FPORT",
  "udp_listen_addr": "",
  "metrics_listen_addr": "127.0.0.1:0",
  "purge_inactive_torrents": true,
  "log_level": "info",
  "redis": { "host": "127.0.0.1", "port": $RPORT },
  "aggregator": { "interval": "$INTERVAL", $scan_line "metrics_listen_addr": "" }
}
EOF
"$AGG" --config "$TMP/starling.json" --check-config >/dev/null || die "aggregator rejects the config"

# ---------------------------------------------------------------- 3. one pass alone
say "one pass alone (starling-aggregator --once)"
helper slowlog-on "$RPORT" "$SLOW_US" 100000 "$TMP/slowlog.json" >>"$RES"
c0=$(cpu_ticks "$RPID"); k0=$(core_busy 0); t0=$(now_ms)
"${PIN1[@]}" timeout -k 5 300 "$AGG" --config "$TMP/starling.json" --once 2>"$TMP/once.log" \
  || { cat "$TMP/once.log" >&2; die "starling-aggregator --once failed"; }
t1=$(now_ms); c1=$(cpu_ticks "$RPID"); k1=$(core_busy 0)
helper slowlog-off "$RPORT" "$TMP/slowlog.json" once "$ROOT/build/generated/lua" "$TMP/meta.json" >>"$RES"
grep -q 'pass done:' "$TMP/once.log" || { cat "$TMP/once.log" >&2; die "the --once run did no pass"; }
put once_wall_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1000 }')"
put once_redis_cpu "$(secs $((c1 - c0)))"
put once_core0_other "$(secs $((k1 - k0 - (c1 - c0))))"
put once_log_max_call_ms "$(sed -n 's/.*pass done:.* max_call_ms=\([0-9.]*\).*/\1/p' "$TMP/once.log" | tail -n1)"
helper stats "$RPORT" >>"$RES"
say "$(grep 'pass done:' "$TMP/once.log" | sed 's/.*msg=//')"

# ---------------------------------------------------------------- 4. frontend, no pass
"${PIN0[@]}" "$BIN" --config "$TMP/starling.json" 2>"$TMP/starling.log" &
SPID=$!; PIDS+=("$SPID")
wait_port "$FPORT" "$SPID" || { cat "$TMP/starling.log" >&2; die "starling did not start"; }
for ((i = 0; i < 50; i++)); do
  grep -q 'http listening' "$TMP/starling.log" && break; sleep 0.1
done
URL="http://127.0.0.1:$FPORT/"

run_wrk() {   # run_wrk TAG SECONDS SEED [extra pids for CPU]: fills TAG_* in $RES
  local tag=$1 secs=$2 seed=$3 f0 f1 r0 r1 k0 k1 j0 j1 x0=0 x1=0 w0 w1
  shift 3
  alive "$RPID" "$SPID" || die "redis-server or starling died before $tag"
  r0=$(cpu_ticks "$RPID"); f0=$(cpu_ticks "$SPID"); k0=$(core_busy 0); j0=$(core_busy 1)
  times >"$TMP/times0"
  (($#)) && x0=$(cpu_ticks "$@")
  w0=$(now_ms)
  timeout -k 5 $((secs + 60)) "${PIN1[@]}" wrk -t1 -c"$CONNS" -d"${secs}s" -s "$LUA" "$URL" \
    -- announce "$SWARMS" "$WRK_PEERS" "$seed" >"$TMP/wrk-$tag.txt" 2>&1 \
    || { cat "$TMP/wrk-$tag.txt" >&2; die "wrk failed ($tag)"; }
  w1=$(now_ms)
  r1=$(cpu_ticks "$RPID"); f1=$(cpu_ticks "$SPID"); k1=$(core_busy 0); j1=$(core_busy 1)
  times >"$TMP/times1"
  (($#)) && x1=$(cpu_ticks "$@")
  alive "$RPID" "$SPID" || die "redis-server or starling died during $tag"
  WRK_END_MS=$w1
  helper wrk "$TMP/wrk-$tag.txt" "$tag" >>"$RES"
  [[ $tag == warmup ]] && return 0
  put "${tag}_wall_s" "$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", (b - a) / 1000 }')"
  put "${tag}_redis_cpu" "$(secs $((r1 - r0)))"
  put "${tag}_fe_cpu" "$(secs $((f1 - f0)))"
  put "${tag}_core0_cpu" "$(secs $((r1 - r0 + f1 - f0)))"
  put "${tag}_agg_cpu" "$(secs $((x1 - x0)))"
  # core 0 should hold only redis-server and starling, core 1 only wrk (a waited-for child:
  # `times`, saved in the shell itself, not in a $( ) subshell) and the aggregator:
  # anything else there skews the run
  put "${tag}_core0_other" "$(secs $((k1 - k0 - (r1 - r0) - (f1 - f0))))"
  put "${tag}_core1_other" "$(secs $((j1 - j0 - ($(times_ticks "$TMP/times1") - $(times_ticks "$TMP/times0")) - (x1 - x0))))"
  say "$tag: $(val "${tag}_rps") req/s, p50 $(val "${tag}_p50_ms") ms, p99 $(val "${tag}_p99_ms") ms, max $(val "${tag}_max_ms") ms"
}

helper count "$RPORT" | sed 's/^/before_nopass_/' >>"$RES"
if ((WARMUP > 0)); then run_wrk warmup "$WARMUP" 1; fi
say "wrk without a pass (${DUR}s)"
helper slowlog-on "$RPORT" "$SLOW_US" 100000 "$TMP/slowlog.json" >/dev/null
run_wrk nopass "$DUR" 101
helper slowlog-off "$RPORT" "$TMP/slowlog.json" nopass "$ROOT/build/generated/lua" >>"$RES"
helper count "$RPORT" | sed 's/^/after_nopass_/' >>"$RES"

# ---------------------------------------------------------------- 5. frontend, passes
say "re-expiring $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["expire2"])' "$TMP/meta.json") more peers"
rcli --pipe <"$TMP/expire2.resp" >"$TMP/pipe2.log" 2>&1 || { cat "$TMP/pipe2.log" >&2; die "re-expiry failed"; }
grep -q 'errors: 0,' "$TMP/pipe2.log" || { cat "$TMP/pipe2.log" >&2; die "re-expiry had errors"; }

: >"$TMP/agg.log"
"${PIN1[@]}" "$AGG" --config "$TMP/starling.json" 2>"$TMP/agg.log" &
APID=$!; PIDS+=("$APID")
for ((i = 0; i < 100; i++)); do
  grep -q 'leader: acquired' "$TMP/agg.log" && break
  kill -0 "$APID" 2>/dev/null || break
  sleep 0.1
done
grep -q 'leader: acquired' "$TMP/agg.log" || { cat "$TMP/agg.log" >&2; die "the aggregator did not lead"; }
say "wrk with the aggregator passing back to back (${DUR}s)"
helper slowlog-on "$RPORT" "$SLOW_US" 100000 "$TMP/slowlog.json" >/dev/null
run_wrk pass "$DUR" 101 "$APID"
W1=$WRK_END_MS
helper slowlog-off "$RPORT" "$TMP/slowlog.json" pass "$ROOT/build/generated/lua" >>"$RES"
# let the pass in progress finish, so that every pass overlapping the window is complete
ndone=$(grep -c 'pass done:' "$TMP/agg.log" || true)
for ((i = 0; i < 600; i++)); do
  (( $(grep -c 'pass done:' "$TMP/agg.log" || true) > ndone )) && break
  kill -0 "$APID" 2>/dev/null || break
  sleep 0.1
done
kill "$APID" 2>/dev/null || true
for ((i = 0; i < 100; i++)); do kill -0 "$APID" 2>/dev/null || break; sleep 0.1; done
helper passes "$RPORT" "$TMP/agg.log" $((W1 - DUR * 1000)) "$W1" >>"$RES"
# (stopping it may abandon a pass it had just started: expected, not reported)
warns=$(grep -hE 'level=(warn|error)' "$TMP/agg.log" "$TMP/starling.log" | grep -v 'pass abandoned: shutting down' || true)
[[ -z $warns ]] || { say "warnings in the logs:"; head -n 5 <<<"$warns" >&2; }
put log_warnings "$(grep -c . <<<"$warns" || true)"

# ---------------------------------------------------------------- 6. summary
put runtime_s "$SECONDS"
echo
helper summary "$RES"
