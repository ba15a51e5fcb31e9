/*
 * What the frontend's pool talks to: a plain Redis (one node) or a Redis Cluster (a node
 * per master, found through CLUSTER SLOTS), and which node serves each slot.
 *
 * Mode: with redis.cluster_nodes, a cluster from the start (the seeds are asked for the slot
 * map). Otherwise the configured host:port is connected, and its INFO cluster says which.
 * The slot map is read again when a reply says it is stale (MOVED, CLUSTERDOWN, READONLY, a
 * lost node) or a call finds its master with no connection up: one reading at a time, at
 * most once per CLUSTER_REFRESH_MIN_MS, always asynchronously. Nodes that no longer serve a
 * slot are closed (and their entries reused): a long-lived frontend follows any number of
 * failovers within CLUSTER_MAX_NODES entries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "storage/redis_internal.h"

static bool node_is(const struct node *n, const char *host, uint16_t port)
{
    return n->used && !n->unix_socket && n->port == port && strcmp(n->host, host) == 0;
}

/* Whether n serves a slot: a scan of the route (up to CLUSTER_SLOTS entries), so callers
 * ask only of nodes that are candidates already. */
static bool node_serves(const struct redis_pool *pool, const struct node *n)
{
    for (size_t s = 0; s < CLUSTER_SLOTS; s++)
        if (pool->route[s] == n->index)
            return true;
    return false;
}

static struct node *node_init(struct redis_pool *pool, size_t i, const char *host, uint16_t port)
{
    struct node *n = &pool->nodes[i];
    memset(n, 0, sizeof(*n));
    n->pool = pool;
    n->index = (unsigned)i;
    n->used = true;
    snprintf(n->host, sizeof(n->host), "%s", host);
    n->port = port;
    return n;
}

struct node *topology_node(struct redis_pool *pool, const char *host, uint16_t port)
{
    for (size_t i = 0; i < CLUSTER_MAX_NODES; i++)
        if (node_is(&pool->nodes[i], host, port))
            return &pool->nodes[i];
    for (size_t i = 0; i < CLUSTER_MAX_NODES; i++)
        if (!pool->nodes[i].used)
            return node_init(pool, i, host, port);
    /* Full: reuse a closed node that serves nothing (a failed master, long replaced). */
    for (size_t i = 0; i < CLUSTER_MAX_NODES; i++) {
        struct node *n = &pool->nodes[i];
        if (!n->active && !n->seed && !node_serves(pool, n))
            return node_init(pool, i, host, port);
    }
    return NULL;
}

void topology_set_slot(struct redis_pool *pool, unsigned slot, struct node *n)
{
    if (slot < CLUSTER_SLOTS)
        pool->route[slot] = (uint16_t)n->index;
}

struct node *topology_route(struct redis_pool *pool, int slot)
{
    switch (pool->mode) {
    case MODE_UNKNOWN:
        return NULL;
    case MODE_SINGLE:
        return &pool->nodes[0];
    case MODE_CLUSTER:
        break;
    }
    if (slot < 0) { /* any node: the first active one serving slots */
        for (size_t i = 0; i < CLUSTER_MAX_NODES; i++) {
            struct node *n = &pool->nodes[i];
            if (n->active && !n->retiring && (n->seed || !pool->map_known || node_serves(pool, n)))
                return n;
        }
        return NULL;
    }
    uint16_t i = pool->route[slot];
    if (i == SLOT_UNSERVED)
        return NULL;
    struct node *n = &pool->nodes[i];
    node_activate(n); /* a node learnt from a MOVED: connecting now */
    return n;
}

bool topology_ready(const struct redis_pool *pool)
{
    if (pool->mode == MODE_UNKNOWN || (pool->mode == MODE_CLUSTER && !pool->map_known))
        return false;
    for (size_t i = 0; i < CLUSTER_MAX_NODES; i++) {
        const struct node *n = &pool->nodes[i];
        if (!n->active || (pool->mode == MODE_CLUSTER && n->retiring))
            continue;
        for (unsigned c = 0; c < pool->rc.connections; c++)
            if (conn_ready(&n->conns[c]))
                return true;
    }
    return false;
}

