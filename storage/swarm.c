/*
 * Typed announce and scrape over the Lua scripts: builds KEYS/ARGV, reads the reply.
 * Keys and members: storage/keys.h; the scripts' arguments and replies: their headers.
 */
#include "storage/swarm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/numtext.h"
#include "common/random.h"
#include "common/text.h"
#include "storage/keys.h"
#include "storage/keyslot.h"
#include "storage/live_users.h"
#include "storage/redis.h"

static const char ERR_BAD_REPLY[] = "storage error";

/* A reply no script sends: a bug or a foreign script under the same name. Logged, at most
 * a line a second; the caller is told the storage failed. */
static const char *malformed(const char *script)
{
    static struct log_limit lines;
    log_limited(&lines, LOG_WARN, "redis: malformed reply to %s", script);
    return ERR_BAD_REPLY;
}

/* Decoded peers of the reply being delivered (a fill's two windows at most). One event loop
 * per process, and the array is only used during a callback, so one static array serves
 * every call. */
#define PEER_SCRATCH (2 * (CONFIG_NUM_WANT_CEILING + 1))
static struct swarm_peer peer_scratch[PEER_SCRATCH];

/* Writes v as decimal text into out (room for 20); returns its length. */
static size_t u64_text(char *out, uint64_t v)
{
    return (size_t)(put_uint(out, v) - out);
}

/* ---- announce ---- */

static int reply_uint(const redisReply *r, uint64_t *out)
{
    if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer < 0)
        return -1;
    *out = (uint64_t)r->integer;
    return 0;
}

/* Appends the members r->element[from .. to) to out's peers (stored in peers[], at most cap
 * in all). A member of no layout is skipped; one that is no string fails: -1. */
static int decode_members(const redisReply *r, size_t from, size_t to, struct announce_reply *out,
                          struct swarm_peer *peers, size_t cap)
{
    for (size_t i = from; i < to && out->npeers < cap; i++) {
        const redisReply *m = r->element[i];
        if (m == NULL || m->type != REDIS_REPLY_STRING)
            return -1;
        struct swarm_peer *p = &peers[out->npeers];
        p->peer_id = (const uint8_t *)m->str;
        if (member_split(p->peer_id, m->len, &p->v4, &p->v6) == 0)
            out->npeers++;
    }
    return 0;
}

/* The two counts every announce reply starts with. */
static int decode_counts(const redisReply *r, size_t min_elements, struct announce_reply *out,
                         struct swarm_peer *peers)
{
    *out = (struct announce_reply){.peers = peers};
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < min_elements ||
        reply_uint(r->element[0], &out->complete) < 0 ||
        reply_uint(r->element[1], &out->incomplete) < 0)
        return -1;
    return 0;
}

int swarm_decode_announce(const redisReply *r, struct announce_reply *out, struct swarm_peer *peers,
                          size_t cap)
{
    /* No more than the script was asked for can be wanted: the rest is not read. */
    if (decode_counts(r, 2, out, peers) < 0 ||
        decode_members(r, 2, r->elements, out, peers, cap) < 0)
        return -1;
    return 0;
}

int swarm_decode_fill(const redisReply *r, struct announce_reply *out, struct swarm_peer *peers,
                      size_t cap)
{
    uint64_t hs, hl, k;
    if (decode_counts(r, 5, out, peers) < 0 || reply_uint(r->element[2], &hs) < 0 ||
        reply_uint(r->element[3], &hl) < 0 || reply_uint(r->element[4], &k) < 0 ||
        k > r->elements - 5)
        return -1;
    if (decode_members(r, 5, 5 + k, out, peers, cap) < 0)
        return -1;
    out->nseeder_peers = out->npeers;
    if (decode_members(r, 5 + k, r->elements, out, peers, cap) < 0)
        return -1;
    out->seeders_whole = k >= hs;
    out->leechers_whole = r->elements - 5 - k >= hl;
    return 0;
}

