/*
 * What one complete request gets: its head parsed and routed (http_parse), the tracker
 * asked, and the reply encoded (http_reply) and counted in the metrics. The connection's
 * I/O and lifetime are http.c's.
 */
#include "frontend/http_internal.h"

#include <string.h>

#include <event2/buffer.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "frontend/bencode.h"
#include "frontend/fullscrape.h"
#include "frontend/http_parse.h"
#include "frontend/request.h"
#include "frontend/site_api.h"

/* ---- replies ---- */

/* Counts the reply about to be sent in the metrics, by endpoint and result class. */
static void count_reply(struct http_conn *c, int status)
{
    enum stat_result result = STAT_OK;
    if (status == 404)
        result = STAT_NOT_FOUND;
    else if (status != 200)
        result = STAT_BAD_HTTP;
    else if (c->failure == TRACKER_STORAGE_FAILURE)
        result = STAT_STORAGE_ERROR;
    else if (c->failure == TRACKER_STORAGE_BUSY)
        result = STAT_STORAGE_BUSY;
    else if (c->failure == TRACKER_STORAGE_FULL)
        result = STAT_STORAGE_FULL;
    else if (c->failure != NULL)
        result = STAT_BAD_PARAMS;
    frontend_stats.requests[c->endpoint][result]++;
    if (c->endpoint != STAT_OTHER && c->started_us != 0)
        latency_observe(&frontend_stats.latency[c->endpoint],
                        (double)(clock_monotonic_us() - c->started_us) / 1e6);
    c->endpoint = STAT_OTHER;
    c->failure = NULL;
    c->started_us = 0;
}

/* Sends status, headers and srv->body, counted in the metrics. */
static void reply(struct http_conn *c, int status)
{
    count_reply(c, status);
    http_conn_send(c, status);
}

static void send_failure(struct http_conn *c, int status, const char *reason)
{
    c->failure = reason;
    bencode_failure(c->srv->body, reason);
    reply(c, status);
}

/* Answers a storage failure (the client is told to retry). Returns whether there was one. */
static bool storage_failed(struct http_conn *c, bool failed, const char *what, const char *err)
{
    if (!failed)
        return false;
    log_debug("%s failed: %s", what, err);
    send_failure(c, 200, tracker_storage_failure(err));
    http_conn_request_done(c);
    return true;
}

static void on_announce_done(void *arg, const struct announce_reply *r, const char *err)
{
    struct http_conn *c = arg;
    const struct config *cfg = c->srv->cfg;
    if (storage_failed(c, r == NULL, "announce", err))
        return;
    uint64_t interval = tracker_interval_s(cfg, tracker_site_announce_ms(c->srv->tracker));
    http_reply_announce(c->srv->body, r, interval, tracker_min_interval_s(cfg), &c->peer_list);
    reply(c, 200);
    http_conn_request_done(c);
}

static void on_scrape_done(void *arg, const struct scrape_counts *counts, size_t n, const char *err)
{
    struct http_conn *c = arg;
    if (storage_failed(c, counts == NULL, "scrape", err))
        return;
    http_reply_scrape(c->srv->body, (const uint8_t(*)[INFO_HASH_LEN])c->scrape_hashes, counts, n);
    reply(c, 200);
    http_conn_request_done(c);
}

static void on_fullscrape_done(void *arg, struct fullscrape_snapshot *s, const char *err)
{
    struct http_conn *c = arg;
    if (storage_failed(c, s == NULL, "full scrape", err))
        return;
    http_reply_full_scrape(c->srv->body, s);
    reply(c, 200);
    http_conn_request_done(c);
}

/* ---- requests ---- */

/* A reply lists peers of both families, and as many as asked. */
static const struct tracker_wire http_wire = {
    .one_family = false,
    .max_peers_v4 = UINT32_MAX,
    .max_peers_v6 = UINT32_MAX,
};

