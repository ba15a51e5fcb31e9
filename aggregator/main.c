/*
 * starling-aggregator: purges expired peers and empty swarms, totals the swarms and the
 * frontends' counters, and publishes them (starling:stats, /metrics, the full-scrape
 * snapshot). Replicas elect one leader through a Redis lock; only the leader runs passes.
 *
 * A pass runs in steps (one SCAN batch each, blocking Redis calls bounded by timeouts), and
 * the event loop runs between steps, so /metrics, signals and lock renewal keep going.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "common/admin.h"
#include "storage/aggregate.h"
#include "common/clock.h"
#include "common/config.h"
#include "storage/keyslot.h"
#include "storage/leader.h"
#include "common/log.h"
#include "common/metrics.h"
#include "storage/sync.h"

#define EXIT_CONFIG 2
/* Pass calls may take longer than an announce's: they walk whole swarms. */
#define PASS_COMMAND_TIMEOUT_MS 5000
#define MAX_VIEW_REQUESTS 64

/* The latest published totals, read back from starling:stats (the same on every replica). */
struct view {
    bool valid;
    uint64_t torrents, seeders, leechers, peers_v4, peers_v6, completed, frontends;
    uint64_t pass_duration_ms, pass_max_call_ms, pass_finished_ms;
    size_t nrequests;
    char request_endpoint[MAX_VIEW_REQUESTS][32];
    char request_result[MAX_VIEW_REQUESTS][32];
    uint64_t request_count[MAX_VIEW_REQUESTS];
};

/* One Redis master: a plain Redis is one node serving every slot. */
struct node {
    struct sync_conn sc;
    struct cluster_master master; /* nranges 0: every slot */
};

struct aggregator {
    struct event_base *base;
    const struct config *cfg;
    struct node nodes[CLUSTER_MAX_MASTERS];
    size_t nnodes;
    size_t pass_node; /* the master the pass is walking */
    char id[128];
    bool leader;
    uint64_t last_renew_ms;
    bool in_pass;
    struct aggregate_pass pass;
    uint64_t pass_started_ms;
    uint64_t passes, peers_expired, swarms_deleted;
    struct view view;
    struct event *tick_timer, *step_ev, *renew_timer;
    struct admin_server *admin;
    bool once;
    bool stopping;
};

static bool connected(const struct aggregator *ag)
{
    if (ag->nnodes == 0)
        return false;
    for (size_t i = 0; i < ag->nnodes; i++)
        if (ag->nodes[i].sc.c == NULL)
            return false;
    return true;
}

static void disconnect_all(struct aggregator *ag)
{
    for (size_t i = 0; i < ag->nnodes; i++)
        sync_close(&ag->nodes[i].sc);
    ag->nnodes = 0;
}

/* The node serving a key: by slot on a cluster, the only one otherwise. */
static struct sync_conn *route(void *arg, const char *key)
{
    struct aggregator *ag = arg;
    if (ag->nnodes <= 1)
        return &ag->nodes[0].sc;
    unsigned slot = key_hash_slot(key, strlen(key));
    for (size_t i = 0; i < ag->nnodes; i++) {
        const struct cluster_master *m = &ag->nodes[i].master;
        for (size_t r = 0; r < m->nranges; r++)
            if (slot >= m->ranges[r][0] && slot <= m->ranges[r][1])
                return &ag->nodes[i].sc;
    }
    return &ag->nodes[0].sc; /* a slot nobody serves: its calls fail and are reported */
}

/*
 * Connects to the configured Redis; if it is a Redis Cluster node, to every master instead,
 * so that each is walked separately (SCAN sees one node's keys only). Any lost connection
 * makes the next tick connect everything again, as the cluster may have changed.
 */