int swarm_decode_scrape(const redisReply *r, struct scrape_counts *out)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        reply_uint(r->element[0], &out->complete) < 0 ||
        reply_uint(r->element[1], &out->incomplete) < 0 ||
        reply_uint(r->element[2], &out->downloaded) < 0)
        return -1;
    return 0;
}

typedef int decode_fn(const redisReply *r, struct announce_reply *out, struct swarm_peer *peers,
                      size_t cap);

static void deliver_announce(struct redis_caller caller, redisReply *r, const char *err,
                             decode_fn *decode)
{
    swarm_announce_fn *done = (swarm_announce_fn *)caller.fn;
    struct announce_reply out;
    if (err == NULL && decode(r, &out, peer_scratch, PEER_SCRATCH) < 0)
        err = malformed("announce.lua");
    if (err != NULL)
        done(caller.arg, NULL, err);
    else
        done(caller.arg, &out, NULL);
}

static void on_announce_reply(struct redis_caller caller, redisReply *r, const char *err)
{
    deliver_announce(caller, r, err, swarm_decode_announce);
}

static void on_fill_reply(struct redis_caller caller, redisReply *r, const char *err)
{
    deliver_announce(caller, r, err, swarm_decode_fill);
}

int swarm_announce(struct redis_pool *pool, const struct swarm_announce_args *a,
                   swarm_announce_fn *done, void *arg)
{
    struct swarm_keys k;
    uint8_t endpoints[MEMBER_ENDPOINTS_MAX];
    size_t endpoints_len = member_endpoints(&a->endpoints, endpoints);

    char now[24], expiry[24], ttl[24], numwant[16], rand[16], horizon[24];
    char acct_text[7][24]; /* ARGV[13..19]: the accounting numbers */
    char pending[2 + SLOT_TAG_MAX + sizeof(ACCT_PENDING_SUFFIX)];
    char event = (char)('0' + (int)a->event);
    char family = a->family == SWARM_V4_ONLY ? '4' : a->family == SWARM_V6_ONLY ? '6' : '0';
    /* [0..2]: the swarm's keys */
    const char *args[25] = {
        [3] = now,
        expiry,
        ttl,
        (const char *)a->peer_id,
        (const char *)endpoints,
        a->seeding ? "1" : "0",
        &event,
        numwant,
        &family,
        a->purge ? "1" : "0",
        rand,
        horizon,
    };
    size_t lens[25] = {
        [3] = u64_text(now, a->now_ms),
        u64_text(expiry, a->now_ms + a->peer_ttl_ms),
        u64_text(ttl, 2 * a->peer_ttl_ms),
        PEER_ID_LEN,
        endpoints_len,
        1,
        1,
        u64_text(numwant, a->numwant),
        1,
        1,
        u64_text(rand, random_u64() >> 33),
        0,
    };
    bool fill = a->fill_horizon_ms != 0;
    if (fill) {
        /* An exclusive ZCOUNT bound: members live after the horizon. */
        horizon[0] = '(';
        lens[14] = 1 + u64_text(horizon + 1, a->fill_horizon_ms);
    }
    swarm_keys_fill(&k, a->info_hash);
    swarm_keys_args(&k, args, lens);
    int nkeys = SWARM_NKEYS, nargs = 15;
    if (a->acct != NULL) {
        /* KEYS[4] and ARGV[13..21]: KEYS go first, so the ARGVs move up one. */
        memmove(&args[4], &args[3], 12 * sizeof(args[0]));
        memmove(&lens[4], &lens[3], 12 * sizeof(lens[0]));
        unsigned slot = key_hash_slot(k.name[SWARM_PEERS], k.len[SWARM_PEERS]);
        args[3] = pending;
        lens[3] = (size_t)snprintf(pending, sizeof(pending), "{%s}%s", slot_tag(slot),
                                   ACCT_PENDING_SUFFIX);
        const struct swarm_acct *c = a->acct;
        const uint64_t numbers[7] = {c->user_id,  c->torrent_id, c->freetorrent, c->token,
                                     c->uploaded, c->downloaded, c->left};
        for (size_t i = 0; i < 7; i++) {
            args[16 + i] = acct_text[i];
            lens[16 + i] = u64_text(acct_text[i], numbers[i]);
        }
        args[23] = c->visible ? "1" : "0", lens[23] = 1;
        args[24] = c->user_agent != NULL ? c->user_agent : "", lens[24] = c->user_agent_len;
        nkeys++, nargs += 10;
    }
    return redis_pool_eval(pool, &lua_announce, nkeys, nargs, args, lens,
                           fill ? on_fill_reply : on_announce_reply, REDIS_CALLER(done, arg));
}

