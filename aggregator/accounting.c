/* Private mode's accounting in the aggregator (aggregator/accounting.h). */
#include "aggregator/accounting.h"

#include "aggregator/flush_thread.h"
#include "aggregator/site_notify.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "storage/acct.h"
#include "storage/aggregate.h"
#include "storage/cluster.h"
#include "storage/gazelle_db.h"

struct accounting {
    const struct config *cfg;
    struct cluster *cluster;
    bool (*leads)(void *arg);
    void *arg;
    struct acct_driver driver;
    struct gazelle_db *db; /* driver "mysql" */
    struct acct_stats stats;
    uint64_t last_cycle_ok_ms; /* the latest cycle that delivered all it drained */
    uint64_t last_reload_ms;
    struct event *cycle_timer, *reload_timer, *usr1;
    /* driver "mysql": flushes run on a thread (aggregator/flush_thread.h); while one runs
     * its cycle waits here, the connection is the thread's, and /metrics shows the
     * driver's figures as they were when it started. */
    struct flush_thread *flusher;
    struct acct_cycle *inflight;
    struct gazelle_db_stats shown;
    const char *reload_wanted;        /* a reload asked for during a flush: after it */
    char drain_err[STARLING_ERR_LEN]; /* why a slot of the flush's cycle was not drained */
    /* driver "mysql": the swarms whose torrents got counts above zero last time, sorted. */
    uint8_t (*counted)[INFO_HASH_LEN];
    size_t ncounted;
};

/* Most used tokens reported per reload (the rest at the next). */
#define TOKENS_REPORTED_MAX 1000
/* One call to the site, whole: connecting, sending, its status line. */
#define SITE_CALL_TIMEOUT_MS 5000

/* Tokens used up, reported to the site (site_url) as Ocelot does; the site expires them,
 * and one it did not is found and reported again at the next reload. */
static void report_used_tokens(struct accounting *a)
{
    if (a->cfg->site_url[0] == '\0')
        return;
    static struct log_limit lines;
    char err[STARLING_ERR_LEN];
    struct gazelle_token *t = xreallocarray(NULL, TOKENS_REPORTED_MAX, sizeof(*t));
    long n = gazelle_db_used_tokens(a->db, t, TOKENS_REPORTED_MAX, err);
    if (n < 0)
        log_limited(&lines, LOG_WARN, "used tokens not read: %s", err);
    for (long at = 0; at < n; at += SITE_NOTIFY_TOKENS) {
        size_t k = (size_t)(n - at) < SITE_NOTIFY_TOKENS ? (size_t)(n - at) : SITE_NOTIFY_TOKENS;
        struct gazelle_db_stats *st = gazelle_db_stats_mut(a->db);
        if (site_notify_expired_tokens(a->cfg->site_url, a->cfg->site_password, t + at, k,
                                       SITE_CALL_TIMEOUT_MS, err) < 0) {
            st->token_report_failures++;
            log_limited(&lines, LOG_WARN, "used tokens not reported: %s (next reload)", err);
            break;
        }
        st->tokens_reported += k;
    }
    free(t);
}

/* driver "mysql": the site's tables into the shared ones. */
static void reload(struct accounting *a, const char *why)
{
    if (a->db == NULL || !a->leads(a->arg) || cluster_size(a->cluster) == 0)
        return;
    if (flush_thread_busy(a->flusher)) {
        a->reload_wanted = why;
        return;
    }
    char err[STARLING_ERR_LEN];
    uint64_t before = gazelle_db_stats(a->db)->reload_changes;
    if (gazelle_db_reload(a->db, a->cluster, err) < 0) {
        static struct log_limit lines;
        log_limited(&lines, LOG_WARN, "mysql reload (%s): %s (again in %llu ms)", why, err,
                    (unsigned long long)a->cfg->mysql.reload_interval_ms);
        return;
    }
    a->last_reload_ms = clock_wall_ms();
    report_used_tokens(a);
    uint64_t changes = gazelle_db_stats(a->db)->reload_changes - before;
    if (changes > 0)
        log_info("mysql reload (%s): %llu table entries changed", why, (unsigned long long)changes);
}

