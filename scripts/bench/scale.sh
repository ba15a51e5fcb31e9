# The scale section of scripts/bench.sh (sourced by it; `scripts/bench.sh scale` runs it
# alone). It uses bench.sh's settings (DUR, WARMUP, CONNS, TORRENTS, PEERS, UDP_SOCKETS),
# helpers (free_port, wait_port, cpu_ticks, running, stop_pid, die, pct_hex, run_udp) and
# its temp dir and PID list.
#
# Rows (BENCH_SCALE_ROWS, in this order by default):
#   single          1 frontend on 1 redis-server
#   cluster         1 frontend on a Redis Cluster of 3 masters, no replicas (seeds in
#                   STARLING_REDIS_CLUSTER_NODES; redis.url at the first master)
#   two-frontends   2 frontends on 1 redis-server (HTTP: one wrk thread per frontend; UDP:
#                   both on one port with udp_reuseport, the kernel spreads the clients)
#   single-again    `single` once more, last: how much the machine drifted during the
#                   section (the ratios use the mean of both single rows)
#   cluster-1       (not by default) 1 frontend on a 1-node Redis Cluster holding every
#                   slot: what cluster mode costs by itself, without a second process
# Each row starts fresh processes, all pinned to the trackers' core(s) like every tracker of
# bench.sh, so every row has the same CPU budget; the load runs on the other core. Per row:
# sanity announces on hashes spread over the slots, then the same sequence: an HTTP warm-up
# (WARMUP s, seed 1), announces over HTTP keep-alive (wrk -t2 -c$CONNS, DUR s, seed 2), and
# over UDP (udpload -c$CONNS, DUR s, seed 3). Requests per CPU-second count every tracker
# process of the row: the frontend(s) and every redis-server.

SCALE_SECRET="starling-bench-secret"
# redis.connections of every frontend of the section (per node on a cluster); empty: the
# default.
SCALE_CONNS=${BENCH_SCALE_REDIS_CONNECTIONS:-}
[[ -z $SCALE_CONNS || $SCALE_CONNS =~ ^[1-9][0-9]?$ ]] \
  || die "BENCH_SCALE_REDIS_CONNECTIONS must be 1-99 (got '$SCALE_CONNS')"
declare -A SC_DESC=([single]="1 frontend, 1 redis-server"
                    [cluster]="1 frontend, 3-master Redis Cluster"
                    [two-frontends]="2 frontends, 1 redis-server"
                    [single-again]="1 frontend, 1 redis-server (again)"
                    [cluster-1]="1 frontend, 1-master Redis Cluster")
declare -A SC_SKIP SC_FE SC_REDIS

# two_free_ports: two distinct free ports in SC_P1, SC_P2 (a node's port and its bus port).
two_free_ports() {
  local i
  SC_P1=$(free_port)
  for ((i = 0; i < 20; i++)); do
    SC_P2=$(free_port)
    [[ $SC_P2 != "$SC_P1" ]] && return 0
  done
  die "no second free port"
}

# scale_redis DIR [cluster]: a redis-server pinned with the trackers, persistence off; sets
# SR_PORT and SR_PID. With `cluster`, cluster mode on (joined by scale_cluster_create).
scale_redis() {
  local dir=$1 extra=()
  mkdir -p "$dir"
  two_free_ports
  SR_PORT=$SC_P1
  if [[ ${2:-} == cluster ]]; then
    extra=(--cluster-enabled yes --cluster-config-file nodes.conf --cluster-port "$SC_P2"
           --cluster-node-timeout 5000)
  fi
  "${PIN_TRACKER[@]}" redis-server --port "$SR_PORT" --bind 127.0.0.1 --save '' \
    --appendonly no --daemonize no --dir "$dir" "${extra[@]}" >"$dir/redis.log" 2>&1 &
  SR_PID=$!; PIDS+=("$SR_PID")
  wait_port "$SR_PORT" "$SR_PID" || { cat "$dir/redis.log" >&2; die "redis-server did not start"; }
}

