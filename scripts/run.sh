#!/usr/bin/env bash
# Builds starling and runs it on config.json (or $STARLING_CONFIG). If no Redis answers at
# the configured address, starts a redis-server there in a temp dir and stops it on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_packages "${BUILD_PACKAGES[@]}" redis-server redis-tools

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build -j"$(nproc)" --target starling starling-aggregator >/dev/null

config=${STARLING_CONFIG:-config.json}
# The Redis started here may evict only keys with a TTL: swarms (purge_inactive_torrents),
# never the tracker's own keys (README, Redis memory).
maxmemory=${REDIS_MAXMEMORY:-256mb}
line=$(build/starling --config "$config" --check-config) # exits 2 on a bad config
redis=${line##*; redis }

redis_pid=""
tmp=""
cleanup() {
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
    [ -n "$tmp" ] && rm -rf "$tmp"
    return 0
}
trap cleanup EXIT

case "$redis" in
unix:*)
    socket=${redis#unix:}
    if ! redis-cli -s "$socket" ping >/dev/null 2>&1; then
        tmp=$(mktemp -d)
        redis-server --port 0 --unixsocket "$socket" --save '' --appendonly no --dir "$tmp" \
            --maxmemory "$maxmemory" --maxmemory-policy volatile-lru \
            >"$tmp/redis.log" 2>&1 &
        redis_pid=$!
    fi
    ;;
*)
    host=${redis%:*}
    port=${redis##*:}
    if ! redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
        tmp=$(mktemp -d)
        redis-server --port "$port" --bind "$host" --save '' --appendonly no --dir "$tmp" \
            --maxmemory "$maxmemory" --maxmemory-policy volatile-lru \
            >"$tmp/redis.log" 2>&1 &
        redis_pid=$!
    fi
    ;;
esac
if [ -n "$redis_pid" ]; then
    echo "started redis-server (pid $redis_pid) for $redis in $tmp" >&2
    for _ in $(seq 50); do
        if [ "${redis#unix:}" != "$redis" ]; then
            redis-cli -s "${redis#unix:}" ping >/dev/null 2>&1 && break
        else
            redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1 && break
        fi
        sleep 0.1
    done
fi

# Not exec: the trap must stop our Redis when starling exits (Ctrl-C reaches both).
build/starling --config "$config" &
starling_pid=$!
trap 'kill -TERM "$starling_pid" 2>/dev/null' INT TERM
wait "$starling_pid" || true
wait "$starling_pid" 2>/dev/null || true
