#!/usr/bin/env bash
# Benchmark starling against opentracker, side by side in one run, on loopback only.
#
#   scripts/bench.sh
#
# Environment knobs (defaults in brackets):
#   BENCH_SECONDS      length of each measured wrk run                  [10]
#   BENCH_WARMUP       warm-up seconds per tracker before measuring    [5]
#   BENCH_TORRENTS     info_hashes, Zipf (s=1) popularity             [100000] (max 3000000)
#   BENCH_PEERS        simulated peer pool                             [100000]
#   BENCH_CONNECTIONS  wrk connections (one wrk thread)                [64]
#   BENCH_ONLY         opentracker | starling: run one tracker only    [both]
#
# What it does:
#   - installs wrk, opentracker, redis-server, curl, python3 if missing (apt-get), builds
#     build/starling if missing (cmake, RelWithDebInfo);
#   - writes the info_hashes (scripts/bench/hashes.py, same algorithm as the wrk script
#     scripts/bench/tracker.lua) to opentracker's whitelist, starts opentracker, a private
#     redis-server and starling on free loopback ports, all pinned to core 0
#     (taskset -c 0); wrk runs pinned to core 1;
#   - checks that each tracker answers one announce and one scrape properly;
#   - warms each tracker up (announces, keep-alive), then per mode and tracker runs
#     wrk -t1 -c$BENCH_CONNECTIONS -d${BENCH_SECONDS}s:
#       announce-close  announces with "Connection: close" (one connection per announce,
#                       as real clients do)
#       announce-ka     announces on keep-alive connections
#       announce-close-c8  as announce-close with 8 connections: latency below saturation
#       scrape-close    scrapes of 1-3 Zipf-chosen torrents, "Connection: close" (chosen
#                       because opentracker closes after every reply anyway, so both
#                       trackers do the same work per request)
#   - reports requests/s, p50/p99 latency, errors, requests per CPU-second of the tracker's
#     own processes (utime+stime from /proc/PID/stat; starling = frontend + its redis-server),
#     the ratios starling/opentracker, and starling's Redis memory per stored peer.
#
# Everything lives in a mktemp -d directory removed on exit; only the processes this script
# started are stopped, by PID. Every load run is bounded (wrk -d, plus `timeout`).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LUA="$ROOT/scripts/bench/tracker.lua"
HASHES="$ROOT/scripts/bench/hashes.py"

DUR=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-5}
TORRENTS=${BENCH_TORRENTS:-100000}
PEERS=${BENCH_PEERS:-100000}
CONNS=${BENCH_CONNECTIONS:-64}
ONLY=${BENCH_ONLY:-}

die() { echo "bench: $*" >&2; exit 1; }
for v in DUR WARMUP TORRENTS PEERS CONNS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
(( DUR >= 1 && TORRENTS >= 1 && TORRENTS <= 3000000 && PEERS >= 1 && CONNS >= 1 )) \
  || die "need BENCH_SECONDS>=1, 1<=BENCH_TORRENTS<=3000000, BENCH_PEERS>=1, BENCH_CONNECTIONS>=1"
case "$ONLY" in
  "") SYSTEMS=(opentracker starling) ;;
  opentracker|starling) SYSTEMS=("$ONLY") ;;
  *) die "BENCH_ONLY must be opentracker or starling" ;;
esac
has_sys() { [[ " ${SYSTEMS[*]} " == *" $1 "* ]]; }

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
  need_pkgs cmake gcc make pkg-config libhiredis-dev libevent-dev libjansson-dev
  echo "bench: building starling" >&2
  (cd "$ROOT" && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2 \
     && cmake --build build -j2 >&2) || die "build failed"
  [[ -x $BIN ]] || die "build produced no $BIN"
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
# shellcheck disable=SC2001
pct_hex() { sed 's/../%&/g' <<<"$1"; }

# ---------------------------------------------------------------- hashes
python3 "$HASHES" "$TORRENTS" >"$TMP/whitelist.txt"
(( $(wc -l <"$TMP/whitelist.txt") == TORRENTS )) || die "hash generation failed"
H0=$(head -n1 "$TMP/whitelist.txt")
HN=$(tail -n1 "$TMP/whitelist.txt")

