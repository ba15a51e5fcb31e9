#ifndef STARLING_STATS_H
#define STARLING_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/metrics.h"

struct evbuffer;
struct redis_stats;
struct tables_stats;

/* What a request was for, and how it ended: the labels of starling_http_requests_total. */
enum stat_endpoint { STAT_ANNOUNCE, STAT_SCRAPE, STAT_OTHER, STAT_ENDPOINTS };
enum stat_result {
    STAT_OK,            /* a tracker reply */
    STAT_BAD_PARAMS,    /* a failure reason about the client's parameters */
    STAT_STORAGE_ERROR, /* "storage unavailable, retry later" */
    STAT_STORAGE_BUSY,  /* "storage busy, retry later": refused at once (redis.max_in_flight) */
    STAT_STORAGE_FULL,  /* "storage full, retry later": Redis at maxmemory */
    STAT_BAD_HTTP,      /* 400, 405, 414, 431 */
    STAT_NOT_FOUND,     /* 404 */
    STAT_RESULTS
};

/* UDP (BEP 15): the action asked for, and how it ended. */
enum stat_udp_action {
    STAT_UDP_CONNECT,
    STAT_UDP_ANNOUNCE,
    STAT_UDP_SCRAPE,
    STAT_UDP_UNKNOWN,
    STAT_UDP_ACTIONS
};
enum stat_udp_result {
    STAT_UDP_OK,
    STAT_UDP_MALFORMED,     /* an error reply or a silent drop (udp_malformed says why) */
    STAT_UDP_BAD_CONNID,    /* wrong or expired connection id: error reply, no Redis work */
    STAT_UDP_STORAGE_ERROR, /* "storage unavailable, retry later" */
    STAT_UDP_STORAGE_BUSY,  /* "storage busy, retry later" */
    STAT_UDP_STORAGE_FULL,  /* "storage full, retry later" */
    STAT_UDP_RESULTS
};
/* Indexed by enum udp_parse_result (frontend/udp_proto.h). */
#define STAT_UDP_REASONS 16

/* The frontend's own numbers. One event loop per process: plain integers suffice. */
struct frontend_stats {
    uint64_t requests[STAT_ENDPOINTS][STAT_RESULTS];
    struct latency_histogram latency[STAT_ENDPOINTS]; /* parsed -> reply queued */
    uint64_t connections_open;
    uint64_t connections_total;
    uint64_t accept_failures;                /* accept() failed: out of descriptors or memory */
    uint64_t connections_over_address_limit; /* closed at accept: http_per_address_limit */
    uint64_t udp_requests[STAT_UDP_ACTIONS][STAT_UDP_RESULTS];
    uint64_t udp_malformed[STAT_UDP_REASONS];
    uint64_t udp_unanswered;  /* error replies not sent: longer than the request */
    uint64_t peer_cache[3];   /* announces by enum peer_cache_plan (frontend/peer_cache.h) */
    uint64_t refusals[7];     /* announces by enum tracker_refusal (frontend/tracker.h) */
    uint64_t site_updates[2]; /* site update API calls: applied, refused */
    uint64_t local_peers;     /* listed first as the announcer's neighbours (local_peers.h) */
};

extern struct frontend_stats frontend_stats;

const char *stat_endpoint_name(enum stat_endpoint e);
const char *stat_result_name(enum stat_result r);
const char *stat_udp_action_name(enum stat_udp_action a);
const char *stat_udp_result_name(enum stat_udp_result r);

/* The frontend's /metrics page. */
void frontend_stats_render(struct evbuffer *out, const struct frontend_stats *s,
                           const struct redis_stats *redis, bool redis_ready, bool draining,
                           const struct tables_stats *tables, bool tables_ready);

#endif
