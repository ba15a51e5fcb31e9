/*
 * Redis Cluster routing, pure: the slot map (which node serves each slot) and a pass's walk
 * over the masters. No I/O; storage/cluster.c holds the connections.
 */
#include "storage/cluster.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/text.h"

/* ---- the slot map ---- */

void slot_map_clear(struct slot_map *m)
{
    m->nnodes = 0;
    for (size_t s = 0; s < CLUSTER_SLOTS; s++)
        m->owner[s] = SLOT_UNSERVED;
}

void slot_map_single(struct slot_map *m, const char *host, uint16_t port)
{
    slot_map_clear(m);
    slot_map_assign(m, 0, CLUSTER_SLOTS - 1, host, port);
}

static bool same_addr(const struct cluster_addr *a, const char *host, uint16_t port)
{
    return a->port == port && strcmp(a->host, host) == 0;
}

int slot_map_find(const struct slot_map *m, const char *host, uint16_t port)
{
    for (size_t i = 0; i < m->nnodes; i++)
        if (same_addr(&m->nodes[i], host, port))
            return (int)i;
    return -1;
}

int slot_map_node(struct slot_map *m, const char *host, uint16_t port)
{
    int found = slot_map_find(m, host, port);
    if (found >= 0)
        return found;
    if (m->nnodes == CLUSTER_MAX_NODES)
        return -1;
    struct cluster_addr *a = &m->nodes[m->nnodes];
    snprintf(a->host, sizeof(a->host), "%s", host);
    a->port = port;
    return (int)m->nnodes++;
}

int slot_map_assign(struct slot_map *m, unsigned first, unsigned last, const char *host,
                    uint16_t port)
{
    if (first > last || last >= CLUSTER_SLOTS)
        return -1;
    int node = slot_map_node(m, host, port);
    if (node < 0)
        return -1;
    for (unsigned s = first; s <= last; s++)
        m->owner[s] = (uint16_t)node;
    return node;
}

static bool is_int(const redisReply *r, long long min, long long max)
{
    return r->type == REDIS_REPLY_INTEGER && r->integer >= min && r->integer <= max;
}

int slot_map_from_cluster_slots(struct slot_map *m, const redisReply *reply, const char *seed_host)
{
    slot_map_clear(m);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return -1;
    /* [[first, last, [host, port, id], replica...], ...]: the first address is the master. */
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            !is_int(e->element[0], 0, CLUSTER_SLOTS - 1) ||
            !is_int(e->element[1], 0, CLUSTER_SLOTS - 1) ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2)
            continue;
        const redisReply *host = e->element[2]->element[0];
        const redisReply *port = e->element[2]->element[1];
        if (!is_int(port, 0, UINT16_MAX))
            continue;
        const char *h = host->type == REDIS_REPLY_STRING && host->len > 0 ? host->str : seed_host;
        slot_map_assign(m, (unsigned)e->element[0]->integer, (unsigned)e->element[1]->integer, h,
                        (uint16_t)port->integer);
    }
    return 0;
}

int slot_map_node_of_slot(const struct slot_map *m, unsigned slot)
{
    if (slot >= CLUSTER_SLOTS || m->owner[slot] == SLOT_UNSERVED)
        return -1;
    return m->owner[slot];
}

int slot_map_node_of_key(const struct slot_map *m, const char *key, size_t len)
{
    return slot_map_node_of_slot(m, key_hash_slot(key, len));
}

/* ---- error replies of a cluster ---- */

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int cluster_parse_redirect(const char *msg, unsigned *slot, char *host, size_t hostsize,
                           uint16_t *port)
{
    int moved = starts_with(msg, "MOVED ") ? 1 : starts_with(msg, "ASK ") ? 0 : -1;
    if (moved < 0)
        return -1;
    const char *p = strchr(msg, ' ') + 1;
    const char *space = strchr(p, ' ');
    uint64_t n;
    if (space == NULL || decimal_parse(p, (size_t)(space - p), CLUSTER_SLOTS - 1, &n) < 0)
        return -1;
    *slot = (unsigned)n;
    const char *addr = space + 1, *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= hostsize ||
        decimal_parse(colon + 1, strlen(colon + 1), UINT16_MAX, &n) < 0 || n == 0)
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    *port = (uint16_t)n;
    return moved;
}

enum cluster_error cluster_classify_error(const char *msg)
{
    static const struct {
        const char *prefix;
        enum cluster_error kind;
    } kinds[] = {
        {"MOVED ", CLUSTER_ERR_MOVED},        {"ASK ", CLUSTER_ERR_ASK},
        {"TRYAGAIN", CLUSTER_ERR_TRYAGAIN},   {"CLUSTERDOWN", CLUSTER_ERR_DOWN},
        {"READONLY", CLUSTER_ERR_DOWN},       {"MASTERDOWN", CLUSTER_ERR_DOWN},
        {"LOADING", CLUSTER_ERR_DOWN},        {"NOSCRIPT", CLUSTER_ERR_NOSCRIPT},
        {"CROSSSLOT", CLUSTER_ERR_CROSSSLOT}, {"OOM ", CLUSTER_ERR_OOM},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (starts_with(msg, kinds[i].prefix))
            return kinds[i].kind;
    return CLUSTER_ERR_OTHER;
}

/* ---- a pass's walk over the masters ---- */

void cluster_walk_begin(struct cluster_walk *w)
{
    w->ndone = 0;
    w->walking = false;
}

static bool walked(const struct cluster_walk *w, const struct cluster_addr *a)
{
    for (size_t i = 0; i < w->ndone; i++)
        if (same_addr(&w->done[i], a->host, a->port))
            return true;
    return false;
}

int cluster_walk_node(const struct slot_map *m, struct cluster_walk *w, bool *fresh)
{
    *fresh = false;
    if (w->walking) {
        int node = slot_map_find(m, w->current.host, w->current.port);
        if (node >= 0)
            return node;
        w->walking = false; /* gone from the map (failed over): what it had is elsewhere */
    }
    if (w->ndone == CLUSTER_WALK_MAX)
        return -1;
    for (size_t i = 0; i < m->nnodes; i++) {
        if (!walked(w, &m->nodes[i])) {
            w->current = m->nodes[i];
            w->walking = *fresh = true;
            return (int)i;
        }
    }
    return -1;
}

void cluster_walk_done(struct cluster_walk *w)
{
    if (w->walking && w->ndone < CLUSTER_WALK_MAX)
        w->done[w->ndone++] = w->current;
    w->walking = false;
}