/* ---- full scrape ---- */

/* lua/fullscrape.lua's reply: {pass} or {pass, snapshot or nil}. Returns 0 or -1. */
static int decode_fullscrape(const redisReply *r, struct fullscrape_reply *out)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->elements > 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= SWARM_PASS_LEN)
        return -1;
    memcpy(out->pass, r->element[0]->str, r->element[0]->len);
    out->pass[r->element[0]->len] = '\0';
    out->changed = r->elements == 2;
    out->files = NULL;
    out->len = 0;
    if (!out->changed)
        return 0;
    const redisReply *files = r->element[1];
    if (files->type == REDIS_REPLY_STRING) {
        out->files = files->str;
        out->len = files->len;
    } else if (files->type != REDIS_REPLY_NIL) {
        return -1;
    }
    return 0;
}

static void on_fullscrape_reply(struct redis_caller caller, redisReply *r, const char *err)
{
    swarm_fullscrape_fn *done = (swarm_fullscrape_fn *)caller.fn;
    struct fullscrape_reply out;
    if (err == NULL && decode_fullscrape(r, &out) < 0)
        err = malformed("lua/fullscrape.lua");
    done(caller.arg, err == NULL ? &out : NULL, err);
}

int swarm_full_scrape(struct redis_pool *pool, const char *known_pass, swarm_fullscrape_fn *done,
                      void *arg)
{
    const char *field = stats_field_names[STATS_PASS_FINISHED_MS];
    const char *args[] = {STATS_KEY, FULLSCRAPE_KEY, field, known_pass};
    size_t lens[] = {strlen(STATS_KEY), strlen(FULLSCRAPE_KEY), strlen(field), strlen(known_pass)};
    return redis_pool_eval(pool, &lua_fullscrape, 2, 4, args, lens, on_fullscrape_reply,
                           REDIS_CALLER(done, arg));
}

/* ---- published totals ---- */

static int total_of(const redisReply *r, uint64_t *out)
{
    *out = 0;
    if (r->type == REDIS_REPLY_NIL)
        return 0;
    return r->type == REDIS_REPLY_STRING && r->len > 0 &&
                   decimal_parse(r->str, r->len, UINT64_MAX, out) == 0
               ? 0
               : -1;
}

static void on_totals_reply(struct redis_caller caller, redisReply *r, const char *err)
{
    swarm_totals_fn *done = (swarm_totals_fn *)caller.fn;
    struct swarm_totals t;
    if (err == NULL &&
        (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
         total_of(r->element[0], &t.seeders) < 0 || total_of(r->element[1], &t.leechers) < 0))
        err = malformed("lua/totals.lua");
    done(caller.arg, err == NULL ? &t : NULL, err);
}

/* Two fields of a hash the aggregator publishes, as seeders and leechers. */
static int read_pair(struct redis_pool *pool, const char *key, const char *seeders,
                     size_t seeders_len, const char *leechers, size_t leechers_len,
                     swarm_totals_fn *done, void *arg)
{
    const char *args[] = {key, seeders, leechers};
    size_t lens[] = {strlen(key), seeders_len, leechers_len};
    return redis_pool_eval(pool, &lua_totals, 1, 3, args, lens, on_totals_reply,
                           REDIS_CALLER(done, arg));
}