/* A cycle's end (rc of acct_cycle() or acct_settle()). */
static void cycle_done(struct accounting *a, int rc, const char *err)
{
    if (rc < 0) {
        static struct log_limit lines;
        log_limited(&lines, LOG_WARN, "accounting: %s (taken again next cycle)", err);
        if (cluster_is_cluster(a->cluster))
            cluster_want_refresh(a->cluster);
        return;
    }
    a->last_cycle_ok_ms = clock_wall_ms();
}

static void on_cycle(evutil_socket_t fd, short what, void *arg)
{
    struct accounting *a = arg;
    (void)fd, (void)what;
    if (!a->leads(a->arg) || cluster_size(a->cluster) == 0 || flush_thread_busy(a->flusher))
        return;
    /* The site's tables first, as soon as this replica leads (and until a load succeeds):
     * announces need them before there is anything to account. */
    if (a->db != NULL && a->last_reload_ms == 0)
        reload(a, "start");
    char err[STARLING_ERR_LEN] = "";
    if (a->flusher == NULL) {
        cycle_done(a, acct_cycle(a->cluster, &a->driver, &a->stats, err), err);
        return;
    }
    /* Drained here, delivered on the flush thread, settled in on_flushed(). */
    a->inflight = acct_drain(a->cluster, a->driver.max_entries, &a->stats, err);
    snprintf(a->drain_err, sizeof(a->drain_err), "%s", err);
    size_t n;
    const struct acct_batch *b = acct_cycle_batches(a->inflight, &n);
    a->shown = *gazelle_db_stats(a->db);
    if (n == 0 || !flush_thread_start(a->flusher, &a->driver, b, n)) {
        if (n > 0)
            snprintf(err, sizeof(err), "the flush thread could not start");
        bool delivered = n == 0;
        struct acct_cycle *c = a->inflight;
        a->inflight = NULL;
        cycle_done(a, acct_settle(a->cluster, c, delivered, &a->stats, err), err);
    }
}

/* The flush thread's end: the cycle's batches deleted if delivered, then what waited. */
static void on_flushed(void *arg, int rc, const char *flush_err)
{
    struct accounting *a = arg;
    char err[STARLING_ERR_LEN];
    snprintf(err, sizeof(err), "%s", rc < 0 ? flush_err : a->drain_err);
    struct acct_cycle *c = a->inflight;
    a->inflight = NULL;
    cycle_done(a, acct_settle(a->cluster, c, rc == 0, &a->stats, err), err);
    if (a->reload_wanted != NULL) {
        const char *why = a->reload_wanted;
        a->reload_wanted = NULL;
        reload(a, why);
    }
}

static void on_reload(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    reload(arg, "interval");
}

static void on_usr1(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    reload(arg, "SIGUSR1");
}

