/*
 * The hot swarms' peer windows: a set-associative table of entries, and an admission filter
 * (when each of many buckets of swarms last had a reply that was a sample of it) so only
 * swarms announced to twice within ttl and too big to list whole take an entry: a window
 * read no one else would use is never paid for.
 */
#include "frontend/peer_cache.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/random.h"

#define WAYS 4
/* Admission filter slots per entry: a swarm seen once shares its slot with others rarely. */
#define SEEN_PER_ENTRY 4
/* A swarm whose windows held all of it (too small to be served from here) is not read for
 * the cache again for this many ttl: its announces go to Redis as they would anyway. */
#define SMALL_RECHECK_TTLS 8

/* One peer of a window: its member's bytes, and the view peer_cache_serve() hands out. */
struct cached_peer {
    uint8_t id[PEER_ID_LEN];
    uint8_t v4[COMPACT_V4_LEN];
    uint8_t v6[COMPACT_V6_LEN];
    struct swarm_peer view; /* pointing into this record */
};

struct window {
    struct cached_peer *peers;
    uint32_t n, cap;
    bool whole; /* every member live past the horizon: no other could be served */
};

enum { SEEDERS, LEECHERS };

struct peer_cache_entry {
    uint8_t info_hash[INFO_HASH_LEN];
    bool used;
    uint32_t pins;
    uint64_t last_ms; /* last announce planned: the least recent unpinned way goes */
    bool filled, filling;
    uint64_t filled_ms;       /* filled: the windows' read (the fill's plan), valid for ttl */
    uint64_t fill_planned_ms; /* filling: a fill in flight since then */
    struct window role[2];
};

struct peer_cache {
    struct peer_cache_entry *entries; /* nbuckets x WAYS */
    size_t nbuckets;
    uint64_t *seen; /* nseen: when a reply was a sample of a swarm there (now_ms + 1; 0: never) */
    size_t nseen;
    uint64_t ttl_ms, seed;
};

struct peer_cache *peer_cache_new(uint32_t swarms, uint64_t ttl_ms, uint64_t seed)
{
    if (swarms == 0 || ttl_ms == 0)
        return NULL;
    struct peer_cache *c = xcalloc(1, sizeof(*c));
    c->nbuckets = (swarms + WAYS - 1) / WAYS;
    c->entries = xcalloc(c->nbuckets * WAYS, sizeof(*c->entries));
    c->nseen = c->nbuckets * WAYS * SEEN_PER_ENTRY;
    c->seen = xcalloc(c->nseen, sizeof(*c->seen));
    c->ttl_ms = ttl_ms;
    c->seed = seed | 1u;
    return c;
}

void peer_cache_free(struct peer_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nbuckets * WAYS; i++) {
        free(c->entries[i].role[SEEDERS].peers);
        free(c->entries[i].role[LEECHERS].peers);
    }
    free(c->entries);
    free(c->seen);
    free(c);
}

