#!/usr/bin/env bash
# Benchmark starling against opentracker, side by side in one run, on loopback only.
#
#   scripts/bench.sh          every mode below in both workloads, then the scale section
#   scripts/bench.sh scale    the scale section only (= BENCH_MODES=scale)
#   BENCH_QUICK=1 scripts/bench.sh   quick form for iterating (see BENCH_QUICK)
#
# Environment knobs (defaults in brackets):
#   BENCH_QUICK        1: quick form for iterating: warm-up 2 s, 3 s per run, and no scale
#                      section unless BENCH_MODES names it (or `scripts/bench.sh scale`);
#                      BENCH_SECONDS / BENCH_WARMUP still override       [0]
#   BENCH_WORKLOADS    workloads of the announce modes, space/comma separated  [steady churn]
#                        steady  each simulated peer stays in one torrent (TOR[p], Zipf) and
#                                re-announces: most announces update an existing entry
#                        churn   every announce names a torrent drawn afresh by Zipf, so
#                                nearly every announce inserts a new swarm member (peers
#                                hopping between torrents); same peers, seed and event mix
#                      The scrape modes (scrape-close, udp-scrape) run with steady only (a
#                      scrape names no peer), and are skipped when steady is not listed. All
#                      steady runs go first (mode order as below), then the churn runs.
#   BENCH_SECONDS      length of each measured wrk run                  [10; quick: 3]
#   BENCH_WARMUP       warm-up seconds per tracker before measuring    [5; quick: 2]
#   BENCH_TORRENTS     info_hashes, Zipf (s=1) popularity             [100000] (max 3000000)
#   BENCH_PEERS        simulated peer pool                             [100000]
#   BENCH_CONNECTIONS  wrk connections (one wrk thread)                [64]
#   BENCH_ONLY         opentracker | starling: run one tracker only    [both]
#   BENCH_MODES        modes to run, space/comma separated; "http" and "udp" name groups,
#                      "none" runs no main mode (e.g. with BENCH_UDP_OPTIONS=1 only)
#                      [announce-close announce-ka scrape-close announce-close-c8
#                       udp-announce udp-scrape scale]  (also available: udp-announce-c8,
#                      announce-ka-private, announce-close-private: see below)
#   BENCH_PRIVATE_USERS  users of the private modes (peer p announces as user
#                      p % BENCH_PRIVATE_USERS)                        [100000] (max 4000000)
#   BENCH_UDP_SOCKETS  udpload sockets (distinct source ports / clients)  [16]
#   BENCH_UDP_OPTIONS  1: also measure starling's UDP options, starling only (+~40 s):
#                      udp_batch_size 1 vs 32, one process vs two with udp_reuseport  [0]
#   BENCH_STARLING_CONFIG  extra keys for the main starling frontend's config, JSON members
#                      without braces, e.g. '"local_subnet_priority": true' (an option's
#                      cost: run once without, once with)  [none]
#   BENCH_SCALE_ROWS   rows of the scale section   [single cluster two-frontends single-again]
#   BENCH_SCALE_REDIS_CONNECTIONS  redis.connections of the scale section's frontends
#                      (per node on a cluster)  [the default, 2]
#
#   Quick UDP-only iteration:  BENCH_QUICK=1 BENCH_MODES=udp scripts/bench.sh
#   One tracker, one workload: BENCH_QUICK=1 BENCH_ONLY=starling BENCH_WORKLOADS=churn \
#                              BENCH_MODES=udp-announce scripts/bench.sh
#   Private vs public:         BENCH_QUICK=1 BENCH_ONLY=starling BENCH_WORKLOADS=steady \
#                              BENCH_MODES="announce-ka announce-ka-private" scripts/bench.sh
#
# What it does:
#   - installs wrk, opentracker, redis-server, curl, python3 if missing (apt-get), builds
#     build/starling if missing (cmake, RelWithDebInfo);
#   - writes the info_hashes (scripts/bench/hashes.py, same algorithm as the wrk script
#     scripts/bench/tracker.lua) to opentracker's whitelist, starts opentracker, a private
#     redis-server and starling on free loopback ports, all pinned to core 0
#     (taskset -c 0); wrk runs pinned to core 1;
#   - checks that each tracker answers one announce and one scrape properly;
#   - warms each tracker up (steady announces, keep-alive), then per mode, workload and
#     tracker (the same requests for both trackers) runs wrk -t1 -c$BENCH_CONNECTIONS
#     -d${BENCH_SECONDS}s:
#       announce-close  announces with "Connection: close" (one connection per announce,
#                       as real clients do)
#       announce-ka     announces on keep-alive connections
#       announce-close-c8  as announce-close with 8 connections: latency below saturation
#       scrape-close    scrapes of 1-3 Zipf-chosen torrents, "Connection: close" (chosen
#                       because opentracker closes after every reply anyway, so both
#                       trackers do the same work per request)
#       announce-ka-private, announce-close-private  (starling only, not run by default:
#                       loading the users and the own warm-up add ~15 s before the runs)
#                       the announces of announce-ka / announce-close, same seed, so the
#                       same request sequence, against a second starling frontend in
#                       private mode (private_enabled, a site_password) on the same
#                       redis-server, at /<passkey>/announce: the only difference is the
#                       passkey and registered-torrent lookups. Before the first run the
#                       bulk loader (starling table add) registers the BENCH_TORRENTS
#                       info_hashes and BENCH_PRIVATE_USERS users whose passkeys derive
#                       from the user index (scripts/bench/hashes.py passkeys, the same as
#                       tracker.lua's passkey()); the frontend must answer /readyz on its
#                       metrics port, one private announce must succeed and an unknown
#                       passkey, an unregistered torrent and /announce must be refused;
#                       then it gets its own warm-up (same length and seed). A selected
#                       private mode brings its public mode along if BENCH_MODES lacks it.
#                       Each private mode runs twice (MODE-private-first, then the
#                       measured MODE-private: the first stores the peers' accounting
#                       records, which a tracker's re-announces find), then its public
#                       mode once more (MODE-again, same seed, the public frontend): the
#                       private runs replay the public run's requests and find the peers
#                       that run had to store, so the ratios private/public (req/s and
#                       req/CPU-s) of the report are taken against that second public
#                       run (against the first in brackets), re-announces against
#                       re-announces. Cost per private mode and workload: 3 x
#                       BENCH_SECONDS.
#     and over UDP (BEP 15) with build/tests/tools/udpload (same torrents, peers and events
#     as the wrk script; BENCH_CONNECTIONS requests in flight over BENCH_UDP_SOCKETS
#     sockets, each a client with its own connection ID; num_want 50, both trackers'
#     HTTP default), pinned to core 1, against starling's udp_listen_addr and opentracker's -P
#     (checked first with a connect, two announces, a scrape and a wrong connection ID):
#       udp-announce    connect, then announces (connection ID reused up to 55 s)
#       udp-scrape      scrapes of 1-3 Zipf-chosen torrents
#       udp-announce-c8 as udp-announce with 8 in flight (not run by default)
#   - with BENCH_UDP_OPTIONS=1, starling only, udp-announce with the same request sequence
#     for each row: the default frontend (udp_batch_size 32, one process), a frontend with
#     udp_batch_size 1 (no recvmmsg/sendmmsg batching), two frontends sharing the UDP port
#     with udp_reuseport, and the default again (run-to-run noise). Every frontend and the
#     redis-server stay on core 0, so all rows have the same CPU budget;
#   - reports per mode and workload (a `workload` column): requests/s, p50/p99 latency,
#     errors, requests per CPU-second of the tracker's own processes (utime+stime from
#     /proc/PID/stat; starling = frontend + its redis-server), CPU µs per request (CPU s /
#     requests; for starling also split: frontend µs and redis-server µs per request), the
#     ratios starling/opentracker (req/s and req/CPU-s) per mode and workload, the ratios
#     starling private/public per private mode and workload, and starling's
#     stored peers and Redis memory per stored peer after the steady runs and again after
#     the churn runs (churn must leave many more stored peers);
#   - scale (starling only; scripts/bench/scale.sh; steady workload only): the same
#     announce load (HTTP keep-alive through wrk -t2, and UDP through udpload) against
#     starling on one redis-server, on a Redis Cluster of 3 masters (no replicas), and with
#     two frontends on one redis-server,
#     each row with fresh processes and the same warm-up, every tracker process (frontends
#     and every redis-server) on core 0: the same core budget. It prints requests per
#     CPU-second of all of them per row and the ratios cluster/single (the cluster's
#     overhead; the aim is >= 0.9) and two frontends/one. A row whose frontend refuses
#     the sanity announces (a build without cluster routing) is reported and skipped.
#
# Everything lives in a mktemp -d directory removed on exit; only the processes this script
# started are stopped, by PID. Every load run is bounded (wrk -d, plus `timeout`).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LUA="$ROOT/scripts/bench/tracker.lua"
HASHES="$ROOT/scripts/bench/hashes.py"

