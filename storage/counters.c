#include "storage/counters.h"

#include <string.h>

#include "common/numtext.h"
#include "storage/keys.h"
#include "storage/redis.h"

#define MAX_COUNTERS 48

static void on_reply(struct redis_caller caller, struct redisReply *reply, const char *err)
{
    counters_done_fn *done = (counters_done_fn *)caller.fn;
    (void)err;
    done(caller.arg, reply != NULL ? 0 : -1);
}

int counters_report(struct redis_pool *pool, const char *node, uint64_t now_ms,
                    const char *const *fields, const uint64_t *increments, size_t n,
                    counters_done_fn *done, void *arg)
{
    const char *args[4 + 2 * MAX_COUNTERS];
    size_t lens[4 + 2 * MAX_COUNTERS];
    char numbers[1 + MAX_COUNTERS][21];
    int nargs = 0;
    args[nargs] = COUNTERS_REQUESTS_KEY, lens[nargs++] = strlen(COUNTERS_REQUESTS_KEY);
    args[nargs] = COUNTERS_FRONTENDS_KEY, lens[nargs++] = strlen(COUNTERS_FRONTENDS_KEY);
    args[nargs] = numbers[0];
    lens[nargs++] = (size_t)(put_uint(numbers[0], now_ms) - numbers[0]);
    args[nargs] = node, lens[nargs++] = strlen(node);
    for (size_t i = 0; i < n && i < MAX_COUNTERS; i++) {
        if (increments[i] == 0)
            continue;
        args[nargs] = fields[i], lens[nargs++] = strlen(fields[i]);
        args[nargs] = numbers[1 + i];
        lens[nargs++] = (size_t)(put_uint(numbers[1 + i], increments[i]) - numbers[1 + i]);
    }
    return redis_pool_eval(pool, &lua_counters, 2, nargs, args, lens, on_reply,
                           REDIS_CALLER(done, arg));
}
