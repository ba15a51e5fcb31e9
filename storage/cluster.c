/*
 * The aggregator's blocking connections to a plain Redis or to every master of a Redis
 * Cluster, over the slot map of storage/slot_map.c.
 */
#include "storage/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/mem.h"
#include "storage/sync.h"

/* ---- the aggregator's blocking connections ---- */

struct cluster {
    const struct redis_config *rc;
    uint64_t command_timeout_ms;
    bool redis_cluster;  /* else a plain Redis: one connection */
    struct slot_map map; /* node i is conns[i] */
    size_t nconns;       /* 0 when not connected */
    struct sync_conn conns[CLUSTER_MAX_NODES];
};

struct cluster *cluster_new(const struct redis_config *rc, uint64_t command_timeout_ms)
{
    struct cluster *cl = xcalloc(1, sizeof(*cl));
    cl->rc = rc;
    cl->command_timeout_ms = command_timeout_ms;
    slot_map_clear(&cl->map);
    return cl;
}

void cluster_free(struct cluster *cl)
{
    if (cl == NULL)
        return;
    cluster_disconnect(cl);
    free(cl);
}

void cluster_disconnect(struct cluster *cl)
{
    for (size_t i = 0; i < cl->nconns; i++)
        sync_close(&cl->conns[i]);
    cl->nconns = 0;
}

bool cluster_connected(const struct cluster *cl)
{
    if (cl->nconns == 0)
        return false;
    for (size_t i = 0; i < cl->nconns; i++)
        if (cl->conns[i].c == NULL)
            return false;
    return true;
}

size_t cluster_size(const struct cluster *cl)
{
    return cl->nconns;
}

struct sync_conn *cluster_conn(struct cluster *cl, size_t i)
{
    return &cl->conns[i];
}

struct sync_conn *cluster_route(struct cluster *cl, const char *key)
{
    if (!cl->redis_cluster)
        return &cl->conns[0];
    int node = slot_map_node_of_key(&cl->map, key, strlen(key));
    return &cl->conns[node >= 0 && (size_t)node < cl->nconns ? node : 0];
}

/*
 * Whether the server behind sc is a Redis Cluster node (INFO cluster), and if so its slot
 * map (CLUSTER SLOTS). Returns 1 for a cluster, 0 for a plain Redis, -1 with err.
 */
static int discover(struct sync_conn *sc, const char *seed_host, struct slot_map *map, char *err)
{
    const char *info[] = {"INFO", "cluster"};
    size_t info_lens[] = {4, 7};
    redisReply *r = sync_command(sc, 2, info, info_lens);
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        snprintf(err, STARLING_ERR_LEN, "INFO cluster failed");
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    bool cluster = strstr(r->str, "cluster_enabled:1") != NULL;
    freeReplyObject(r);
    if (!cluster)
        return 0;
    const char *slots[] = {"CLUSTER", "SLOTS"};
    size_t slots_lens[] = {7, 5};
    r = sync_command(sc, 2, slots, slots_lens);
    int rc = slot_map_from_cluster_slots(map, r, seed_host);
    if (rc < 0)
        snprintf(err, STARLING_ERR_LEN, "CLUSTER SLOTS failed");
    if (r != NULL)
        freeReplyObject(r);
    return rc < 0 ? -1 : 1;
}

/* One connection per master of cl->map; a cluster has only database 0. */
static int connect_masters(struct cluster *cl, char *err)
{
    for (size_t i = 0; i < cl->map.nnodes; i++) {
        const struct cluster_addr *a = &cl->map.nodes[i];
        struct redis_config rc = *cl->rc;
        rc.unix_socket[0] = '\0';
        _Static_assert(sizeof(rc.host) == sizeof(a->host), "host buffers differ");
        memcpy(rc.host, a->host, sizeof(rc.host));
        rc.port = a->port;
        rc.db = 0;
        char why[STARLING_ERR_LEN];
        cl->nconns++;
        if (sync_connect(&cl->conns[i], &rc, cl->command_timeout_ms, why) < 0) {
            snprintf(err, STARLING_ERR_LEN, "cluster master %.80s:%u: %.150s", a->host, a->port,
                     why);
            return -1;
        }
    }
    return 0;
}

int cluster_connect(struct cluster *cl, char *err)
{
    cluster_disconnect(cl);
    cl->redis_cluster = false;
    struct sync_conn *seed = &cl->conns[0];
    if (sync_connect(seed, cl->rc, cl->command_timeout_ms, err) < 0)
        return -1;
    int found = discover(seed, cl->rc->host, &cl->map, err);
    if (found <= 0) {
        cl->nconns = found == 0 ? 1 : 0;
        if (found < 0)
            sync_close(seed);
        else
            slot_map_single(&cl->map, cl->rc->host, cl->rc->port);
        return found;
    }
    sync_close(seed);
    if (cl->map.nnodes == 0) {
        snprintf(err, STARLING_ERR_LEN, "CLUSTER SLOTS: no master serves any slot");
        return -1;
    }
    cl->redis_cluster = true;
    if (connect_masters(cl, err) < 0) {
        cluster_disconnect(cl);
        return -1;
    }
    return (int)cl->nconns;
}

void cluster_ping(struct cluster *cl)
{
    for (size_t i = 0; i < cl->nconns; i++) {
        struct sync_conn *sc = &cl->conns[i];
        if (sc->c == NULL)
            continue;
        sync_ping_poll(sc); /* what it found shows in sc->c and sc->last_ok_us */
        if (sc->c != NULL)
            sync_ping_send(sc);
    }
}

bool cluster_responsive(const struct cluster *cl, uint64_t within_ms)
{
    if (!cluster_connected(cl))
        return false;
    uint64_t now = clock_monotonic_us();
    for (size_t i = 0; i < cl->nconns; i++)
        if (now - cl->conns[i].last_ok_us > within_ms * 1000)
            return false;
    return true;
}
