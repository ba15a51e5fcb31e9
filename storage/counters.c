#include "storage/counters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/numtext.h"
#include "storage/keys.h"
#include "storage/redis.h"

#define MAX_COUNTERS 48

struct report {
    counters_done_fn *done;
    void *arg;
};

static void on_reply(void *arg, struct redisReply *reply, const char *err)
{
    struct report *r = arg;
    (void)err;
    r->done(r->arg, reply != NULL ? 0 : -1);
    free(r);
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
    struct report *r = malloc(sizeof(*r));
    if (r == NULL)
        return -1;
    r->done = done;
    r->arg = arg;
    if (redis_pool_eval(pool, &lua_counters, 2, nargs, args, lens, on_reply, r) < 0) {
        free(r);
        return -1;
    }
    return 0;
}
