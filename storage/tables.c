/*
 * The frontends' replica of the shared tables: load, then follow the change stream
 * (storage/tables.h). One call in flight at a time, driven by a timer.
 */
#include "storage/tables.h"

#include <stdlib.h>
#include <sys/types.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/numtext.h"
#include "common/random.h"
#include "common/text.h"
#include "common/torrent.h"
#include "storage/keys.h"
#include "storage/redis.h"
#include "storage/scripts.h"

/* Members per SSCAN step and changes per read. */
#define SCAN_COUNT "1000"
#define READ_COUNT "1000"
#define READ_BATCH 1000
/* The longest stream id ("<ms>-<seq>", two 20-digit numbers) and its NUL. */
#define ID_LEN 48
/* After a reply of no expected form or a table past its limit: the pause before loading. */
#define RETRY_MS 1000

static const char *const names[TABLE_COUNT] = {"torrents", "clients"};
static const char *const keys[TABLE_COUNT] = {TABLE_TORRENTS_KEY, TABLE_CLIENTS_KEY};

const char *table_name(enum table_id id)
{
    return names[id];
}

const char *table_key(enum table_id id)
{
    return keys[id];
}

/* ---- a set of info_hashes: open addressing, linear probing, tombstones ---- */

enum { SLOT_EMPTY, SLOT_USED, SLOT_GONE };

struct slot {
    uint8_t key[INFO_HASH_LEN];
    uint8_t state;
};

struct hash_set {
    struct slot *slots;
    size_t cap, used, gone; /* cap: a power of two, or 0 */
    uint64_t seed;
};

static uint64_t set_hash(const struct hash_set *s, const uint8_t *key)
{
    uint64_t h = s->seed;
    for (size_t i = 0; i < INFO_HASH_LEN; i++) {
        h ^= key[i];
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 31);
}

/* The slot holding key, or the first free one on its probe path (NULL: cap 0). */
static struct slot *set_find(const struct hash_set *s, const uint8_t *key, bool for_insert)
{
    if (s->cap == 0)
        return NULL;
    struct slot *free_slot = NULL;
    for (size_t i = set_hash(s, key) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        struct slot *sl = &s->slots[i];
        if (sl->state == SLOT_EMPTY)
            return for_insert && free_slot != NULL ? free_slot : (for_insert ? sl : NULL);
        if (sl->state == SLOT_GONE) {
            if (free_slot == NULL)
                free_slot = sl;
        } else if (memcmp(sl->key, key, INFO_HASH_LEN) == 0) {
            return sl;
        }
    }
}

static bool set_has(const struct hash_set *s, const uint8_t *key)
{
    const struct slot *sl = set_find(s, key, false);
    return sl != NULL && sl->state == SLOT_USED;
}

/* Rebuilds into a table of cap slots (dropping tombstones). */
static void set_rehash(struct hash_set *s, size_t cap)
{
    struct hash_set n = {.slots = xcalloc(cap, sizeof(struct slot)), .cap = cap, .seed = s->seed};
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i].state != SLOT_USED)
            continue;
        struct slot *sl = set_find(&n, s->slots[i].key, true);
        *sl = s->slots[i];
        n.used++;
    }
    free(s->slots);
    *s = n;
}

/* Returns -1 when the set is full (TABLES_TORRENTS_MAX). */
static int set_add(struct hash_set *s, const uint8_t *key)
{
    if (set_has(s, key))
        return 0;
    if (s->used >= TABLES_TORRENTS_MAX)
        return -1;
    /* At most half full, counting tombstones: probes stay short. */
    if ((s->used + s->gone + 1) * 2 > s->cap)
        set_rehash(s, s->cap == 0 ? 64 : (s->used + 1) * 4 > s->cap ? s->cap * 2 : s->cap);
    struct slot *sl = set_find(s, key, true);
    if (sl->state == SLOT_GONE)
        s->gone--;
    memcpy(sl->key, key, INFO_HASH_LEN);
    sl->state = SLOT_USED;
    s->used++;
    return 0;
}

static void set_del(struct hash_set *s, const uint8_t *key)
{
    struct slot *sl = set_find(s, key, false);
    if (sl == NULL || sl->state != SLOT_USED)
        return;
    sl->state = SLOT_GONE;
    s->used--;
    s->gone++;
}

