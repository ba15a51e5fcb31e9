/*
 * starling-aggregator: purges expired peers and empty swarms, totals the swarms and the
 * frontends' counters, and publishes them ({starling}:stats, /metrics, the full-scrape
 * snapshot). Replicas elect one leader through a Redis lock; only the leader runs passes.
 *
 * A pass runs in steps (one SCAN batch each, blocking Redis calls bounded by timeouts), and
 * the event loop runs between steps, so /metrics, signals and lock renewal keep going.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "aggregator/accounting.h"
#include "common/admin.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/process.h"
#include "storage/aggregate.h"
#include "storage/cluster.h"
#include "storage/leader.h"
#include "storage/tables.h"
#include "storage/sync.h"

/* Pass calls may take longer than an announce's: they walk whole swarms. */
#define PASS_COMMAND_TIMEOUT_MS 5000
/* /readyz: how often idle connections are probed, and how recent a good reply must be. */
#define PROBE_INTERVAL_MS 1000
#define READY_WITHIN_MS 3000
/* On a Redis Cluster a pass rides out a failover or a migration: a failed step (or publish)
 * is tried again, after a rest doubling from STEP_RETRY_MS to STEP_RETRY_MAX_MS, up to
 * STEP_RETRIES times in a row (about 13 s in all; a failover takes 4-5 s), with the slot map
 * read again; only then is the pass abandoned. On a plain Redis a failure ends the pass. */
#define STEP_RETRY_MS 100
#define STEP_RETRY_MAX_MS 2000
#define STEP_RETRIES 10

struct aggregator {
    struct event_base *base;
    const struct config *cfg;
    struct cluster *cluster;
    struct cluster_walk walk; /* the masters the pass has walked */
    unsigned step_failures;   /* in a row, in this pass */
    char id[128];
    bool leader;
    uint64_t last_renew_ms;
    bool in_pass;
    struct aggregate_pass pass;
    uint64_t pass_started_ms;
    uint64_t passes, peers_expired, swarms_deleted;
    struct published_stats view;
    struct event *tick_timer, *step_ev, *renew_timer, *probe_timer;
    struct accounting *accounting; /* private mode */
    uint64_t deleted_torrents_removed;
    struct admin_server *admin;
    bool once;
    bool stopping;
};

/* On a Redis Cluster, the slot map read again if something asked for it (at most once per
 * CLUSTER_REFRESH_MIN_MS: storage/cluster.h), and what changed logged. */
static void refresh_map(struct aggregator *ag)
{
    char err[STARLING_ERR_LEN];
    bool changed = false;
    int r = cluster_refresh(ag->cluster, &changed, err);
    if (r < 0)
        log_warn("redis cluster: slot map not read again: %s", err);
    else if (changed)
        log_info("redis cluster: slot map read again: %zu masters", cluster_size(ag->cluster));
}

/* Connected to Redis (on a Redis Cluster, to every master); logs what it found. */
static bool ensure_connected(struct aggregator *ag)
{
    char err[STARLING_ERR_LEN];
    if (cluster_is_cluster(ag->cluster)) {
        /* Once an interval (or as soon as allowed): a master added since causes no error
         * that would ask for it, yet must be walked. */
        cluster_want_refresh(ag->cluster);
        refresh_map(ag);
        return true;
    }
    if (cluster_connected(ag->cluster))
        return true;
    int masters = cluster_connect(ag->cluster, err);
    if (masters < 0)
        log_warn("%s", err);
    else if (masters == 0)
        log_info("redis connected");
    else
        log_info("redis cluster connected: %d masters, each walked separately", masters);
    return masters >= 0;
}

/* Whether the connection to the node holding the lock is up (no I/O). */
static bool lock_conn_up(struct aggregator *ag)
{
    int node = 0;
    if (cluster_is_cluster(ag->cluster))
        node = slot_map_node_of_key(cluster_map(ag->cluster), LEADER_LOCK_KEY,
                                    strlen(LEADER_LOCK_KEY));
    return node >= 0 && (size_t)node < cluster_size(ag->cluster) &&
           cluster_conn(ag->cluster, (size_t)node)->c != NULL;
}

/* Leadership is only as good as the connection: without it the lock may already be gone. */
static void lose_leadership(struct aggregator *ag, const char *why)
{
    if (ag->leader)
        log_warn("leader: lost (%s)", why);
    ag->leader = false;
}

/* ---- the view served by /metrics ---- */

