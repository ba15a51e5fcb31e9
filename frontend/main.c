/* starling: the frontend daemon: its servers, counters reports and shutdown, wired together
 * (the start-up it shares with the aggregator is common/process.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/admin.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/process.h"
#include "storage/counters.h"
#include "storage/redis.h"
#include "storage/tables.h"
#include "frontend/fullscrape.h"
#include "frontend/peer_cache.h"
#include "frontend/http.h"
#include "frontend/stats.h"
#include "frontend/table_admin.h"
#include "frontend/tracker.h"
#include "frontend/udp.h"

/* How often the request counters go to Redis for the aggregator's totals. */
#define COUNTERS_INTERVAL_MS 1000
/* HTTP endpoint x result, then UDP action x result. */
#define REPORTED_COUNTERS (STAT_ENDPOINTS * STAT_RESULTS + STAT_UDP_ACTIONS * STAT_UDP_RESULTS)
_Static_assert(REPORTED_COUNTERS <= COUNTERS_MAX, "one report carries every counter");

struct frontend {
    struct event_base *base;
    const struct config *cfg;
    struct redis_pool *pool;
    struct http_server *http;
    struct udp_server *udp;
    struct admin_server *admin;
    struct event *counters_timer;
    struct event *shutdown_deadline;
    struct counters_reporter reporter; /* names this process in {starling}:frontends */
    struct tables *tables;             /* the shared lists' replica, when needed */
    bool shutting_down;
    bool exit_after_report; /* the last report of a shutdown */
};

/* ---- counters for the aggregator ---- */

static void on_report_done(void *arg, int result)
{
    struct frontend *fe = arg;
    (void)result; /* a report not taken is carried by the next: they hold totals */
    if (fe->exit_after_report)
        event_base_loopexit(fe->base, NULL);
}

/* Sends the request totals. Returns 0 when a report left. */
static int report_counters(struct frontend *fe)
{
    static char fields[REPORTED_COUNTERS][40];
    const char *names[REPORTED_COUNTERS];
    uint64_t totals[REPORTED_COUNTERS];
    size_t n = 0;
    if (fe->reporter.in_flight)
        return -1;
    for (int e = 0; e < STAT_ENDPOINTS; e++) {
        for (int r = 0; r < STAT_RESULTS; r++) {
            snprintf(fields[n], sizeof(fields[n]), "%s:%s", stat_endpoint_name(e),
                     stat_result_name(r));
            totals[n++] = frontend_stats.requests[e][r];
        }
    }
    for (int a = 0; a < STAT_UDP_ACTIONS; a++) {
        for (int r = 0; r < STAT_UDP_RESULTS; r++) {
            snprintf(fields[n], sizeof(fields[n]), "udp_%s:%s", stat_udp_action_name(a),
                     stat_udp_result_name(r));
            totals[n++] = frontend_stats.udp_requests[a][r];
        }
    }
    for (size_t i = 0; i < n; i++)
        names[i] = fields[i];
    return counters_report(&fe->reporter, fe->pool, tracker_now_ms(), names, totals, n,
                           on_report_done, fe);
}

static void on_counters_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    report_counters(arg);
}

/* ---- shutdown ---- */

static void on_drained(void *arg)
{
    struct frontend *fe = arg;
    log_info("all connections closed");
    /* One last report, so the totals miss nothing; the deadline still bounds it. */
    fe->exit_after_report = true;
    if (report_counters(fe) < 0 && !fe->reporter.in_flight)
        event_base_loopexit(fe->base, NULL);
}

static void on_shutdown_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct frontend *fe = arg;
    (void)fd, (void)what;
    log_warn("shutdown_timeout reached with requests in flight: stopping now");
    event_base_loopexit(fe->base, NULL);
}

static void on_stop_signal(int sig, void *arg)
{
    struct frontend *fe = arg;
    if (fe->shutting_down) {
        log_warn("signal %d again: stopping now", sig);
        event_base_loopexit(fe->base, NULL);
        return;
    }
    fe->shutting_down = true;
    log_info("signal %d: draining connections (up to %llu ms)", sig,
             (unsigned long long)fe->cfg->shutdown_timeout_ms);
    struct timeval tv = clock_ms_to_tv(fe->cfg->shutdown_timeout_ms);
    evtimer_add(fe->shutdown_deadline, &tv);
    udp_server_stop_reading(fe->udp);
    http_server_drain(fe->http, on_drained, fe);
}

/* ---- /metrics, /readyz ---- */

static void render_metrics(struct evbuffer *out, void *arg)
{
    struct frontend *fe = arg;
    struct tables_stats ts;
    tables_stats(fe->tables, &ts);
    frontend_stats_render(out, &frontend_stats, redis_pool_stats(fe->pool),
                          redis_pool_ready(fe->pool), fe->shutting_down, &ts,
                          tables_ready(fe->tables));
}

static bool is_ready(void *arg)
{
    struct frontend *fe = arg;
    return !fe->shutting_down && redis_pool_ready(fe->pool) && tables_ready(fe->tables);
}

/* ---- start ---- */

/* Linux's largest file table (fs.nr_open's default), when the hard limit is unlimited. */
#define NOFILE_UNLIMITED 1048576

/*
 * Each connection is a file descriptor, and the soft limit is often 1024, below
 * http_listen_limit: raise it to the hard limit (the HTTP server then fits its connection
 * limit to what this gives, and logs it).
 */
