#ifndef STARLING_SYNC_H
#define STARLING_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "storage/scripts.h"

/*
 * Blocking Redis access for the aggregator, which does few, batched calls on its own
 * schedule and has no client to keep waiting. Every call is bounded by a timeout.
 */
struct redisContext;
struct redisReply;

struct sync_conn {
    struct redisContext *c;
};

/*
 * Connects (within redis.connect_timeout), AUTHs and SELECTs as the config says; each
 * later command may take up to command_timeout_ms. Returns 0 or -1 with err
 * (STARLING_ERR_LEN bytes).
 */
int sync_connect(struct sync_conn *sc, const struct redis_config *rc, uint64_t command_timeout_ms,
                 char *err);
void sync_close(struct sync_conn *sc);

/* A command; NULL on a lost connection (sc->c is then closed and NULL). The caller frees
 * the reply (freeReplyObject). An error reply is returned as such. */
struct redisReply *sync_command(struct sync_conn *sc, int argc, const char *const *argv,
                                const size_t *lens);

/*
 * Queues EVALSHA of script (nkeys of the args as KEYS) without waiting, for a pipelined
 * batch; collect the replies in order with sync_eval_reply(). Returns 0 or -1.
 */
int sync_eval_append(struct sync_conn *sc, const struct lua_script *script, int nkeys, int nargs,
                     const char *const *args, const size_t *lens);

/* The next reply of the batch, in order; NULL on a lost connection. */
struct redisReply *sync_eval_reply(struct sync_conn *sc);

/* SCRIPT LOADs the aggregator's scripts again (cheap; before each pass, so a batch of
 * EVALSHAs does not meet a NOSCRIPT after Redis restarted). Returns 0 or -1 with err. */
int sync_load_scripts(struct sync_conn *sc, char *err);

/* A Redis Cluster master and the slots it serves. */
#define CLUSTER_MAX_MASTERS 64
#define CLUSTER_MAX_RANGES 64
struct cluster_master {
    char host[256];
    uint16_t port;
    size_t nranges;
    uint16_t ranges[CLUSTER_MAX_RANGES][2]; /* first and last slot, inclusive */
};

/*
 * The masters of the cluster this connection's server belongs to (CLUSTER SLOTS), or
 * *n = 0 when it is a plain Redis (INFO cluster says cluster_enabled:0). An empty host in
 * the reply means the node that answered: seed_host. Returns 0 or -1 with err.
 */
int sync_cluster_masters(struct sync_conn *sc, const char *seed_host, struct cluster_master *out,
                         size_t max, size_t *n, char *err);

/* Which connection serves a key (Redis Cluster routes by slot; a plain Redis has one). */
typedef struct sync_conn *sync_route_fn(void *arg, const char *key);

/* One call; a NOSCRIPT is answered by running it again as EVAL. */
struct redisReply *sync_eval(struct sync_conn *sc, const struct lua_script *script, int nkeys,
                             int nargs, const char *const *args, const size_t *lens);

#endif