QUICK=${BENCH_QUICK:-0}
[[ $QUICK == 0 || $QUICK == 1 ]] || { echo "bench: BENCH_QUICK must be 0 or 1" >&2; exit 1; }
if ((QUICK)); then
  DUR=${BENCH_SECONDS:-3}
  WARMUP=${BENCH_WARMUP:-2}
else
  DUR=${BENCH_SECONDS:-10}
  WARMUP=${BENCH_WARMUP:-5}
fi
TORRENTS=${BENCH_TORRENTS:-100000}
PEERS=${BENCH_PEERS:-100000}
CONNS=${BENCH_CONNECTIONS:-64}
ONLY=${BENCH_ONLY:-}
UDP_SOCKETS=${BENCH_UDP_SOCKETS:-16}
UDP_OPTS=${BENCH_UDP_OPTIONS:-0}
PRIV_USERS=${BENCH_PRIVATE_USERS:-100000}

die() { echo "bench: $*" >&2; exit 1; }
for v in DUR WARMUP TORRENTS PEERS CONNS UDP_SOCKETS PRIV_USERS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
(( DUR >= 1 && TORRENTS >= 1 && TORRENTS <= 3000000 && PEERS >= 1 && CONNS >= 1 )) \
  || die "need BENCH_SECONDS>=1, 1<=BENCH_TORRENTS<=3000000, BENCH_PEERS>=1, BENCH_CONNECTIONS>=1"
(( UDP_SOCKETS >= 1 && UDP_SOCKETS <= 4096 && CONNS <= 65535 )) \
  || die "need 1<=BENCH_UDP_SOCKETS<=4096 and BENCH_CONNECTIONS<=65535"
[[ $UDP_OPTS == 0 || $UDP_OPTS == 1 ]] || die "BENCH_UDP_OPTIONS must be 0 or 1"
# the bulk loader reads at most 4M lines at once (frontend/table_admin.c ITEMS_MAX)
(( PRIV_USERS >= 1 && PRIV_USERS <= 4000000 )) || die "need 1<=BENCH_PRIVATE_USERS<=4000000"
HTTP_MODES=(announce-close announce-ka scrape-close announce-close-c8)
UDP_MODES=(udp-announce udp-scrape)
MODES=()
SCALE=0
case ${1:-} in
  "") ;;
  scale) (($# == 1)) || die "usage: scripts/bench.sh [scale]"; BENCH_MODES=scale ;;
  *) die "usage: scripts/bench.sh [scale] (other choices are environment variables: see the header)" ;;
esac
if ((QUICK)); then
  mode_list=${BENCH_MODES:-${HTTP_MODES[*]} ${UDP_MODES[*]}}
else
  mode_list=${BENCH_MODES:-${HTTP_MODES[*]} ${UDP_MODES[*]} scale}
fi
for m in ${mode_list//,/ }; do
  case $m in
    http) MODES+=("${HTTP_MODES[@]}") ;;
    udp) MODES+=("${UDP_MODES[@]}") ;;
    none) ;;
    scale) SCALE=1 ;;
    announce-close|announce-ka|scrape-close|announce-close-c8|udp-announce|udp-scrape|udp-announce-c8)
      MODES+=("$m") ;;
    announce-ka-private|announce-close-private) MODES+=("$m") ;;
    *) die "BENCH_MODES: unknown mode '$m' (modes: ${HTTP_MODES[*]} ${UDP_MODES[*]} udp-announce-c8 announce-ka-private announce-close-private scale; groups: http udp none)" ;;
  esac
done
# A private mode is measured against its public mode in the same run: add that one (just
# before it) when BENCH_MODES lacks it.
PRIVATE=0
sel=("${MODES[@]}"); MODES=()
for m in "${sel[@]}"; do
  if [[ $m == *-private ]]; then
    PRIVATE=1
    if [[ " ${sel[*]} " != *" ${m%-private} "* && " ${MODES[*]} " != *" ${m%-private} "* ]]; then
      echo "bench: $m: adding ${m%-private} (its public mode) for the private/public ratios" >&2
      MODES+=("${m%-private}")
    fi
  fi
  MODES+=("$m")
done
WORKLOADS=()
workload_list=${BENCH_WORKLOADS:-steady churn}
for w in ${workload_list//,/ }; do
  case $w in
    steady|churn) [[ " ${WORKLOADS[*]} " == *" $w "* ]] || WORKLOADS+=("$w") ;;
    *) die "BENCH_WORKLOADS: unknown workload '$w' (steady churn)" ;;
  esac
