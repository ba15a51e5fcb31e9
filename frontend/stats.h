#ifndef STARLING_STATS_H
#define STARLING_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"

struct evbuffer;
struct redis_stats;

/* What a request was for, and how it ended: the labels of starling_http_requests_total. */
enum stat_endpoint { STAT_ANNOUNCE, STAT_SCRAPE, STAT_OTHER, STAT_ENDPOINTS };
enum stat_result {
    STAT_OK,            /* a tracker reply */
    STAT_BAD_PARAMS,    /* a failure reason about the client's parameters */
    STAT_STORAGE_ERROR, /* "storage unavailable, retry later" */
    STAT_BAD_HTTP,      /* 400, 405, 414, 431 */
    STAT_NOT_FOUND,     /* 404 */
    STAT_RESULTS
};

/* The frontend's own numbers. One event loop per process: plain integers suffice. */
struct frontend_stats {
    uint64_t requests[STAT_ENDPOINTS][STAT_RESULTS];
    struct latency_histogram latency[STAT_ENDPOINTS]; /* parsed -> reply queued */
    uint64_t connections_open;
    uint64_t connections_total;
};

extern struct frontend_stats frontend_stats;

const char *stat_endpoint_name(enum stat_endpoint e);
const char *stat_result_name(enum stat_result r);

/* The frontend's /metrics page. */
void frontend_stats_render(struct evbuffer *out, const struct frontend_stats *s,
                           const struct redis_stats *redis, bool redis_ready, bool draining);

#endif
