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
#include "common/keyed_table.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/numtext.h"
#include "common/random.h"
#include "common/text.h"
#include "common/torrent.h"
#include "storage/keys.h"
#include "storage/redis.h"
#include "storage/scripts.h"
#include "storage/table_entries.h"

/* Members per SSCAN step and changes per read. */
#define SCAN_COUNT "1000"
#define READ_COUNT "1000"
#define READ_BATCH 1000
/* The longest stream id ("<ms>-<seq>", two 20-digit numbers) and its NUL. */
#define ID_LEN 48
/* After a reply of no expected form or a table past its limit: the pause before loading. */
#define RETRY_MS 1000

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
    bool loaded;      /* a whole load finished: the tables below are good */
    bool busy;        /* a call is in flight */
    enum phase phase; /* what the next call does */
    enum table_id scanning;
    char cursor[24];
    uint64_t seq;    /* the latest change applied (or the load's start) */
    char id[ID_LEN]; /* its stream id */
    uint64_t last_ok_us;
    uint64_t retry_at_us;           /* after a failure, no call before this */
    struct keyed live[TABLE_COUNT]; /* the keyed tables (not TABLE_CLIENTS) ... */
    struct keyed next[TABLE_COUNT]; /* ... and the copy a load builds */
    struct client_list *clients, *new_clients;
    uint64_t announce_ms, new_announce_ms; /* TABLE_SETTINGS (0: none) */
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

/* Applies one member (with its value, for hashes) to the table being built (load) or the
 * live one (change). Returns -1 when a table is full. A member or value of no valid form is
 * skipped (logged). */
