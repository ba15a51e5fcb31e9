/*
 * A pass's walk over the swarms: SCAN every master, purge and count each swarm with
 * lua/purge.lua (pipelined per batch). No single Redis call handles more than one swarm,
 * nor removes more than PURGE_CHUNK peers or reads more than FAMILY_CHUNK members of a set,
 * so no call blocks Redis for long. Publishing is storage/aggregate.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/mem.h"
#include "common/numtext.h"
#include "storage/aggregate.h"
#include "storage/keys.h"

/* Most expired peers one purge call removes per set (as announce.lua), and the largest set
 * whose families it counts in the same call; bigger sets are counted by family.lua in
 * slices this big. Both keep one call near a millisecond (aggbench: a 2000 limit let one
 * call on an 80k-peer swarm take 7.5 ms). */
#define PURGE_CHUNK 256
#define FAMILY_CHUNK 500
/* A swarm whose expired peers take more calls than this is finished by the next pass. */
#define MAX_PURGE_ROUNDS 256

static void note_call(struct aggregate_pass *p, uint64_t us)
{
    if (us > p->totals.max_call_us)
        p->totals.max_call_us = us;
}

void aggregate_begin(struct aggregate_pass *p, uint64_t now_ms, bool purge, bool count_users,
                     uint32_t scan_count)
{
    memset(p, 0, sizeof(*p));
    p->now_ms = now_ms;
    p->purge = purge;
    p->count_users = count_users;
    p->scan_count = scan_count;
    aggregate_next_node(p);
}

void aggregate_next_node(struct aggregate_pass *p)
{
    snprintf(p->cursor, sizeof(p->cursor), "0");
    p->node_done = false;
}

void aggregate_end(struct aggregate_pass *p)
{
    free(p->entries);
    p->entries = NULL;
    p->nentries = p->capacity = 0;
    user_tallies_free(&p->users);
}

/* The arguments of purge.lua for one swarm; they point into the struct itself. */
struct purge_args {
    struct swarm_keys k;
    const char *args[8];
    size_t lens[8];
    char now[21], chunk[21], family[21];
};
#define PURGE_NARGS 8

static void purge_args_fill(struct purge_args *a, const uint8_t *info_hash,
                            const struct aggregate_pass *p)
{
    uint64_t now_ms = p->now_ms;
    bool purge = p->purge;
    swarm_keys_fill(&a->k, info_hash);
    swarm_keys_args(&a->k, a->args, a->lens);
    a->args[3] = a->now, a->lens[3] = (size_t)(put_uint(a->now, now_ms) - a->now);
    a->args[4] = purge ? "1" : "0", a->lens[4] = 1;
    a->args[5] = a->chunk, a->lens[5] = (size_t)(put_uint(a->chunk, PURGE_CHUNK) - a->chunk);
    a->args[6] = a->family, a->lens[6] = (size_t)(put_uint(a->family, FAMILY_CHUNK) - a->family);
    a->args[7] = p->count_users ? "1" : "0", a->lens[7] = 1;
}

struct swarm_counts {
    uint64_t seeders, leechers, v4, v6, downloaded, removed, deleted, more;
};

/* users: the swarm's live peers per user, replaced by the reply's (purge.lua's last call
 * of a swarm tells them). */
static int read_counts(const redisReply *r, struct swarm_counts *c, struct user_tallies *users)
{
    uint64_t *fields[] = {&c->seeders,    &c->leechers, &c->v4,      &c->v6,
                          &c->downloaded, &c->removed,  &c->deleted, &c->more};
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 9)
        return -1;
    for (size_t i = 0; i < 8; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER || r->element[i]->integer < 0)
            return -1;
        *fields[i] = (uint64_t)r->element[i]->integer;
    }
    users->n = 0;
    return user_tallies_add_reply(users, r->element[8]);
}

/* Reads a purge.lua reply (NULL: none came) into c and users and frees it. Returns 0, or -1
 * with err (unless err is NULL). */
