#!/usr/bin/env bash
# Smoke test of the container image (deploy/Dockerfile), on this machine only:
#   1. a Docker daemon: the one DOCKER_HOST or /var/run/docker.sock names, else a private
#      dockerd started here (root; data in $STARLING_DOCKER_DIR, no bridge, no iptables);
#   2. a Debian bookworm base image: $STARLING_DOCKER_BASE if given, else
#      local/debian:bookworm, made with `debootstrap --variant=minbase` when missing (no
#      image registry is needed);
#   3. the image, built from the files git knows (tracked and untracked, not ignored);
#   4. a redis-server on loopback, started here, and the frontend and the aggregator in
#      containers on the host network, read-only, without capabilities, as the image's
#      user; then HTTP and UDP announces and a scrape through them, the HEALTHCHECK
#      reaching "healthy", and a pass of the aggregator.
# Prints PASSED, FAILED (exit 1) or SKIPPED (exit 0, with the reason) where no Docker
# daemon can be had. Everything it started is stopped by PID or container id on exit.
# Not part of scripts/test.sh: the first run takes minutes (debootstrap, apt in the build).
#   STARLING_DOCKER_DIR   the private daemon's data (images, build cache), kept between
#                         runs; default ${XDG_CACHE_HOME:-$HOME/.cache}/starling-docker-smoke
#   STARLING_DOCKER_BASE  a base image to use instead of local/debian:bookworm
#   DEBIAN_MIRROR         for debootstrap (default: the first of this machine's apt sources)
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

say() { echo "docker-smoke: $*" >&2; }
skip() {
    say "SKIPPED: $*"
    echo "SKIPPED"
    exit 0
}
fail() {
    say "FAILED: $*"
    echo "FAILED"
    exit 1
}

IMAGE=starling:smoke
BASE=${STARLING_DOCKER_BASE:-local/debian:bookworm}
tmp=$(mktemp -d /tmp/starling-smoke.XXXXXX)
dockerd_pid=""
redis_pid=""
containers=()