/* ---- closing nodes no longer wanted, from the event loop ---- */

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct redis_pool *pool = arg;
    (void)fd, (void)what;
    for (size_t i = 0; i < CLUSTER_MAX_NODES; i++) {
        struct node *n = &pool->nodes[i];
        if (n->active && n->retiring) {
            log_info("redis cluster: closing %s:%u (serves no slot)", n->host, n->port);
            node_deactivate(n);
        }
    }
}

/* ---- reading the slot map ---- */

static void refresh_start(struct redis_pool *pool);

static void on_refresh_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    refresh_start(arg);
}

void topology_want_refresh(struct redis_pool *pool)
{
    if (pool->mode != MODE_CLUSTER || pool->closing)
        return;
    pool->refresh_wanted = true;
    if (pool->refresh_in_flight || evtimer_pending(pool->refresh_timer, NULL))
        return;
    uint64_t since = (clock_monotonic_us() / 1000) - pool->last_refresh_ms;
    uint64_t delay = pool->last_refresh_ms == 0 || since >= CLUSTER_REFRESH_MIN_MS
                         ? 0
                         : CLUSTER_REFRESH_MIN_MS - since;
    struct timeval tv = clock_ms_to_tv(delay);
    evtimer_add(pool->refresh_timer, &tv);
}

/* Takes a CLUSTER SLOTS reply from node `from` as the slot map. Returns 0, or -1 when it is
 * no map (the old one stays). */
static int apply_slots(struct redis_pool *pool, const redisReply *r, const struct node *from)
{
    struct slot_map *map = xmalloc(sizeof(*map));
    uint16_t index[CLUSTER_MAX_NODES];
    int result = -1;
    if (slot_map_from_cluster_slots(map, r, from->host) < 0 || map->nnodes == 0)
        goto out;
    for (size_t i = 0; i < map->nnodes; i++) {
        struct node *n = topology_node(pool, map->nodes[i].host, map->nodes[i].port);
        index[i] = n != NULL ? (uint16_t)n->index : SLOT_UNSERVED;
        if (n != NULL)
            node_activate(n);
        else
            log_warn("redis cluster: more than %d nodes; %s:%u left out", CLUSTER_MAX_NODES,
                     map->nodes[i].host, map->nodes[i].port);
    }
    size_t unserved = 0;
    for (size_t s = 0; s < CLUSTER_SLOTS; s++) {
        uint16_t owner = map->owner[s];
        pool->route[s] = owner == SLOT_UNSERVED ? SLOT_UNSERVED : index[owner];
        unserved += pool->route[s] == SLOT_UNSERVED;
    }
    pool->map_known = true;
    size_t served[CLUSTER_MAX_NODES] = {0};
    for (size_t s = 0; s < CLUSTER_SLOTS; s++)
        if (pool->route[s] != SLOT_UNSERVED)
            served[pool->route[s]]++;
    bool changed = false;
    for (size_t i = 0; i < CLUSTER_MAX_NODES; i++) {
        struct node *n = &pool->nodes[i];
        bool wanted = n->used && served[i] > 0;
        if (n->active && !wanted && !n->retiring) {
            n->retiring = true; /* closed by the sweep, outside this reply's callback */
            changed = true;
        }
    }
    if (changed)
        event_active(pool->sweep, EV_TIMEOUT, 0);
    static struct log_limit map_logs;
    log_limited(&map_logs, LOG_INFO, "redis cluster: slot map of %zu masters%s", map->nnodes,
                unserved > 0 ? " (some slots unserved)" : "");
    result = 0;
out:
    free(map);
    return result;
}

static void on_slots_reply(struct redis_caller caller, redisReply *r, const char *err)
{
    struct node *from = caller.arg;
    struct redis_pool *pool = from->pool;
    pool->refresh_in_flight = false;
    if (pool->closing)
        return;
    if (err != NULL || apply_slots(pool, r, from) < 0) {
        static struct log_limit failures;
        log_limited(&failures, LOG_WARN,
                    "redis cluster: reading the slot map from %s:%u failed: %s", from->host,
                    from->port, err != NULL ? err : "not a CLUSTER SLOTS reply");
        topology_want_refresh(pool); /* again, rate-limited */
        return;
    }
    if (pool->refresh_wanted) /* asked again while this one was under way */
        topology_want_refresh(pool);
}