static void handle_announce(struct http_conn *c, const char *query, size_t query_len,
                            const char *key, const struct http_head *h, const struct addr *client)
{
    struct announce_req req;
    const char *reason = NULL;
    if (request_parse_announce(query, query_len, &req, &reason) < 0) {
        send_failure(c, 200, reason);
        return;
    }
    if (key != NULL) {
        req.has_passkey = true;
        memcpy(req.passkey, key, PASSKEY_LEN);
    }
    if (c->srv->cfg->private_enabled && h->user_agent != NULL) {
        /* Kept for the site's peer records: printable, bounded. */
        size_t n = h->user_agent_len < USER_AGENT_MAX ? h->user_agent_len : USER_AGENT_MAX;
        for (size_t i = 0; i < n; i++) {
            char ch = h->user_agent[i];
            req.user_agent[i] = ch >= ' ' && ch < 127 ? ch : '?';
        }
        req.user_agent_len = n;
    }
    struct tracker_reply_peers peers;
    if (tracker_announce(c->srv->tracker, &req, client, &http_wire, &peers, on_announce_done, c,
                         &reason) < 0) {
        send_failure(c, 200, reason);
        return;
    }
    c->peer_list = (struct http_peer_list){req.compact, req.no_peer_id, peers.v4, peers.v6};
    c->busy = true;
}

static void handle_scrape(struct http_conn *c, const char *query, size_t query_len, const char *key)
{
    const struct config *cfg = c->srv->cfg;
    if (c->scrape_hashes == NULL)
        c->scrape_hashes = xcalloc(cfg->max_scrape_hashes, sizeof(*c->scrape_hashes));
    const char *reason = NULL;
    size_t n = 0;
    if (request_parse_scrape(query, query_len, c->scrape_hashes, cfg->max_scrape_hashes, &n,
                             &reason) < 0) {
        send_failure(c, 200, reason);
        return;
    }
    if (cfg->private_enabled) {
        if (n == 0) {
            send_failure(c, 200, "full scrape is disabled");
            return;
        }
        /* Only registered torrents are answered: possibly none, without asking Redis. */
        long kept = tracker_scrape_private(c->srv->tracker, key, c->scrape_hashes, n, &reason);
        if (kept < 0) {
            send_failure(c, 200, reason);
            return;
        }
        if (kept == 0) {
            http_reply_scrape(c->srv->body, NULL, NULL, 0);
            reply(c, 200);
            return;
        }
        n = (size_t)kept;
    }
    if (n == 0) {
        if (!cfg->allow_full_scrape) {
            send_failure(c, 200, "full scrape is disabled");
            return;
        }
        /* Walking every swarm is no per-request job for a stateless frontend: the
         * aggregator writes a snapshot each pass, fetched once and shared by every reply. */
        struct fullscrape_snapshot *s = NULL;
        int rc = tracker_full_scrape(c->srv->tracker, &s, on_fullscrape_done, c, &reason);
        if (rc < 0) {
            send_failure(c, 200, reason);
        } else if (rc > 0) {
            http_reply_full_scrape(c->srv->body, s);
            fullscrape_snapshot_unref(s);
            reply(c, 200);
        } else {
            c->busy = true;
        }
        return;
    }
    /* Bencode wants dictionary keys sorted, and a hash asked twice is answered once. */
    size_t unique = http_scrape_keys(c->scrape_hashes, n);
    const uint8_t(*hashes)[INFO_HASH_LEN] = (const uint8_t(*)[INFO_HASH_LEN])c->scrape_hashes;
    if (tracker_scrape(c->srv->tracker, hashes, unique, on_scrape_done, c, &reason) < 0) {
        send_failure(c, 200, reason);
        return;
    }
    c->busy = true;
}

static void on_update_done(void *arg, const char *failure)
{
    struct http_conn *c = arg;
    frontend_stats.site_updates[failure != NULL]++;
    if (failure != NULL) {
        send_failure(c, 200, failure);
    } else {
        evbuffer_add(c->srv->body, "success", 7);
        reply(c, 200);
    }
    http_conn_request_done(c);
}