static int take_counts(redisReply *r, struct sync_conn *sc, struct swarm_counts *c,
                       struct user_tallies *users, char *err)
{
    int rc = read_counts(r, c, users);
    if (rc < 0 && err != NULL)
        snprintf(err, STARLING_ERR_LEN, "purge.lua: %s", sync_reply_error(r, sc));
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

/* Address families of a set too large for purge.lua to count (and in private mode its
 * users' live peers, added to users), in FAMILY_CHUNK slices. */
static int count_families(struct aggregate_pass *p, struct sync_conn *sc,
                          const struct swarm_keys *k, enum swarm_key set, uint64_t members,
                          struct swarm_counts *c, struct user_tallies *users, char *err)
{
    const char *role = !p->count_users ? "" : set == SWARM_SEEDERS ? "1" : "2";
    for (uint64_t start = 0; start < members; start += FAMILY_CHUNK) {
        char a[21], b[21];
        const char *args[] = {k->name[set], k->name[SWARM_PEERS], a, b, role};
        size_t lens[] = {k->len[set], k->len[SWARM_PEERS], (size_t)(put_uint(a, start) - a),
                         (size_t)(put_uint(b, start + FAMILY_CHUNK - 1) - b), strlen(role)};
        uint64_t t0 = clock_monotonic_us();
        redisReply *r = sync_eval(sc, &lua_family, 2, 5, args, lens);
        note_call(p, clock_monotonic_us() - t0);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
            user_tallies_add_reply(users, r->element[2]) < 0) {
            snprintf(err, STARLING_ERR_LEN, "family.lua: %s", sync_reply_error(r, sc));
            if (r != NULL)
                freeReplyObject(r);
            return -1;
        }
        c->v4 += (uint64_t)r->element[0]->integer;
        c->v6 += (uint64_t)r->element[1]->integer;
        freeReplyObject(r);
    }
    return 0;
}

static void add_entry(struct aggregate_pass *p, const uint8_t *info_hash,
                      const struct swarm_counts *c, const struct user_tallies *users)
{
    if (p->nentries == p->capacity) {
        p->capacity = p->capacity ? p->capacity * 2 : 1024;
        p->entries = xreallocarray(p->entries, p->capacity, sizeof(*p->entries));
    }
    struct fullscrape_entry *e = &p->entries[p->nentries];
    memcpy(e->info_hash, info_hash, INFO_HASH_LEN);
    e->seq = (uint32_t)p->nentries++;
    e->complete = c->seeders;
    e->incomplete = c->leechers;
    e->downloaded = c->downloaded;
    e->v4 = c->v4;
    e->v6 = c->v6;
    e->users_off = p->users.n;
    e->users_n = (uint32_t)users->n;
    user_tallies_add(&p->users, users->v, users->n);
}

/* A key of a SCAN batch: whether it is a swarm's peers hash, and what purge.lua said. */
struct scanned {
    bool swarm;
    bool redo; /* its pipelined call met a redirect, TRYAGAIN or NOSCRIPT: call again */
    uint8_t info_hash[INFO_HASH_LEN];
    struct swarm_counts counts;
    struct user_tallies users; /* private mode: its users' live peers */
};

/* Everything after the first purge.lua reply of a swarm: more rounds, big sets, totals. */
static int finish_swarm(struct aggregate_pass *p, struct sync_conn *sc, struct scanned *s,
                        char *err)
{
    struct swarm_counts *c = &s->counts;
    struct purge_args a;
    purge_args_fill(&a, s->info_hash, p);
    p->totals.peers_expired += c->removed;
    for (int round = 0; c->more && round < MAX_PURGE_ROUNDS; round++) {
        uint64_t t0 = clock_monotonic_us();
        redisReply *r = sync_eval(sc, &lua_purge, SWARM_NKEYS, PURGE_NARGS, a.args, a.lens);
        note_call(p, clock_monotonic_us() - t0);
        if (take_counts(r, sc, c, &s->users, err) < 0)
            return -1;
        p->totals.peers_expired += c->removed;
    }
    if (c->deleted) {
        p->totals.swarms_deleted++;
        return 0;
    }
    for (enum swarm_key set = SWARM_SEEDERS; set <= SWARM_LEECHERS; set++) {
        uint64_t members = set == SWARM_SEEDERS ? c->seeders : c->leechers;
        if (members > FAMILY_CHUNK &&
            count_families(p, sc, &a.k, set, members, c, &s->users, err) < 0)
            return -1;
    }
    /* The totals are added up from the entries at the end (aggregate_publish()), once per
     * swarm however many times the pass met it. */
    if (c->seeders + c->leechers > 0 || c->downloaded > 0)
        add_entry(p, s->info_hash, c, &s->users);
    return 0;
}

/* The first purge.lua call of a swarm whose pipelined one could not be answered there:
 * made alone, it follows the redirect (the swarm moved since SCAN saw it), waits out a
 * TRYAGAIN or sends the script's body. Returns 0 or -1 with err. */