static void set_clear(struct hash_set *s)
{
    free(s->slots);
    *s = (struct hash_set){.seed = s->seed};
}

/* ---- the client whitelist: a short array ---- */

struct client_list {
    struct config_client items[TABLES_CLIENTS_MAX];
    size_t n;
};

static ssize_t list_find(const struct client_list *l, const char *prefix, size_t len)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].len == len && memcmp(l->items[i].prefix, prefix, len) == 0)
            return (ssize_t)i;
    return -1;
}

/* ---- the replica ---- */

enum phase { HEAD, SCAN, FOLLOW };

struct tables {
    struct redis_pool *pool;
    struct event *timer;
    bool follow[TABLE_COUNT];
    bool loaded;      /* a whole load finished: the sets below are good */
    bool busy;        /* a call is in flight */
    enum phase phase; /* what the next call does */
    enum table_id scanning;
    char cursor[24];
    uint64_t seq;    /* the latest change applied (or the load's start) */
    char id[ID_LEN]; /* its stream id */
    uint64_t last_ok_us;
    uint64_t retry_at_us; /* after a failure, no call before this */
    struct hash_set torrents, new_torrents;
    struct client_list *clients, *new_clients;
    struct tables_stats stats;
};

static void start_load(struct tables *t)
{
    t->phase = HEAD;
    t->stats.loads++;
}

/* A reply of no expected shape, or a full table: log (limited) and load again later. */
static void failed(struct tables *t, const char *why)
{
    static struct log_limit lines;
    log_limited(&lines, LOG_WARN, "shared tables: %s; loading them again in %d ms", why, RETRY_MS);
    start_load(t);
    t->retry_at_us = clock_monotonic_us() + (uint64_t)RETRY_MS * 1000;
}

static bool is_string(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_STRING;
}

static int reply_u64(const redisReply *r, uint64_t *out)
{
    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
        *out = (uint64_t)r->integer;
        return 0;
    }
    if (is_string(r) && r->len > 0 && r->len < 21 &&
        decimal_parse(r->str, r->len, UINT64_MAX, out) == 0)
        return 0;
    return -1;
}

/* Applies one member to the set being built (load) or the live one (change). Returns -1
 * when a set is full. A member of no valid form is skipped (logged). */
static int apply(struct tables *t, enum table_id id, bool add, const char *m, size_t len,
                 bool loading)
{
    if (id == TABLE_TORRENTS) {
        uint8_t hash[INFO_HASH_LEN];
        if (len != 2 * INFO_HASH_LEN || hex_decode(m, INFO_HASH_LEN, hash) < 0) {
            static struct log_limit lines;
            log_limited(&lines, LOG_WARN, "shared tables: a torrent that is no 40-hex info_hash");
            return 0;
        }
        struct hash_set *s = loading ? &t->new_torrents : &t->torrents;
        if (!add) {
            set_del(s, hash);
            return 0;
        }
        return set_add(s, hash);
    }
    struct client_list *l = loading ? t->new_clients : t->clients;
    if (len < 1 || len > CONFIG_CLIENT_LEN)
        return 0;
    ssize_t at = list_find(l, m, len);
    if (add && at < 0) {
        if (l->n == TABLES_CLIENTS_MAX)
            return -1;
        memcpy(l->items[l->n].prefix, m, len);
        l->items[l->n++].len = len;
    } else if (!add && at >= 0) {
        l->items[at] = l->items[--l->n];
    }
    return 0;
}

static enum table_id next_followed(const struct tables *t, int from)
{
    for (int i = from; i < TABLE_COUNT; i++)
        if (t->follow[i])
            return (enum table_id)i;
    return TABLE_COUNT;
}

static void finish_load(struct tables *t)
{
    set_clear(&t->torrents);
    t->torrents = t->new_torrents;
    t->new_torrents = (struct hash_set){.seed = t->torrents.seed};
    struct client_list *old = t->clients;
    t->clients = t->new_clients;
    t->new_clients = old;
    t->new_clients->n = 0;
    t->stats.entries[TABLE_TORRENTS] = t->torrents.used;
    t->stats.entries[TABLE_CLIENTS] = t->clients->n;
    if (!t->loaded)
        log_info("shared tables loaded: %zu torrents, %zu clients", t->torrents.used,
                 t->clients->n);
    t->loaded = true;
    t->phase = FOLLOW;
}