/* The site's update API: answered "success" once Redis has every change. */
static void handle_update(struct http_conn *c, const char *query, size_t query_len, const char *key,
                          const struct addr *client)
{
    const struct config *cfg = c->srv->cfg;
    const char *reason = NULL;
    /* Ocelot's answer to a wrong key; the key is never logged or echoed. */
    if (!cfg->private_enabled || !site_key_matches(cfg->site_password, key) ||
        !site_source_allowed(cfg, client)) {
        frontend_stats.site_updates[1]++;
        send_failure(c, 200, "Authentication failure");
        return;
    }
    if (site_update(c->srv->tracker->pool, query, query_len, on_update_done, c, &reason) < 0) {
        frontend_stats.site_updates[1]++;
        send_failure(c, 200, reason);
        return;
    }
    c->busy = true;
}

static void on_report_done(void *arg, const char *text, size_t len, const char *failure)
{
    struct http_conn *c = arg;
    if (failure != NULL) {
        send_failure(c, 200, failure);
    } else {
        evbuffer_add(c->srv->body, text, len);
        reply(c, 200);
    }
    http_conn_request_done(c);
}

/* Ocelot's report endpoint, for the site. */
static void handle_report(struct http_conn *c, const char *query, size_t query_len, const char *key)
{
    const struct config *cfg = c->srv->cfg;
    const char *reason = NULL;
    if (!cfg->private_enabled || !site_key_matches(cfg->report_password, key)) {
        send_failure(c, 200, "Authentication failure");
        return;
    }
    int rc = site_report(c->srv->tracker->pool, c->srv->tracker->tables, query, query_len,
                         on_report_done, c, &reason);
    if (rc < 0)
        send_failure(c, 200, reason);
    else if (rc == SITE_REPORT_EMPTY)
        reply(c, 200);
    else
        c->busy = true;
}

void http_refuse(struct http_conn *c, int status)
{
    send_failure(c, status, http_refusal_reason(status));
}

/* The address the announce is from: real_ip_header's, when the socket peer is trusted. */
static struct addr client_address(const struct http_conn *c, const struct http_head *h)
{
    struct addr client = c->client;
    if (c->client_trusted && h->real_ip != NULL)
        http_real_ip(h->real_ip, h->real_ip_len, &client);
    return client;
}

void http_handle(struct http_conn *c, const char *data, size_t len)
{
    struct http_head h;
    struct http_target t;
    c->keep_alive = false; /* until we know the version */
    c->started_us = clock_monotonic_us();
    if (http_parse_head(data, len, c->srv->cfg->real_ip_header, &h) < 0) {
        http_refuse(c, 400);
        return;
    }
    c->http10 = h.minor_version == 0;
    c->keep_alive = http_keep_alive(&h) && !c->srv->draining; /* draining: the last one */
    c->last_request = !c->keep_alive;
    int status = http_route_request(&h, &t);
    if (status != 0) {
        http_refuse(c, status);
        return;
    }
    c->endpoint = t.route == HTTP_ROUTE_ANNOUNCE ? STAT_ANNOUNCE
                  : t.route == HTTP_ROUTE_SCRAPE ? STAT_SCRAPE
                                                 : STAT_OTHER;
    /* A public tracker has no keyed paths; a private one answers its public paths with a
     * failure reason saying where to go. */
    if (t.key != NULL && !c->srv->cfg->private_enabled)
        t.route = HTTP_ROUTE_NOT_FOUND;
    switch (t.route) {
    case HTTP_ROUTE_ANNOUNCE: {
        struct addr client = client_address(c, &h);
        handle_announce(c, t.query, t.query_len, t.key, &h, &client);
        break;
    }
    case HTTP_ROUTE_SCRAPE:
        handle_scrape(c, t.query, t.query_len, t.key);
        break;
    case HTTP_ROUTE_UPDATE: {
        struct addr client = client_address(c, &h);
        handle_update(c, t.query, t.query_len, t.key, &client);
        break;
    }
    case HTTP_ROUTE_REPORT:
        handle_report(c, t.query, t.query_len, t.key);
        break;
    case HTTP_ROUTE_NOT_FOUND:
        evbuffer_add(c->srv->body, "not found\n", 10);
        reply(c, 404);
        break;
    }
}