static void raise_open_files_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == rl.rlim_max)
        return;
    rlim_t soft = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? NOFILE_UNLIMITED : rl.rlim_max;
    if (rl.rlim_cur > soft && setrlimit(RLIMIT_NOFILE, &rl) < 0)
        log_warn("cannot raise the open files limit from %llu to %llu: %s",
                 (unsigned long long)soft, (unsigned long long)rl.rlim_cur, strerror(errno));
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "table") == 0)
        return table_admin_main(argc, argv);
    static struct config cfg;
    struct process proc = {.name = "starling", .version = STARLING_VERSION};
    int rc = process_configure(&proc, argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    if (proc.check_only) {
        /* scripts/run.sh reads the Redis address from this line. */
        if (cfg.redis.unix_socket[0] != '\0')
            printf("starling: config ok; redis unix:%s\n", cfg.redis.unix_socket);
        else
            printf("starling: config ok; redis %s:%u\n", cfg.redis.host, cfg.redis.port);
        return 0;
    }
    static struct frontend fe;
    fe.cfg = &cfg;
    if (process_start(&proc, &cfg, on_stop_signal, &fe) < 0) {
        process_finish(&proc);
        return 1;
    }
    fe.base = proc.base;
    char node[COUNTERS_NODE_LEN - 10];
    process_node_id(node, sizeof(node));
    counters_init(&fe.reporter, node);
    raise_open_files_limit();

    char err[STARLING_ERR_LEN];
    fe.pool = redis_pool_new(fe.base, &cfg.redis);
    const bool follow[TABLE_COUNT] = {
        [TABLE_TORRENTS] = cfg.access_list_mode != ACCESS_LIST_OFF,
        [TABLE_CLIENTS] = cfg.client_whitelist_enabled,
        [TABLE_USERS] = cfg.private_enabled,
        [TABLE_REGISTERED] = cfg.private_enabled,
        [TABLE_TOKENS] = cfg.private_enabled,
        [TABLE_SETTINGS] = cfg.private_enabled,
    };
    fe.tables = tables_new(fe.base, fe.pool, follow);
    struct tracker tracker = {
        .cfg = &cfg,
        .pool = fe.pool,
        .fullscrape = fullscrape_cache_new(fe.pool),
        .tables = fe.tables,
        .peer_cache = peer_cache_new(cfg.peer_cache_swarms, cfg.peer_cache_ttl_ms,
                                     clock_monotonic_us() ^ ((uint64_t)getpid() << 32)),
    };
    fe.http = http_server_new(fe.base, &cfg, &tracker, err);
    if (fe.http != NULL)
        fe.udp = udp_server_new(fe.base, &cfg, &tracker, err);
    if (fe.http != NULL && fe.udp != NULL && cfg.metrics_listen_addr[0] != '\0')
        fe.admin =
            admin_server_new(fe.base, cfg.metrics_listen_addr, render_metrics, is_ready, &fe, err);
    if (fe.http == NULL || fe.udp == NULL ||
        (cfg.metrics_listen_addr[0] != '\0' && fe.admin == NULL)) {
        log_error("%s", err);
        udp_server_free(fe.udp);
        http_server_free(fe.http);
        redis_pool_free(fe.pool);
        fullscrape_cache_free(tracker.fullscrape);
        peer_cache_free(tracker.peer_cache);
        tables_free(fe.tables);
        process_finish(&proc);
        return 1;
    }
    fe.shutdown_deadline = xcheck(evtimer_new(fe.base, on_shutdown_deadline, &fe));
    fe.counters_timer = xcheck(event_new(fe.base, -1, EV_PERSIST, on_counters_timer, &fe));
    struct timeval every = clock_ms_to_tv(COUNTERS_INTERVAL_MS);
    evtimer_add(fe.counters_timer, &every);
    if (cfg.redis.n_cluster_nodes > 0)
        log_info("starling %s started as %s; redis cluster seeds %s:%u and %zu more",
                 STARLING_VERSION, fe.reporter.node, cfg.redis.cluster_nodes[0].host,
                 cfg.redis.cluster_nodes[0].port, cfg.redis.n_cluster_nodes - 1);
    else if (cfg.redis.unix_socket[0] != '\0')
        log_info("starling %s started as %s; redis at unix:%s", STARLING_VERSION, fe.reporter.node,
                 cfg.redis.unix_socket);
    else
        log_info("starling %s started as %s; redis at %s:%u", STARLING_VERSION, fe.reporter.node,
                 cfg.redis.host, cfg.redis.port);

    event_base_dispatch(fe.base);

    /* Storage first: it answers every call still in flight ("shutting down"), so the
     * HTTP server can then close connections none of which is waiting. */
    redis_pool_free(fe.pool);
    fullscrape_cache_free(tracker.fullscrape);
    peer_cache_free(tracker.peer_cache); /* after the pool: its last calls release entries */
    tables_free(fe.tables);              /* after the pool too: its call's reply names it */
    udp_server_free(fe.udp);
    http_server_free(fe.http);
    admin_server_free(fe.admin);
    event_free(fe.counters_timer);
    event_free(fe.shutdown_deadline);
    log_info("stopped");
    process_finish(&proc);
    return 0;
}