static int purge_again(struct aggregate_pass *p, struct sync_conn *sc, struct scanned *s, char *err)
{
    struct purge_args a;
    purge_args_fill(&a, s->info_hash, p);
    uint64_t t0 = clock_monotonic_us();
    redisReply *r = sync_eval(sc, &lua_purge, SWARM_NKEYS, PURGE_NARGS, a.args, a.lens);
    note_call(p, clock_monotonic_us() - t0);
    return take_counts(r, sc, &s->counts, &s->users, err);
}

/* The next SCAN batch of the node (the cursor moves on), or NULL with err. */
static redisReply *scan_batch(struct aggregate_pass *p, struct sync_conn *sc, char *err)
{
    char count[21];
    const char *scan[] = {"SCAN", p->cursor, "MATCH", SWARM_SCAN_MATCH, "COUNT", count};
    size_t scan_lens[] = {4, strlen(p->cursor),
                          5, strlen(SWARM_SCAN_MATCH),
                          5, (size_t)(put_uint(count, p->scan_count) - count)};
    uint64_t t0 = clock_monotonic_us();
    redisReply *r = sync_command(sc, 6, scan, scan_lens);
    note_call(p, clock_monotonic_us() - t0);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        snprintf(err, STARLING_ERR_LEN, "SCAN: %s", sync_reply_error(r, sc));
        if (r != NULL)
            freeReplyObject(r);
        return NULL;
    }
    snprintf(p->cursor, sizeof(p->cursor), "%s", r->element[0]->str);
    return r;
}

/* One purge.lua call per swarm of the batch, pipelined. Returns 0 or -1 with err. */
static int purge_batch(struct aggregate_pass *p, struct sync_conn *sc, const redisReply *keys,
                       struct scanned *batch, char *err)
{
    /* Only keys of the swarm shape (MATCH is a glob, not a check). */
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *key = keys->element[i];
        batch[i].swarm = key->type == REDIS_REPLY_STRING &&
                         swarm_key_info_hash(key->str, key->len, batch[i].info_hash) == 0;
        if (!batch[i].swarm)
            continue;
        struct purge_args a;
        purge_args_fill(&a, batch[i].info_hash, p);
        if (sync_eval_append(sc, &lua_purge, SWARM_NKEYS, PURGE_NARGS, a.args, a.lens) < 0) {
            snprintf(err, STARLING_ERR_LEN, "purge.lua: cannot send");
            return -1;
        }
    }
    /* The replies come back in order; the time between two is about one call's. Every one
     * is read, even after a failure, so that none is left for the next call to take. */
    uint64_t last = clock_monotonic_us();
    int rc = 0;
    for (size_t i = 0; i < keys->elements; i++) {
        if (!batch[i].swarm)
            continue;
        redisReply *reply = sync_eval_reply(sc);
        uint64_t now = clock_monotonic_us();
        note_call(p, now - last);
        last = now;
        if (sync_reply_retryable(reply)) {
            batch[i].redo = true;
            freeReplyObject(reply);
        } else if (take_counts(reply, sc, &batch[i].counts, &batch[i].users, rc < 0 ? NULL : err) <
                   0) {
            rc = -1;
            if (reply == NULL)
                break; /* the connection is gone, and the rest of the replies with it */
        }
    }
    return rc;
}

int aggregate_step(struct aggregate_pass *p, struct sync_conn *sc, char *err)
{
    if (p->node_done)
        return 0;
    char cursor[sizeof(p->cursor)];
    memcpy(cursor, p->cursor, sizeof(cursor));
    redisReply *r = scan_batch(p, sc, err);
    if (r == NULL)
        return -1;
    const redisReply *keys = r->element[1];
    struct scanned *batch = xcalloc(keys->elements, sizeof(*batch));
    int rc = purge_batch(p, sc, keys, batch, err);
    /* Big swarms need more calls; the pipeline is drained, so they go one by one. */
    for (size_t i = 0; i < keys->elements && rc == 0; i++) {
        if (batch[i].swarm && batch[i].redo && purge_again(p, sc, &batch[i], err) < 0)
            rc = -1;
        else if (batch[i].swarm && finish_swarm(p, sc, &batch[i], err) < 0)
            rc = -1;
    }
    for (size_t i = 0; i < keys->elements; i++)
        user_tallies_free(&batch[i].users);
    free(batch);
    freeReplyObject(r);
    if (rc < 0) {
        /* The batch again next time: the swarms it finished are met twice, and counted once
         * (aggregate_publish()); what they expired is already gone. */
        memcpy(p->cursor, cursor, sizeof(cursor));
        return -1;
    }
    if (strcmp(p->cursor, "0") == 0) {
        p->node_done = true;
        return 0;
    }
    return 1;
}
