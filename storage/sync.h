#ifndef STARLING_SYNC_H
#define STARLING_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "storage/scripts.h"

/*
 * Blocking Redis access for the aggregator, which does few, batched calls on its own
 * schedule and has no client to keep waiting. Every call is bounded by a timeout; only the
 * liveness PING (sync_ping_send/poll) never waits.
 */
struct redisContext;
struct redisReply;

struct sync_conn;

/*
 * Redis Cluster: where a MOVED (the slot now lives there) or an ASK (this once, during a
 * migration) sends a call: the connection to host:port, or NULL when there is none.
 */
typedef struct sync_conn *sync_redirect_fn(void *arg, const char *host, uint16_t port,
                                           unsigned slot, bool moved);

struct sync_conn {
    uint64_t last_ok_us; /* monotonic time of the latest good reply */
    bool ping_owed;      /* sync_ping_send()'s PONG is still unread */
    /* A reply said the cluster's topology changed (MOVED, CLUSTERDOWN, READONLY): the owner
     * should read the slot map again. Set here, cleared by the owner. */
    bool topology_hint;
    struct redisContext *c;
    /* NULL (a plain Redis): redirects are returned as the error replies they are. Kept by
     * sync_connect() and sync_close(). */
    sync_redirect_fn *redirect;
    void *redirect_arg;
};

/*
 * Connects (within redis.connect_timeout), AUTHs and SELECTs as the config says; each
 * later command may take up to command_timeout_ms. Returns 0 or -1 with err
 * (STARLING_ERR_LEN bytes).
 */
int sync_connect(struct sync_conn *sc, const struct redis_config *rc, uint64_t command_timeout_ms,
                 char *err);
void sync_close(struct sync_conn *sc);

/*
 * A command; NULL on a lost connection (sc->c is then closed and NULL). The caller frees
 * the reply (freeReplyObject). An error reply is returned as such, except on a Redis Cluster
 * (sc->redirect set): a MOVED or ASK is followed to the node it names (ASK with ASKING
 * first), a TRYAGAIN (keys of a call split by a migration) is retried after
 * SYNC_TRYAGAIN_MS, up to SYNC_MAX_HOPS such steps in all; the last reply is returned.
 */
struct redisReply *sync_command(struct sync_conn *sc, int argc, const char *const *argv,
                                const size_t *lens);

/* Bounds of one call's redirects and retries (at most SYNC_MAX_HOPS x SYNC_TRYAGAIN_MS of
 * waiting on top of the calls' own timeouts). */
#define SYNC_MAX_HOPS 5
#define SYNC_TRYAGAIN_MS 20

/* What went wrong with reply r of a call on sc, in words: the error reply's text, an
 * unexpected reply, or a lost connection (r NULL). */
const char *sync_reply_error(const struct redisReply *r, const struct sync_conn *sc);

/* Whether an error reply can be cured by the same call made again, routed as
 * sync_eval() routes it: a redirect, TRYAGAIN, or NOSCRIPT. */
bool sync_reply_retryable(const struct redisReply *r);

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

/*
 * A PING sent without waiting for its PONG (one at a time; 0, or -1 when the connection is
 * closed), for liveness checks from a timer. Any other call on the connection reads an owed
 * PONG first, so replies stay in order.
 */
int sync_ping_send(struct sync_conn *sc);

/*
 * Reads, without waiting, whatever the server sent since: 1 when the owed PONG is in (or
 * none was owed), 0 while it is still owed, -1 on an error reply or a closed connection
 * (the server closed it, or it failed: sc->c is then closed and NULL).
 */
int sync_ping_poll(struct sync_conn *sc);

/* One call; a NOSCRIPT is answered by running it again as EVAL. Redirects as
 * sync_command(). */
struct redisReply *sync_eval(struct sync_conn *sc, const struct lua_script *script, int nkeys,
                             int nargs, const char *const *args, const size_t *lens);

#endif