cleanup() {
    local c
    for c in "${containers[@]}"; do
        docker rm -f "$c" >/dev/null 2>&1
    done
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null
        wait "$redis_pid" 2>/dev/null
    fi
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid" 2>/dev/null
        # dockerd stops its containerd itself; give it 20 s.
        for _ in $(seq 200); do
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$dockerd_pid" 2>/dev/null
        wait "$dockerd_pid" 2>/dev/null
        # dockerd leaves its default network namespace mounted in the exec root.
        if mountpoint -q "$tmp/exec/netns/default" 2>/dev/null; then
            umount "$tmp/exec/netns/default"
        fi
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. a Docker daemon ----
command -v docker >/dev/null || [ "$(id -u)" -ne 0 ] || ensure_packages docker.io ||
    skip "docker is not installed and could not be installed"
command -v docker >/dev/null || skip "no docker client"
export DOCKER_BUILDKIT=0 # the classic builder: no BuildKit frontend image to pull
if ! timeout 10 docker info >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || skip "no Docker daemon answers, and starting one needs root"
    command -v dockerd >/dev/null || ensure_packages docker.io ||
        skip "dockerd is not installed and could not be installed"
    data=${STARLING_DOCKER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/starling-docker-smoke}
    mkdir -p "$data" "$tmp/exec"
    export DOCKER_HOST="unix://$tmp/docker.sock"
    # No bridge and no iptables rules: containers run on the host network only.
    dockerd --data-root "$data" --exec-root "$tmp/exec" --pidfile "$tmp/docker.pid" \
        -H "$DOCKER_HOST" --bridge=none --iptables=false --ip6tables=false \
        >"$tmp/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 150); do
        timeout 5 docker info >/dev/null 2>&1 && break
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 0.2
    done
    if ! timeout 5 docker info >/dev/null 2>&1; then
        tail -5 "$tmp/dockerd.log" >&2
        skip "no Docker daemon could be started here (dockerd log above)"
    fi
    say "started dockerd (pid $dockerd_pid, data in $data)"
fi

# ---- 2. the base image ----
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
    [ "$BASE" = local/debian:bookworm ] || fail "base image $BASE not found"
    [ "$(id -u)" -eq 0 ] || skip "building a base with debootstrap needs root"
    command -v debootstrap >/dev/null || ensure_packages debootstrap ||
        skip "debootstrap is not installed and could not be installed"
    mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p; s/^deb \(http[^ ]*\/debian\) .*/\1/p' \
        /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -1)}
    mirror=${mirror:-http://deb.debian.org/debian}
    say "building $BASE with debootstrap from $mirror (about a minute)"
    timeout 600 debootstrap --variant=minbase bookworm "$tmp/rootfs" "$mirror" \
        >"$tmp/debootstrap.log" 2>&1 || {
        tail -5 "$tmp/debootstrap.log" >&2
        fail "debootstrap failed"
    }
    rm -rf "$tmp/rootfs"/var/cache/apt/archives/*.deb "$tmp/rootfs"/var/lib/apt/lists/*
    tar -C "$tmp/rootfs" -c . | docker import - "$BASE" >/dev/null || fail "docker import failed"
    rm -rf "$tmp/rootfs"
fi

# ---- 3. the image ----
say "building $IMAGE on $BASE"
git ls-files -z --cached --others --exclude-standard |
    tar --null -T - -c -f "$tmp/context.tar" 2>/dev/null || fail "cannot pack the build context"
if ! timeout 900 docker build --network host --build-arg "BASE=$BASE" -f deploy/Dockerfile \
    -t "$IMAGE" - <"$tmp/context.tar" >"$tmp/build.log" 2>&1; then
    tail -30 "$tmp/build.log" >&2
    fail "docker build failed"
fi
say "image: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'), user $(docker image inspect -f '{{.Config.User}}' "$IMAGE")"
[ "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")" = 65534:65534 ] ||
    fail "the image does not run as 65534:65534"
docker run --rm --network none --entrypoint /usr/local/bin/starling "$IMAGE" --version >&2 ||
    fail "the binary does not run in the image (libraries?)"

# ---- 4. run it against a local Redis ----
command -v redis-server >/dev/null || ensure_packages redis-server || fail "no redis-server"
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$tmp" --daemonize no >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do
    [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
done
[ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] || fail "redis-server did not start"

http_port=$(free_port)
metrics_port=$(free_port)
agg_port=$(free_port)
secret=$(head -c 24 /dev/urandom | base64)
# As deployed: read-only root filesystem, no capabilities, no privilege escalation.
run_opts=(--network host --read-only --cap-drop ALL --security-opt no-new-privileges
    -e "STARLING_REDIS_URL=redis://127.0.0.1:$redis_port" -e STARLING_LOG_LEVEL=info)
fe=$(docker run -d "${run_opts[@]}" --health-cmd "/usr/local/bin/starling-healthcheck $metrics_port" \
    --health-interval 1s --health-start-period 2s \
    -e "STARLING_HTTP_LISTEN_ADDR=127.0.0.1:$http_port" \
    -e "STARLING_UDP_LISTEN_ADDR=127.0.0.1:$http_port" \
    -e "STARLING_METRICS_LISTEN_ADDR=127.0.0.1:$metrics_port" \
    -e "STARLING_UDP_SECRET=$secret" "$IMAGE") || fail "docker run (frontend) failed"
containers+=("$fe")
ag=$(docker run -d "${run_opts[@]}" --entrypoint /usr/local/bin/starling-aggregator \
    --health-cmd "/usr/local/bin/starling-healthcheck $agg_port" \
    --health-interval 1s --health-start-period 2s \
    -e "STARLING_METRICS_LISTEN_ADDR=127.0.0.1:$agg_port" -e STARLING_AGGREGATOR_INTERVAL=1s \
    "$IMAGE") || fail "docker run (aggregator) failed"
containers+=("$ag")

wait_healthy() { # container, what
    local s
    for _ in $(seq 60); do
        s=$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)
        [ "$s" = healthy ] && return 0
        [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ] || break
        sleep 0.5
    done
    docker logs "$1" 2>&1 | tail -20 >&2
    fail "$2 not healthy (health: ${s:-none})"
}
wait_healthy "$fe" "the frontend"
wait_healthy "$ag" "the aggregator"
say "both containers healthy"

# Announces (HTTP: two peers that see each other; UDP: connect + announce), a scrape.
python3 - "$http_port" >&2 <<'EOF' || fail "announce through the container failed"
import socket, struct, sys, time, urllib.request
port = int(sys.argv[1])
ih = bytes(range(20))
def announce(peer, p, left):
    q = "info_hash=%s&peer_id=%s&port=%d&uploaded=0&downloaded=0&left=%d&compact=1" % (
        "".join("%%%02X" % b for b in ih), peer, p, left)
    for _ in range(50):  # /readyz may lag the healthcheck: retry "retry later" replies
        body = urllib.request.urlopen("http://127.0.0.1:%d/announce?%s" % (port, q), timeout=5).read()
        if b"failure reason" not in body:
            return body
        time.sleep(0.2)
    raise SystemExit("announce failed: %r" % body)
announce("A" * 20, 6881, 0)  # a seeder
body = announce("B" * 20, 6882, 1000)  # a leecher, given the seeder
assert b"5:peers6:" in body and struct.pack(">H", 6881) in body, body
scrape = urllib.request.urlopen("http://127.0.0.1:%d/scrape?info_hash=%s" % (
    port, "".join("%%%02X" % b for b in ih)), timeout=5).read()
assert b"8:completei1e10:downloadedi0e10:incompletei1e" in scrape, scrape
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(5)
u.sendto(struct.pack(">QII", 0x41727101980, 0, 7), ("127.0.0.1", port))
action, tid, cid = struct.unpack(">IIQ", u.recv(64))
assert action == 0 and tid == 7, (action, tid)
# A leecher over UDP: given the HTTP peers (all on 127.0.0.1, different ports).
u.sendto(struct.pack(">QII20s20sQQQIIIiH", cid, 1, 8, ih, b"C" * 20, 0, 1000, 0, 0, 0, 0, 50, 6883),
         ("127.0.0.1", port))
r = u.recv(2048)
action, tid, interval, leechers, seeders = struct.unpack(">IIIII", r[:20])
assert action == 1 and tid == 8 and (seeders, leechers) == (1, 2), r
assert struct.pack(">4sH", socket.inet_aton("127.0.0.1"), 6881) in r[20:], r
print("docker-smoke: HTTP announce, scrape and UDP announce answered; %d peers returned"
      % ((len(r) - 20) // 6))
EOF

# The aggregator's pass publishes the swarm in {starling}:stats.
for _ in $(seq 50); do
    n=$(redis-cli -p "$redis_port" hget '{starling}:stats' torrents 2>/dev/null)
    [ "${n:-0}" -ge 1 ] && break
    sleep 0.2
done
[ "${n:-0}" -ge 1 ] || fail "the aggregator published no pass (torrents=${n:-none})"
uid=$(docker exec "$fe" sh -c 'id -u' 2>/dev/null)
[ "$uid" = 65534 ] || fail "the frontend runs as uid ${uid:-?}, not 65534"
say "aggregator published torrents=$n; processes run as uid $uid on a read-only root"
echo "PASSED"