static void refresh_view(struct aggregator *ag)
{
    struct published_stats v;
    if (cluster_size(ag->cluster) > 0 && aggregate_read_published(ag->cluster, &v) == 0)
        ag->view = v;
}

/* Label values come from Redis: keep only characters that need no escaping. */
static void label_safe(char *s)
{
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            *s = '_';
}

static void render_metrics(struct evbuffer *out, void *arg)
{
    struct aggregator *ag = arg;
    const struct published_stats *v = &ag->view;
    metrics_gauge(out, "starling_torrents", "Swarms with at least one live peer.", v->torrents);
    metrics_gauge(out, "starling_seeders", "Live seeders.", v->seeders);
    metrics_gauge(out, "starling_leechers", "Live leechers.", v->leechers);
    metrics_family(out, "starling_peers", "gauge",
                   "Live peers with an address of the family (dual-stacked count in both).");
    metrics_sample_u64(out, "starling_peers", "family=\"ipv4\"", v->peers_v4);
    metrics_sample_u64(out, "starling_peers", "family=\"ipv6\"", v->peers_v6);
    metrics_gauge(out, "starling_completed",
                  "Completed downloads recorded in the swarms Redis holds.", v->completed);
    metrics_family(out, "starling_requests_total", "counter",
                   "Requests answered by all frontends, by endpoint and result.");
    for (size_t i = 0; i < v->nrequests; i++) {
        char ep[32], res[32], labels[96];
        snprintf(ep, sizeof(ep), "%s", v->request_endpoint[i]);
        snprintf(res, sizeof(res), "%s", v->request_result[i]);
        label_safe(ep);
        label_safe(res);
        snprintf(labels, sizeof(labels), "endpoint=\"%s\",result=\"%s\"", ep, res);
        metrics_sample_u64(out, "starling_requests_total", labels, v->request_count[i]);
    }
    metrics_gauge(out, "starling_frontends", "Frontends that reported in the last minute.",
                  v->frontends);
    metrics_gauge(out, "starling_aggregator_leader", "1 on the replica holding the leader lock.",
                  ag->leader ? 1 : 0);
    /* Which replica this is, as the lock and {starling}:stats name it. */
    char id[sizeof(ag->id)], labels[sizeof(ag->id) + 16];
    snprintf(id, sizeof(id), "%s", ag->id);
    for (char *p = id; *p != '\0'; p++)
        if (*p == '"' || *p == '\\' || *p == '\n')
            *p = '_';
    snprintf(labels, sizeof(labels), "instance=\"%s\"", id);
    metrics_family(out, "starling_aggregator_info", "gauge",
                   "This replica's id (the lock's value when it leads); always 1.");
    metrics_sample_u64(out, "starling_aggregator_info", labels, 1);
    metrics_counter(out, "starling_aggregator_passes_total", "Passes this replica completed.",
                    ag->passes);
    metrics_gauge_double(out, "starling_aggregator_pass_duration_seconds",
                         "Duration of the latest pass.", (double)v->pass_duration_ms / 1000.0);
    metrics_gauge_double(out, "starling_aggregator_pass_max_call_seconds",
                         "The longest single Redis call of the latest pass.",
                         (double)v->pass_max_call_ms / 1000.0);
    metrics_gauge_double(out, "starling_aggregator_last_pass_timestamp_seconds",
                         "When the latest pass finished (Unix time).",
                         (double)v->pass_finished_ms / 1000.0);
    metrics_counter(out, "starling_aggregator_peers_expired_total",
                    "Expired peers this replica's passes removed.", ag->peers_expired);
    metrics_counter(out, "starling_aggregator_swarms_deleted_total",
                    "Empty swarms this replica's passes deleted.", ag->swarms_deleted);
    metrics_counter(
        out, "starling_aggregator_deleted_torrents_pruned_total",
        "Private mode: registered torrents deleted a day ago or more, removed by passes.",
        ag->deleted_torrents_removed);
    accounting_render_metrics(ag->accounting, out);
}

/*
 * /readyz, without I/O: every connection is up and had a good reply (a pass step, the lock,
 * a PONG) within READY_WITHIN_MS.
 */
static bool is_ready(void *arg)
{
    struct aggregator *ag = arg;
    return cluster_responsive(ag->cluster, READY_WITHIN_MS);
}