/* A ready connection to ask: a master's first, else a seed's, else any. */
static struct conn *refresh_conn(struct redis_pool *pool)
{
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < CLUSTER_MAX_NODES; i++) {
            struct node *n = &pool->nodes[i];
            if (!n->active)
                continue;
            bool fits = pass == 0 ? node_serves(pool, n) : pass == 1 ? n->seed : true;
            int why;
            struct conn *c = fits ? node_pick(n, &why) : NULL;
            if (c != NULL)
                return c;
        }
    }
    return NULL;
}

static void refresh_start(struct redis_pool *pool)
{
    if (pool->refresh_in_flight || pool->closing || !pool->refresh_wanted)
        return;
    struct conn *c = refresh_conn(pool);
    if (c == NULL) {
        /* Nothing answers: the seeds are the way back in (they reconnect by themselves and
         * ask again once ready). The attempt counts for the rate limit: every refused call
         * asks for a reading, and during an outage they must not make this a busy loop. */
        pool->last_refresh_ms = clock_monotonic_us() / 1000;
        pool->refresh_found_none = true;
        pool->stats.refreshes++;
        for (size_t i = 0; i < CLUSTER_MAX_NODES; i++)
            if (pool->nodes[i].seed)
                node_activate(&pool->nodes[i]);
        return;
    }
    static const char *const argv[] = {"CLUSTER", "SLOTS"};
    static const size_t lens[] = {7, 5};
    size_t len;
    char *cmd = redis_format_command(2, argv, lens, &len);
    pool->refresh_wanted = false;
    pool->refresh_found_none = false;
    pool->last_refresh_ms = (clock_monotonic_us() / 1000);
    if (pool_send_internal(c, cmd, len, on_slots_reply, REDIS_CALLER(NULL, c->node)) !=
        REDIS_SENT) {
        pool->refresh_wanted = true;
        return;
    }
    pool->refresh_in_flight = true;
    pool->stats.refreshes++;
}

void topology_conn_ready(struct node *n, bool cluster_enabled)
{
    struct redis_pool *pool = n->pool;
    if (pool->mode == MODE_UNKNOWN) {
        pool->mode = cluster_enabled ? MODE_CLUSTER : MODE_SINGLE;
        if (cluster_enabled) {
            log_info("redis: %s:%u is a Redis Cluster node: routing by slot", n->host, n->port);
            topology_want_refresh(pool);
        }
        return;
    }
    if (pool->mode != MODE_CLUSTER || !pool->refresh_wanted || pool->refresh_in_flight)
        return;
    if (pool->refresh_found_none) {
        /* The first node to answer after an attempt found none is asked at once, outside
         * the rate limit (which is there for readings that could be sent). */
        struct timeval now = {0, 0};
        evtimer_del(pool->refresh_timer);
        evtimer_add(pool->refresh_timer, &now);
        return;
    }
    topology_want_refresh(pool);
}

/* ---- start and stop ---- */

void topology_start(struct redis_pool *pool)
{
    const struct redis_config *rc = &pool->rc;
    pool->refresh_timer = xcheck(evtimer_new(pool->base, on_refresh_timer, pool));
    pool->sweep = xcheck(event_new(pool->base, -1, 0, on_sweep, pool));
    for (size_t s = 0; s < CLUSTER_SLOTS; s++)
        pool->route[s] = SLOT_UNSERVED;
    if (rc->n_cluster_nodes > 0) {
        pool->mode = MODE_CLUSTER;
        for (size_t i = 0; i < rc->n_cluster_nodes; i++) {
            struct node *n =
                topology_node(pool, rc->cluster_nodes[i].host, rc->cluster_nodes[i].port);
            if (n != NULL)
                n->seed = true;
        }
        pool->refresh_wanted = true;
        refresh_start(pool); /* activates the seeds; each asks once it is ready */
        return;
    }
    pool->mode = MODE_UNKNOWN;
    struct node *n = node_init(pool, 0, rc->host, rc->port);
    n->seed = true;
    n->unix_socket = rc->unix_socket[0] != '\0';
    if (n->unix_socket)
        snprintf(n->host, sizeof(n->host), "%s", rc->unix_socket);
    node_activate(n);
}

void topology_stop(struct redis_pool *pool)
{
    for (size_t i = 0; i < CLUSTER_MAX_NODES; i++)
        node_deactivate(&pool->nodes[i]);
    event_free(pool->refresh_timer);
    event_free(pool->sweep);
}
