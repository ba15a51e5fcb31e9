#ifndef STARLING_REDIS_H
#define STARLING_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "scripts.h"

struct event_base;
struct redisReply;
struct redis_pool;

/*
 * The outcome of one call, delivered exactly once: `reply` (a non-error reply, valid only
 * until the callback returns) with err NULL, or reply NULL and err a static text saying
 * why (timeout, connection lost, error reply). Never called from inside redis_pool_eval().
 */
typedef void redis_reply_fn(void *arg, struct redisReply *reply, const char *err);

/* Connections to one Redis (redis.connections of them), connecting at once and
 * reconnecting by themselves with backoff. Returns NULL only on allocation failure. */
struct redis_pool *redis_pool_new(struct event_base *base, const struct redis_config *rc);

/* Closes every connection; calls still owed an answer get err "shutting down". */
void redis_pool_free(struct redis_pool *pool);

/* True when at least one connection is up with its scripts loaded. */
bool redis_pool_ready(const struct redis_pool *pool);

/*
 * EVALSHA of `script` with nkeys of the nargs args as KEYS and the rest as ARGV, on the
 * next ready connection, pipelined behind whatever is in flight there. On NOSCRIPT it is
 * resent once as EVAL (which also caches the script again). The args are copied.
 * Returns 0 (done will run), or -1 when no connection is ready (done will not run).
 */
int redis_pool_eval(struct redis_pool *pool, const struct lua_script *script, int nkeys,
                    int nargs, const char *const *args, const size_t *arglens, redis_reply_fn *done,
                    void *arg);

#endif