# ---------------------------------------------------------------- start trackers
declare -A URL CPU_PIDS
if has_sys opentracker; then
  OTDIR="$TMP/opentracker"; mkdir -m 755 "$OTDIR"
  install -m 644 "$TMP/whitelist.txt" "$OTDIR/whitelist.txt"
  OTPORT=$(free_port)
  "${PIN_TRACKER[@]}" opentracker -i 127.0.0.1 -p "$OTPORT" -P "$OTPORT" -u nobody \
    -d "$OTDIR" -w whitelist.txt >"$TMP/opentracker.log" 2>&1 &
  OTPID=$!; PIDS+=("$OTPID")
  wait_port "$OTPORT" "$OTPID" || { cat "$TMP/opentracker.log" >&2; die "opentracker did not start"; }
  URL[opentracker]="http://127.0.0.1:$OTPORT"
  CPU_PIDS[opentracker]="$OTPID"
fi
if has_sys starling; then
  RPORT=$(free_port)
  "${PIN_TRACKER[@]}" redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --dir "$TMP" >"$TMP/redis.log" 2>&1 &
  RPID=$!; PIDS+=("$RPID")
  wait_port "$RPORT" "$RPID" || { cat "$TMP/redis.log" >&2; die "redis-server did not start"; }
  rcli() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }
  for ((i = 0; i < 50; i++)); do [[ $(rcli PING 2>/dev/null) == PONG ]] && break; sleep 0.1; done
  mem_used() { rcli INFO memory | tr -d '\r' | sed -n 's/^used_memory://p'; }
  MEM0=$(mem_used)
  cat >"$TMP/starling.json" <<EOF
{ "redis": { "url": "redis://127.0.0.1:$RPORT" }, "log_level": "info" }
EOF
  STARLING_HTTP_LISTEN_ADDR=127.0.0.1:0 "${PIN_TRACKER[@]}" "$BIN" --config "$TMP/starling.json" \
    2>"$TMP/starling.log" &
  SPID=$!; PIDS+=("$SPID")
  SPORT=""
  for ((i = 0; i < 100; i++)); do
    SPORT=$(sed -n 's/.*http listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/starling.log" | head -n1)
    [[ -n $SPORT ]] && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n $SPORT ]] || { cat "$TMP/starling.log" >&2; die "starling did not start"; }
  URL[starling]="http://127.0.0.1:$SPORT"
  CPU_PIDS[starling]="$SPID $RPID"
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
for s in "${SYSTEMS[@]}"; do sanity "$s"; done

# ---------------------------------------------------------------- wrk runs
declare -A R   # R[sys,mode,key]
run_wrk() {   # run_wrk SYSTEM MODE SECONDS SEED -> fills R[SYSTEM,MODE,*]
  local sys=$1 mode=$2 secs=$3 seed=$4 kind hdr=() t0 t1 out line kv conns=$CONNS
  case $mode in
    announce-close) kind=announce; hdr=(-H "Connection: close") ;;
    announce-close-c8) kind=announce; hdr=(-H "Connection: close"); conns=8 ;;
    announce-ka|warmup) kind=announce ;;
    scrape-close) kind=scrape; hdr=(-H "Connection: close") ;;
  esac
  out="$TMP/wrk-$sys-$mode.txt"
  local pids b=() split="" i
  read -r -a pids <<<"${CPU_PIDS[$sys]}"
  for i in "${pids[@]}"; do b+=("$(cpu_ticks "$i")"); done
  alive "${pids[@]}" || die "$sys died before $mode"
  t0=$(cpu_ticks "${pids[@]}")
  timeout -k 5 $((secs + 60)) "${PIN_WRK[@]}" wrk -t1 -c"$conns" -d"${secs}s" "${hdr[@]}" \
    -s "$LUA" "${URL[$sys]}/" -- "$kind" "$TORRENTS" "$PEERS" "$seed" >"$out" 2>&1 \
    || { cat "$out" >&2; die "wrk failed against $sys ($mode)"; }
  t1=$(cpu_ticks "${pids[@]}")
  for i in "${!pids[@]}"; do
    split+=" $(awk -v t=$(( $(cpu_ticks "${pids[$i]}") - b[i] )) -v k="$TCK" 'BEGIN { printf "%.2f", t / k }')"
  done
  alive "${pids[@]}" || die "$sys died during $mode"
  line=$(grep '^BENCHRESULT ' "$out") || { cat "$out" >&2; die "no result from wrk ($sys $mode)"; }
  for kv in ${line#BENCHRESULT }; do R[$sys,$mode,${kv%%=*}]=${kv#*=}; done
  R[$sys,$mode,cpu]=$(awk -v t=$((t1 - t0)) -v k="$TCK" 'BEGIN { printf "%.2f", t / k }')
  R[$sys,$mode,rpc]=$(awk -v n="${R[$sys,$mode,requests]}" -v c="${R[$sys,$mode,cpu]}" \
    'BEGIN { if (c > 0) printf "%.0f", n / c; else print "n/a" }')
  echo "bench: $sys $mode: ${R[$sys,$mode,rps]} req/s, p99 ${R[$sys,$mode,p99_ms]} ms," \
    "tracker CPU ${R[$sys,$mode,cpu]} s (per process:$split)" >&2
}