/*
 * Keeps readiness current even when nothing else talks to Redis (a follower does once an
 * interval): every PROBE_INTERVAL_MS, reads the PONG owed since the last probe if it came
 * and sends the next PING, waiting for neither. /readyz thus turns 503 within
 * PROBE_INTERVAL_MS of Redis closing a connection (stopped, crashed, restarted), and within
 * PROBE_INTERVAL_MS + READY_WITHIN_MS of it no longer answering (hung, cut off).
 */
static void on_probe(evutil_socket_t fd, short what, void *arg)
{
    struct aggregator *ag = arg;
    (void)fd, (void)what;
    cluster_ping(ag->cluster);
    /* On a cluster, another master's connection is mended by the next slot map refresh. */
    if (!lock_conn_up(ag))
        lose_leadership(ag, "redis connection lost");
}

/* ---- passes ---- */

static void end_pass(struct aggregator *ag)
{
    aggregate_end(&ag->pass);
    ag->in_pass = false;
    if (ag->once || ag->stopping)
        event_base_loopexit(ag->base, NULL);
}

static void abort_pass(struct aggregator *ag, const char *why)
{
    log_warn("pass abandoned: %s", why);
    if (!lock_conn_up(ag))
        lose_leadership(ag, "redis connection lost");
    end_pass(ag);
}

/* A step (or the publish) failed: on a cluster, tried again later (STEP_RETRIES). */
static void step_failed(struct aggregator *ag, const char *why)
{
    if (!cluster_is_cluster(ag->cluster) || ag->step_failures >= STEP_RETRIES) {
        abort_pass(ag, why);
        return;
    }
    uint64_t ms = (uint64_t)STEP_RETRY_MS << ag->step_failures;
    if (ms > STEP_RETRY_MAX_MS)
        ms = STEP_RETRY_MAX_MS;
    ag->step_failures++;
    log_warn("pass step failed (%s); again in %llu ms", why, (unsigned long long)ms);
    cluster_want_refresh(ag->cluster);
    struct timeval rest = clock_ms_to_tv(ms);
    evtimer_add(ag->step_ev, &rest);
}

/* Renews the lock when a third of its TTL has passed. Returns false when it is lost. */
static bool keep_lock(struct aggregator *ag)
{
    uint64_t now = clock_wall_ms();
    if (now - ag->last_renew_ms < ag->cfg->aggregator.lock_ttl_ms / 3)
        return true;
    struct sync_conn *lock = cluster_route(ag->cluster, LEADER_LOCK_KEY);
    int r = leader_renew(lock, ag->id, ag->cfg->aggregator.lock_ttl_ms);
    if (r == 1) {
        ag->last_renew_ms = now;
        return true;
    }
    lose_leadership(ag, r == 0 ? "the lock is another replica's" : "redis error renewing");
    return false;
}

/* Every master walked: the pass is published, if the lock is still ours. */
/* Private mode: torrents the site deleted a day ago or more leave the shared tables. */
static void prune_deleted_torrents(struct aggregator *ag)
{
    char err[STARLING_ERR_LEN];
    struct sync_conn *sc = cluster_route(ag->cluster, TABLE_REGISTERED_KEY);
    long gone = tables_prune_deleted(sc, clock_wall_ms() / 1000, err);
    if (gone < 0) {
        static struct log_limit lines;
        log_limited(&lines, LOG_WARN, "deleted torrents not pruned: %s (next pass)", err);
        return;
    }
    ag->deleted_torrents_removed += (uint64_t)gone;
    if (gone > 0)
        log_info("deleted torrents pruned: %ld", gone);
}

static void publish_pass(struct aggregator *ag)
{
    char err[STARLING_ERR_LEN];
    if (!keep_lock(ag)) {
        abort_pass(ag, "leadership lost");
        return;
    }
    struct pass_info info = {.leader = ag->id,
                             .started_ms = ag->pass_started_ms,
                             .finished_ms = clock_wall_ms(),
                             .passes = ag->passes + 1};
    int published = aggregate_publish(&ag->pass, ag->cluster, &info, err);
    if (published == AGGREGATE_NOT_LEADER) {
        lose_leadership(ag, "the lock is another replica's");
        abort_pass(ag, err);
        return;
    }
    if (published < 0) {
        step_failed(ag, err);
        return;
    }
    const struct aggregate_totals *t = &ag->pass.totals;
    ag->passes++;
    ag->peers_expired += t->peers_expired;
    ag->swarms_deleted += t->swarms_deleted;
    log_info("pass done: torrents=%llu seeders=%llu leechers=%llu expired=%llu deleted=%llu "
             "duration_ms=%llu max_call_ms=%.3f",
             (unsigned long long)t->torrents, (unsigned long long)t->seeders,
             (unsigned long long)t->leechers, (unsigned long long)t->peers_expired,
             (unsigned long long)t->swarms_deleted,
             (unsigned long long)(info.finished_ms - info.started_ms),
             (double)t->max_call_us / 1000.0);
    accounting_pass_published(ag->accounting, ag->pass.entries, ag->pass.nentries);
    if (ag->cfg->private_enabled)
        prune_deleted_torrents(ag);
    refresh_view(ag);
    end_pass(ag);
}