/* info_hashes are whatever clients send, so the hash is keyed: no one can aim at a bucket. */
static uint64_t hash(const struct peer_cache *c, const uint8_t *info_hash)
{
    uint64_t h = c->seed;
    for (size_t i = 0; i < INFO_HASH_LEN; i++) {
        h ^= info_hash[i];
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

/* Whether p may be in w's reply: not the announcer, of a family it wants. */
static bool is_wanted(const struct cached_peer *p, const struct peer_cache_want *w)
{
    if (memcmp(p->id, w->peer_id, PEER_ID_LEN) == 0)
        return false;
    if (w->family == SWARM_V4_ONLY)
        return p->view.v4 != NULL;
    if (w->family == SWARM_V6_ONLY)
        return p->view.v6 != NULL;
    return true;
}

/* The windows a reply to w draws from, in order: a seeder's leechers, a leecher's seeders
 * then leechers. Returns how many (1 or 2) and fills roles. */
static size_t roles_for(const struct peer_cache_want *w, int roles[2])
{
    if (w->seeding) {
        roles[0] = LEECHERS;
        return 1;
    }
    roles[0] = SEEDERS;
    roles[1] = LEECHERS;
    return 2;
}

/*
 * Whether e can answer w: numwant peers, drawn from more than it gives (some window holds
 * fewer members than the swarm, or more are wanted-able than asked). A reply that would be
 * all of a small swarm goes to Redis: a peer that just joined must not be missing from it.
 */
static bool can_serve(const struct peer_cache_entry *e, const struct peer_cache_want *w)
{
    int roles[2];
    size_t nroles = roles_for(w, roles);
    uint32_t found = 0;
    bool whole = true;
    for (size_t r = 0; r < nroles; r++) {
        const struct window *win = &e->role[roles[r]];
        whole = whole && win->whole;
        for (uint32_t i = 0; i < win->n && found <= w->numwant; i++)
            found += is_wanted(&win->peers[i], w);
    }
    return found > w->numwant || (found == w->numwant && !whole);
}

static struct peer_cache_entry *pick_way(struct peer_cache_entry *bucket)
{
    struct peer_cache_entry *victim = NULL;
    for (size_t i = 0; i < WAYS; i++) {
        struct peer_cache_entry *e = &bucket[i];
        if (!e->used)
            return e;
        if (e->pins == 0 && (victim == NULL || e->last_ms < victim->last_ms))
            victim = e;
    }
    return victim;
}

enum peer_cache_plan peer_cache_plan(struct peer_cache *c, const uint8_t *info_hash,
                                     const struct peer_cache_want *w, uint64_t now_ms,
                                     struct peer_cache_entry **entry)
{
    uint64_t h = hash(c, info_hash);
    struct peer_cache_entry *bucket = &c->entries[(h % c->nbuckets) * WAYS];
    struct peer_cache_entry *e = NULL;
    for (size_t i = 0; i < WAYS && e == NULL; i++)
        if (bucket[i].used && memcmp(bucket[i].info_hash, info_hash, INFO_HASH_LEN) == 0)
            e = &bucket[i];

    enum peer_cache_plan plan = PEER_CACHE_BYPASS;
    if (e != NULL) {
        e->last_ms = now_ms;
        bool small = e->role[SEEDERS].whole && e->role[LEECHERS].whole;
        if (e->filled && now_ms - e->filled_ms < c->ttl_ms)
            plan = can_serve(e, w) ? PEER_CACHE_HIT : PEER_CACHE_BYPASS;
        else if (e->filled && small && now_ms - e->filled_ms < SMALL_RECHECK_TTLS * c->ttl_ms)
            plan = PEER_CACHE_BYPASS;
        else if (!e->filling || now_ms - e->fill_planned_ms >= c->ttl_ms)
            plan = PEER_CACHE_FILL; /* stale, and no fill in flight (or a lost one) */
    } else {
        /* Admission: a swarm found too big to list whole within ttl (peer_cache_saw(), by
         * its filter slot) is worth an entry. */
        uint64_t seen = c->seen[(h >> 32) % c->nseen];
        bool recent = seen != 0 && now_ms + 1 - seen < c->ttl_ms;
        if (recent && (e = pick_way(bucket)) != NULL) {
            free(e->role[SEEDERS].peers);
            free(e->role[LEECHERS].peers);
            *e = (struct peer_cache_entry){.used = true, .last_ms = now_ms};
            memcpy(e->info_hash, info_hash, INFO_HASH_LEN);
            plan = PEER_CACHE_FILL;
        }
    }
    if (plan == PEER_CACHE_FILL) {
        e->filling = true;
        e->fill_planned_ms = now_ms;
    }
    if (plan != PEER_CACHE_BYPASS) {
        e->pins++;
        *entry = e;
    }
    return plan;
}

void peer_cache_saw(struct peer_cache *c, const uint8_t *info_hash, uint64_t live, uint32_t numwant,
                    uint64_t now_ms)
{
    if (live > (uint64_t)numwant + 1)
        c->seen[(hash(c, info_hash) >> 32) % c->nseen] = now_ms + 1;
}

static void store_window(struct window *win, const struct swarm_peer *peers, size_t n, bool whole)
{
    if (n > win->cap) {
        free(win->peers);
        win->peers = xcalloc(n, sizeof(*win->peers));
        win->cap = (uint32_t)n;
    }
    for (size_t i = 0; i < n; i++) {
        struct cached_peer *p = &win->peers[i];
        memcpy(p->id, peers[i].peer_id, PEER_ID_LEN);
        p->view = (struct swarm_peer){.peer_id = p->id};
        if (peers[i].v4 != NULL) {
            memcpy(p->v4, peers[i].v4, COMPACT_V4_LEN);
            p->view.v4 = p->v4;
        }
        if (peers[i].v6 != NULL) {
            memcpy(p->v6, peers[i].v6, COMPACT_V6_LEN);
            p->view.v6 = p->v6;
        }
    }
    win->n = (uint32_t)n;
    win->whole = whole;
}

void peer_cache_store(struct peer_cache_entry *e, const struct announce_reply *r,
                      uint64_t planned_ms)
{
    size_t ns = r->nseeder_peers;
    store_window(&e->role[SEEDERS], r->peers, ns, r->seeders_whole);
    store_window(&e->role[LEECHERS], r->peers + ns, r->npeers - ns, r->leechers_whole);
    e->filled = true;
    e->filled_ms = planned_ms;
    e->filling = false;
}

size_t peer_cache_serve(const struct peer_cache_entry *e, const struct peer_cache_want *w,
                        struct swarm_peer *out, size_t cap)
{
    uint64_t rand = random_u64();
    int roles[2];
    size_t nroles = roles_for(w, roles);
    size_t n = 0, limit = w->numwant < cap ? w->numwant : cap;
    for (size_t r = 0; r < nroles; r++) {
        const struct window *win = &e->role[roles[r]];
        if (win->n == 0)
            continue;
        uint32_t start = (uint32_t)(rand % win->n);
        for (uint32_t i = 0; i < win->n && n < limit; i++) {
            const struct cached_peer *p = &win->peers[(start + i) % win->n];
            if (is_wanted(p, w))
                out[n++] = p->view;
        }
    }
    return n;
}

void peer_cache_release(struct peer_cache_entry *e, bool fill_failed)
{
    if (fill_failed)
        e->filling = false;
    e->pins--;
}
