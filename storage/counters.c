#include "storage/counters.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sys/random.h>

#include <hiredis/hiredis.h>

#include "common/log.h"
#include "common/numtext.h"
#include "storage/keys.h"
#include "storage/redis.h"

/* A new id for this process: its base and 32 random bits. */
static void new_node_id(struct counters_reporter *r)
{
    uint32_t nonce = 0;
    if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) != (ssize_t)sizeof(nonce)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        nonce = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec;
    }
    snprintf(r->node, sizeof(r->node), "%s:%08x", r->base, (unsigned)nonce);
}

void counters_init(struct counters_reporter *r, const char *node)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->base, sizeof(r->base), "%s", node);
    new_node_id(r);
}

int counters_decode_reply(const struct redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_INTEGER || (r->integer != 0 && r->integer != 1))
        return -1;
    return (int)r->integer;
}

/* Redis no longer knows the node although it applied a report of it: the node was retired
 * (silent for COUNTERS_RETIRE_MS), or Redis lost its data. Its totals may be in the sum
 * already, so the process goes on under a new id, counting from the refused report's
 * totals: what it served while silent is not counted, and nothing is counted twice. */
static void rotate(struct counters_reporter *r)
{
    char old[COUNTERS_NODE_LEN];
    for (size_t i = 0; i < r->nsent; i++)
        r->offset[i] += r->sent[i];
    memcpy(old, r->node, sizeof(old));
    new_node_id(r);
    r->applied = false;
    log_warn("counters: Redis no longer knows node %s (retired after a long silence, or its "
             "data was lost): reporting as %s from now",
             old, r->node);
}

static void on_reply(struct redis_caller caller, struct redisReply *reply, const char *err)
{
    struct counters_reporter *r = caller.arg;
    int result = err == NULL ? counters_decode_reply(reply) : -1;
    r->in_flight = false;
    if (err == NULL && result < 0)
        log_warn("counters: unexpected reply from counters.lua");
    if (result == 1)
        r->applied = true;
    else if (result == 0)
        rotate(r);
    r->done(r->arg, result == 1 ? 0 : -1);
}

int counters_report(struct counters_reporter *r, struct redis_pool *pool, uint64_t now_ms,
                    const char *const *fields, const uint64_t *totals, size_t n,
                    counters_done_fn *done, void *arg)
{
    const char *args[6 + 2 * COUNTERS_MAX];
    size_t lens[6 + 2 * COUNTERS_MAX];
    char key[sizeof(COUNTERS_NODE_PREFIX) + COUNTERS_NODE_LEN];
    char now[21], numbers[COUNTERS_MAX][21];
    if (r->in_flight || n == 0 || n > COUNTERS_MAX)
        return -1;
    int key_len = snprintf(key, sizeof(key), COUNTERS_NODE_PREFIX "%s", r->node);
    int nargs = 0;
    args[nargs] = COUNTERS_REQUESTS_KEY, lens[nargs++] = strlen(COUNTERS_REQUESTS_KEY);
    args[nargs] = COUNTERS_FRONTENDS_KEY, lens[nargs++] = strlen(COUNTERS_FRONTENDS_KEY);
    args[nargs] = key, lens[nargs++] = (size_t)key_len;
    args[nargs] = now, lens[nargs++] = (size_t)(put_uint(now, now_ms) - now);
    args[nargs] = r->node, lens[nargs++] = strlen(r->node);
    args[nargs] = r->applied ? "1" : "0", lens[nargs++] = 1;
    for (size_t i = 0; i < n; i++) {
        /* Totals only grow; after a rotation they count from the offset. */
        r->sent[i] = totals[i] >= r->offset[i] ? totals[i] - r->offset[i] : 0;
        args[nargs] = fields[i], lens[nargs++] = strlen(fields[i]);
        args[nargs] = numbers[i];
        lens[nargs++] = (size_t)(put_uint(numbers[i], r->sent[i]) - numbers[i]);
    }
    r->nsent = n;
    if (redis_pool_eval(pool, &lua_counters, 3, nargs, args, lens, on_reply,
                        REDIS_CALLER(NULL, r)) != REDIS_SENT)
        return -1;
    r->done = done;
    r->arg = arg;
    r->in_flight = true;
    return 0;
}
