#!/bin/sh
# Makes the nodes of overlays/redis-cluster one Redis Cluster, once: run by the Job in
# bootstrap-job.yaml (image redis:7.0), and by tests/integration/test_deploy_cluster.py
# against six local redis-servers. Safe to run again: a node that already knows other
# nodes means the cluster exists, and nothing is changed.
#   REDIS_CLUSTER_NODES     host:port of every node, separated by spaces or commas
#   REDIS_CLUSTER_REPLICAS  replicas per master (1)
#   REDIS_PASSWORD          AUTH password, if the nodes have one
#   WAIT_SECONDS            how long to wait for each node to answer, and for the cluster (300)
set -eu
[ -z "${REDIS_PASSWORD:-}" ] || export REDISCLI_AUTH="$REDIS_PASSWORD"
replicas=${REDIS_CLUSTER_REPLICAS:-1}
wait_s=${WAIT_SECONDS:-300}

cli() { # addr, args...: one command to the node at addr (ip:port)
    a=$1
    shift
    redis-cli -h "${a%:*}" -p "${a##*:}" "$@" | tr -d '\r'
}

addrs=""
for node in $(echo "$REDIS_CLUSTER_NODES" | tr ',' ' '); do
    waited=0
    while :; do
        # redis-cli --cluster create takes addresses, not names: resolve the pod's name.
        ip=$(getent hosts "${node%:*}" | awk '{print $1; exit}') || ip=""
        [ -n "$ip" ] && [ "$(cli "$ip:${node##*:}" ping 2>/dev/null)" = PONG ] && break
        if [ "$waited" -ge "$wait_s" ]; then
            echo "bootstrap: $node does not answer after ${wait_s}s" >&2
            exit 1
        fi
        sleep 2
        waited=$((waited + 2))
    done
    addrs="$addrs $ip:${node##*:}"
done

for a in $addrs; do
    known=$(cli "$a" cluster info | sed -n 's/^cluster_known_nodes://p')
    if [ "${known:-1}" != 1 ]; then
        echo "bootstrap: $a already knows $known nodes: the cluster exists, nothing to do"
        exit 0
    fi
done

echo "bootstrap: creating a cluster of$addrs, $replicas replica(s) per master"
# shellcheck disable=SC2086 # one argument per address
redis-cli --cluster create $addrs --cluster-replicas "$replicas" --cluster-yes

# Done when every node says the cluster is ok (all slots served, the nodes agree).
waited=0
for a in $addrs; do
    until [ "$(cli "$a" cluster info | sed -n 's/^cluster_state://p')" = ok ]; do
        if [ "$waited" -ge "$wait_s" ]; then
            echo "bootstrap: $a: cluster_state not ok after ${wait_s}s" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
done
echo "bootstrap: cluster ready"
