#ifndef STARLING_COUNTERS_H
#define STARLING_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

struct redis_pool;

/* result: 0 when Redis took the increments, -1 when they should be sent again. */
typedef void counters_done_fn(void *arg, int result);

/*
 * Adds increments[i] to the shared total `fields[i]` and marks `node` alive, in one
 * script call (lua/counters.lua). Zero increments are skipped. Returns 0 (done will run)
 * or -1 (Redis down; done will not run).
 */
int counters_report(struct redis_pool *pool, const char *node, uint64_t now_ms,
                    const char *const *fields, const uint64_t *increments, size_t n,
                    counters_done_fn *done, void *arg);

#endif