static bool ensure_connected(struct aggregator *ag)
{
    char err[STARLING_ERR_LEN];
    static struct cluster_master masters[CLUSTER_MAX_MASTERS];
    size_t n = 0;
    if (connected(ag))
        return true;
    disconnect_all(ag);
    struct node *seed = &ag->nodes[0];
    if (sync_connect(&seed->sc, &ag->cfg->redis, PASS_COMMAND_TIMEOUT_MS, err) < 0 ||
        sync_cluster_masters(&seed->sc, ag->cfg->redis.host, masters, CLUSTER_MAX_MASTERS, &n,
                             err) < 0) {
        log_warn("%s", err);
        sync_close(&seed->sc);
        return false;
    }
    memset(&seed->master, 0, sizeof(seed->master));
    ag->nnodes = 1;
    if (n == 0) {
        log_info("redis connected");
        return true;
    }
    sync_close(&seed->sc);
    ag->nnodes = 0;
    for (size_t i = 0; i < n; i++) {
        struct redis_config rc = ag->cfg->redis;
        rc.unix_socket[0] = '\0';
        _Static_assert(sizeof(rc.host) == sizeof(masters[i].host), "host buffers differ");
        memcpy(rc.host, masters[i].host, sizeof(rc.host));
        rc.host[sizeof(rc.host) - 1] = '\0';
        rc.port = masters[i].port;
        rc.db = 0; /* a cluster has only database 0 */
        struct node *node = &ag->nodes[ag->nnodes++];
        node->master = masters[i];
        if (sync_connect(&node->sc, &rc, PASS_COMMAND_TIMEOUT_MS, err) < 0) {
            log_warn("cluster master %s:%u: %s", masters[i].host, masters[i].port, err);
            disconnect_all(ag);
            return false;
        }
    }
    log_info("redis cluster connected: %zu masters, each walked separately", ag->nnodes);
    return true;
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
    const char *argv[] = {"HGETALL", STATS_KEY};
    size_t lens[] = {7, strlen(STATS_KEY)};
    if (!connected(ag))
        return;
    redisReply *r = sync_command(route(ag, STATS_KEY), 2, argv, lens);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        if (r != NULL)
            freeReplyObject(r);
        return;
    }
    struct view v = {.valid = r->elements > 0};
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str;
        const char *val = r->element[i + 1]->str;
        if (f == NULL || val == NULL)
            continue;
        uint64_t n = strtoull(val, NULL, 10);
        const struct {
            enum stats_field field;
            uint64_t *slot;
        } known[] = {
            {STATS_TORRENTS, &v.torrents},
            {STATS_SEEDERS, &v.seeders},
            {STATS_LEECHERS, &v.leechers},
            {STATS_PEERS_IPV4, &v.peers_v4},
            {STATS_PEERS_IPV6, &v.peers_v6},
            {STATS_COMPLETED, &v.completed},
            {STATS_FRONTENDS, &v.frontends},
            {STATS_PASS_DURATION_MS, &v.pass_duration_ms},
            {STATS_PASS_MAX_CALL_MS, &v.pass_max_call_ms},
            {STATS_PASS_FINISHED_MS, &v.pass_finished_ms},
        };
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            if (strcmp(f, stats_field_names[known[k].field]) == 0)
                *known[k].slot = n;
        /* "requests:<endpoint>:<result>" */
        size_t prefix = strlen(STATS_REQUESTS_PREFIX);
        const char *ep = strncmp(f, STATS_REQUESTS_PREFIX, prefix) == 0 ? f + prefix : NULL;
        const char *colon = ep != NULL ? strchr(ep, ':') : NULL;
        if (colon != NULL && v.nrequests < MAX_VIEW_REQUESTS) {
            snprintf(v.request_endpoint[v.nrequests], 32, "%.*s", (int)(colon - ep), ep);
            snprintf(v.request_result[v.nrequests], 32, "%s", colon + 1);
            v.request_count[v.nrequests++] = n;
        }
    }
    freeReplyObject(r);
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

static void gauge(struct evbuffer *out, const char *name, const char *help, uint64_t v)
{
    metrics_family(out, name, "gauge", help);
    metrics_sample_u64(out, name, NULL, v);
}

static void counter(struct evbuffer *out, const char *name, const char *help, uint64_t v)
{
    metrics_family(out, name, "counter", help);
    metrics_sample_u64(out, name, NULL, v);
}

static void render_metrics(struct evbuffer *out, void *arg)
{
    struct aggregator *ag = arg;
    const struct view *v = &ag->view;
    gauge(out, "starling_torrents", "Swarms with at least one live peer.", v->torrents);
    gauge(out, "starling_seeders", "Live seeders.", v->seeders);
    gauge(out, "starling_leechers", "Live leechers.", v->leechers);
    metrics_family(out, "starling_peers", "gauge",
                   "Live peers with an address of the family (dual-stacked count in both).");
    metrics_sample_u64(out, "starling_peers", "family=\"ipv4\"", v->peers_v4);
    metrics_sample_u64(out, "starling_peers", "family=\"ipv6\"", v->peers_v6);
    gauge(out, "starling_completed", "Completed downloads recorded in the swarms Redis holds.",
          v->completed);
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
    gauge(out, "starling_frontends", "Frontends that reported in the last minute.",
          v->frontends);
    gauge(out, "starling_aggregator_leader", "1 on the replica holding the leader lock.",
          ag->leader ? 1 : 0);
    /* Which replica this is, as the lock and starling:stats name it. */
    char id[sizeof(ag->id)], labels[sizeof(ag->id) + 16];
    snprintf(id, sizeof(id), "%s", ag->id);
    for (char *p = id; *p != '\0'; p++)
        if (*p == '"' || *p == '\\' || *p == '\n')
            *p = '_';
    snprintf(labels, sizeof(labels), "instance=\"%s\"", id);
    metrics_family(out, "starling_aggregator_info", "gauge",
                   "This replica's id (the lock's value when it leads); always 1.");
    metrics_sample_u64(out, "starling_aggregator_info", labels, 1);
    counter(out, "starling_aggregator_passes_total", "Passes this replica completed.",
            ag->passes);
    metrics_family(out, "starling_aggregator_pass_duration_seconds", "gauge",
                   "Duration of the latest pass.");
    metrics_sample(out, "starling_aggregator_pass_duration_seconds", NULL,
                   (double)v->pass_duration_ms / 1000.0);
    metrics_family(out, "starling_aggregator_pass_max_call_seconds", "gauge",
                   "The longest single Redis call of the latest pass.");
    metrics_sample(out, "starling_aggregator_pass_max_call_seconds", NULL,
                   (double)v->pass_max_call_ms / 1000.0);
    metrics_family(out, "starling_aggregator_last_pass_timestamp_seconds", "gauge",
                   "When the latest pass finished (Unix time).");
    metrics_sample(out, "starling_aggregator_last_pass_timestamp_seconds", NULL,
                   (double)v->pass_finished_ms / 1000.0);
    counter(out, "starling_aggregator_peers_expired_total",
            "Expired peers this replica's passes removed.", ag->peers_expired);
    counter(out, "starling_aggregator_swarms_deleted_total",
            "Empty swarms this replica's passes deleted.", ag->swarms_deleted);
}