struct accounting *accounting_new(struct event_base *base, const struct config *cfg,
                                  struct cluster *cl, bool (*leads)(void *arg), void *arg)
{
    struct accounting *a = xcalloc(1, sizeof(*a));
    *a = (struct accounting){.cfg = cfg, .cluster = cl, .leads = leads, .arg = arg};
    a->last_cycle_ok_ms = clock_wall_ms();
    uint64_t every_ms = cfg->aggregator.accounting_interval_ms;
    switch (cfg->driver) {
    case DRIVER_MYSQL:
        a->db = gazelle_db_new(&cfg->mysql);
        a->driver = gazelle_db_driver(a->db);
        a->flusher = flush_thread_new(base, on_flushed, a);
        if (a->flusher == NULL)
            log_warn("mysql: no flush thread (eventfd failed): flushes block the loop");
        every_ms = cfg->mysql.flush_interval_ms;
        break;
    case DRIVER_REDIS_STREAM:
        a->driver = acct_driver_redis_stream;
        break;
    default:
        log_warn("private mode with driver noop: accounting is drained and discarded");
        a->driver = acct_driver_noop;
    }
    a->cycle_timer = xcheck(event_new(base, -1, EV_PERSIST, on_cycle, a));
    struct timeval every = clock_ms_to_tv(every_ms);
    evtimer_add(a->cycle_timer, &every);
    if (a->db != NULL) {
        a->reload_timer = xcheck(event_new(base, -1, EV_PERSIST, on_reload, a));
        struct timeval reload_every = clock_ms_to_tv(cfg->mysql.reload_interval_ms);
        evtimer_add(a->reload_timer, &reload_every);
        a->usr1 = xcheck(evsignal_new(base, SIGUSR1, on_usr1, a));
        evsignal_add(a->usr1, NULL);
    }
    return a;
}

void accounting_free(struct accounting *a)
{
    if (a == NULL)
        return;
    /* A flush under way ends first (bounded by mysql.command_timeout per statement), and
     * its batches are settled while Redis is still there. */
    flush_thread_free(a->flusher);
    struct event *events[] = {a->cycle_timer, a->reload_timer, a->usr1};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (events[i] != NULL)
            event_free(events[i]);
    gazelle_db_free(a->db);
    free(a->counted);
    free(a);
}

void accounting_pass_published(struct accounting *a, const struct fullscrape_entry *entries,
                               size_t n)
{
    if (a == NULL || a->db == NULL)
        return;
    if (flush_thread_busy(a->flusher))
        return; /* the connection is the flush's: the next pass writes the counts */
    /* The pass's counts, and zeros for the swarms counted last time and gone since (both
     * lists sorted by info_hash: one merge). */
    struct gazelle_count *c = xreallocarray(NULL, n + a->ncounted + 1, sizeof(*c));
    uint8_t(*now)[INFO_HASH_LEN] = xreallocarray(NULL, n + 1, INFO_HASH_LEN);
    size_t nc = 0, nnow = 0, j = 0;
    for (size_t i = 0; i < n; i++) {
        const struct fullscrape_entry *e = &entries[i];
        for (; j < a->ncounted && memcmp(a->counted[j], e->info_hash, INFO_HASH_LEN) < 0; j++) {
            memcpy(c[nc].info_hash, a->counted[j], INFO_HASH_LEN);
            c[nc].seeders = c[nc].leechers = 0, nc++;
        }
        if (j < a->ncounted && memcmp(a->counted[j], e->info_hash, INFO_HASH_LEN) == 0)
            j++;
        memcpy(c[nc].info_hash, e->info_hash, INFO_HASH_LEN);
        c[nc].seeders = e->complete, c[nc].leechers = e->incomplete, nc++;
        if (e->complete + e->incomplete > 0)
            memcpy(now[nnow++], e->info_hash, INFO_HASH_LEN);
    }
    for (; j < a->ncounted; j++) {
        memcpy(c[nc].info_hash, a->counted[j], INFO_HASH_LEN);
        c[nc].seeders = c[nc].leechers = 0, nc++;
    }
    char err[STARLING_ERR_LEN];
    if (gazelle_db_write_counts(a->db, c, nc, err) < 0) {
        static struct log_limit lines;
        log_limited(&lines, LOG_WARN, "mysql: torrents' peer counts not written: %s (next pass)",
                    err);
        free(now); /* the last written stay the ones to zero */
    } else {
        free(a->counted);
        a->counted = now;
        a->ncounted = nnow;
    }
    free(c);
}

