#ifndef STARLING_REDIS_H
#define STARLING_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "storage/scripts.h"

struct event_base;
struct redisReply;
struct redis_pool;

/*
 * Who a call answers: a storage function's caller, whose typed callback (cast to
 * redis_caller_fn; the reply handler casts it back) and argument the pool carries through
 * the call untouched, so that no storage function allocates a struct to hold them.
 */
typedef void (*redis_caller_fn)(void);
struct redis_caller {
    redis_caller_fn fn; /* may be NULL when arg says everything */
    void *arg;
};
#define REDIS_CALLER(fn, arg) ((struct redis_caller){(redis_caller_fn)(fn), (arg)})

/*
 * The outcome of one call, delivered exactly once to its reply handler with the caller it
 * was given: `reply` (a non-error reply, valid only until the handler returns) with err
 * NULL, or reply NULL and err a static text saying why (timeout, connection lost, error
 * reply). Never called from inside redis_pool_eval() or redis_pool_command().
 */
typedef void redis_reply_fn(struct redis_caller caller, struct redisReply *reply, const char *err);

/* The err of an OOM error reply (Redis at maxmemory with nothing it may evict), so callers
 * can tell it from the others by comparing the pointer. */
extern const char REDIS_ERR_FULL[];
/* The err of a call that had to be retried on a node whose connections were all full. */
extern const char REDIS_ERR_BUSY[];

/*
 * Connections to one Redis (redis.connections of them), connecting at once and
 * reconnecting by themselves with backoff. When that Redis is a Redis Cluster node (INFO
 * cluster), or redis.cluster_nodes names seeds, the pool reads the cluster's slot map and
 * keeps redis.connections connections to each master instead: every call goes to the
 * master serving its first key's slot.
 */
struct redis_pool *redis_pool_new(struct event_base *base, const struct redis_config *rc);

/* Closes every connection; calls still owed an answer get err "shutting down". */
void redis_pool_free(struct redis_pool *pool);

/* True when at least one connection is up with its scripts loaded (on a cluster: the slot
 * map is known and a connection to a master is up). */
bool redis_pool_ready(const struct redis_pool *pool);

/*
 * What redis_pool_eval(), redis_pool_command() and redis_pool_room() return: sent (the reply
 * handler will run), or refused at once (it will not): no connection is ready, or every
 * ready one already has redis.max_in_flight calls outstanding.
 */
enum { REDIS_SENT = 0, REDIS_DOWN = -1, REDIS_BUSY = -2 };

/*
 * REDIS_SENT when n calls made now, whose first keys are keys[i] (lens[i] bytes), would
 * all be sent (the nodes serving them have room on their ready connections), else
 * REDIS_DOWN or REDIS_BUSY. keys NULL: calls any node may take. For requests of several
 * calls (a scrape), which are admitted whole or refused whole.
 */
int redis_pool_room(struct redis_pool *pool, size_t n, const char *const *keys, const size_t *lens);

/*
 * EVALSHA of `script` with nkeys of the nargs args as KEYS and the rest as ARGV, on the
 * next ready connection (of the node serving KEYS[1]'s slot), pipelined behind whatever is
 * in flight there. On NOSCRIPT it is resent once as EVAL (which also caches the script
 * again). On a Redis Cluster it follows redirects and retries through migrations and
 * failovers until its deadline (redis.command_timeout). The args are copied.
 * Returns REDIS_SENT (on_reply will run), REDIS_DOWN or REDIS_BUSY (it will not).
 */
int redis_pool_eval(struct redis_pool *pool, const struct lua_script *script, int nkeys, int nargs,
                    const char *const *args, const size_t *arglens, redis_reply_fn *on_reply,
                    struct redis_caller caller);

/*
 * Any other command (argv[0] is its name), on the next ready connection (any node of a
 * cluster), with the same deadline, bound and callback rules as redis_pool_eval(), and its
 * return codes.
 */
int redis_pool_command(struct redis_pool *pool, int argc, const char *const *argv,
                       const size_t *argvlen, redis_reply_fn *on_reply, struct redis_caller caller);

/* What went wrong so far, for /metrics. Counters only grow. */
struct redis_stats {
    uint64_t calls;      /* commands and script calls sent */
    uint64_t errors;     /* error replies (NOSCRIPT that was retried excluded) */
    uint64_t timeouts;   /* calls answered by their deadline */
    uint64_t reconnects; /* connections set up again after a loss */
    uint64_t noscript;   /* NOSCRIPT replies, resent as EVAL */
    uint64_t moved;      /* MOVED redirects followed (Redis Cluster) */
    uint64_t asked;      /* ASK redirects followed (a slot migrating) */
    uint64_t retries;    /* calls tried again after a wait (TRYAGAIN, CLUSTERDOWN, node lost) */
    uint64_t refreshes;  /* slot map readings: CLUSTER SLOTS sent, or no node to ask */
};

const struct redis_stats *redis_pool_stats(const struct redis_pool *pool);

#endif