# announce-close-c8: 8 connections instead of $CONNS, below saturation, for latency: at
# saturation latency is just connections / throughput (Little's law).
MODES=(announce-close announce-ka scrape-close announce-close-c8)
if ((WARMUP > 0)); then
  for s in "${SYSTEMS[@]}"; do run_wrk "$s" warmup "$WARMUP" 1; done
fi
seed=100
for m in "${MODES[@]}"; do
  seed=$((seed + 1))
  for s in "${SYSTEMS[@]}"; do run_wrk "$s" "$m" "$DUR" "$seed"; done   # same requests for both
done

# ---------------------------------------------------------------- Redis memory per peer
if has_sys starling; then
  PEERCOUNT_LUA='
local c, n, k = "0", 0, 0
repeat
  local r = redis.call("SCAN", c, "MATCH", "{*}:*", "COUNT", 1000, "TYPE", "zset")
  c = r[1]
  for _, key in ipairs(r[2]) do n = n + redis.call("ZCARD", key); k = k + 1 end
until c == "0"
return {n, k}'
  read -r STORED ZKEYS < <(rcli --no-raw EVAL "$PEERCOUNT_LUA" 0 | tr -d '\r' | awk '{print $NF}' | paste -sd' ')
  MEM1=$(mem_used)
  SWARMS=$(rcli DBSIZE | tr -d '\r')
fi

# ---------------------------------------------------------------- report
echo
printf 'starling benchmark: %s torrents (Zipf s=1), %s peers, wrk -t1 -c%s -d%ss on core 1, trackers on core 0, warm-up %ss\n' \
  "$TORRENTS" "$PEERS" "$CONNS" "$DUR" "$WARMUP"
printf '%-12s %-18s %9s %8s %8s %7s %8s %10s\n' system mode "req/s" "p50 ms" "p99 ms" errors "rd-err" "req/CPU-s"
for m in "${MODES[@]}"; do
  for s in "${SYSTEMS[@]}"; do
    errs=$(( R[$s,$m,connect] + R[$s,$m,write] + R[$s,$m,status] + R[$s,$m,timeout] + R[$s,$m,failures] ))
    printf '%-12s %-18s %9s %8s %8s %7s %8s %10s\n' "$s" "$m" "${R[$s,$m,rps]}" \
      "${R[$s,$m,p50_ms]}" "${R[$s,$m,p99_ms]}" "$errs" "${R[$s,$m,read]}" "${R[$s,$m,rpc]}"
  done
done
if has_sys starling && has_sys opentracker; then
  echo
  printf '%-18s %15s %22s\n' mode "req/s st/ot" "req/CPU-s st/ot"
  for m in "${MODES[@]}"; do
    printf '%-18s %15s %22s\n' "$m" \
      "$(awk -v a="${R[starling,$m,rps]}" -v b="${R[opentracker,$m,rps]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')" \
      "$(awk -v a="${R[starling,$m,rpc]}" -v b="${R[opentracker,$m,rpc]}" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "n/a" }')"
  done
fi
if has_sys starling; then
  echo
  awk -v m0="$MEM0" -v m1="$MEM1" -v n="$STORED" -v z="$ZKEYS" -v d="$SWARMS" 'BEGIN {
    printf "starling redis: %d stored peers in %d sorted sets (%d keys); used_memory %.1f MB -> %.1f MB; ", n, z, d, m0/1048576, m1/1048576
    if (n > 0) printf "%.1f bytes per stored peer\n", (m1 - m0) / n; else print "no peers stored"
  }'
fi
if has_sys starling; then
  nwarn=$(grep -cE 'level=(warn|error)' "$TMP/starling.log" || true)
  echo "starling log: $(wc -l <"$TMP/starling.log") lines, $nwarn at level warn/error"
  grep -E 'level=(warn|error)' "$TMP/starling.log" | head -n 5 || true
fi
echo
echo "errors = wrk connect+write errors + timeouts + non-2xx + replies containing \"failure\"."
echo "rd-err = wrk read errors: the server closed a connection wrk expected to reuse. opentracker"
echo "         closes after every reply without sending \"Connection: close\", so it shows ~1 per request."
echo "req/CPU-s = requests / (utime+stime of the tracker's processes; starling: frontend + redis-server)."
