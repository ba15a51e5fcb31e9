#include "frontend/stats.h"

#include <stdio.h>

#include <event2/buffer.h>

#include "storage/redis.h"
#include "storage/tables.h"
#include "frontend/tracker.h"

struct frontend_stats frontend_stats;

static const char *const endpoint_names[STAT_ENDPOINTS] = {"announce", "scrape", "other"};
static const char *const result_names[STAT_RESULTS] = {
    "ok", "bad_params", "storage_error", "storage_busy", "storage_full", "bad_http", "not_found"};

static const char *const udp_action_names[STAT_UDP_ACTIONS] = {"connect", "announce", "scrape",
                                                               "unknown"};
static const char *const udp_result_names[STAT_UDP_RESULTS] = {
    "ok", "malformed", "bad_connection_id", "storage_error", "storage_busy", "storage_full"};
/* By enum udp_parse_result. */
static const char *const udp_reason_names[] = {
    "ok",          "short",    "bad_magic", "unknown_action", "short_announce",
    "bad_options", "bad_port", "bad_event", "scrape_count",
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

/* A counter with one sample per (row, column): values is rows x columns, row-major. */
static void counter_table(struct evbuffer *out, const char *name, const char *help,
                          const char *row_key, const char *const *rows, int nrows,
                          const char *col_key, const char *const *cols, int ncols,
                          const uint64_t *values)
{
    char labels[96];
    metrics_family(out, name, "counter", help);
    for (int r = 0; r < nrows; r++) {
        for (int c = 0; c < ncols; c++) {
            snprintf(labels, sizeof(labels), "%s=\"%s\",%s=\"%s\"", row_key, rows[r], col_key,
                     cols[c]);
            metrics_sample_u64(out, name, labels, values[r * ncols + c]);
        }
    }
}

/* A family of one unlabelled sample. */
static void single(struct evbuffer *out, const char *name, const char *type, const char *help,
                   uint64_t value)
{
    metrics_family(out, name, type, help);
    metrics_sample_u64(out, name, NULL, value);
}

void frontend_stats_render(struct evbuffer *out, const struct frontend_stats *s,
                           const struct redis_stats *redis, bool redis_ready, bool draining,
                           const struct tables_stats *tables, bool tables_ready)
{
    char labels[96];
    counter_table(out, "starling_http_requests_total",
                  "HTTP requests answered, by endpoint and result.", "endpoint", endpoint_names,
                  STAT_ENDPOINTS, "result", result_names, STAT_RESULTS, &s->requests[0][0]);
    metrics_family(out, "starling_http_request_duration_seconds", "histogram",
                   "Time from a request's last header byte to its reply being queued.");
    for (int e = 0; e < STAT_OTHER; e++) {
        snprintf(labels, sizeof(labels), "endpoint=\"%s\"", endpoint_names[e]);
        metrics_histogram(out, "starling_http_request_duration_seconds", labels, &s->latency[e]);
    }
    single(out, "starling_http_open_connections", "gauge", "Client connections open now.",
           s->connections_open);
    single(out, "starling_http_connections_total", "counter", "Client connections accepted.",
           s->connections_total);
    single(out, "starling_http_accept_failures_total", "counter",
           "accept() failures (out of file descriptors or memory), each pausing accepting "
           "for 100 ms to 1 s.",
           s->accept_failures);
    single(out, "starling_http_connections_over_address_limit_total", "counter",
           "Connections closed at accept, unread: their client address had "
           "http_per_address_limit connections open.",
           s->connections_over_address_limit);

    counter_table(out, "starling_udp_requests_total",
                  "UDP requests (BEP 15), by action and result.", "action", udp_action_names,
                  STAT_UDP_ACTIONS, "result", udp_result_names, STAT_UDP_RESULTS,
                  &s->udp_requests[0][0]);
    metrics_family(out, "starling_udp_malformed_total", "counter",
                   "Malformed UDP datagrams, by reason (short and bad_magic are dropped "
                   "silently, the others get an error reply).");
    for (size_t i = 1; i < sizeof(udp_reason_names) / sizeof(udp_reason_names[0]); i++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", udp_reason_names[i]);
        metrics_sample_u64(out, "starling_udp_malformed_total", labels, s->udp_malformed[i]);
    }
    single(out, "starling_udp_unanswered_total", "counter",
           "UDP error replies not sent because they would be larger than the request "
           "(no amplification towards spoofed senders).",
           s->udp_unanswered);

    static const char *const plan_names[] = {"bypass", "fill", "hit"};
    metrics_family(out, "starling_peer_cache_announces_total", "counter",
                   "Announces with peers wanted, by what the peer cache did: hit (peers from "
                   "a cached window, Redis only recorded and counted), fill (Redis read the "
                   "windows for the cache), bypass (peers from Redis as without a cache).");
    for (size_t i = 0; i < sizeof(plan_names) / sizeof(plan_names[0]); i++) {
        snprintf(labels, sizeof(labels), "result=\"%s\"", plan_names[i]);
        metrics_sample_u64(out, "starling_peer_cache_announces_total", labels, s->peer_cache[i]);
    }
    single(out, "starling_local_peers_total", "counter",
           "Peers listed first in announce replies as the announcer's neighbours "
           "(local_subnet_priority).",
           s->local_peers);

    _Static_assert(sizeof(s->refusals) / sizeof(s->refusals[0]) == TRACKER_REFUSALS,
                   "one counter per refusal");
    metrics_family(out, "starling_announce_refusals_total", "counter",
                   "Announces (and private-mode scrapes) refused before Redis was asked, by "
                   "reason: the client whitelist, the access list, private mode's passkey, "
                   "user and registration rules.");
    for (int i = 0; i < TRACKER_REFUSALS; i++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"",
                 tracker_refusal_name((enum tracker_refusal)i));
        metrics_sample_u64(out, "starling_announce_refusals_total", labels, s->refusals[i]);
    }
    static const char *const update_names[] = {"applied", "refused"};
    metrics_family(out, "starling_site_updates_total", "counter",
                   "Calls of the site update API (/<site_password>/update), by result.");
    for (size_t i = 0; i < sizeof(update_names) / sizeof(update_names[0]); i++) {
        snprintf(labels, sizeof(labels), "result=\"%s\"", update_names[i]);
        metrics_sample_u64(out, "starling_site_updates_total", labels, s->site_updates[i]);
    }

    single(out, "starling_redis_calls_total", "counter", "Commands sent to Redis.", redis->calls);
    single(out, "starling_redis_errors_total", "counter",
           "Error replies from Redis (NOSCRIPT answered by a retry excluded).", redis->errors);
    single(out, "starling_redis_timeouts_total", "counter",
           "Calls answered by their deadline (redis.command_timeout).", redis->timeouts);
    single(out, "starling_redis_reconnects_total", "counter",
           "Connections to Redis set up again after a loss.", redis->reconnects);
    single(out, "starling_redis_noscript_total", "counter",
           "NOSCRIPT replies (script cache lost), each resent as EVAL.", redis->noscript);
    single(out, "starling_redis_moved_total", "counter",
           "MOVED redirects followed (Redis Cluster: a slot's master changed).", redis->moved);
    single(out, "starling_redis_ask_total", "counter",
           "ASK redirects followed (Redis Cluster: a slot migrating).", redis->asked);
    single(out, "starling_redis_retries_total", "counter",
           "Calls tried again after a wait (TRYAGAIN, CLUSTERDOWN, a node lost).", redis->retries);
    single(out, "starling_redis_slot_map_reads_total", "counter",
           "Redis Cluster slot map readings (CLUSTER SLOTS sent, or no node to ask).",
           redis->refreshes);
    single(out, "starling_redis_ready", "gauge",
           "1 when a Redis connection is up with the scripts loaded.", redis_ready ? 1 : 0);
    single(out, "starling_draining", "gauge",
           "1 while shutting down: not accepting, finishing requests in flight.", draining ? 1 : 0);

    metrics_family(out, "starling_shared_table_entries", "gauge",
                   "Entries of the shared tables this frontend follows (0 for one not followed).");
    for (int i = 0; i < TABLE_COUNT; i++) {
        snprintf(labels, sizeof(labels), "table=\"%s\"", table_name((enum table_id)i));
        metrics_sample_u64(out, "starling_shared_table_entries", labels, tables->entries[i]);
    }
    single(out, "starling_shared_tables_loads_total", "counter",
           "Whole loads of the shared tables begun: the first, and after a gap in the change "
           "stream or a failure.",
           tables->loads);
    single(out, "starling_shared_tables_changes_total", "counter",
           "Changes to the shared tables applied from the stream.", tables->changes);
    single(out, "starling_shared_tables_ready", "gauge",
           "1 when the shared tables are loaded and their changes were read within the last "
           "5 s (or none are needed).",
           tables_ready ? 1 : 0);
}
