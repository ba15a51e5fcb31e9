#ifndef STARLING_CLUSTER_H
#define STARLING_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "storage/keyslot.h"

/*
 * Redis Cluster topology and routing.
 *
 * The slot map is pure (no I/O): which node serves each of the 16384 slots, built from a
 * CLUSTER SLOTS reply or range by range (a MOVED redirect is one more range of one slot).
 * A plain Redis is one node serving every slot.
 *
 * struct cluster is the aggregator's blocking connections, one per master, over a slot map.
 */
struct redisReply;
struct sync_conn;

/* Masters one process keeps at once: at 20-30k announces/s per master (README "Running at
 * scale"), 256 is several million announces/s, beyond what one cluster is sized for, and
 * costs about 100 KiB per slot map and per frontend pool. */
#define CLUSTER_MAX_NODES 256
#define CLUSTER_HOST_LEN 256

struct cluster_addr {
    char host[CLUSTER_HOST_LEN];
    uint16_t port;
};

#define SLOT_UNSERVED UINT16_MAX

struct slot_map {
    size_t nnodes;
    struct cluster_addr nodes[CLUSTER_MAX_NODES]; /* in the order they first appeared */
    uint16_t owner[CLUSTER_SLOTS];                /* a node index, or SLOT_UNSERVED */
};

/* No node, no slot served. */
void slot_map_clear(struct slot_map *m);

/* A plain Redis: host:port is node 0 and serves every slot. */
void slot_map_single(struct slot_map *m, const char *host, uint16_t port);

/* The index of node host:port, or -1 when it is none of the map's. */
int slot_map_find(const struct slot_map *m, const char *host, uint16_t port);

/* The index of node host:port, added (serving no slot yet) if new; -1 when the map already
 * has CLUSTER_MAX_NODES other nodes. */
int slot_map_node(struct slot_map *m, const char *host, uint16_t port);

/*
 * Slots first..last (inclusive) are served by host:port, which becomes a node if it is not
 * one yet. Returns the node's index, or -1 when the range is not within 0..16383 or the map
 * already has CLUSTER_MAX_NODES other nodes (the slots are then left as they were).
 */
int slot_map_assign(struct slot_map *m, unsigned first, unsigned last, const char *host,
                    uint16_t port);

/*
 * The map from a CLUSTER SLOTS reply: [[first, last, [host, port, ...], replica...], ...],
 * masters only. An empty host means the node that answered: seed_host. Malformed entries
 * and masters past CLUSTER_MAX_NODES are skipped (their slots stay unserved). Returns 0, or
 * -1 when the reply is not an array.
 */
int slot_map_from_cluster_slots(struct slot_map *m, const struct redisReply *reply,
                                const char *seed_host);

/* The index of the node serving slot, or -1 when none does. */
int slot_map_node_of_slot(const struct slot_map *m, unsigned slot);

/* The index of the node serving key's slot, or -1 when none does. */
int slot_map_node_of_key(const struct slot_map *m, const char *key, size_t len);

/*
 * A MOVED or ASK error reply ("MOVED 3999 127.0.0.1:6381"; the host may be an IPv6
 * address, split at the last ':') into *slot, host (hostsize bytes, NUL-terminated) and
 * *port. Returns 1 for MOVED, 0 for ASK, -1 for anything else.
 */
int cluster_parse_redirect(const char *msg, unsigned *slot, char *host, size_t hostsize,
                           uint16_t *port);

/* What an error reply asks of a client that routes by slot. */
enum cluster_error {
    CLUSTER_ERR_OTHER,     /* a real error: answer it */
    CLUSTER_ERR_MOVED,     /* the slot lives elsewhere now: go there, read the map again */
    CLUSTER_ERR_ASK,       /* this once, on the node named, after ASKING (a migration) */
    CLUSTER_ERR_TRYAGAIN,  /* a migration split the call's keys: again in a moment */
    CLUSTER_ERR_DOWN,      /* CLUSTERDOWN, READONLY, MASTERDOWN, LOADING: a failover */
    CLUSTER_ERR_NOSCRIPT,  /* the node has no copy of the script (a promoted replica) */
    CLUSTER_ERR_CROSSSLOT, /* keys of two slots in one call: a bug, never retried */
    CLUSTER_ERR_OOM,       /* the node is at maxmemory */
};

enum cluster_error cluster_classify_error(const char *msg);

/*
 * ---- a pass's walk over the masters ----
 * SCAN sees one node's keys, so a pass walks every master of the slot map; the map may
 * change under it (a refresh after a migration, a failover, a new master), so the walk
 * remembers the masters done by address, and takes every node of the current map that it
 * has not walked yet. At most CLUSTER_WALK_MAX masters per pass (twice the map's limit:
 * room for a whole cluster failing over during one pass).
 */
