#ifndef STARLING_REDIS_INTERNAL_H
#define STARLING_REDIS_INTERNAL_H

/*
 * The frontend's async Redis pool, inside: shared by redis.c (calls: send, route, retry,
 * answer), redis_conn.c (one connection's life: connect, set up, drop, reconnect) and
 * redis_topology.c (which nodes exist and which serves each slot). Nothing outside these
 * three files includes it.
 *
 * Shape: a pool has nodes; a node is one Redis server (the only one on a plain Redis, a
 * master or a seed on a Redis Cluster) with redis.connections connections; route[] says
 * which node serves each of the 16384 slots. A call is routed by the slot of its first key.
 */
#include <event2/event_struct.h>

#include "storage/cluster.h"
#include "storage/redis.h"

struct redisAsyncContext;

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_READY };

struct call;
struct node;

struct conn {
    struct node *node;
    unsigned index;               /* within its node, for logs */
    struct redisAsyncContext *ac; /* NULL while down; hiredis frees it after on_disconnect */
    enum conn_state state;
    struct event *timer; /* connect deadline while connecting, backoff while down */
    uint64_t backoff_ms;
    unsigned setup_owed;          /* setup replies still to come */
    struct call *oldest, *newest; /* in flight, in send order */
    unsigned inflight;            /* calls in that list: at most rc.max_in_flight */
    bool was_ready;               /* a later setup is a reconnect */
    bool cluster_enabled;         /* its INFO cluster said so (asked while MODE_UNKNOWN) */
};

struct node {
    struct redis_pool *pool;
    unsigned index; /* in pool->nodes */
    char host[CLUSTER_HOST_LEN];
    uint16_t port;
    bool unix_socket;   /* the configured redis.unix_socket, not host:port */
    bool used;          /* this entry of pool->nodes names a node */
    bool seed;          /* configured: asked for the slot map when no other node answers */
    bool active;        /* its connections are open (or reopening by themselves) */
    bool retiring;      /* no longer wanted: closed by the next sweep (outside callbacks) */
    struct conn *conns; /* pool->rc.connections of them, while active */
    unsigned next;      /* round-robin cursor */
};

enum pool_mode {
    MODE_UNKNOWN, /* connecting to host:port: plain Redis or cluster node? (INFO cluster) */
    MODE_SINGLE,  /* a plain Redis: node 0 serves every call */
    MODE_CLUSTER, /* Redis Cluster: calls routed by route[] */
};

/* Redirects one call follows at once; waits are bounded by its deadline. A MOVED ping-pong
 * between two confused nodes stops here instead of spinning. */
#define CALL_MAX_HOPS 16
/* Waits before a retry: a migration's TRYAGAIN, and a failover's CLUSTERDOWN or lost node. */
#define RETRY_TRYAGAIN_MS 20
#define RETRY_FAILOVER_MS 100

struct redis_pool {
    struct event_base *base;
    struct redis_config rc;
    const struct timeval *call_timeout; /* a libevent common timeout: O(1) add/remove */
    enum pool_mode mode;
    bool closing;
    struct node nodes[CLUSTER_MAX_NODES];
    uint16_t route[CLUSTER_SLOTS]; /* node index serving each slot, or SLOT_UNSERVED */
    bool map_known;                /* route[] came from a CLUSTER SLOTS reply */
    /* The slot map is read again (CLUSTER SLOTS) when asked, one reading at a time, at
     * most once per CLUSTER_REFRESH_MIN_MS: a failover's flood of redirects asks
     * thousands of times. */
    bool refresh_wanted;
    bool refresh_in_flight;
    uint64_t last_refresh_ms; /* monotonic: the latest reading sent, or attempt */
    bool refresh_found_none;  /* the latest attempt had no node to ask */
    struct event *refresh_timer;
    struct event *sweep;       /* closes retiring nodes, from the event loop */
    unsigned waiting;          /* calls waiting to be retried: at most rc.max_in_flight */
    struct call *waiting_head; /* those calls, linked by their prev/next */
    struct redis_stats stats;
};

struct call {
    struct redis_pool *pool;
    struct conn *conn;        /* in flight there, or NULL (waiting, or answered and done) */
    struct call *prev, *next; /* conn's in-flight list, or the pool's waiting list */
    struct event deadline;    /* from the first send: the caller's whole wait */
    struct event wait;        /* a retry's delay, while waiting */
    redis_reply_fn *on_reply;
    struct redis_caller caller;
    const struct lua_script *script; /* NULL for a plain command */
    char *cmd;                       /* the formatted command, kept to resend */
    size_t cmd_len;
    size_t sha_end;    /* EVALSHA: offset of the bytes after the sha's CRLF (KEYS, ARGV) */
    int slot;          /* of its first key; -1: any node will do */
    uint64_t start_us; /* monotonic, when first sent (us) */
    uint64_t sent_us;  /* monotonic, when sent on conn (us) */
    unsigned hops;
    bool answered;
    bool by_body; /* resent as EVAL after a NOSCRIPT */
    bool waiting;
};

/* ---- redis_conn.c ---- */
void node_activate(struct node *n);
void node_deactivate(struct node *n);
/* A ready connection of n with room for a call, round-robin; NULL with *why REDIS_DOWN or
 * REDIS_BUSY. */
struct conn *node_pick(struct node *n, int *why);
bool conn_ready(const struct conn *c);
void conn_drop(struct conn *c, const char *why, bool reset);
void inflight_push(struct conn *c, struct call *call);
void inflight_remove(struct call *call);

/* ---- redis_topology.c ---- */
void topology_start(struct redis_pool *pool);
/* A connection of n finished its setup; cluster_enabled from its INFO cluster reply. */
void topology_conn_ready(struct node *n, bool cluster_enabled);
/* The slot map may be stale: read it again when allowed. */
void topology_want_refresh(struct redis_pool *pool);
/* The node at host:port, made (not yet active) if new; NULL when all CLUSTER_MAX_NODES
 * entries are in use. */
struct node *topology_node(struct redis_pool *pool, const char *host, uint16_t port);
/* The node a call for slot (-1: any) goes to now (made active if it was not), or NULL
 * (none known, none serving). */
struct node *topology_route(struct redis_pool *pool, int slot);
/* A MOVED: slot is served by n from now on. */
void topology_set_slot(struct redis_pool *pool, unsigned slot, struct node *n);
/* See redis_pool_ready(). */
bool topology_ready(const struct redis_pool *pool);
void topology_stop(struct redis_pool *pool);

/* ---- redis.c ---- */
/* Sends a command of the pool's own on c, as a call (deadline included). */
int pool_send_internal(struct conn *c, char *cmd, size_t len, redis_reply_fn *on_reply,
                       struct redis_caller caller);
char *redis_format_command(int argc, const char *const *argv, const size_t *lens, size_t *out_len);

#endif
