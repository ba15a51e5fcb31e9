/*
 * The aggregator's pass, published: the totals added up from what the walk over the swarms
 * (storage/pass.c) met, the frontends' counters, the full-scrape snapshot and the pass
 * history, written in one call that checks the leader lock; and read back for /metrics.
 */
#include "storage/aggregate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/numtext.h"
#include "common/text.h"
#include "storage/cluster.h"
#include "storage/counters.h"
#include "storage/keys.h"

#define FRONTEND_ALIVE_MS 60000

/* The error of a reply (storage/sync.h), by the name read_counters() knows it. */
static const char *reply_error(const redisReply *r, struct sync_conn *sc)
{
    return sync_reply_error(r, sc);
}

/* ---- publishing ---- */

/* By info_hash, then in the order the pass met them. */
static int entry_cmp(const void *a, const void *b)
{
    const struct fullscrape_entry *x = a, *y = b;
    int by_hash = memcmp(x->info_hash, y->info_hash, INFO_HASH_LEN);
    return by_hash != 0 ? by_hash : (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * Sorts the entries (as bencode wants), keeps the last one met of each swarm, and adds up
 * the totals from them. A pass can meet a swarm twice: SCAN may return a key twice, a
 * failed batch is scanned again, and on a cluster a swarm can move to a master the pass
 * walks later, or a failed-over master's replica is walked as a new one.
 */
static void finish_totals(struct aggregate_pass *p)
{
    if (p->nentries > 0) /* entries is NULL then, and qsort() wants a valid pointer */
        qsort(p->entries, p->nentries, sizeof(*p->entries), entry_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < p->nentries; i++) {
        if (kept > 0 &&
            memcmp(p->entries[kept - 1].info_hash, p->entries[i].info_hash, INFO_HASH_LEN) == 0)
            kept--; /* a later sight of the same swarm replaces the earlier one */
        p->entries[kept++] = p->entries[i];
    }
    p->nentries = kept;
    struct aggregate_totals *t = &p->totals;
    t->torrents = t->seeders = t->leechers = t->completed = t->peers_v4 = t->peers_v6 = 0;
    for (size_t i = 0; i < p->nentries; i++) {
        const struct fullscrape_entry *e = &p->entries[i];
        t->seeders += e->complete;
        t->leechers += e->incomplete;
        t->completed += e->downloaded;
        t->peers_v4 += e->v4;
        t->peers_v6 += e->v6;
        t->torrents += e->complete + e->incomplete > 0;
    }
    if (!p->count_users || p->users_merged) /* a publish tried again: done already */
        return;
    /* Each user's live peers: the tallies of the kept sight of every swarm, added up. */
    struct user_tallies kept_users = {0};
    for (size_t i = 0; i < p->nentries; i++) {
        const struct fullscrape_entry *e = &p->entries[i];
        if (e->users_n > 0)
            user_tallies_add(&kept_users, p->users.v + e->users_off, e->users_n);
    }
    user_tallies_free(&p->users);
    p->users = kept_users;
    user_tallies_merge(&p->users);
    p->users_merged = true;
}

/* The bencoded `files` dictionary of the entries (sorted, as bencode wants). malloc'd. */
static char *fullscrape_encode(const struct aggregate_pass *p, size_t *out_len)
{
    /* per entry: "20:" + 20 + "d8:complete" "i<20>e" "10:downloaded" "i<20>e"
     * "10:incomplete" "i<20>e" "e" */
    size_t cap = 2 + p->nentries * (3 + 20 + 1 + 11 + 22 + 13 + 22 + 13 + 22 + 1);
    char *buf = xmalloc(cap);
    char *w = buf;
    *w++ = 'd';
    for (size_t i = 0; i < p->nentries; i++) {
        const struct fullscrape_entry *e = &p->entries[i];
        w = put_str(w, "20:");
        memcpy(w, e->info_hash, INFO_HASH_LEN), w += INFO_HASH_LEN;
        w = put_str(w, "d8:completei");
        w = put_uint(w, e->complete);
        w = put_str(w, "e10:downloadedi");
        w = put_uint(w, e->downloaded);
        w = put_str(w, "e10:incompletei");
        w = put_uint(w, e->incomplete);
        w = put_str(w, "ee");
    }
    *w++ = 'e';
    *out_len = (size_t)(w - buf);
    return buf;
}

/* Most entries {starling}:aggregator:passes keeps. */
#define PASSES_KEPT 100

/*
 * Publishes the pass in one call of lua/publish.lua, which checks that the lock is still
 * ours and then writes the stats hash (the field, value pairs at argv[2..argc), as
 * write_stats() built them for HSET {starling}:stats), the full-scrape snapshot and the
 * history entry, and in private mode puts the users' live peers (written to users_next)
 * in place. Returns 0, AGGREGATE_NOT_LEADER (nothing written), or -1 with err.
 */
static int publish_stats(const struct aggregate_pass *p, struct sync_conn *sc,
                         const struct pass_info *info, const char *users_next, int argc,
                         const char *const *argv, const size_t *lens, char *err)
{
    enum { NKEYS = 6, NHEAD = NKEYS + 4 };
    int nkeys = p->count_users ? NKEYS : NKEYS - 2;
    size_t blob_len = 0;
    char *blob = fullscrape_encode(p, &blob_len);
    char record[256], keep[21];
    int n = snprintf(record, sizeof(record), "%s %llu %llu", info->leader,
                     (unsigned long long)info->started_ms, (unsigned long long)info->finished_ms);
    size_t nargs = NHEAD + (size_t)(argc - 2);
    const char **args = xreallocarray(NULL, nargs, sizeof(*args));
    size_t *arg_lens = xreallocarray(NULL, nargs, sizeof(*arg_lens));
    const char *head[NHEAD] = {
        LEADER_LOCK_KEY, STATS_KEY,    FULLSCRAPE_KEY, PASSES_KEY, users_next,
        LIVE_USERS_KEY,  info->leader, blob,           record,     keep};
    size_t head_lens[NHEAD] = {strlen(LEADER_LOCK_KEY),
                               strlen(STATS_KEY),
                               strlen(FULLSCRAPE_KEY),
                               strlen(PASSES_KEY),
                               strlen(users_next),
                               strlen(LIVE_USERS_KEY),
                               strlen(info->leader),
                               blob_len,
                               n > 0 && (size_t)n < sizeof(record) ? (size_t)n : 0,
                               (size_t)(put_uint(keep, PASSES_KEPT) - keep)};
    /* Without the users' keys, the arguments follow the first four keys. */
    size_t skip = (size_t)(NKEYS - nkeys), nhead = NHEAD - skip;
    nargs -= skip;
    memcpy(args, head, 4 * sizeof(*args));
    memcpy(arg_lens, head_lens, 4 * sizeof(*arg_lens));
    memcpy(args + 4, head + 4 + skip, (nhead - 4) * sizeof(*args));
    memcpy(arg_lens + 4, head_lens + 4 + skip, (nhead - 4) * sizeof(*arg_lens));
    memcpy(args + nhead, argv + 2, (size_t)(argc - 2) * sizeof(*args));
    memcpy(arg_lens + nhead, lens + 2, (size_t)(argc - 2) * sizeof(*arg_lens));
    redisReply *r = sync_eval(sc, &lua_publish, nkeys, (int)nargs, args, arg_lens);
    int rc = 0;
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        snprintf(err, STARLING_ERR_LEN, "publish.lua: %s", reply_error(r, sc));
        rc = -1;
    } else if (r->integer != 1) {
        snprintf(err, STARLING_ERR_LEN, "not published: the lock is another replica's");
        rc = AGGREGATE_NOT_LEADER;
    }
    if (r != NULL)
        freeReplyObject(r);
    free(args);
    free(arg_lens);
    free(blob);
    return rc;
}

/*
 * The frontends' request totals (the HGETALL reply, for the caller to free), and in
 * p->totals how many frontends reported within FRONTEND_ALIVE_MS. NULL with err on failure.
 */
static redisReply *read_counters(struct aggregate_pass *p, struct sync_conn *sc, uint64_t now_ms,
                                 char *err)
{
    char cutoff[22];
    cutoff[0] = '(';
    size_t cutoff_len = (size_t)(put_uint(cutoff + 1, now_ms - FRONTEND_ALIVE_MS) - cutoff);
    const char *zc[] = {"ZCOUNT", COUNTERS_FRONTENDS_KEY, cutoff, "+inf"};
    size_t zc_lens[] = {6, strlen(COUNTERS_FRONTENDS_KEY), cutoff_len, 4};
    redisReply *frontends = sync_command(sc, 4, zc, zc_lens);
    const char *hg[] = {"HGETALL", COUNTERS_REQUESTS_KEY};
    size_t hg_lens[] = {7, strlen(COUNTERS_REQUESTS_KEY)};
    redisReply *requests = frontends != NULL ? sync_command(sc, 2, hg, hg_lens) : NULL;
    if (frontends == NULL || frontends->type != REDIS_REPLY_INTEGER || requests == NULL ||
        requests->type != REDIS_REPLY_ARRAY) {
        snprintf(err, STARLING_ERR_LEN, "reading the frontends' counters: %s",
                 reply_error(requests != NULL ? requests : frontends, sc));
        if (requests != NULL)
            freeReplyObject(requests);
        requests = NULL;
    } else {
        p->totals.frontends = (uint64_t)frontends->integer;
    }
    if (frontends != NULL)
        freeReplyObject(frontends);
    return requests;
}

/* HSET {starling}:stats with every field, the frontends' totals (requests) among them. */
static int write_stats(const struct aggregate_pass *p, struct sync_conn *sc,
                       const struct pass_info *info, const char *users_next,
                       const redisReply *requests, char *err)
{
    uint64_t values[STATS_NFIELDS] = {
        [STATS_TORRENTS] = p->totals.torrents,
        [STATS_SEEDERS] = p->totals.seeders,
        [STATS_LEECHERS] = p->totals.leechers,
        [STATS_PEERS_IPV4] = p->totals.peers_v4,
        [STATS_PEERS_IPV6] = p->totals.peers_v6,
        [STATS_COMPLETED] = p->totals.completed,
        [STATS_FRONTENDS] = p->totals.frontends,
        [STATS_PEERS_EXPIRED] = p->totals.peers_expired,
        [STATS_SWARMS_DELETED] = p->totals.swarms_deleted,
        [STATS_PASS_STARTED_MS] = info->started_ms,
        [STATS_PASS_FINISHED_MS] = info->finished_ms,
        [STATS_PASS_DURATION_MS] = info->finished_ms - info->started_ms,
        [STATS_PASS_MAX_CALL_MS] = p->totals.max_call_us / 1000,
        [STATS_PASSES] = info->passes,
    };
    const char *argv[2 + 2 * (STATS_NFIELDS + 1 + PUBLISHED_REQUEST_FIELDS)];
    size_t lens[2 + 2 * (STATS_NFIELDS + 1 + PUBLISHED_REQUEST_FIELDS)];
    char numbers[STATS_NFIELDS][21]; /* numbers as text in one buffer */
    char names[PUBLISHED_REQUEST_FIELDS][64];
    int argc = 0;
    argv[argc] = "HSET", lens[argc++] = 4;
    argv[argc] = STATS_KEY, lens[argc++] = strlen(STATS_KEY);
    for (size_t i = 0; i < STATS_NFIELDS; i++) {
        argv[argc] = stats_field_names[i], lens[argc++] = strlen(stats_field_names[i]);
        argv[argc] = numbers[i];
        lens[argc++] = (size_t)(put_uint(numbers[i], values[i]) - numbers[i]);
    }
    argv[argc] = STATS_LEADER_FIELD, lens[argc++] = strlen(STATS_LEADER_FIELD);
    argv[argc] = info->leader, lens[argc++] = strlen(info->leader);
    for (size_t i = 0; i + 1 < requests->elements && i / 2 < PUBLISHED_REQUEST_FIELDS; i += 2) {
        const redisReply *f = requests->element[i], *v = requests->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        int n = snprintf(names[i / 2], sizeof(names[i / 2]), STATS_REQUESTS_PREFIX "%.*s",
                         (int)f->len, f->str);
        argv[argc] = names[i / 2], lens[argc++] = (size_t)n < sizeof(names[0]) ? (size_t)n : 63;
        argv[argc] = v->str, lens[argc++] = v->len;
    }
    return publish_stats(p, sc, info, users_next, argc, argv, lens, err);
}

int aggregate_publish(struct aggregate_pass *p, struct cluster *cl, const struct pass_info *info,
                      char *err)
{
    finish_totals(p);
    redisReply *requests =
        read_counters(p, cluster_route(cl, COUNTERS_REQUESTS_KEY), info->finished_ms, err);
    if (requests == NULL)
        return -1;
    /* Private mode: the users' live peers go to a key of this writer's first. */
    char users_next[sizeof(LIVE_USERS_NEXT_PREFIX) + 128];
    snprintf(users_next, sizeof(users_next), LIVE_USERS_NEXT_PREFIX "%s", info->leader);
    struct sync_conn *sc = cluster_route(cl, STATS_KEY);
    int rc = p->count_users ? live_users_write(&p->users, sc, users_next, err) : 0;
    if (rc == 0)
        rc = write_stats(p, sc, info, users_next, requests, err);
    freeReplyObject(requests);
    return rc;
}

/* Stores a field of {starling}:stats (name f, decimal text val) in *v when it is one we show. */
static void read_published_field(struct published_stats *v, const char *f, const char *val)
{
    const struct {
        enum stats_field field;
        uint64_t *slot;
    } shown[] = {
        {STATS_TORRENTS, &v->torrents},
        {STATS_SEEDERS, &v->seeders},
        {STATS_LEECHERS, &v->leechers},
        {STATS_PEERS_IPV4, &v->peers_v4},
        {STATS_PEERS_IPV6, &v->peers_v6},
        {STATS_COMPLETED, &v->completed},
        {STATS_FRONTENDS, &v->frontends},
        {STATS_PASS_DURATION_MS, &v->pass_duration_ms},
        {STATS_PASS_MAX_CALL_MS, &v->pass_max_call_ms},
        {STATS_PASS_FINISHED_MS, &v->pass_finished_ms},
    };
    uint64_t n = 0;
    if (decimal_parse(val, strlen(val), UINT64_MAX, &n) < 0)
        return; /* not written by a pass: nothing to show */
    for (size_t k = 0; k < sizeof(shown) / sizeof(shown[0]); k++)
        if (strcmp(f, stats_field_names[shown[k].field]) == 0)
            *shown[k].slot = n;
    /* "requests:<endpoint>:<result>" */
    size_t prefix = strlen(STATS_REQUESTS_PREFIX);
    const char *ep = strncmp(f, STATS_REQUESTS_PREFIX, prefix) == 0 ? f + prefix : NULL;
    const char *colon = ep != NULL ? strchr(ep, ':') : NULL;
    if (colon != NULL && v->nrequests < PUBLISHED_REQUEST_FIELDS) {
        snprintf(v->request_endpoint[v->nrequests], 32, "%.*s", (int)(colon - ep), ep);
        snprintf(v->request_result[v->nrequests], 32, "%s", colon + 1);
        v->request_count[v->nrequests++] = n;
    }
}

int aggregate_read_published(struct cluster *cl, struct published_stats *out)
{
    const char *argv[] = {"HGETALL", STATS_KEY};
    size_t lens[] = {7, strlen(STATS_KEY)};
    redisReply *r = sync_command(cluster_route(cl, STATS_KEY), 2, argv, lens);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    struct published_stats v = {.valid = r->elements > 0};
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str, *val = r->element[i + 1]->str;
        if (f != NULL && val != NULL)
            read_published_field(&v, f, val);
    }
    freeReplyObject(r);
    *out = v;
    return 0;
}