#define CLUSTER_WALK_MAX (2 * CLUSTER_MAX_NODES)

struct cluster_walk {
    size_t ndone;
    struct cluster_addr done[CLUSTER_WALK_MAX];
    bool walking; /* current is a node being walked */
    struct cluster_addr current;
};

void cluster_walk_begin(struct cluster_walk *w);

/*
 * The node of m to walk now: the current one while m still has it, else the first node of
 * m not walked yet (*fresh is then true: its SCAN starts at cursor 0). -1 when every node of
 * m was walked, or CLUSTER_WALK_MAX were.
 */
int cluster_walk_node(const struct slot_map *m, struct cluster_walk *w, bool *fresh);

/* The current node was walked to the end. */
void cluster_walk_done(struct cluster_walk *w);

/* ---- the aggregator's blocking connections ---- */

struct cluster;

/* Nothing connected yet. rc must outlive the cluster; every call on a connection may take
 * up to command_timeout_ms. */
struct cluster *cluster_new(const struct redis_config *rc, uint64_t command_timeout_ms);
void cluster_free(struct cluster *cl);

/*
 * Connects to the configured Redis; if it is a Redis Cluster node (INFO cluster), to every
 * master of its CLUSTER SLOTS instead, so that each can be walked separately (SCAN sees one
 * node's keys). Whatever was connected before is closed first. Returns the number of
 * masters on a Redis Cluster, 0 on a plain Redis, -1 with err (STARLING_ERR_LEN bytes),
 * everything closed.
 */
int cluster_connect(struct cluster *cl, char *err);

/* Closes every connection (cluster_size() is then 0). */
void cluster_disconnect(struct cluster *cl);

/* True once cluster_connect() succeeded on a Redis Cluster (until cluster_disconnect()). */
bool cluster_is_cluster(const struct cluster *cl);

/* True when connected and every connection of the map is up (on a plain Redis, a lost
 * connection needs a new cluster_connect(); on a cluster, cluster_refresh() mends it). */
bool cluster_connected(const struct cluster *cl);

/* Connections: one per node of the map (the masters; 1 on a plain Redis), 0 when not
 * connected. */
size_t cluster_size(const struct cluster *cl);

/* Connection i < cluster_size(), as it is (possibly closed). */
struct sync_conn *cluster_conn(struct cluster *cl, size_t i);

/* Connection i < cluster_size(), connected again first if it was lost (NULL when that
 * fails). */
struct sync_conn *cluster_node(struct cluster *cl, size_t i, char *err);

/* The slot map (node i is connection i). */
const struct slot_map *cluster_map(const struct cluster *cl);

/*
 * The connection serving key: by slot on a Redis Cluster (connected again if it was lost),
 * the only one otherwise. Never NULL: not connected, or a slot nobody serves, gives
 * connection 0, whose calls then fail (closed) or are answered with an error that the
 * caller reports. On a cluster, calls on it follow MOVED and ASK redirects (storage/sync.h).
 */
struct sync_conn *cluster_route(struct cluster *cl, const char *key);

/*
 * ---- keeping the slot map current (Redis Cluster) ----
 * A MOVED updates that slot at once (the call is retried on the new owner). A MOVED,
 * CLUSTERDOWN or READONLY reply, a lost connection or cluster_want_refresh() then asks for
 * the whole map to be read again (CLUSTER SLOTS): cluster_refresh() does it, at most once
 * per CLUSTER_REFRESH_MIN_MS however many asked (single-flight: one thread, one flag), and
 * connects to new masters and drops old ones. An ASK or TRYAGAIN (a migration under way)
 * changes nothing.
 */
#define CLUSTER_REFRESH_MIN_MS 1000

void cluster_want_refresh(struct cluster *cl);

/*
 * On a Redis Cluster, reads the slot map again if asked and allowed (see above). Returns 1
 * when it did (*changed: the masters differ), 0 when nothing was due (or a plain Redis),
 * -1 with err when no node answered (the old map stays; asked again later).
 */
int cluster_refresh(struct cluster *cl, bool *changed, char *err);

/*
 * Liveness without waiting, for a timer: on each connection, reads the PONG owed by the
 * previous call if it has come, and sends the next PING. A connection the server closed is
 * closed (cluster_connected() turns false).
 */
void cluster_ping(struct cluster *cl);

/* Connected, and every connection had a good reply within the last within_ms. No I/O. */
bool cluster_responsive(const struct cluster *cl, uint64_t within_ms);

#endif