static int apply(struct tables *t, enum table_id id, bool add, const char *m, size_t len,
                 const char *v, size_t vlen, bool loading)
{
    if (id == TABLE_CLIENTS) {
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
    if (id == TABLE_SETTINGS) {
        /* One setting: a change of another (a later version's) leaves it alone. */
        uint64_t ms = 0;
        if (!tables_member_valid(id, m, len) ||
            (add && table_parse_setting(m, len, v, vlen, &ms) < 0))
            return 0;
        *(loading ? &t->new_announce_ms : &t->announce_ms) = ms;
        return 0;
    }
    uint8_t key[TABLE_KEY_MAX], val[TABLE_VALUE_MAX];
    if (table_parse_member(id, m, len, key) < 0 ||
        (add && tables_desc[id].hash && table_parse_value(id, v, vlen, val) < 0)) {
        static struct log_limit lines;
        log_limited(&lines, LOG_WARN, "shared tables: an entry of %s of no valid form skipped",
                    tables_desc[id].name);
        return 0;
    }
    struct keyed *s = loading ? &t->next[id] : &t->live[id];
    if (!add) {
        keyed_del(s, key);
        return 0;
    }
    return keyed_put(s, key, val);
}

static enum table_id next_followed(const struct tables *t, int from)
{
    for (int i = from; i < TABLE_COUNT; i++)
        if (t->follow[i])
            return (enum table_id)i;
    return TABLE_COUNT;
}

static void count_entries(struct tables *t)
{
    for (int id = 0; id < TABLE_COUNT; id++)
        t->stats.entries[id] = id == TABLE_CLIENTS    ? t->clients->n
                               : id == TABLE_SETTINGS ? t->announce_ms != 0
                                                      : t->live[id].used;
}

static void finish_load(struct tables *t)
{
    for (int id = 0; id < TABLE_COUNT; id++) {
        if (id == TABLE_CLIENTS)
            continue;
        keyed_clear(&t->live[id]);
        t->live[id] = t->next[id];
        t->next[id].slots = NULL;
        keyed_clear(&t->next[id]);
    }
    struct client_list *old = t->clients;
    t->clients = t->new_clients;
    t->new_clients = old;
    t->new_clients->n = 0;
    t->announce_ms = t->new_announce_ms;
    count_entries(t);
    if (!t->loaded)
        log_info("shared tables loaded: %zu torrents, %zu clients, %zu users, %zu registered "
                 "torrents, %zu tokens",
                 t->live[TABLE_TORRENTS].used, t->clients->n, t->live[TABLE_USERS].used,
                 t->live[TABLE_REGISTERED].used, t->live[TABLE_TOKENS].used);
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
    for (int id = 0; id < TABLE_COUNT; id++)
        keyed_clear(&t->next[id]);
    t->new_clients->n = 0;
    t->new_announce_ms = 0;
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
    const redisReply *items = r->element[1];
    size_t step = tables_desc[t->scanning].hash ? 2 : 1;
    for (size_t i = 0; i + step <= items->elements; i += step) {
        const redisReply *m = items->element[i], *v = step == 2 ? items->element[i + 1] : NULL;
        if (!is_string(m) || (v != NULL && !is_string(v)))
            continue;
        if (apply(t, t->scanning, true, m->str, m->len, v != NULL ? v->str : NULL,
                  v != NULL ? v->len : 0, true) < 0) {
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

/* Fields per change in table_read.lua's reply. */
#define CHANGE_FIELDS 6

static void on_read(struct tables *t, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements % CHANGE_FIELDS != 0) {
        failed(t, "unexpected reply to table_read.lua");
        return;
    }
    for (size_t i = 0; i < r->elements; i += CHANGE_FIELDS) {
        redisReply *const *e = &r->element[i];
        uint64_t n;
        if (!is_string(e[0]) || e[0]->len >= ID_LEN || reply_u64(e[1], &n) < 0 ||
            !is_string(e[2]) || !is_string(e[3]) || !is_string(e[4]) || !is_string(e[5])) {
            failed(t, "a change of no known form in the stream");
            return;
        }
        if (n != t->seq + 1) {
            /* Trimmed past us (or written by something other than table_change.lua). */
            failed(t, "changes are missing from the stream");
            return;
        }
        for (int id = 0; id < TABLE_COUNT; id++) {
            const char *name = tables_desc[id].name;
            if (!t->follow[id] || strlen(name) != e[2]->len ||
                memcmp(name, e[2]->str, e[2]->len) != 0)
                continue;
            bool add = e[3]->len == 3 && memcmp(e[3]->str, "add", 3) == 0;
            if (apply(t, (enum table_id)id, add, e[4]->str, e[4]->len, e[5]->str, e[5]->len,
                      false) < 0) {
                failed(t, "a table is larger than its limit (storage/tables.h)");
                return;
            }
            t->stats.changes++;
        }
        t->seq = n;
        memcpy(t->id, e[0]->str, e[0]->len);
        t->id[e[0]->len] = '\0';
    }
    count_entries(t);
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
    if (t->phase != FOLLOW || (was == FOLLOW && r->elements == CHANGE_FIELDS * READ_BATCH))
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
        args[0] = tables_desc[t->scanning].key, args[1] = t->cursor, args[2] = SCAN_COUNT;
        args[3] = tables_desc[t->scanning].hash ? "hash" : "set";
        script = &lua_table_scan, nkeys = 1, nargs = 4;
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
    bool any = false;
    for (int id = 0; id < TABLE_COUNT; id++)
        any = any || follow[id];
    if (!any)
        return NULL;
    struct tables *t = xcalloc(1, sizeof(*t));
    t->pool = pool;
    memcpy(t->follow, follow, sizeof(t->follow));
    uint64_t seed = random_u64() | 1u;
    for (int id = 0; id < TABLE_COUNT; id++) {
        const struct table_desc *d = &tables_desc[id];
        keyed_init(&t->live[id], d->key_len, d->val_len, TABLES_ENTRIES_MAX, seed);
        keyed_init(&t->next[id], d->key_len, d->val_len, TABLES_ENTRIES_MAX, seed);
    }
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
    for (int id = 0; id < TABLE_COUNT; id++) {
        keyed_clear(&t->live[id]);
        keyed_clear(&t->next[id]);
    }
    free(t->clients);
    free(t->new_clients);
    free(t);
}

bool tables_ready(const struct tables *t)
{
    if (t == NULL)
        return true;
    /* During a reload after a gap the previous tables still serve, until they are stale. */
    return t->loaded && clock_monotonic_us() - t->last_ok_us < (uint64_t)TABLES_STALE_MS * 1000;
}

bool tables_loaded(const struct tables *t)
{
    return t == NULL || t->loaded;
}

bool tables_has_torrent(const struct tables *t, const uint8_t *info_hash)
{
    return t != NULL && keyed_get(&t->live[TABLE_TORRENTS], info_hash) != NULL;
}

const struct config_client *tables_clients(const struct tables *t, size_t *n)
{
    *n = t != NULL ? t->clients->n : 0;
    return t != NULL ? t->clients->items : NULL;
}

/* Values sit unaligned in their slots: copied out. */
bool tables_user(const struct tables *t, const char *passkey, struct table_user *out)
{
    const uint8_t *v =
        t != NULL ? keyed_get(&t->live[TABLE_USERS], (const uint8_t *)passkey) : NULL;
    if (v != NULL)
        memcpy(out, v, sizeof(*out));
    return v != NULL;
}

bool tables_registered(const struct tables *t, const uint8_t *info_hash, struct table_torrent *out)
{
    const uint8_t *v = t != NULL ? keyed_get(&t->live[TABLE_REGISTERED], info_hash) : NULL;
    if (v != NULL)
        memcpy(out, v, sizeof(*out));
    return v != NULL;
}

uint64_t tables_announce_ms(const struct tables *t)
{
    return t != NULL ? t->announce_ms : 0;
}

bool tables_has_token(const struct tables *t, const uint8_t *info_hash, uint32_t user_id)
{
    if (t == NULL)
        return false;
    uint8_t key[INFO_HASH_LEN + 4];
    memcpy(key, info_hash, INFO_HASH_LEN);
    memcpy(key + INFO_HASH_LEN, &user_id, 4);
    return keyed_get(&t->live[TABLE_TOKENS], key) != NULL;
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

int tables_change(struct redis_pool *pool, enum table_id id, enum table_op op,
                  const char *const *args, size_t n, tables_change_fn *done, void *arg)
{
    const char *argv[TABLE_CHANGE_ARGS_MAX];
    size_t lens[TABLE_CHANGE_ARGS_MAX];
    int nargs = table_change_args(id, op, args, n, argv, lens);
    if (nargs < 0)
        return REDIS_DOWN;
    return redis_pool_eval(pool, &lua_table_change, 3, nargs, argv, lens, on_change,
                           REDIS_CALLER(done, arg));
}