static void on_head(struct tables *t, const redisReply *r)
{
    uint64_t seq;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || reply_u64(r->element[0], &seq) < 0 ||
        !is_string(r->element[1]) || r->element[1]->len >= ID_LEN) {
        failed(t, "unexpected reply to table_head.lua");
        return;
    }
    t->seq = seq;
    memcpy(t->id, r->element[1]->str, r->element[1]->len);
    t->id[r->element[1]->len] = '\0';
    set_clear(&t->new_torrents);
    t->new_clients->n = 0;
    t->scanning = next_followed(t, 0);
    snprintf(t->cursor, sizeof(t->cursor), "0");
    t->phase = SCAN;
}

static void on_scan(struct tables *t, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !is_string(r->element[0]) ||
        r->element[0]->len >= sizeof(t->cursor) || r->element[1]->type != REDIS_REPLY_ARRAY) {
        failed(t, "unexpected reply to table_scan.lua");
        return;
    }
    const redisReply *members = r->element[1];
    for (size_t i = 0; i < members->elements; i++) {
        const redisReply *m = members->element[i];
        if (!is_string(m))
            continue;
        if (apply(t, t->scanning, true, m->str, m->len, true) < 0) {
            failed(t, "a table is larger than its limit (storage/tables.h)");
            return;
        }
    }
    memcpy(t->cursor, r->element[0]->str, r->element[0]->len);
    t->cursor[r->element[0]->len] = '\0';
    if (strcmp(t->cursor, "0") != 0)
        return;
    t->scanning = next_followed(t, (int)t->scanning + 1);
    snprintf(t->cursor, sizeof(t->cursor), "0");
    if (t->scanning == TABLE_COUNT)
        finish_load(t);
}

static void on_read(struct tables *t, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 5 != 0) {
        failed(t, "unexpected reply to table_read.lua");
        return;
    }
    for (size_t i = 0; i < r->elements; i += 5) {
        redisReply *const *e = &r->element[i];
        uint64_t n;
        if (!is_string(e[0]) || e[0]->len >= ID_LEN || reply_u64(e[1], &n) < 0 ||
            !is_string(e[2]) || !is_string(e[3]) || !is_string(e[4])) {
            failed(t, "a change of no known form in the stream");
            return;
        }
        if (n != t->seq + 1) {
            /* Trimmed past us (or written by something other than table_change.lua). */
            failed(t, "changes are missing from the stream");
            return;
        }
        for (int id = 0; id < TABLE_COUNT; id++) {
            if (!t->follow[id] || strlen(names[id]) != e[2]->len ||
                memcmp(names[id], e[2]->str, e[2]->len) != 0)
                continue;
            bool add = e[3]->len == 3 && memcmp(e[3]->str, "add", 3) == 0;
            if (apply(t, (enum table_id)id, add, e[4]->str, e[4]->len, false) < 0) {
                failed(t, "a table is larger than its limit (storage/tables.h)");
                return;
            }
            t->stats.changes++;
        }
        t->seq = n;
        memcpy(t->id, e[0]->str, e[0]->len);
        t->id[e[0]->len] = '\0';
    }
    t->stats.entries[TABLE_TORRENTS] = t->torrents.used;
    t->stats.entries[TABLE_CLIENTS] = t->clients->n;
}

static void send_next(struct tables *t);

static void on_reply(struct redis_caller caller, redisReply *r, const char *err)
{
    struct tables *t = caller.arg;
    t->busy = false;
    if (err != NULL || r == NULL) {
        /* Redis down or slow: try again at the next tick; a load starts over. */
        if (t->phase == SCAN)
            start_load(t);
        return;
    }
    enum phase was = t->phase;
    if (was == HEAD)
        on_head(t, r);
    else if (was == SCAN)
        on_scan(t, r);
    else
        on_read(t, r);
    if (t->phase == FOLLOW)
        t->last_ok_us = clock_monotonic_us(); /* caught up to what the read returned */
    /* A load goes on at once, and so does a read that came back full (a bulk change is
     * being written: keep up with it rather than fall behind the stream's trimming);
     * otherwise following waits for the timer. */
    if (t->phase != FOLLOW || (was == FOLLOW && r->elements == 5 * READ_BATCH))
        send_next(t);
}