done
((${#WORKLOADS[@]})) || die "BENCH_WORKLOADS names no workload (steady churn)"
has_workload() { [[ " ${WORKLOADS[*]} " == *" $1 "* ]]; }
# RUNS: "MODE@WORKLOAD" in the order they run: every steady run first (mode order, today's
# request sequences), then the churn runs; a scrape mode runs with steady only.
RUNS=()
for w in steady churn; do
  has_workload "$w" || continue
  for m in "${MODES[@]}"; do
    [[ $w == steady || $m != *scrape* ]] || continue
    RUNS+=("$m@$w")
  done
done
if ! has_workload steady; then
  for m in "${MODES[@]}"; do
    [[ $m != *scrape* ]] || echo "bench: $m runs with the steady workload only: skipped" >&2
  done
fi
HAS_HTTP=0; HAS_UDP=$UDP_OPTS
for r in "${RUNS[@]}"; do
  if [[ $r == udp-* ]]; then HAS_UDP=1; else HAS_HTTP=1; fi
done
# MAIN: the starling/opentracker comparison runs (else only the scale section).
MAIN=$(( ${#RUNS[@]} > 0 || UDP_OPTS ))
((MAIN || SCALE)) || die "nothing to run: no mode (BENCH_MODES, BENCH_WORKLOADS) and no BENCH_UDP_OPTIONS=1"
case "$ONLY" in
  "") SYSTEMS=(opentracker starling) ;;
  opentracker|starling) SYSTEMS=("$ONLY") ;;
  *) die "BENCH_ONLY must be opentracker or starling" ;;
esac
if ((SCALE)) && [[ $ONLY == opentracker ]]; then
  ((MAIN)) || die "the scale section measures starling only (BENCH_ONLY=opentracker)"
  SCALE=0
fi
((MAIN)) || SYSTEMS=(starling)
has_sys() { [[ " ${SYSTEMS[*]} " == *" $1 "* ]]; }
((!PRIVATE)) || has_sys starling || die "the private modes measure starling only (BENCH_ONLY=opentracker)"

# ---------------------------------------------------------------- dependencies
export DEBIAN_FRONTEND=noninteractive
apt_updated=0
need_pkgs() {   # need_pkgs pkg...: install those not installed
  local missing=() p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "bench: installing ${missing[*]}" >&2
  if ((!apt_updated)); then apt-get update -qq >&2; apt_updated=1; fi
  apt-get install -y -qq "${missing[@]}" >&2
}
pkgs=()
command -v wrk >/dev/null || pkgs+=(wrk)
command -v curl >/dev/null || pkgs+=(curl)
command -v python3 >/dev/null || pkgs+=(python3)
command -v taskset >/dev/null || pkgs+=(util-linux)
has_sys opentracker && ! command -v opentracker >/dev/null && pkgs+=(opentracker)
if has_sys starling; then
  command -v redis-server >/dev/null || pkgs+=(redis-server)
  command -v redis-cli >/dev/null || pkgs+=(redis-tools)
fi
((${#pkgs[@]} == 0)) || need_pkgs "${pkgs[@]}"

BIN="$ROOT/build/starling"
if has_sys starling && [[ ! -x $BIN ]]; then
  need_pkgs cmake gcc make pkg-config libhiredis-dev libevent-dev libjansson-dev libcmocka-dev
  echo "bench: building starling" >&2
  (cd "$ROOT" && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2 \
     && cmake --build build -j2 >&2) || die "build failed"
  [[ -x $BIN ]] || die "build produced no $BIN"
fi
UDPLOAD="$ROOT/build/tests/tools/udpload"
if ((HAS_UDP || SCALE)) && [[ ! -x $UDPLOAD || $ROOT/tests/tools/udpload.c -nt $UDPLOAD ]]; then
  need_pkgs cmake gcc make pkg-config libhiredis-dev libevent-dev libjansson-dev libcmocka-dev
  echo "bench: building udpload" >&2
  (cd "$ROOT" && { [[ -f build/CMakeCache.txt ]] \
      || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2; } \
     && cmake --build build -j2 --target udpload >&2) \
    || die "udpload build failed (it is built with the tests: BUILD_TESTING must be on in build/)"
  [[ -x $UDPLOAD ]] || die "build produced no $UDPLOAD"
fi

if (( $(nproc) >= 2 )); then
  PIN_TRACKER=(taskset -c 0); PIN_WRK=(taskset -c 1)
else
  echo "bench: fewer than 2 cores: not pinning (figures will be muddled)" >&2
  PIN_TRACKER=(); PIN_WRK=()
fi
TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d /tmp/starling-bench.XXXXXX)
chmod 711 "$TMP"
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
wait_port() {   # wait_port PORT PID NAME: up to 10 s for a TCP listener
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
cpu_split() {   # cpu_split BASE PID...: each PID's CPU seconds since BASE (an array name of
  local -n base=$1   # their cpu_ticks, in the same order), space-separated
  local i out=""
  shift
  for ((i = 1; i <= $#; i++)); do
    out+=" $(awk -v t=$(( $(cpu_ticks "${!i}") - base[i - 1] )) -v k="$TCK" 'BEGIN { printf "%.2f", t / k }')"
  done
  echo "${out# }"
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
alive() { local pid; for pid in "$@"; do kill -0 "$pid" 2>/dev/null || return 1; done; }
running() {   # running PID: exists and is no zombie (kill -0 succeeds on an unreaped child)
  local st
  { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
  st=${st##*) }
  [[ ${st:0:1} != Z ]]
}
stop_pid() {   # stop_pid PID: SIGTERM, up to 5 s, then SIGKILL; reaped and dropped from PIDS
  local pid=$1 i p keep=()
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do running "$pid" || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
# shellcheck disable=SC2001
pct_hex() { sed 's/../%&/g' <<<"$1"; }

# ---------------------------------------------------------------- hashes
python3 "$HASHES" "$TORRENTS" >"$TMP/whitelist.txt"
(( $(wc -l <"$TMP/whitelist.txt") == TORRENTS )) || die "hash generation failed"
H0=$(head -n1 "$TMP/whitelist.txt")
HN=$(tail -n1 "$TMP/whitelist.txt")

# ---------------------------------------------------------------- start trackers
declare -A URL CPU_PIDS UDPPORT
if ((MAIN)) && has_sys opentracker; then
  OTDIR="$TMP/opentracker"; mkdir -m 755 "$OTDIR"
  install -m 644 "$TMP/whitelist.txt" "$OTDIR/whitelist.txt"
  OTPORT=$(free_port)
  "${PIN_TRACKER[@]}" opentracker -i 127.0.0.1 -p "$OTPORT" -P "$OTPORT" -u nobody \
    -d "$OTDIR" -w whitelist.txt >"$TMP/opentracker.log" 2>&1 &
  OTPID=$!; PIDS+=("$OTPID")
  wait_port "$OTPORT" "$OTPID" || { cat "$TMP/opentracker.log" >&2; die "opentracker did not start"; }
  URL[opentracker]="http://127.0.0.1:$OTPORT"
  UDPPORT[opentracker]=$OTPORT
  CPU_PIDS[opentracker]="$OTPID"
fi
if ((MAIN)) && has_sys starling; then
  RPORT=$(free_port)
  "${PIN_TRACKER[@]}" redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --dir "$TMP" >"$TMP/redis.log" 2>&1 &
  RPID=$!; PIDS+=("$RPID")
  wait_port "$RPORT" "$RPID" || { cat "$TMP/redis.log" >&2; die "redis-server did not start"; }
  rcli() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }
  for ((i = 0; i < 50; i++)); do [[ $(rcli PING 2>/dev/null) == PONG ]] && break; sleep 0.1; done
  mem_used() { rcli INFO memory | tr -d '\r' | sed -n 's/^used_memory://p'; }
  MEM0=$(mem_used)
  # starling_json FILE [EXTRA-KEYS [UDP-PORT [METRICS-ADDR]]]: a frontend's config. Ports 0
  # unless given (read back from its log); one udp_secret for all, so each accepts the
  # others' IDs; no per-address limit, as every wrk connection comes from 127.0.0.1; no
  # metrics listener unless given, so a tracker already serving :9100 (scripts/run.sh) or a
  # second bench does not collide.
  starling_json() {
    cat >"$1" <<EOF
{ "redis": { "url": "redis://127.0.0.1:$RPORT" }, "log_level": "info",
  "http_listen_addr": "127.0.0.1:0", "udp_listen_addr": "127.0.0.1:${3:-0}",
  "udp_secret": "starling-bench-secret", "http_per_address_limit": 0,
  "metrics_listen_addr": "${4:-}"${2:+, $2} }
EOF
  }
  # start_starling NAME JSON: a frontend pinned with the trackers, logging to $TMP/NAME.log;
  # sets ST_PID, ST_HTTP and ST_UDP (its ports, from its log).
  start_starling() {
    local log="$TMP/$1.log" i
    : >"$log"   # exists before the child opens it, for the sed below
    "${PIN_TRACKER[@]}" "$BIN" --config "$2" 2>"$log" &
    ST_PID=$!; PIDS+=("$ST_PID")
    ST_HTTP=""; ST_UDP=""
    for ((i = 0; i < 100; i++)); do
      ST_HTTP=$(sed -n 's/.*http listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n1)
      ST_UDP=$(sed -n 's/.*udp listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n1)
      [[ -n $ST_HTTP && -n $ST_UDP ]] && break
      running "$ST_PID" || break
      sleep 0.1
    done
    [[ -n $ST_HTTP && -n $ST_UDP ]] || { cat "$log" >&2; die "$1 did not start"; }
  }
  [[ -z ${BENCH_STARLING_CONFIG:-} ]] || echo "starling config: + ${BENCH_STARLING_CONFIG}"
  starling_json "$TMP/starling.json" "${BENCH_STARLING_CONFIG:-}"
  start_starling starling "$TMP/starling.json"
  SPID=$ST_PID; SPORT=$ST_HTTP
  URL[starling]="http://127.0.0.1:$SPORT"
  UDPPORT[starling]=$ST_UDP
  CPU_PIDS[starling]="$SPID $RPID"
fi
# The private modes' frontend. Same redis-server as the public one, so both announce into
# the same swarms (the swarm keys do not depend on the mode) under the same Redis state,
# memory and CPU budget, and each run is charged its own frontend + that redis-server: the
# only difference left is the frontend's passkey and registered-torrent lookups. (A fresh
# Redis would start empty and small, and need the public runs repeated against it.) The
# users and torrents are loaded before it starts; it reads them while /readyz says 503.
PRIV_SITE_PASSWORD="benchSitePassword0123456789abcde"   # 32 characters [0-9A-Za-z]
if ((MAIN && PRIVATE)); then
  python3 "$HASHES" passkeys "$PRIV_USERS" >"$TMP/users.txt"
  (( $(wc -l <"$TMP/users.txt") == PRIV_USERS )) || die "passkey generation failed"
  awk '{ print $1, NR, 0 }' "$TMP/whitelist.txt" >"$TMP/registered.txt"
  starling_json "$TMP/starling-private.json" \
    "\"private_enabled\": true, \"site_password\": \"$PRIV_SITE_PASSWORD\"" "" "127.0.0.1:0"
  for t in users registered; do
    timeout -k 5 300 "$BIN" table add "$t" --config "$TMP/starling-private.json" \
      <"$TMP/$t.txt" >"$TMP/table-$t.log" 2>&1 \
      || { cat "$TMP/table-$t.log" >&2; die "starling table add $t failed"; }
  done
  echo "bench: private tables loaded: users: $(tail -n1 "$TMP/table-users.log");" \
    "registered: $(tail -n1 "$TMP/table-registered.log")" >&2
  start_starling starling-private "$TMP/starling-private.json"
  PRPID=$ST_PID
  URL[starling-private]="http://127.0.0.1:$ST_HTTP"
  CPU_PIDS[starling-private]="$PRPID $RPID"
  PRMETRICS=$(sed -n 's/.*metrics listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/starling-private.log" | head -n1)
  [[ -n $PRMETRICS ]] || { cat "$TMP/starling-private.log" >&2; die "starling-private: no metrics port in its log"; }
  t0=$SECONDS
  until [[ $(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PRMETRICS/readyz") == 200 ]]; do
    running "$PRPID" || { cat "$TMP/starling-private.log" >&2; die "starling-private exited"; }
    ((SECONDS - t0 < 120)) || die "starling-private: /readyz not 200 within 120 s"
    sleep 0.2
  done
  echo "bench: starling-private ready after $((SECONDS - t0)) s (${URL[starling-private]})" >&2
fi

# ---------------------------------------------------------------- sanity checks
sanity() {   # sanity SYSTEM: one announce (twice, second must see the first) and one scrape
  local sys=$1 u=${URL[$1]} body q
  # distinct ports too: opentracker keys peers by address and port, not by peer_id
  q="info_hash=$(pct_hex "$H0")&uploaded=0&downloaded=0&left=100&compact=1"
  curl -sS -m 5 -o /dev/null "$u/announce?$q&port=6881&peer_id=-SANITY-000000000001&event=started" \
    || die "$sys: sanity announce failed"
  body=$(curl -sS -m 5 "$u/announce?$q&port=6882&peer_id=-SANITY-000000000002&event=started" | tr -d '\0' | LC_ALL=C tr -c '[:print:]' '.') \
    || die "$sys: sanity announce failed"
  if [[ $body == *"failure reason"* || $body != *"8:interval"* || $body != *"5:peers"* ]]; then
    die "$sys: sanity announce of a whitelisted hash got: $body"
  fi
  [[ $body == *"incompletei2e"* ]] || echo "bench: warning: $sys: second sanity announce did not count 2 leechers: $body" >&2
  body=$(curl -sS -m 5 "$u/scrape?info_hash=$(pct_hex "$H0")&info_hash=$(pct_hex "$HN")" | LC_ALL=C tr -c '[:print:]' '.') \
    || die "$sys: sanity scrape failed"
  if [[ $body == *"failure"* || $body != *"5:files"* || $body != *"incompletei2e"* ]]; then
    die "$sys: sanity scrape got: $body"
  fi
  # remove the two sanity peers again
  curl -sS -m 5 -o /dev/null "$u/announce?$q&port=6881&peer_id=-SANITY-000000000001&event=stopped" || true
  curl -sS -m 5 -o /dev/null "$u/announce?$q&port=6882&peer_id=-SANITY-000000000002&event=stopped" || true
  echo "bench: $sys sanity ok (${URL[$sys]})" >&2
}
if ((MAIN && HAS_HTTP)); then
  for s in "${SYSTEMS[@]}"; do sanity "$s"; done
fi
# private_sanity: user 0's announce of a registered torrent succeeds (twice, the second sees
# the first); an unknown passkey, an unregistered torrent and /announce are refused. All
# zeros are neither a bench passkey (their last 6 characters are the index: user 0's first
# 26 are not zeros) nor a bench info_hash (its last 4 bytes are the index: torrent 0's first
# 16 are not zeros).
private_sanity() {
  local u=${URL[starling-private]} pk body first q q4 z32 z40
  pk=$(head -n1 "$TMP/users.txt"); pk=${pk%% *}
  z32=$(printf '0%.0s' {1..32}); z40=$(printf '0%.0s' {1..40})
  # peers -SANITY-...3 and 4, not the public check's 1 and 2
  q="uploaded=0&downloaded=0&left=100&compact=1&port=6883&peer_id=-SANITY-000000000003"
  q4="uploaded=0&downloaded=0&left=100&compact=1&port=6884&peer_id=-SANITY-000000000004"
  first=$(curl -sS -m 5 "$u/$pk/announce?info_hash=$(pct_hex "$H0")&$q&event=started" | tr -d '\0' | LC_ALL=C tr -c '[:print:]' '.') \
    || die "starling-private: sanity announce failed"
  [[ $first != *"failure reason"* ]] || die "starling-private: sanity announce of user 0 got: $first"
  body=$(curl -sS -m 5 "$u/$pk/announce?info_hash=$(pct_hex "$H0")&$q4&event=started" | tr -d '\0' | LC_ALL=C tr -c '[:print:]' '.') \
    || die "starling-private: sanity announce failed"
  if [[ $body == *"failure reason"* || $body != *"8:interval"* || $body != *"5:peers"* ]]; then
    die "starling-private: sanity announce of user 0 and a registered hash got: $body"
  fi
  [[ $body == *"incompletei2e"* ]] || echo "bench: warning: starling-private: second sanity announce did not count 2 leechers: $body (first: $first)" >&2
  body=$(curl -sS -m 5 "$u/$z32/announce?info_hash=$(pct_hex "$H0")&$q" | LC_ALL=C tr -c '[:print:]' '.') || true
  [[ $body == *"failure reason"*"Passkey not found"* ]] || die "starling-private: an unknown passkey got: $body"
  body=$(curl -sS -m 5 "$u/$pk/announce?info_hash=$(pct_hex "$z40")&$q" | LC_ALL=C tr -c '[:print:]' '.') || true
  [[ $body == *"failure reason"*"Unregistered torrent"* ]] || die "starling-private: an unregistered torrent got: $body"
  body=$(curl -sS -m 5 "$u/announce?info_hash=$(pct_hex "$H0")&$q" | LC_ALL=C tr -c '[:print:]' '.') || true
  [[ $body == *"failure reason"* ]] || die "starling-private: /announce without a passkey got: $body"
  curl -sS -m 5 -o /dev/null "$u/$pk/announce?info_hash=$(pct_hex "$H0")&$q&event=stopped" || true
  curl -sS -m 5 -o /dev/null "$u/$pk/announce?info_hash=$(pct_hex "$H0")&$q4&event=stopped" || true
  echo "bench: starling-private sanity ok (announce as user 0; unknown passkey, unregistered torrent and /announce refused)" >&2
}
((!(MAIN && PRIVATE))) || private_sanity

# udp_sanity SYSTEM: over BEP 15, independently of udpload: connect; two announces (the
# second must count both peers and list the first); a scrape of two hashes; an announce
# with a wrong connection ID must get an error reply; then the two peers stop again.
UDP_SANITY_PY='
import socket, struct, sys
port, h0, hn = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("127.0.0.1", port))
def call(pkt, txid):
    s.send(pkt)
    while True:
        r = s.recv(4096)
        if len(r) >= 8 and struct.unpack(">I", r[4:8])[0] == txid:
            return r
def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)
try:
    r = call(struct.pack(">QII", 0x41727101980, 0, 1), 1)
    if len(r) < 16 or struct.unpack(">I", r[:4])[0] != 0:
        fail("connect reply %r" % r)
    cid = struct.unpack(">Q", r[8:16])[0]
    def announce(txid, n, event, c=None):
        return call(struct.pack(">QII20s20sQQQIIIiH", cid if c is None else c, 1, txid, h0,
                                b"-SANITY-00000000000%d" % n, 0, 100, 0, event, 0, 0, 50,
                                6880 + n), txid)
    for txid, n in ((2, 1), (3, 2)):
        a = announce(txid, n, 2)
        if len(a) < 20 or (len(a) - 20) % 6 or struct.unpack(">I", a[:4])[0] != 1:
            fail("announce reply %r" % a)
    _, _, interval, leechers, seeders = struct.unpack(">IIIII", a[:20])
    warn = ""
    # the first peer must be listed (opentracker also lists the announcer itself)
    peers = [a[i:i + 6] for i in range(20, len(a), 6)]
    if (leechers, seeders) != (2, 0) or bytes([127, 0, 0, 1, 0x1a, 0xe1]) not in peers:
        warn = "second announce: %d leechers, %d seeders, peers %s" % (leechers, seeders, a[20:].hex())
    r = call(struct.pack(">QII", cid, 2, 4) + h0 + hn, 4)
    if len(r) != 32 or struct.unpack(">I", r[:4])[0] != 2:
        fail("scrape reply %r" % r)
    if struct.unpack(">III", r[8:20]) != (0, 0, 2):
        fail("scrape of the sanity torrent: (seeders, completed, leechers) = %r" % (struct.unpack(">III", r[8:20]),))
    r = announce(5, 3, 2, cid ^ 0x5a5a)
    if struct.unpack(">I", r[:4])[0] != 3:
        fail("announce with a wrong connection id got %r" % r)
    announce(6, 1, 3)
    announce(7, 2, 3)
    print("WARN " + warn if warn else "OK")
except socket.timeout:
    fail("no reply within 3 s")
'
udp_sanity() {
  local sys=$1 out
  out=$(python3 -c "$UDP_SANITY_PY" "${UDPPORT[$sys]}" "$H0" "$HN" 2>&1) \
    || die "$sys: UDP sanity check (127.0.0.1:${UDPPORT[$sys]}): $out"
  [[ $out != WARN* ]] || echo "bench: warning: $sys: UDP sanity: ${out#WARN }" >&2
  echo "bench: $sys UDP sanity ok (udp://127.0.0.1:${UDPPORT[$sys]})" >&2
}
if ((MAIN && HAS_UDP)); then
  for s in "${SYSTEMS[@]}"; do udp_sanity "$s"; done
fi

# ---------------------------------------------------------------- wrk runs
declare -A R   # R[sys,mode,key]; main runs: R[sys,MODE@WORKLOAD,key]
# run_wrk SYSTEM MODE SECONDS SEED [WORKLOAD] -> fills R[SYSTEM,MODE,*], or with a
# WORKLOAD (steady | churn, passed to tracker.lua) R[SYSTEM,MODE@WORKLOAD,*]
# A private mode (*-private) runs against starling-private (URL, CPU_PIDS), its results
# filed under starling; tracker.lua gets the users, so peers announce at /<passkey>/announce.
# MODE-again: MODE once more (run_main, after a private mode); MODE-private-first: the
# private run before the measured one.
run_wrk() {
  local sys=$1 mode=$2 secs=$3 seed=$4 wl=${5:-} kind hdr=() t0 t1 out line kv conns=$CONNS
  local key=$2${5:+@$5} target=$1 la=() base=${2%-first}
  base=${base%-private}
  case ${base%-again} in
    announce-close) kind=announce; hdr=(-H "Connection: close") ;;
    announce-close-c8) kind=announce; hdr=(-H "Connection: close"); conns=8 ;;
    announce-ka|warmup) kind=announce ;;
    scrape-close) kind=scrape; hdr=(-H "Connection: close") ;;
  esac
  [[ -z $wl ]] || la=("$wl")
  if [[ $mode == *-private || $mode == *-private-first ]]; then
    target=starling-private; la=("${wl:-steady}" "$PRIV_USERS")
  fi
  out="$TMP/wrk-$target-$key.txt"
  local pids b=() split="" i
  read -r -a pids <<<"${CPU_PIDS[$target]}"
  for i in "${pids[@]}"; do b+=("$(cpu_ticks "$i")"); done
  alive "${pids[@]}" || die "$sys died before $key"
  t0=$(cpu_ticks "${pids[@]}")
  timeout -k 5 $((secs + 60)) "${PIN_WRK[@]}" wrk -t1 -c"$conns" -d"${secs}s" "${hdr[@]}" \
    -s "$LUA" "${URL[$target]}/" -- "$kind" "$TORRENTS" "$PEERS" "$seed" "${la[@]}" >"$out" 2>&1 \
    || { cat "$out" >&2; die "wrk failed against $sys ($key)"; }
  t1=$(cpu_ticks "${pids[@]}")
  split=" $(cpu_split b "${pids[@]}")"
  alive "${pids[@]}" || die "$sys died during $key"
  line=$(grep '^BENCHRESULT ' "$out") || { cat "$out" >&2; die "no result from wrk ($sys $key)"; }
  for kv in ${line#BENCHRESULT }; do R[$sys,$key,${kv%%=*}]=${kv#*=}; done
  R[$sys,$key,cpu]=$(awk -v t=$((t1 - t0)) -v k="$TCK" 'BEGIN { printf "%.2f", t / k }')
  R[$sys,$key,split]=${split# }
  R[$sys,$key,rpc]=$(awk -v n="${R[$sys,$key,requests]}" -v c="${R[$sys,$key,cpu]}" \
    'BEGIN { if (c > 0) printf "%.0f", n / c; else print "n/a" }')
  R[$sys,$key,errs]=$(( R[$sys,$key,connect] + R[$sys,$key,write] + R[$sys,$key,status] + R[$sys,$key,timeout] + R[$sys,$key,failures] ))
  R[$sys,$key,rderr]=${R[$sys,$key,read]}
  echo "bench: $sys $key: ${R[$sys,$key,rps]} req/s, p99 ${R[$sys,$key,p99_ms]} ms," \
    "tracker CPU ${R[$sys,$key,cpu]} s (per process:$split)" >&2
}

# ---------------------------------------------------------------- udpload runs
# run_udp LABEL PORT "PIDS" MODE SECONDS SEED [WORKLOAD] -> fills R[LABEL,MODE,*], or with a
# WORKLOAD (steady | churn: udpload -W) R[LABEL,MODE@WORKLOAD,*]; PIDS are the processes
# whose CPU time the run is charged (the tracker's).
run_udp() {
  local label=$1 port=$2 mode=$4 secs=$5 seed=$6 kind=announce conns=$CONNS socks out line kv
  local pids b=() split="" i t0 t1 wl=() key=$4${7:+@$7}
  [[ -z ${7:-} ]] || wl=(-W "$7")
  case $mode in
    udp-scrape) kind=scrape ;;
    udp-announce-c8) conns=8 ;;
  esac
  socks=$UDP_SOCKETS; ((socks <= conns)) || socks=$conns
  out="$TMP/udpload-$label-$key.txt"
  read -r -a pids <<<"$3"
  alive "${pids[@]}" || die "$label died before $key"
  for i in "${pids[@]}"; do b+=("$(cpu_ticks "$i")"); done
  t0=$(cpu_ticks "${pids[@]}")
  timeout -k 5 $((secs + 30)) "${PIN_WRK[@]}" "$UDPLOAD" -h 127.0.0.1 -p "$port" -c "$conns" \
    -k "$socks" -d "$secs" -t "$TORRENTS" -P "$PEERS" -m "$kind" -s "$seed" "${wl[@]}" >"$out" 2>&1 \
    || { cat "$out" >&2; die "udpload failed against $label ($key)"; }
  t1=$(cpu_ticks "${pids[@]}")
  split=" $(cpu_split b "${pids[@]}")"
  alive "${pids[@]}" || die "$label died during $key"
  line=$(grep '^UDPRESULT ' "$out") || { cat "$out" >&2; die "no result from udpload ($label $key)"; }
  for kv in ${line#UDPRESULT }; do R[$label,$key,${kv%%=*}]=${kv#*=}; done
  R[$label,$key,cpu]=$(awk -v t=$((t1 - t0)) -v k="$TCK" 'BEGIN { printf "%.2f", t / k }')
  R[$label,$key,split]=${split# }
  R[$label,$key,rpc]=$(awk -v n="${R[$label,$key,requests]}" -v c="${R[$label,$key,cpu]}" \
    'BEGIN { if (c > 0) printf "%.0f", n / c; else print "n/a" }')
  R[$label,$key,errs]=$(( R[$label,$key,timeouts] + R[$label,$key,errors] + R[$label,$key,bad_replies] ))
  echo "bench: $label $key: ${R[$label,$key,rps]} req/s, p99 ${R[$label,$key,p99_ms]} ms," \
    "tracker CPU ${R[$label,$key,cpu]} s (per process:$split); timeouts ${R[$label,$key,timeouts]}," \
    "error replies ${R[$label,$key,errors]}, bad replies ${R[$label,$key,bad_replies]}," \
    "connects ${R[$label,$key,connects]}, ${R[$label,$key,peers_per_reply]} peers/reply;" \
    "udpload CPU ${R[$label,$key,cpu_s]} s" >&2
}

# ---------------------------------------------------------------- scale section only
# shellcheck source=scripts/bench/scale.sh
. "$ROOT/scripts/bench/scale.sh"
if ((!MAIN)); then
  scale_section
  exit 0
fi

# announce-close-c8: 8 connections instead of $CONNS, below saturation, for latency: at
# saturation latency is just connections / throughput (Little's law).
if ((WARMUP > 0)); then
  for s in "${SYSTEMS[@]}"; do
    if ((HAS_HTTP)); then
      run_wrk "$s" warmup "$WARMUP" 1
    else
      run_udp "$s" "${UDPPORT[$s]}" "${CPU_PIDS[$s]}" udp-warmup "$WARMUP" 1
    fi
  done
  # the private frontend gets the same warm-up (same requests, at /<passkey>/announce)
  ((!PRIVATE)) || run_wrk starling warmup-private "$WARMUP" 1
fi
# Mode i of MODES has seed 100 + i in both workloads (steady: today's request sequences;
# churn: the same peers and events in the same order, only the torrents differ), and the
# same requests go to both trackers. A private mode takes its public mode's seed (the same
# request sequence) and counts no index, so the other modes keep theirs.
declare -A MSEED
i=0
for m in "${MODES[@]}"; do
  [[ $m == *-private ]] || { MSEED[$m]=$((101 + i)); i=$((i + 1)); }
done
for m in "${MODES[@]}"; do
  [[ $m != *-private ]] || MSEED[$m]=${MSEED[${m%-private}]}
done
# A private run replays its public run's requests, so it finds the peers that run stored
# where the public run had to add many (a warm-up stores only part of the peer pool): the
# public mode runs once more right after it (MODE-again, same seed, public frontend), and
# the private/public ratios are taken against that replay, like against like.
run_main() {   # run_main MODE@WORKLOAD: one measured run against every tracker
  local m=${1%@*} w=${1#*@} s
  if [[ $m == *-private ]]; then
    run_wrk starling "$m-first" "$DUR" "${MSEED[$m]}" "$w"
    run_wrk starling "$m" "$DUR" "${MSEED[$m]}" "$w"
    run_wrk starling "${m%-private}-again" "$DUR" "${MSEED[$m]}" "$w"
    return
  fi
  for s in "${SYSTEMS[@]}"; do
    if [[ $m == udp-* ]]; then
      run_udp "$s" "${UDPPORT[$s]}" "${CPU_PIDS[$s]}" "$m" "$DUR" "${MSEED[$m]}" "$w"
    else
      run_wrk "$s" "$m" "$DUR" "${MSEED[$m]}" "$w"
    fi
  done
}

# ---------------------------------------------------------------- Redis memory per peer
# count_peers WORKLOAD: starling's stored peers, sorted sets, keys and used_memory after
# that workload's runs, in ST_PEERS[WORKLOAD].
declare -A ST_PEERS
PEERCOUNT_LUA='
local c, n, k = "0", 0, 0
repeat
  local r = redis.call("SCAN", c, "MATCH", "{*}:*", "COUNT", 1000, "TYPE", "zset")
  c = r[1]
  for _, key in ipairs(r[2]) do n = n + redis.call("ZCARD", key); k = k + 1 end
until c == "0"
return {n, k}'
count_peers() {
  local stored zkeys mem swarms
  has_sys starling || return 0
  read -r stored zkeys < <(rcli --no-raw EVAL "$PEERCOUNT_LUA" 0 | tr -d '\r' | awk '{print $NF}' | paste -sd' ')
  mem=$(mem_used)
  swarms=$(rcli DBSIZE | tr -d '\r')
  ST_PEERS[$1]="$stored $zkeys $swarms $mem"
  echo "bench: starling redis after $1: $stored stored peers in $zkeys sorted sets" >&2
}

for r in "${RUNS[@]}"; do [[ $r != *@steady ]] || run_main "$r"; done

# ---------------------------------------------------------------- starling UDP options
# Each row replays the same announces (one seed) against a differently configured
# frontend on the same Redis; the extra frontends run only during their row.
OPT_ROWS=()
declare -A OPT_DESC
if ((UDP_OPTS)) && has_sys starling; then
  seed=$((100 + ${#MODES[@]} + 1))
  OPT_DESC[default]="udp_batch_size 32, 1 process (default)"
  run_udp default "${UDPPORT[starling]}" "$SPID $RPID" udp-announce "$DUR" "$seed"
  OPT_ROWS+=(default)

  starling_json "$TMP/starling-batch1.json" '"udp_batch_size": 1'
  start_starling starling-batch1 "$TMP/starling-batch1.json"
  B1PID=$ST_PID
  OPT_DESC[batch1]="udp_batch_size 1, 1 process"
  run_udp batch1 "$ST_UDP" "$B1PID $RPID" udp-announce "$DUR" "$seed"
  OPT_ROWS+=(batch1)
  stop_pid "$B1PID"

  starling_json "$TMP/starling-rp1.json" '"udp_reuseport": true'
  start_starling starling-rp1 "$TMP/starling-rp1.json"
  RP1PID=$ST_PID; RPPORT=$ST_UDP
  starling_json "$TMP/starling-rp2.json" '"udp_reuseport": true' "$RPPORT"
  start_starling starling-rp2 "$TMP/starling-rp2.json"
  RP2PID=$ST_PID
  [[ $ST_UDP == "$RPPORT" ]] || die "second udp_reuseport frontend listens on $ST_UDP, not $RPPORT"
  OPT_DESC[reuseport2]="udp_reuseport, 2 processes (batch 32)"
  run_udp reuseport2 "$RPPORT" "$RP1PID $RP2PID $RPID" udp-announce "$DUR" "$seed"
  OPT_ROWS+=(reuseport2)
  stop_pid "$RP1PID"
  stop_pid "$RP2PID"

  OPT_DESC[default2]="udp_batch_size 32, 1 process (again)"
  run_udp default2 "${UDPPORT[starling]}" "$SPID $RPID" udp-announce "$DUR" "$seed"
  OPT_ROWS+=(default2)
fi

if has_workload steady || ((UDP_OPTS)); then count_peers steady; fi
if [[ " ${RUNS[*]}" == *@churn* ]]; then
  for r in "${RUNS[@]}"; do [[ $r != *@churn ]] || run_main "$r"; done
  count_peers churn
fi

# ---------------------------------------------------------------- report
echo
printf 'starling benchmark: %s torrents (Zipf s=1), %s peers, wrk -t1 -c%s -d%ss on core 1, trackers on core 0, warm-up %ss\n' \
  "$TORRENTS" "$PEERS" "$CONNS" "$DUR" "$WARMUP"
if ((HAS_UDP)); then
  printf 'UDP: udpload -c%s -k%s (requests in flight, sockets) -d%ss, num_want 50, on core 1\n' \
    "$CONNS" "$UDP_SOCKETS" "$DUR"
fi
# REPORT_RUNS: the runs in table order (mode, then workload); has_run MODE@WORKLOAD
REPORT_RUNS=()
for m in "${MODES[@]}"; do
  for w in "${WORKLOADS[@]}"; do
    [[ " ${RUNS[*]} " != *" $m@$w "* ]] || REPORT_RUNS+=("$m@$w")
  done
done
# us_per SECONDS REQUESTS: CPU microseconds per request
us_per() { awk -v c="$1" -v n="$2" 'BEGIN { if (n + 0 > 0 && c != "") printf "%.1f", c * 1e6 / n; else print "n/a" }'; }
if ((${#REPORT_RUNS[@]})); then
  printf '%-12s %-8s %-22s %9s %8s %8s %7s %8s %10s %10s %9s %12s\n' system workload mode "req/s" \
    "p50 ms" "p99 ms" errors "rd-err" "req/CPU-s" "CPU us/rq" "fe us/rq" "redis us/rq"
  for r in "${REPORT_RUNS[@]}"; do
    for s in "${SYSTEMS[@]}"; do
      [[ $r != *-private@* || $s == starling ]] || continue
      rderr=${R[$s,$r,rderr]:--}
      read -r -a sp <<<"${R[$s,$r,split]}"
      if [[ $s == starling ]]; then
        fe_us=$(us_per "${sp[0]}" "${R[$s,$r,requests]}"); rd_us=$(us_per "${sp[1]}" "${R[$s,$r,requests]}")
      else
        fe_us=-; rd_us=-
      fi
      printf '%-12s %-8s %-22s %9s %8s %8s %7s %8s %10s %10s %9s %12s\n' "$s" "${r#*@}" "${r%@*}" \
        "${R[$s,$r,rps]}" "${R[$s,$r,p50_ms]}" "${R[$s,$r,p99_ms]}" "${R[$s,$r,errs]}" "$rderr" \
        "${R[$s,$r,rpc]}" "$(us_per "${R[$s,$r,cpu]}" "${R[$s,$r,requests]}")" "$fe_us" "$rd_us"
    done
  done
fi
if ((${#REPORT_RUNS[@]})) && has_sys starling && has_sys opentracker; then
  echo
  printf '%-18s %-8s %15s %18s\n' mode workload "req/s st/ot" "req/CPU-s st/ot"
  for r in "${REPORT_RUNS[@]}"; do
    [[ $r != *-private@* ]] || continue
    printf '%-18s %-8s %15s %18s\n' "${r%@*}" "${r#*@}" \
      "$(awk -v a="${R[starling,$r,rps]}" -v b="${R[opentracker,$r,rps]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')" \
      "$(awk -v a="${R[starling,$r,rpc]}" -v b="${R[opentracker,$r,rpc]}" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "n/a" }')"
  done
fi
if ((PRIVATE)) && has_sys starling; then
  echo
  printf 'starling private / public: the public mode, its private mode, the public mode again (same requests)\n'
  # ratio A B: A / B to 2 decimals
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
  printf '%-22s %-8s %-26s %-26s %-13s %-13s %s\n' mode workload "req/s pub, priv, again" \
    "req/CPU-s pub, priv, again" "req/s x" "req/CPU-s x" "errors"
  for r in "${REPORT_RUNS[@]}"; do
    [[ $r == *-private@* ]] || continue
    pub=${r%-private@*}@${r#*@}; again=${r%-private@*}-again@${r#*@}
    printf '%-22s %-8s %-26s %-26s %-13s %-13s %s\n' "${r%@*}" "${r#*@}" \
      "${R[starling,$pub,rps]}, ${R[starling,$r,rps]}, ${R[starling,$again,rps]}" \
      "${R[starling,$pub,rpc]}, ${R[starling,$r,rpc]}, ${R[starling,$again,rpc]}" \
      "$(ratio "${R[starling,$r,rps]}" "${R[starling,$again,rps]}") ($(ratio "${R[starling,$r,rps]}" "${R[starling,$pub,rps]}"))" \
      "$(ratio "${R[starling,$r,rpc]}" "${R[starling,$again,rpc]}") ($(ratio "${R[starling,$r,rpc]}" "${R[starling,$pub,rpc]}"))" \
      "${R[starling,$pub,errs]}, ${R[starling,$r,errs]}, ${R[starling,$again,errs]}"
  done
  echo "x = private / public again (in brackets: private / the first public run, which stored"
  echo "    the peers the later two find); private: $PRIV_USERS users, $TORRENTS registered torrents;"
  echo "    the aim is >= 0.9. errors as below (pub, priv, again)."
fi
if ((${#OPT_ROWS[@]})); then
  echo
  printf 'starling UDP options: udp-announce, starling only, frontends + redis-server on core 0, same requests per row\n'
  printf '%-40s %9s %8s %8s %7s %10s %8s %8s  %s\n' config "req/s" "p50 ms" "p99 ms" errors \
    "req/CPU-s" "req/s x" "CPU-s x" "CPU s per process (frontends, redis)"
  for o in "${OPT_ROWS[@]}"; do
    m=udp-announce
    printf '%-40s %9s %8s %8s %7s %10s %8s %8s  %s\n' "${OPT_DESC[$o]}" "${R[$o,$m,rps]}" \
      "${R[$o,$m,p50_ms]}" "${R[$o,$m,p99_ms]}" "${R[$o,$m,errs]}" "${R[$o,$m,rpc]}" \
      "$(awk -v a="${R[$o,$m,rps]}" -v b="${R[default,$m,rps]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')" \
      "$(awk -v a="${R[$o,$m,rpc]}" -v b="${R[default,$m,rpc]}" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "n/a" }')" \
      "${R[$o,$m,split]}"
  done
  echo "(x = relative to the first row)"
fi
if has_sys starling; then
  echo
  for w in steady churn; do
    [[ -n ${ST_PEERS[$w]:-} ]] || continue
    read -r stored zkeys swarms mem <<<"${ST_PEERS[$w]}"
    awk -v w="$w" -v m0="$MEM0" -v m1="$mem" -v n="$stored" -v z="$zkeys" -v d="$swarms" 'BEGIN {
      printf "starling redis after %-7s %d stored peers in %d sorted sets (%d keys); used_memory %.1f MB -> %.1f MB; ", w ":", n, z, d, m0/1048576, m1/1048576
      if (n > 0) printf "%.1f bytes per stored peer\n", (m1 - m0) / n; else print "no peers stored"
    }'
  done
fi
if has_sys starling; then
  for f in "$TMP"/starling*.log; do
    nwarn=$(grep -cE 'level=(warn|error)' "$f" || true)
    echo "$(basename "$f" .log) log: $(wc -l <"$f") lines, $nwarn at level warn/error"
    grep -E 'level=(warn|error)' "$f" | head -n 5 || true
  done
fi
echo
if ((HAS_HTTP)); then
  echo "errors = wrk connect+write errors + timeouts + non-2xx + replies containing \"failure\""
  echo "         (in the private modes too: a refused passkey or torrent counts)."
  echo "rd-err = wrk read errors: the server closed a connection wrk expected to reuse. opentracker"
  echo "         closes after every reply without sending \"Connection: close\", so it shows ~1 per request."
fi
echo "req/CPU-s = requests / (utime+stime of the tracker's processes; starling: frontend + redis-server)."
if ((${#REPORT_RUNS[@]})); then
  echo "CPU us/rq = that CPU time in microseconds per request; starling's split: fe us/rq = the frontend's,"
  echo "         redis us/rq = its redis-server's (CPU s / requests). st/ot = starling / opentracker."
  echo "workload: steady = each peer re-announces in its own torrent; churn = every announce names a"
  echo "         fresh Zipf torrent (nearly every announce inserts a new swarm member); scrapes: steady."
fi
if ((HAS_UDP)); then
  echo "UDP: errors = timeouts (no reply within 1 s) + error replies + malformed replies; req/s"
  echo "     counts announce/scrape replies (connects not counted); latency from send to reply."
fi
if ((SCALE)); then
  # The comparison's trackers go first: the scale rows have core 0 to themselves.
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  echo
  scale_section
fi
