#include "frontend/stats.h"

#include <stdio.h>

#include <event2/buffer.h>

#include "storage/redis.h"

struct frontend_stats frontend_stats;

static const char *const endpoint_names[STAT_ENDPOINTS] = {"announce", "scrape", "other"};
static const char *const result_names[STAT_RESULTS] = {"ok", "bad_params", "storage_error",
                                                       "bad_http", "not_found"};

static const char *const udp_action_names[STAT_UDP_ACTIONS] = {"connect", "announce", "scrape",
                                                               "unknown"};
static const char *const udp_result_names[STAT_UDP_RESULTS] = {"ok", "malformed",
                                                               "bad_connection_id",
                                                               "storage_error"};
/* By enum udp_parse_result. */
static const char *const udp_reason_names[] = {
    "ok",          "short",         "bad_magic",  "unknown_action", "short_announce",
    "bad_options", "bad_port",      "bad_event",  "scrape_count",
};

const char *stat_udp_action_name(enum stat_udp_action a)
{
    return udp_action_names[a];
}

const char *stat_udp_result_name(enum stat_udp_result r)
{
    return udp_result_names[r];
}

const char *stat_endpoint_name(enum stat_endpoint e)
{
    return endpoint_names[e];
}

const char *stat_result_name(enum stat_result r)
{
    return result_names[r];
}

void frontend_stats_render(struct evbuffer *out, const struct frontend_stats *s,
                           const struct redis_stats *redis, bool redis_ready, bool draining)
{
    char labels[96];
    metrics_family(out, "starling_http_requests_total", "counter",
                   "HTTP requests answered, by endpoint and result.");
    for (int e = 0; e < STAT_ENDPOINTS; e++) {
        for (int r = 0; r < STAT_RESULTS; r++) {
            snprintf(labels, sizeof(labels), "endpoint=\"%s\",result=\"%s\"", endpoint_names[e],
                     result_names[r]);
            metrics_sample_u64(out, "starling_http_requests_total", labels, s->requests[e][r]);
        }
    }
    metrics_family(out, "starling_http_request_duration_seconds", "histogram",
                   "Time from a request's last header byte to its reply being queued.");
    for (int e = 0; e < STAT_OTHER; e++) {
        snprintf(labels, sizeof(labels), "endpoint=\"%s\"", endpoint_names[e]);
        metrics_histogram(out, "starling_http_request_duration_seconds", labels, &s->latency[e]);
    }
    metrics_family(out, "starling_http_open_connections", "gauge", "Client connections open now.");
    metrics_sample_u64(out, "starling_http_open_connections", NULL, s->connections_open);
    metrics_family(out, "starling_http_connections_total", "counter",
                   "Client connections accepted.");
    metrics_sample_u64(out, "starling_http_connections_total", NULL, s->connections_total);

    metrics_family(out, "starling_udp_requests_total", "counter",
                   "UDP requests (BEP 15), by action and result.");
    for (int a = 0; a < STAT_UDP_ACTIONS; a++) {
        for (int r = 0; r < STAT_UDP_RESULTS; r++) {
            snprintf(labels, sizeof(labels), "action=\"%s\",result=\"%s\"", udp_action_names[a],
                     udp_result_names[r]);
            metrics_sample_u64(out, "starling_udp_requests_total", labels, s->udp_requests[a][r]);
        }
    }
    metrics_family(out, "starling_udp_malformed_total", "counter",
                   "Malformed UDP datagrams, by reason (short and bad_magic are dropped "
                   "silently, the others get an error reply).");
    for (size_t i = 1; i < sizeof(udp_reason_names) / sizeof(udp_reason_names[0]); i++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", udp_reason_names[i]);
        metrics_sample_u64(out, "starling_udp_malformed_total", labels, s->udp_malformed[i]);
    }

    metrics_family(out, "starling_udp_unanswered_total", "counter",
                   "UDP error replies not sent because they would be larger than the request "
                   "(no amplification towards spoofed senders).");
    metrics_sample_u64(out, "starling_udp_unanswered_total", NULL, s->udp_unanswered);

    metrics_family(out, "starling_redis_calls_total", "counter", "Commands sent to Redis.");
    metrics_sample_u64(out, "starling_redis_calls_total", NULL, redis->calls);
    metrics_family(out, "starling_redis_errors_total", "counter",
                   "Error replies from Redis (NOSCRIPT answered by a retry excluded).");
    metrics_sample_u64(out, "starling_redis_errors_total", NULL, redis->errors);
    metrics_family(out, "starling_redis_timeouts_total", "counter",
                   "Calls answered by their deadline (redis.command_timeout).");
    metrics_sample_u64(out, "starling_redis_timeouts_total", NULL, redis->timeouts);
    metrics_family(out, "starling_redis_reconnects_total", "counter",
                   "Connections to Redis set up again after a loss.");
    metrics_sample_u64(out, "starling_redis_reconnects_total", NULL, redis->reconnects);
    metrics_family(out, "starling_redis_noscript_total", "counter",
                   "NOSCRIPT replies (script cache lost), each resent as EVAL.");
    metrics_sample_u64(out, "starling_redis_noscript_total", NULL, redis->noscript);
    metrics_family(out, "starling_redis_ready", "gauge",
                   "1 when a Redis connection is up with the scripts loaded.");
    metrics_sample_u64(out, "starling_redis_ready", NULL, redis_ready ? 1 : 0);
    metrics_family(out, "starling_draining", "gauge",
                   "1 while shutting down: not accepting, finishing requests in flight.");
    metrics_sample_u64(out, "starling_draining", NULL, draining ? 1 : 0);
}