int swarm_read_totals(struct redis_pool *pool, swarm_totals_fn *done, void *arg)
{
    const char *seeders = stats_field_names[STATS_SEEDERS];
    const char *leechers = stats_field_names[STATS_LEECHERS];
    return read_pair(pool, STATS_KEY, seeders, strlen(seeders), leechers, strlen(leechers), done,
                     arg);
}

int swarm_read_user_live(struct redis_pool *pool, uint32_t user_id, swarm_totals_fn *done,
                         void *arg)
{
    char seeding[LIVE_USERS_FIELD_LEN], leeching[LIVE_USERS_FIELD_LEN];
    size_t s = live_users_field(seeding, user_id, 1), l = live_users_field(leeching, user_id, 0);
    return read_pair(pool, LIVE_USERS_KEY, seeding, s, leeching, l, done, arg);
}

/* ---- scrape ---- */

struct scrape_call;

struct scrape_part {
    struct scrape_call *call;
    size_t index;
};

struct scrape_call {
    swarm_scrape_fn *done;
    void *arg;
    size_t n, owed;
    const char *err;
    struct scrape_counts *counts;
    struct scrape_part *parts;
};

static void scrape_call_free(struct scrape_call *call)
{
    free(call->counts);
    free(call->parts);
    free(call);
}

static void on_scrape_reply(struct redis_caller caller, redisReply *r, const char *err)
{
    struct scrape_part *part = caller.arg;
    struct scrape_call *call = part->call;
    if (err == NULL && swarm_decode_scrape(r, &call->counts[part->index]) < 0)
        err = malformed("scrape.lua");
    if (err != NULL && call->err == NULL)
        call->err = err;
    if (--call->owed > 0)
        return;
    if (call->err != NULL)
        call->done(call->arg, NULL, 0, call->err);
    else
        call->done(call->arg, call->counts, call->n, NULL);
    scrape_call_free(call);
}

int swarm_scrape(struct redis_pool *pool, const uint8_t (*hashes)[INFO_HASH_LEN], size_t n,
                 uint64_t now_ms, swarm_scrape_fn *done, void *arg)
{
    if (n == 0)
        return REDIS_DOWN;
    /* Each hash's calls go to the node serving its swarm (one node on a plain Redis),
     * pipelined there: a scrape across a cluster is one batch per node, admitted whole. */
    struct swarm_keys *keys = xcalloc(n, sizeof(*keys));
    const char **first = xcalloc(n, sizeof(*first));
    size_t *first_len = xcalloc(n, sizeof(*first_len));
    for (size_t i = 0; i < n; i++) {
        swarm_keys_fill(&keys[i], hashes[i]);
        first[i] = keys[i].name[0];
        first_len[i] = keys[i].len[0];
    }
    int room = redis_pool_room(pool, n, first, first_len);
    free(first);
    free(first_len);
    if (room != REDIS_SENT) {
        free(keys);
        return room;
    }
    struct scrape_call *call = xcalloc(1, sizeof(*call));
    call->done = done;
    call->arg = arg;
    call->n = n;
    call->counts = xcalloc(n, sizeof(*call->counts));
    call->parts = xcalloc(n, sizeof(*call->parts));

    char now[24];
    size_t now_len = u64_text(now, now_ms);
    for (size_t i = 0; i < n; i++) {
        const char *args[4] = {[3] = now};
        size_t lens[4] = {[3] = now_len};
        swarm_keys_args(&keys[i], args, lens);
        call->parts[i].call = call;
        call->parts[i].index = i;
        int rc = redis_pool_eval(pool, &lua_scrape, SWARM_NKEYS, 4, args, lens, on_scrape_reply,
                                 REDIS_CALLER(NULL, &call->parts[i]));
        if (rc != REDIS_SENT) {
            if (i == 0) {
                scrape_call_free(call);
                free(keys);
                return rc;
            }
            /* Some are in flight (not expected after redis_pool_room(), but a send may still
             * fail): they deliver the failure when the last one lands. */
            call->err = ERR_BAD_REPLY;
            break;
        }
        call->owed++;
    }
    free(keys);
    return REDIS_SENT;
}