void accounting_render_metrics(const struct accounting *a, struct evbuffer *out)
{
    static const struct acct_stats none; /* public mode: zeros, the same families */
    const struct acct_stats *st = a != NULL ? &a->stats : &none;
    metrics_counter(out, "starling_aggregator_accounting_batches_total",
                    "Private mode: slots' accounting batches handed to the driver.", st->batches);
    metrics_counter(out, "starling_aggregator_accounting_entries_total",
                    "Private mode: peer entries in those batches.", st->entries);
    metrics_counter(out, "starling_aggregator_accounting_dropped_total",
                    "Private mode: announces whose deltas a full pending hash refused "
                    "(ACCT_PENDING_MAX per slot, while no aggregator drained it).",
                    st->dropped);
    metrics_counter(out, "starling_aggregator_accounting_failures_total",
                    "Private mode: accounting cycles in which some slot or the driver failed "
                    "(taken again).",
                    st->failures);
    bool leading = a != NULL && a->leads(a->arg);
    metrics_gauge_double(out, "starling_aggregator_accounting_lag_seconds",
                         "Private mode, on the leader: seconds since the latest accounting cycle "
                         "that delivered everything it drained (0 elsewhere).",
                         leading ? (double)(clock_wall_ms() - a->last_cycle_ok_ms) / 1000.0 : 0.0);
    if (a == NULL || a->db == NULL)
        return;
    const struct gazelle_db_stats *d =
        flush_thread_busy(a->flusher) ? &a->shown : gazelle_db_stats(a->db);
    metrics_counter(out, "starling_aggregator_mysql_flushes_total",
                    "driver mysql: flushes that committed every table.", d->flushes);
    metrics_gauge_double(out, "starling_aggregator_mysql_flush_seconds",
                         "driver mysql: how long the latest complete flush took.",
                         (double)d->last_flush_us / 1e6);
    metrics_gauge_double(out, "starling_aggregator_mysql_flush_max_seconds",
                         "driver mysql: the longest complete flush of this replica.",
                         (double)d->max_flush_us / 1e6);
    metrics_counter(
        out, "starling_aggregator_mysql_flush_failures_total",
        "driver mysql: flushes that failed (handed again whole; committed tables skip).",
        d->flush_failures);
    metrics_family(out, "starling_aggregator_mysql_rows_total", "counter",
                   "driver mysql: rows the flushes' statements carried, by table.");
    for (enum gazelle_table t = 0; t < GAZELLE_TABLE_COUNT; t++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "table=\"%s\"", gazelle_table_name(t));
        metrics_sample_u64(out, "starling_aggregator_mysql_rows_total", labels, d->rows[t]);
    }
    metrics_counter(out, "starling_aggregator_mysql_batches_skipped_total",
                    "driver mysql: table batches found applied before (exactly once at work).",
                    d->batches_skipped);
    metrics_counter(out, "starling_aggregator_mysql_count_writes_total",
                    "driver mysql: passes whose torrents' Seeders and Leechers were written.",
                    d->count_writes);
    metrics_counter(
        out, "starling_aggregator_mysql_count_write_failures_total",
        "driver mysql: passes whose torrents' Seeders and Leechers could not be written.",
        d->count_write_failures);
    metrics_counter(out, "starling_aggregator_mysql_tokens_reported_total",
                    "driver mysql: used-up freeleech tokens reported to the site (site_url).",
                    d->tokens_reported);
    metrics_counter(out, "starling_aggregator_mysql_token_report_failures_total",
                    "driver mysql: calls to the site that failed (reported again next reload).",
                    d->token_report_failures);
    metrics_counter(out, "starling_aggregator_mysql_reloads_total",
                    "driver mysql: loads of the site's users, torrents, tokens and whitelist.",
                    d->reloads);
    metrics_counter(out, "starling_aggregator_mysql_reload_failures_total",
                    "driver mysql: loads that failed (again at the next interval).",
                    d->reload_failures);
    metrics_counter(out, "starling_aggregator_mysql_reload_changes_total",
                    "driver mysql: shared-table entries the loads added, changed or removed.",
                    d->reload_changes);
}