static void on_step(evutil_socket_t fd, short what, void *arg)
{
    struct aggregator *ag = arg;
    char err[STARLING_ERR_LEN];
    (void)fd, (void)what;
    if (ag->stopping) {
        abort_pass(ag, "shutting down");
        return;
    }
    refresh_map(ag);
    if (!keep_lock(ag)) {
        abort_pass(ag, "leadership lost");
        return;
    }
    /* The master to walk: the map may have changed since the last step. */
    bool fresh = false;
    int node = cluster_walk_node(cluster_map(ag->cluster), &ag->walk, &fresh);
    if (node < 0) {
        publish_pass(ag);
        return;
    }
    if (fresh)
        aggregate_next_node(&ag->pass);
    uint64_t t0 = clock_monotonic_us();
    struct sync_conn *sc = cluster_node(ag->cluster, (size_t)node, err);
    int r = sc != NULL ? aggregate_step(&ag->pass, sc, err) : -1;
    if (r < 0) {
        step_failed(ag, err);
        return;
    }
    ag->step_failures = 0;
    if (r > 0) {
        /* Pace the pass: rest as long as the batch took, so a pass never holds Redis for
         * more than half of its time and announces keep their latency (aggbench). */
        uint64_t took = clock_monotonic_us() - t0;
        struct timeval rest = clock_us_to_tv(took);
        evtimer_add(ag->step_ev, &rest);
        return;
    }
    /* This master is done; the next one (Redis Cluster: SCAN walks one node). */
    cluster_walk_done(&ag->walk);
    event_active(ag->step_ev, EV_TIMEOUT, 0);
}

static void start_pass(struct aggregator *ag)
{
    char err[STARLING_ERR_LEN];
    for (size_t i = 0; i < cluster_size(ag->cluster); i++) {
        struct sync_conn *sc = cluster_conn(ag->cluster, i);
        if (cluster_is_cluster(ag->cluster) && sc->c == NULL)
            continue; /* mended by a refresh, or the walk finds it down */
        if (sync_load_scripts(sc, err) < 0) {
            log_warn("%s", err);
            if (cluster_is_cluster(ag->cluster)) {
                cluster_want_refresh(ag->cluster);
                continue;
            }
            lose_leadership(ag, "redis connection lost");
            return;
        }
    }
    ag->in_pass = true;
    cluster_walk_begin(&ag->walk);
    ag->step_failures = 0;
    ag->pass_started_ms = clock_wall_ms();
    aggregate_begin(&ag->pass, ag->pass_started_ms, ag->cfg->purge_inactive_torrents,
                    ag->cfg->private_enabled, ag->cfg->aggregator.scan_count);
    event_active(ag->step_ev, EV_TIMEOUT, 0);
}

/* Every aggregator.interval: lead if we can, then pass; followers refresh their view. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct aggregator *ag = arg;
    (void)fd, (void)what;
    if (ag->in_pass || ag->stopping)
        return;
    if (!ensure_connected(ag)) {
        lose_leadership(ag, "redis unreachable");
        if (ag->once)
            event_base_loopexit(ag->base, NULL);
        return;
    }
    struct sync_conn *lock = cluster_route(ag->cluster, LEADER_LOCK_KEY);
    int r = leader_acquire(lock, ag->id, ag->cfg->aggregator.lock_ttl_ms);
    if (r == 1) {
        if (!ag->leader)
            log_info("leader: acquired as %s", ag->id);
        ag->leader = true;
        ag->last_renew_ms = clock_wall_ms();
        start_pass(ag);
        return;
    }
    lose_leadership(ag, r == 0 ? "the lock is another replica's" : "redis error");
    refresh_view(ag);
    if (ag->once) {
        log_info("another replica leads: no pass");
        event_base_loopexit(ag->base, NULL);
    }
}

/* Whether this replica leads (the accounting runs only then). */
static bool leads(void *arg)
{
    struct aggregator *ag = arg;
    return ag->leader && !ag->stopping;
}