# scale_cluster_create PORT...: redis-cli --cluster create (or, for one node, all slots
# assigned to it), then up to 20 s for every node to say cluster_state:ok.
scale_cluster_create() {
  local addrs=() p i ok
  for p in "$@"; do addrs+=("127.0.0.1:$p"); done
  if (($# == 1)); then
    redis-cli -p "$1" CLUSTER ADDSLOTSRANGE 0 16383 >"$TMP/scale-cluster-create.log" 2>&1
  else
    timeout 60 redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes \
      >"$TMP/scale-cluster-create.log" 2>&1
  fi || { cat "$TMP/scale-cluster-create.log" >&2; die "creating the cluster failed"; }
  for ((i = 0; i < 200; i++)); do
    ok=1
    for p in "$@"; do
      redis-cli -p "$p" CLUSTER INFO 2>/dev/null | grep -q '^cluster_state:ok' || ok=0
    done
    ((ok)) && return 0
    sleep 0.1
  done
  die "the cluster did not reach cluster_state:ok in 20 s"
}

# scale_frontend NAME REDIS_PORT UDP_PORT REUSEPORT [VAR=VALUE...]: a frontend pinned with
# the trackers; sets ST_PID, ST_HTTP, ST_UDP (ports from its log).
scale_frontend() {
  local name=$1 rport=$2 uport=$3 reuse=$4 log="$TMP/$1.log" i conns=""
  shift 4
  [[ -z $SCALE_CONNS ]] || conns=", \"connections\": $SCALE_CONNS"
  cat >"$TMP/$name.json" <<EOF
{ "redis": { "url": "redis://127.0.0.1:$rport"$conns }, "log_level": "info",
  "http_listen_addr": "127.0.0.1:0", "udp_listen_addr": "127.0.0.1:$uport",
  "udp_secret": "$SCALE_SECRET", "http_per_address_limit": 0, "metrics_listen_addr": "",
  "udp_reuseport": $reuse }
EOF
  : >"$log"
  "${PIN_TRACKER[@]}" env "$@" "$BIN" --config "$TMP/$name.json" 2>"$log" &
  ST_PID=$!; PIDS+=("$ST_PID")
  ST_HTTP=""; ST_UDP=""
  for ((i = 0; i < 100; i++)); do
    ST_HTTP=$(sed -n 's/.*http listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n1)
    ST_UDP=$(sed -n 's/.*udp listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n1)
    [[ -n $ST_HTTP && -n $ST_UDP ]] && break
    running "$ST_PID" || break
    sleep 0.1
  done
  [[ -n $ST_HTTP && -n $ST_UDP ]] || { cat "$log" >&2; die "$name did not start"; }
}

# scale_sanity PORT: two announces on each of 8 hashes spread over the torrents (so over
# the cluster's slots); the second must count both peers. Up to 5 s for the frontend to
# reach Redis. Prints what went wrong and fails.
scale_sanity() {
  local port=$1 n k h q body i
  n=$(wc -l <"$TMP/whitelist.txt")
  for ((i = 0; i < 50; i++)); do
    body=$(curl -sS -m 2 "http://127.0.0.1:$port/announce?info_hash=$(pct_hex "$H0")&peer_id=-SCALE-0000000000000&port=6881&uploaded=0&downloaded=0&left=1&event=stopped" 2>&1 | tr -d '\0')
    [[ $body == *"failure reason"* || -z $body ]] || break
    sleep 0.1
  done
  for ((k = 0; k < 8; k++)); do
    h=$(sed -n "$((1 + k * (n - 1) / 7))p" "$TMP/whitelist.txt")
    q="info_hash=$(pct_hex "$h")&uploaded=0&downloaded=0&left=100&compact=1"
    curl -sS -m 5 -o /dev/null "http://127.0.0.1:$port/announce?$q&port=6881&peer_id=-SCALE-0000000000001" || true
    body=$(curl -sS -m 5 "http://127.0.0.1:$port/announce?$q&port=6882&peer_id=-SCALE-0000000000002" 2>&1 | tr -d '\0' | LC_ALL=C tr -c '[:print:]' '.')
    if [[ $body != *"incompletei2e"* ]]; then
      echo "announce on torrent $h got: ${body:0:200}"
      return 1
    fi
    curl -sS -m 5 -o /dev/null "http://127.0.0.1:$port/announce?$q&port=6881&peer_id=-SCALE-0000000000001&event=stopped" || true
    curl -sS -m 5 -o /dev/null "http://127.0.0.1:$port/announce?$q&port=6882&peer_id=-SCALE-0000000000002&event=stopped" || true
  done
}

# scale_wrk LABEL "PIDS" TARGETS SECONDS SEED: keep-alive announces, wrk thread k to the
# k-th of TARGETS (host:port,...; scripts/bench/tracker.lua reads BENCH_WRK_TARGETS); fills
# R[LABEL,http,*] like run_wrk.
scale_wrk() {
  local label=$1 targets=$3 secs=$4 seed=$5 out="$TMP/wrk-scale-$1-$5.txt" pids t0 t1 line kv
  local threads=2 split="" b=() i
  ((CONNS >= 2)) || threads=1
  read -r -a pids <<<"$2"
  for i in "${pids[@]}"; do b+=("$(cpu_ticks "$i")"); done
  t0=$(cpu_ticks "${pids[@]}")
  BENCH_WRK_TARGETS=$targets timeout -k 5 $((secs + 60)) "${PIN_WRK[@]}" wrk -t"$threads" \
    -c"$CONNS" -d"${secs}s" -s "$LUA" "http://${targets%%,*}/" -- announce "$TORRENTS" \
    "$PEERS" "$seed" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed against $label"; }
  t1=$(cpu_ticks "${pids[@]}")
  split=" $(cpu_split b "${pids[@]}")"
  alive "${pids[@]}" || die "$label: a tracker process died during the run"
  line=$(grep '^BENCHRESULT ' "$out") || { cat "$out" >&2; die "no result from wrk ($label)"; }
  for kv in ${line#BENCHRESULT }; do R[$label,http,${kv%%=*}]=${kv#*=}; done
  R[$label,http,cpu]=$(awk -v t=$((t1 - t0)) -v k="$TCK" 'BEGIN { printf "%.2f", t / k }')
  R[$label,http,split]=${split# }
  R[$label,http,rpc]=$(awk -v n="${R[$label,http,requests]}" -v c="${R[$label,http,cpu]}" \
    'BEGIN { if (c > 0) printf "%.0f", n / c; else print "n/a" }')
  R[$label,http,errs]=$(( R[$label,http,connect] + R[$label,http,write] + R[$label,http,status] + R[$label,http,timeout] + R[$label,http,failures] + R[$label,http,read] ))
  echo "bench: scale $label http: ${R[$label,http,rps]} req/s, tracker CPU ${R[$label,http,cpu]} s (per process:$split)" >&2
}

# scale_row ROW: starts the row's processes, checks them, runs the load, stops them.
scale_row() {
  local row=$1 fes=() redis=() ports=() targets why p i cluster_env=()
  case $row in
    single|two-frontends|single-again)
      scale_redis "$TMP/scale-$row-redis"
      redis=("$SR_PID"); ports=("$SR_PORT") ;;
    cluster|cluster-1)
      for i in $(seq "$([[ $row == cluster ]] && echo 3 || echo 1)"); do
        scale_redis "$TMP/scale-$row-$i" cluster
        redis+=("$SR_PID"); ports+=("$SR_PORT")
      done
      scale_cluster_create "${ports[@]}"
      for p in "${ports[@]}"; do cluster_env+=("127.0.0.1:$p"); done
      cluster_env=("STARLING_REDIS_CLUSTER_NODES=$(IFS=,; echo "${cluster_env[*]}")") ;;
    *) die "BENCH_SCALE_ROWS: unknown row '$row' (single cluster two-frontends single-again cluster-1)" ;;
  esac
  if [[ $row == two-frontends ]]; then
    scale_frontend "scale-$row-a" "${ports[0]}" 0 true
    fes+=("$ST_PID"); targets="127.0.0.1:$ST_HTTP"; SC_UDP[$row]=$ST_UDP
    scale_frontend "scale-$row-b" "${ports[0]}" "${SC_UDP[$row]}" true
    fes+=("$ST_PID"); targets+=",127.0.0.1:$ST_HTTP"
    [[ $ST_UDP == "${SC_UDP[$row]}" ]] || die "second frontend listens on UDP $ST_UDP, not ${SC_UDP[$row]}"
  else
    scale_frontend "scale-$row" "${ports[0]}" 0 false "${cluster_env[@]}"
    fes+=("$ST_PID"); targets="127.0.0.1:$ST_HTTP"; SC_UDP[$row]=$ST_UDP
  fi
  for p in ${targets//,/ }; do
    if ! why=$(scale_sanity "${p#*:}"); then
      SC_SKIP[$row]="sanity check failed: $why"
      echo "bench: scale $row: ${SC_SKIP[$row]} (log: $(grep -m1 -E 'level=(warn|error)' "$TMP/scale-$row.log" 2>/dev/null || true))" >&2
      break
    fi
  done
  if [[ -z ${SC_SKIP[$row]:-} ]]; then
    echo "bench: scale $row: ${SC_DESC[$row]} up (http $targets, udp ${SC_UDP[$row]})" >&2
    SC_FE[$row]="${fes[*]}"; SC_REDIS[$row]="${redis[*]}"
    if ((WARMUP > 0)); then
      scale_wrk "$row-warmup" "${fes[*]} ${redis[*]}" "$targets" "$WARMUP" 1
    fi
    scale_wrk "$row" "${fes[*]} ${redis[*]}" "$targets" "$DUR" 2
    run_udp "$row" "${SC_UDP[$row]}" "${fes[*]} ${redis[*]}" udp-announce "$DUR" 3
  fi
  for p in "${fes[@]}" "${redis[@]}"; do stop_pid "$p"; done
}

# sum_fields "A B C" FIRST COUNT: the sum of COUNT fields from FIRST (1-based).
sum_fields() {
  awk -v s="$1" -v f="$2" -v n="$3" 'BEGIN { split(s, a, " "); t = 0;
    for (i = f; i < f + n; i++) t += a[i]; printf "%.2f", t }'
}

# scale_ratio ROW WHAT: ROW's requests per CPU-second against the single rows' (their mean
# when both ran).
scale_ratio() {
  local m out=""
  for m in http udp-announce; do
    out+=" ${m%-announce} $(awk -v a="${R[$1,$m,rpc]:-}" -v b="${R[single,$m,rpc]:-}" \
      -v c="${R[single-again,$m,rpc]:-}" 'BEGIN { if (b + 0 > 0 && c + 0 > 0) b = (b + c) / 2;
        else if (b + 0 <= 0) b = c;
        if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "n/a" }'),"
  done
  echo "$2 / 1 frontend on 1 redis-server, requests per CPU-second:${out%,}"
}

scale_section() {
  local rows=() row m rpc nfe nred fe=() rd=()
  local -A base=()
  declare -gA SC_UDP=()
  read -r -a rows <<<"${BENCH_SCALE_ROWS:-single cluster two-frontends single-again}"
  for row in "${rows[@]}"; do scale_row "$row"; done

  echo
  printf 'scale: announces, HTTP keep-alive (wrk -t2 -c%s) and UDP (udpload -c%s -k%s), %ss each after a %ss HTTP warm-up;\n' \
    "$CONNS" "$CONNS" "$UDP_SOCKETS" "$DUR" "$WARMUP"
  printf '       every tracker process (frontends and every redis-server) on core 0, load on core 1; fresh processes per row\n'
  printf '%-36s %-5s %9s %8s %7s %10s %8s %10s %10s\n' row mode "req/s" "p99 ms" errors \
    "req/CPU-s" "x row 1" "fe CPU s" "redis CPU s"
  for row in "${rows[@]}"; do
    if [[ -n ${SC_SKIP[$row]:-} ]]; then
      printf '%-36s %s\n' "${SC_DESC[$row]}" "skipped: ${SC_SKIP[$row]:0:100}"
      continue
    fi
    read -r -a fe <<<"${SC_FE[$row]}"; read -r -a rd <<<"${SC_REDIS[$row]}"
    nfe=${#fe[@]}; nred=${#rd[@]}
    for m in http udp-announce; do
      rpc=${R[$row,$m,rpc]}
      [[ -n ${base[$m]:-} ]] || base[$m]=$rpc
      printf '%-36s %-5s %9s %8s %7s %10s %8s %10s %10s\n' "${SC_DESC[$row]}" "${m%-announce}" \
        "${R[$row,$m,rps]}" "${R[$row,$m,p99_ms]}" "${R[$row,$m,errs]}" "$rpc" \
        "$(awk -v a="$rpc" -v b="${base[$m]}" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "n/a" }')" \
        "$(sum_fields "${R[$row,$m,split]}" 1 "$nfe")" "$(sum_fields "${R[$row,$m,split]}" $((nfe + 1)) "$nred")"
    done
  done
  echo
  if [[ " ${rows[*]} " == *" cluster "* ]]; then
    scale_ratio cluster "3-master cluster"
    echo "  (the cluster's overhead on the same cores; the aim: >= 0.9)"
  fi
  if [[ " ${rows[*]} " == *" cluster-1 "* ]]; then
    scale_ratio cluster-1 "1-master cluster"
  fi
  if [[ " ${rows[*]} " == *" two-frontends "* ]]; then
    scale_ratio two-frontends "2 frontends"
  fi
  echo "errors: HTTP = wrk connect/read/write errors + timeouts + non-2xx + failure replies; UDP = timeouts + error replies + malformed replies"
}