static void send_next(struct tables *t)
{
    if (t->busy || clock_monotonic_us() < t->retry_at_us)
        return;
    const char *args[4];
    size_t lens[4];
    const struct lua_script *script;
    int nkeys, nargs;
    switch (t->phase) {
    case HEAD:
        args[0] = TABLE_CHANGES_KEY, args[1] = TABLE_SEQ_KEY;
        script = &lua_table_head, nkeys = 2, nargs = 2;
        break;
    case SCAN:
        args[0] = keys[t->scanning], args[1] = t->cursor, args[2] = SCAN_COUNT;
        script = &lua_table_scan, nkeys = 1, nargs = 3;
        break;
    default:
        args[0] = TABLE_CHANGES_KEY, args[1] = t->id, args[2] = READ_COUNT;
        script = &lua_table_read, nkeys = 1, nargs = 3;
        break;
    }
    for (int i = 0; i < nargs; i++)
        lens[i] = strlen(args[i]);
    if (redis_pool_eval(t->pool, script, nkeys, nargs, args, lens, on_reply,
                        REDIS_CALLER(NULL, t)) == REDIS_SENT)
        t->busy = true;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    send_next(arg);
}

struct tables *tables_new(struct event_base *base, struct redis_pool *pool,
                          const bool follow[TABLE_COUNT])
{
    if (next_followed(&(struct tables){.follow = {follow[0], follow[1]}}, 0) == TABLE_COUNT)
        return NULL;
    struct tables *t = xcalloc(1, sizeof(*t));
    t->pool = pool;
    memcpy(t->follow, follow, sizeof(t->follow));
    t->torrents.seed = t->new_torrents.seed = random_u64() | 1u;
    t->clients = xcalloc(1, sizeof(*t->clients));
    t->new_clients = xcalloc(1, sizeof(*t->new_clients));
    start_load(t);
    t->timer = xcheck(event_new(base, -1, EV_PERSIST, on_timer, t));
    struct timeval every = clock_ms_to_tv(TABLES_POLL_MS);
    evtimer_add(t->timer, &every);
    return t;
}

void tables_free(struct tables *t)
{
    if (t == NULL)
        return;
    event_free(t->timer);
    set_clear(&t->torrents);
    set_clear(&t->new_torrents);
    free(t->clients);
    free(t->new_clients);
    free(t);
}

bool tables_ready(const struct tables *t)
{
    if (t == NULL)
        return true;
    /* During a reload after a gap the previous sets still serve, until they are stale. */
    return t->loaded && clock_monotonic_us() - t->last_ok_us < (uint64_t)TABLES_STALE_MS * 1000;
}

bool tables_loaded(const struct tables *t)
{
    return t == NULL || t->loaded;
}

bool tables_has_torrent(const struct tables *t, const uint8_t *info_hash)
{
    return t != NULL && set_has(&t->torrents, info_hash);
}

const struct config_client *tables_clients(const struct tables *t, size_t *n)
{
    *n = t != NULL ? t->clients->n : 0;
    return t != NULL ? t->clients->items : NULL;
}

void tables_stats(const struct tables *t, struct tables_stats *out)
{
    *out = t != NULL ? t->stats : (struct tables_stats){0};
}

/* ---- changes ---- */

static void on_change(struct redis_caller caller, redisReply *r, const char *err)
{
    tables_change_fn *done = (tables_change_fn *)caller.fn;
    if (err == NULL && (r == NULL || r->type != REDIS_REPLY_INTEGER))
        err = r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply";
    done(caller.arg, err == NULL ? r->integer : -1, err);
}

int tables_change(struct redis_pool *pool, enum table_id id, bool add, const char *const *members,
                  size_t n, tables_change_fn *done, void *arg)
{
    const char *args[5 + TABLES_CHANGE_BATCH];
    size_t lens[5 + TABLES_CHANGE_BATCH];
    if (n < 1 || n > TABLES_CHANGE_BATCH)
        return REDIS_DOWN;
    args[0] = keys[id], args[1] = TABLE_CHANGES_KEY, args[2] = TABLE_SEQ_KEY;
    args[3] = names[id], args[4] = add ? "add" : "del";
    for (size_t i = 0; i < n; i++)
        args[5 + i] = members[i];
    for (size_t i = 0; i < 5 + n; i++)
        lens[i] = strlen(args[i]);
    return redis_pool_eval(pool, &lua_table_change, 3, (int)(5 + n), args, lens, on_change,
                           REDIS_CALLER(done, arg));
}