/* Between passes the lock must not lapse either. */
static void on_renew(evutil_socket_t fd, short what, void *arg)
{
    struct aggregator *ag = arg;
    (void)fd, (void)what;
    if (ag->leader && !ag->in_pass)
        keep_lock(ag);
}

static void on_stop_signal(int sig, void *arg)
{
    struct aggregator *ag = arg;
    log_info("signal %d: stopping", sig);
    ag->stopping = true;
    if (!ag->in_pass)
        event_base_loopexit(ag->base, NULL);
}

/* The replica's id, connections, timers and operators' endpoint. Returns 0 or -1 with err. */
static int aggregator_start(struct aggregator *ag, char *err)
{
    const struct aggregator_config *ac = &ag->cfg->aggregator;
    char node[96];
    struct timespec ts;
    process_node_id(node, sizeof(node));
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(ag->id, sizeof(ag->id), "%s:%04lx", node, (unsigned long)(ts.tv_nsec & 0xffff));
    ag->cluster = cluster_new(&ag->cfg->redis, PASS_COMMAND_TIMEOUT_MS);
    if (!ag->once && ac->metrics_listen_addr[0] != '\0') {
        ag->admin =
            admin_server_new(ag->base, ac->metrics_listen_addr, render_metrics, is_ready, ag, err);
        if (ag->admin == NULL)
            return -1;
        /* Only /readyz needs the probes: --once and metrics-less replicas send none. */
        ag->probe_timer = xcheck(event_new(ag->base, -1, EV_PERSIST, on_probe, ag));
        struct timeval probe = clock_ms_to_tv(PROBE_INTERVAL_MS);
        evtimer_add(ag->probe_timer, &probe);
    }
    ag->step_ev = xcheck(event_new(ag->base, -1, 0, on_step, ag));
    ag->tick_timer = xcheck(event_new(ag->base, -1, EV_PERSIST, on_tick, ag));
    ag->renew_timer = xcheck(event_new(ag->base, -1, EV_PERSIST, on_renew, ag));
    struct timeval interval = clock_ms_to_tv(ac->interval_ms);
    struct timeval renew = clock_ms_to_tv(ac->lock_ttl_ms / 3);
    evtimer_add(ag->tick_timer, &interval);
    evtimer_add(ag->renew_timer, &renew);
    if (ag->cfg->private_enabled && !ag->once)
        ag->accounting = accounting_new(ag->base, ag->cfg, ag->cluster, leads, ag);
    return 0;
}

/* After the loop: the lock released if it is ours, then everything freed. */
static void aggregator_stop(struct aggregator *ag)
{
    if (ag->in_pass)
        aggregate_end(&ag->pass);
    if (ag->leader && lock_conn_up(ag)) {
        leader_release(cluster_route(ag->cluster, LEADER_LOCK_KEY), ag->id);
        log_info("leader: released");
    }
    accounting_free(ag->accounting); /* before the cluster its timers use */
    cluster_free(ag->cluster);
    admin_server_free(ag->admin);
    struct event *events[] = {ag->step_ev, ag->tick_timer, ag->renew_timer, ag->probe_timer};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (events[i] != NULL)
            event_free(events[i]);
}

int main(int argc, char **argv)
{
    static struct config cfg;
    static struct aggregator ag;
    static const struct process_flag flags[] = {
        {"once", "run one pass (if this replica can lead) and exit", &ag.once},
    };
    struct process proc = {
        .name = "starling-aggregator", .version = STARLING_VERSION, .flags = flags, .nflags = 1};
    int rc = process_configure(&proc, argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    if (proc.check_only) {
        printf("starling-aggregator: config ok\n");
        return 0;
    }
    char err[STARLING_ERR_LEN];
    ag.cfg = &cfg;
    if (process_start(&proc, &cfg, on_stop_signal, &ag) < 0) {
        process_finish(&proc);
        return 1;
    }
    ag.base = proc.base;
    if (aggregator_start(&ag, err) < 0) {
        log_error("%s", err);
        aggregator_stop(&ag);
        process_finish(&proc);
        return 1;
    }
    log_info("starling-aggregator %s started as %s; a pass every %llu ms", STARLING_VERSION, ag.id,
             (unsigned long long)cfg.aggregator.interval_ms);
    on_tick(-1, 0, &ag); /* the first pass now, not an interval from now */

    event_base_dispatch(ag.base);

    aggregator_stop(&ag);
    log_info("stopped");
    process_finish(&proc);
    return 0;
}
