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

struct sync_conn {
    uint64_t last_ok_us; /* monotonic time of the latest good reply */
    bool ping_owed;      /* sync_ping_send()'s PONG is still unread */
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

/* One call; a NOSCRIPT is answered by running it again as EVAL. */
struct redisReply *sync_eval(struct sync_conn *sc, const struct lua_script *script, int nkeys,
                             int nargs, const char *const *args, const size_t *lens);

#endif
