#ifndef STARLING_COUNTERS_H
#define STARLING_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct redis_pool;
struct redisReply;

/* Fields in one report (lua_call_fill()'s argument limit allows 59). */
#define COUNTERS_MAX 56
#define COUNTERS_NODE_LEN 160

/* result: 0 when Redis took the report, -1 when not (the next one carries it). */
typedef void counters_done_fn(void *arg, int result);

/*
 * A frontend's reports of its request totals (lua/counters.lua). Each carries the absolute
 * totals, not increments: Redis adds only what they gained since the last report it
 * applied, so a report that timed out but was applied, then sent again, counts once.
 */
struct counters_reporter {
    char base[COUNTERS_NODE_LEN - 10]; /* host:pid */
    char node[COUNTERS_NODE_LEN];      /* base:<random>, names this process in Redis */
    bool applied;                      /* Redis confirmed a report under `node` */
    bool in_flight;                    /* one report at a time */
    uint64_t offset[COUNTERS_MAX];     /* counted under this process's earlier ids */
    uint64_t sent[COUNTERS_MAX];       /* what the report in flight carries */
    size_t nsent;
    counters_done_fn *done;
    void *arg;
};

/* node: the process's "host:pid"; a random suffix is added, so a restarted process (the
 * same host and pid, as a container's pid 1) is a new node. */
void counters_init(struct counters_reporter *r, const char *node);

/*
 * Reports totals[i] of fields[i] (the same fields in the same order each time; 1 <= n <=
 * COUNTERS_MAX) and marks the node alive, in one script call. Returns 0 (done will run),
 * or -1 (done will not): a report is in flight, or Redis refused at once.
 */
int counters_report(struct counters_reporter *r, struct redis_pool *pool, uint64_t now_ms,
                    const char *const *fields, const uint64_t *totals, size_t n,
                    counters_done_fn *done, void *arg);

/* counters.lua's reply: 1 applied, 0 refused (the node is unknown: retired, or Redis lost
 * its data), -1 for any other reply. Pure. */
int counters_decode_reply(const struct redisReply *r);

#endif
