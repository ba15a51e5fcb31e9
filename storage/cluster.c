/*
 * The aggregator's blocking connections to a plain Redis or to every master of a Redis
 * Cluster, over the slot map of storage/slot_map.c, kept current when the topology changes.
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
    size_t nconns;       /* map.nnodes once connected, 0 before */
    struct sync_conn conns[CLUSTER_MAX_NODES];
    bool refresh_wanted;
    uint64_t last_refresh_us; /* monotonic; when the map was last read */
    struct slot_map fresh;    /* cluster_refresh()'s reading, before it is taken */
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
    cl->redis_cluster = false;
}

bool cluster_is_cluster(const struct cluster *cl)
{
    return cl->redis_cluster;
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

const struct slot_map *cluster_map(const struct cluster *cl)
{
    return &cl->map;
}

void cluster_want_refresh(struct cluster *cl)
{
    cl->refresh_wanted = true;
}

/* The configuration of a connection to host:port: the configured one's (password, user,
 * timeouts), over TCP, database 0 (a cluster has no other). */
static struct redis_config node_config(const struct cluster *cl, const char *host, uint16_t port)
{
    struct redis_config rc = *cl->rc;
    rc.unix_socket[0] = '\0';
    snprintf(rc.host, sizeof(rc.host), "%s", host);
    rc.port = port;
    rc.db = 0;
    return rc;
}

static sync_redirect_fn follow_redirect;

/* Opens connection i to node i of the map. Returns 0 or -1 with err. */
static int open_node(struct cluster *cl, size_t i, char *err)
{
    const struct cluster_addr *a = &cl->map.nodes[i];
    struct redis_config rc = node_config(cl, a->host, a->port);
    struct sync_conn *sc = &cl->conns[i];
    char why[STARLING_ERR_LEN];
    sc->redirect = follow_redirect;
    sc->redirect_arg = cl;
    if (sync_connect(sc, &rc, cl->command_timeout_ms, why) < 0) {
        snprintf(err, STARLING_ERR_LEN, "cluster master %.80s:%u: %.150s", a->host, a->port, why);
        return -1;
    }
    return 0;
}

struct sync_conn *cluster_node(struct cluster *cl, size_t i, char *err)
{
    if (i >= cl->nconns)
        return NULL;
    if (cl->conns[i].c == NULL) {
        if (!cl->redis_cluster) {
            snprintf(err, STARLING_ERR_LEN, "redis connection lost");
            return NULL;
        }
        cl->refresh_wanted = true; /* lost: the node may have failed over */
        if (open_node(cl, i, err) < 0)
            return NULL;
    }
    return &cl->conns[i];
}

/* Nodes added to the map since (a MOVED or an ASK to a new node) get a connection slot. */
static void track_nodes(struct cluster *cl)
{
    for (; cl->nconns < cl->map.nnodes; cl->nconns++)
        memset(&cl->conns[cl->nconns], 0, sizeof(cl->conns[0]));
}

/* sync_redirect_fn: MOVED reassigns the slot; ASK names a node for this call only. */
static struct sync_conn *follow_redirect(void *arg, const char *host, uint16_t port, unsigned slot,
                                         bool moved)
{
    struct cluster *cl = arg;
    if (host[0] == '\0')
        host = cl->rc->host; /* an unknown endpoint: the node we were told of */
    int node = moved ? slot_map_assign(&cl->map, slot, slot, host, port)
                     : slot_map_node(&cl->map, host, port);
    if (node < 0)
        return NULL;
    track_nodes(cl);
    char err[STARLING_ERR_LEN];
    return cluster_node(cl, (size_t)node, err);
}

struct sync_conn *cluster_route(struct cluster *cl, const char *key)
{
    if (!cl->redis_cluster)
        return &cl->conns[0];
    int node = slot_map_node_of_key(&cl->map, key, strlen(key));
    char err[STARLING_ERR_LEN];
    struct sync_conn *sc = node >= 0 ? cluster_node(cl, (size_t)node, err) : NULL;
    return sc != NULL ? sc : &cl->conns[node >= 0 ? node : 0];
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
    if (rc == 0 && map->nnodes == 0)
        rc = -1; /* no master serves any slot (yet): no map to use */
    if (rc < 0)
        snprintf(err, STARLING_ERR_LEN, "CLUSTER SLOTS: %s",
                 r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "no master serves a slot");
    if (r != NULL)
        freeReplyObject(r);
    return rc < 0 ? -1 : 1;
}

/* The slot map from the seeds of redis.cluster_nodes, the first that gives one. Returns 1,
 * or -1 with err. */
static int discover_from_seeds(struct cluster *cl, char *err)
{
    char why[STARLING_ERR_LEN] = "no seed";
    for (size_t i = 0; i < cl->rc->n_cluster_nodes; i++) {
        const struct redis_seed *seed = &cl->rc->cluster_nodes[i];
        struct redis_config rc = node_config(cl, seed->host, seed->port);
        struct sync_conn probe = {0};
        int found = sync_connect(&probe, &rc, cl->command_timeout_ms, why) == 0
                        ? discover(&probe, rc.host, &cl->map, why)
                        : -1;
        sync_close(&probe);
        if (found == 1)
            return 1;
        if (found == 0)
            snprintf(why, sizeof(why), "not a Redis Cluster node");
    }
    snprintf(err, STARLING_ERR_LEN, "redis.cluster_nodes: no seed gave a slot map (last: %.180s)",
             why);
    return -1;
}

int cluster_connect(struct cluster *cl, char *err)
{
    cluster_disconnect(cl);
    int found;
    if (cl->rc->n_cluster_nodes > 0) {
        found = discover_from_seeds(cl, err);
    } else {
        struct sync_conn *seed = &cl->conns[0];
        seed->redirect = NULL;
        if (sync_connect(seed, cl->rc, cl->command_timeout_ms, err) < 0)
            return -1;
        found = discover(seed, cl->rc->host, &cl->map, err);
        if (found == 0) {
            slot_map_single(&cl->map, cl->rc->host, cl->rc->port);
            cl->nconns = 1; /* the seed, addressed as configured (unix socket, db) */
            return 0;
        }
        sync_close(seed);
    }
    if (found < 0)
        return -1;
    cl->redis_cluster = true;
    cl->nconns = cl->map.nnodes;
    cl->last_refresh_us = clock_monotonic_us();
    cl->refresh_wanted = false;
    for (size_t i = 0; i < cl->nconns; i++) {
        memset(&cl->conns[i], 0, sizeof(cl->conns[i]));
        if (open_node(cl, i, err) < 0) {
            cluster_disconnect(cl);
            return -1;
        }
    }
    return (int)cl->nconns;
}

/* Whether the map should be read again: asked, a connection lost, or a reply said so. */
static bool refresh_due(struct cluster *cl)
{
    bool due = cl->refresh_wanted;
    for (size_t i = 0; i < cl->nconns; i++) {
        due = due || cl->conns[i].topology_hint || cl->conns[i].c == NULL;
        cl->conns[i].topology_hint = false;
    }
    cl->refresh_wanted = due;
    return due && clock_monotonic_us() - cl->last_refresh_us >= CLUSTER_REFRESH_MIN_MS * 1000;
}

/* A fresh map from the first node that gives one: a connected master, every other node of
 * the map, then the seeds (redis.cluster_nodes, else the configured node). Returns 0 or -1
 * with err. */
static int read_map(struct cluster *cl, struct slot_map *fresh, char *err)
{
    for (size_t i = 0; i < cl->nconns; i++)
        if (cl->conns[i].c != NULL &&
            discover(&cl->conns[i], cl->map.nodes[i].host, fresh, err) == 1)
            return 0;
    size_t nseeds = cl->rc->n_cluster_nodes;
    for (size_t i = 0; i < cl->nconns + (nseeds > 0 ? nseeds : 1); i++) {
        if (i < cl->nconns && cl->conns[i].c != NULL)
            continue; /* asked above */
        const struct redis_seed *seed =
            nseeds > 0 && i >= cl->nconns ? &cl->rc->cluster_nodes[i - cl->nconns] : NULL;
        struct redis_config rc = i < cl->nconns
                                     ? node_config(cl, cl->map.nodes[i].host, cl->map.nodes[i].port)
                                 : seed != NULL ? node_config(cl, seed->host, seed->port)
                                                : node_config(cl, cl->rc->host, cl->rc->port);
        struct sync_conn probe = {0};
        int found = sync_connect(&probe, &rc, cl->command_timeout_ms, err) == 0
                        ? discover(&probe, rc.host, fresh, err)
                        : -1;
        sync_close(&probe);
        if (found == 1)
            return 0;
    }
    return -1;
}

/* Takes the fresh map: connections kept for the nodes it still has, opened for the new
 * ones (one that fails stays closed; the next refresh tries again), closed for the rest.
 * Returns whether the nodes changed. */
static bool adopt_map(struct cluster *cl, const struct slot_map *fresh)
{
    struct sync_conn conns[CLUSTER_MAX_NODES];
    bool kept[CLUSTER_MAX_NODES] = {false};
    bool changed = fresh->nnodes != cl->map.nnodes;
    for (size_t i = 0; i < fresh->nnodes; i++) {
        const struct cluster_addr *a = &fresh->nodes[i];
        int old = slot_map_find(&cl->map, a->host, a->port);
        changed = changed || old != (int)i;
        memset(&conns[i], 0, sizeof(conns[i]));
        if (old >= 0 && (size_t)old < cl->nconns) {
            conns[i] = cl->conns[old];
            kept[old] = true;
        }
    }
    for (size_t i = 0; i < cl->nconns; i++)
        if (!kept[i])
            sync_close(&cl->conns[i]);
    memcpy(cl->conns, conns, fresh->nnodes * sizeof(conns[0]));
    cl->map = *fresh;
    cl->nconns = fresh->nnodes;
    char err[STARLING_ERR_LEN];
    for (size_t i = 0; i < cl->nconns; i++)
        if (cl->conns[i].c == NULL)
            open_node(cl, i, err);
    return changed;
}

int cluster_refresh(struct cluster *cl, bool *changed, char *err)
{
    *changed = false;
    if (!cl->redis_cluster || !refresh_due(cl))
        return 0;
    cl->last_refresh_us = clock_monotonic_us();
    if (read_map(cl, &cl->fresh, err) < 0)
        return -1;
    cl->refresh_wanted = false;
    *changed = adopt_map(cl, &cl->fresh);
    return 1;
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