static bool is_ready(void *arg)
{
    struct aggregator *ag = arg;
    if (!connected(ag))
        return false;
    /* A cheap PING tells whether the connection still works (the pass may be idle). */
    if (ag->in_pass)
        return true;
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    redisReply *r = sync_command(&ag->nodes[0].sc, 1, argv, lens);
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    if (r != NULL)
        freeReplyObject(r);
    if (!connected(ag))
        lose_leadership(ag, "redis connection lost");
    return ok;
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
    if (!connected(ag))
        lose_leadership(ag, "redis connection lost");
    end_pass(ag);
}

/* Renews the lock when a third of its TTL has passed. Returns false when it is lost. */
static bool keep_lock(struct aggregator *ag)
{
    uint64_t now = clock_wall_ms();
    if (now - ag->last_renew_ms < ag->cfg->aggregator.lock_ttl_ms / 3)
        return true;
    int r = leader_renew(route(ag, LEADER_LOCK_KEY), ag->id, ag->cfg->aggregator.lock_ttl_ms);
    if (r == 1) {
        ag->last_renew_ms = now;
        return true;
    }
    lose_leadership(ag, r == 0 ? "the lock is another replica's" : "redis error renewing");
    return false;
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
    if (!keep_lock(ag)) {
        abort_pass(ag, "leadership lost");
        return;
    }
    uint64_t t0 = clock_monotonic_us();
    int r = aggregate_step(&ag->pass, &ag->nodes[ag->pass_node].sc, err);
    if (r < 0) {
        abort_pass(ag, err);
        return;
    }
    if (r > 0) {
        /* Pace the pass: rest as long as the batch took, so a pass never holds Redis for
         * more than half of its time and announces keep their latency (aggbench). */
        uint64_t took = clock_monotonic_us() - t0;
        struct timeval rest = clock_us_to_tv(took);
        evtimer_add(ag->step_ev, &rest);
        return;
    }
    if (++ag->pass_node < ag->nnodes) {
        /* This master is done; the next one (Redis Cluster: SCAN walks one node). */
        aggregate_next_node(&ag->pass);
        event_active(ag->step_ev, EV_TIMEOUT, 0);
        return;
    }
    if (!keep_lock(ag)) {
        abort_pass(ag, "leadership lost");
        return;
    }
    struct pass_info info = {.leader = ag->id,
                             .started_ms = ag->pass_started_ms,
                             .finished_ms = clock_wall_ms(),
                             .passes = ag->passes + 1};
    if (aggregate_publish(&ag->pass, route, ag, &info, err) < 0) {
        abort_pass(ag, err);
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
    refresh_view(ag);
    end_pass(ag);
}

static void start_pass(struct aggregator *ag)
{
    char err[STARLING_ERR_LEN];
    for (size_t i = 0; i < ag->nnodes; i++) {
        if (sync_load_scripts(&ag->nodes[i].sc, err) < 0) {
            log_warn("%s", err);
            lose_leadership(ag, "redis connection lost");
            return;
        }
    }
    ag->in_pass = true;
    ag->pass_node = 0;
    ag->pass_started_ms = clock_wall_ms();
    aggregate_begin(&ag->pass, ag->pass_started_ms, ag->cfg->purge_inactive_torrents,
                    ag->cfg->aggregator.scan_count);
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
    int r = leader_acquire(route(ag, LEADER_LOCK_KEY), ag->id, ag->cfg->aggregator.lock_ttl_ms);
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

/* Between passes the lock must not lapse either. */
static void on_renew(evutil_socket_t fd, short what, void *arg)
{
    struct aggregator *ag = arg;
    (void)fd, (void)what;
    if (ag->leader && !ag->in_pass)
        keep_lock(ag);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct aggregator *ag = arg;
    (void)what;
    log_info("signal %d: stopping", (int)sig);
    ag->stopping = true;
    if (!ag->in_pass)
        event_base_loopexit(ag->base, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what, (void)arg;
    log_reopen();
    log_info("SIGHUP: log file reopened");
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: starling-aggregator [--config PATH] [--once] [--check-config] [--help]\n"
            "                           [--version]\n"
            "\n"
            "  --config PATH    JSON config file (default: $STARLING_CONFIG, else built-in\n"
            "                   defaults); STARLING_* environment variables override it\n"
            "  --once           run one pass (if this replica can lead) and exit\n"
            "  --check-config   validate the configuration and exit (0 when good)\n"
            "  --help           this text\n"
            "  --version        print the version\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"once", no_argument, NULL, 'o'},
        {"check-config", no_argument, NULL, 'k'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},      {NULL, 0, NULL, 0},
    };
    const char *config_path = config_path_from_env();
    bool check_only = false, once = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:hv", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'o':
            once = true;
            break;
        case 'k':
            check_only = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'v':
            printf("starling-aggregator %s\n", STARLING_VERSION);
            return 0;
        default:
            usage(stderr);
            return EXIT_CONFIG;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "starling-aggregator: unexpected argument \"%s\"\n", argv[optind]);
        return EXIT_CONFIG;
    }
    static struct config cfg;
    char err[STARLING_ERR_LEN];
    if (config_load(config_path, &cfg, err) < 0) {
        fprintf(stderr, "starling-aggregator: config: %s\n", err);
        return EXIT_CONFIG;
    }
    if (check_only) {
        printf("starling-aggregator: config ok\n");
        return 0;
    }
    enum log_level level = LOG_INFO;
    log_level_parse(cfg.log_level, &level);
    log_set_level(level);
    if (log_open_file(cfg.log_file) < 0) {
        fprintf(stderr, "starling-aggregator: log_file \"%s\": cannot open\n", cfg.log_file);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    static struct aggregator ag;
    ag.cfg = &cfg;
    ag.once = once;
    ag.base = event_base_new();
    if (ag.base == NULL)
        return 1;
    char host[64] = "unknown";
    gethostname(host, sizeof(host) - 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(ag.id, sizeof(ag.id), "%s:%ld:%04lx", host, (long)getpid(),
             (unsigned long)(ts.tv_nsec & 0xffff));

    if (!once && cfg.aggregator.metrics_listen_addr[0] != '\0') {
        ag.admin = admin_server_new(ag.base, cfg.aggregator.metrics_listen_addr, render_metrics,
                                    is_ready, &ag, err);
        if (ag.admin == NULL) {
            log_error("%s", err);
            return 1;
        }
    }
    ag.step_ev = event_new(ag.base, -1, 0, on_step, &ag);
    ag.tick_timer = event_new(ag.base, -1, EV_PERSIST, on_tick, &ag);
    ag.renew_timer = event_new(ag.base, -1, EV_PERSIST, on_renew, &ag);
    struct event *sigint = evsignal_new(ag.base, SIGINT, on_stop_signal, &ag);
    struct event *sigterm = evsignal_new(ag.base, SIGTERM, on_stop_signal, &ag);
    struct event *sighup = evsignal_new(ag.base, SIGHUP, on_hup, &ag);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);
    evsignal_add(sighup, NULL);
    struct timeval interval = clock_ms_to_tv(cfg.aggregator.interval_ms);
    struct timeval renew = clock_ms_to_tv(cfg.aggregator.lock_ttl_ms / 3);
    evtimer_add(ag.tick_timer, &interval);
    evtimer_add(ag.renew_timer, &renew);
    log_info("starling-aggregator %s started as %s; a pass every %llu ms", STARLING_VERSION,
             ag.id, (unsigned long long)cfg.aggregator.interval_ms);
    on_tick(-1, 0, &ag); /* the first pass now, not an interval from now */

    event_base_dispatch(ag.base);

    if (ag.in_pass)
        aggregate_end(&ag.pass);
    if (ag.leader && connected(&ag)) {
        leader_release(route(&ag, LEADER_LOCK_KEY), ag.id);
        log_info("leader: released");
    }
    disconnect_all(&ag);
    admin_server_free(ag.admin);
    event_free(ag.step_ev);
    event_free(ag.tick_timer);
    event_free(ag.renew_timer);
    event_free(sigint);
    event_free(sigterm);
    event_free(sighup);
    event_base_free(ag.base);
    log_info("stopped");
    log_open_file(NULL);
    return 0;
}
