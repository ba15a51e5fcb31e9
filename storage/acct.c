/*
 * The aggregator's accounting cycle (storage/acct.h): every slot's pending hash drained as
 * a numbered batch, delivered by the driver exactly once, then deleted.
 */
#include "storage/acct.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/addr.h"
#include "common/config.h"
#include "common/mem.h"
#include "common/text.h"
#include "storage/cluster.h"
#include "storage/keys.h"
#include "storage/keyslot.h"
#include "storage/scripts.h"
#include "storage/sync.h"

/* Slots whose drains one pipelined burst carries (their replies are held until read). */
#define DRAIN_BURST 256

struct slot_keys {
    char pending[2 + SLOT_TAG_MAX + sizeof(ACCT_PENDING_SUFFIX)];
    char draining[2 + SLOT_TAG_MAX + sizeof(ACCT_DRAINING_SUFFIX)];
    char batch[2 + SLOT_TAG_MAX + sizeof(ACCT_BATCH_SUFFIX)];
};

static void slot_keys_fill(struct slot_keys *k, unsigned slot)
{
    const char *tag = slot_tag(slot);
    snprintf(k->pending, sizeof(k->pending), "{%s}%s", tag, ACCT_PENDING_SUFFIX);
    snprintf(k->draining, sizeof(k->draining), "{%s}%s", tag, ACCT_DRAINING_SUFFIX);
    snprintf(k->batch, sizeof(k->batch), "{%s}%s", tag, ACCT_BATCH_SUFFIX);
}

/* ---- a batch ---- */

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    return decimal_parse(s, len, UINT64_MAX, out);
}

/* "<user id>:<torrent id>:<20-byte peer_id>" */
static int parse_field(const char *f, size_t len, struct acct_entry *e)
{
    const char *c1 = memchr(f, ':', len);
    if (c1 == NULL)
        return -1;
    const char *c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - f));
    uint64_t u, t;
    if (c2 == NULL || (size_t)(f + len - (c2 + 1)) != PEER_ID_LEN ||
        decimal_parse(f, (size_t)(c1 - f), UINT32_MAX, &u) < 0 ||
        decimal_parse(c1 + 1, (size_t)(c2 - c1 - 1), UINT32_MAX, &t) < 0)
        return -1;
    e->user_id = (uint32_t)u;
    e->torrent_id = (uint32_t)t;
    memcpy(e->peer_id, c2 + 1, PEER_ID_LEN);
    return 0;
}

/* A big-endian double holding a count (lua/lib/account.lua packs them so): 0 or -1 when it
 * is no whole number in 0 .. 2^64. */
static int be_count(const uint8_t *p, uint64_t *out)
{
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits = bits << 8 | p[i];
    double d;
    memcpy(&d, &bits, sizeof(d));
    if (!(d >= 0 && d < 18446744073709551616.0) || d != (double)(uint64_t)d)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

/* ACCT_PENDING (13 doubles and a byte), then a byte of length and the member endpoints
 * (storage/keys.h) or nothing, then the user agent. */
static int parse_value(const char *v, size_t len, struct acct_entry *e)
{
    enum { DOUBLES_BEFORE = 7, DOUBLES_AFTER = 6, PACKED = 8 * 13 + 1 };
    const uint8_t *p = (const uint8_t *)v;
    uint64_t w[DOUBLES_BEFORE + DOUBLES_AFTER];
    if (len < PACKED)
        return -1;
    for (int i = 0; i < DOUBLES_BEFORE; i++)
        if (be_count(p + 8 * i, &w[i]) < 0)
            return -1;
    uint8_t active = p[8 * DOUBLES_BEFORE];
    for (int i = 0; i < DOUBLES_AFTER; i++)
        if (be_count(p + 8 * DOUBLES_BEFORE + 1 + 8 * i, &w[DOUBLES_BEFORE + i]) < 0)
            return -1;
    if (active > 1)
        return -1;
    struct acct_entry who = *e; /* parse_field()'s part */
    *e = (struct acct_entry){
        .user_id = who.user_id,
        .torrent_id = who.torrent_id,
        .uploaded = w[0],
        .downloaded = w[1],
        .token_downloaded = w[2],
        .seed_ms = w[3],
        .snatched = w[4],
        .announces = w[5],
        .left = w[6],
        .active = active != 0,
        .last_ms = w[7],
        .spent_ms = w[8],
        .up_speed = w[9],
        .down_speed = w[10],
        .reported_uploaded = w[11],
        .reported_downloaded = w[12],
    };
    memcpy(e->peer_id, who.peer_id, PEER_ID_LEN);
    /* The endpoints' length, the endpoints, the user agent. */
    if (len < PACKED + 1 || (size_t)p[PACKED] > len - PACKED - 1 ||
        len - PACKED - 1 - p[PACKED] > USER_AGENT_MAX)
        return -1;
    const uint8_t *m = p + PACKED + 1;
    size_t mlen = p[PACKED];
    e->user_agent_len = len - PACKED - 1 - mlen;
    memcpy(e->user_agent, m + mlen, e->user_agent_len);
    if (mlen == COMPACT_V4_LEN || mlen == COMPACT_V4_LEN + COMPACT_V6_LEN) {
        e->endpoints.has_v4 = true;
        memcpy(e->endpoints.v4, m, COMPACT_V4_LEN);
        m += COMPACT_V4_LEN, mlen -= COMPACT_V4_LEN;
    }
    if (mlen == COMPACT_V6_LEN) {
        e->endpoints.has_v6 = true;
        memcpy(e->endpoints.v6, m, COMPACT_V6_LEN);
    } else if (mlen != 0) {
        return -1;
    }
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct acct_entry *x = a, *y = b;
    if (x->user_id != y->user_id)
        return x->user_id < y->user_id ? -1 : 1;
    if (x->torrent_id != y->torrent_id)
        return x->torrent_id < y->torrent_id ? -1 : 1;
    return memcmp(x->peer_id, y->peer_id, PEER_ID_LEN);
}

int acct_batch_parse(const redisReply *r, unsigned slot, struct acct_batch *b, uint64_t *bad)
{
    *b = (struct acct_batch){.slot = slot};
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
        return -1;
    bool numbered = false;
    b->entries = xreallocarray(NULL, r->elements / 2 + 1, sizeof(*b->entries));
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            (*bad)++;
            continue;
        }
        if (f->len == 6 && memcmp(f->str, "#batch", 6) == 0) {
            numbered = parse_u64(v->str, v->len, &b->number) == 0;
            continue;
        }
        if (f->len == 8 && memcmp(f->str, "#dropped", 8) == 0) {
            if (parse_u64(v->str, v->len, &b->dropped) < 0)
                (*bad)++;
            continue;
        }
        struct acct_entry *e = &b->entries[b->n];
        if (parse_field(f->str, f->len, e) < 0 || parse_value(v->str, v->len, e) < 0) {
            (*bad)++;
            continue;
        }
        b->n++;
    }
    if (!numbered) {
        acct_batch_free(b);
        return -1;
    }
    qsort(b->entries, b->n, sizeof(*b->entries), entry_cmp);
    return 0;
}

void acct_batch_free(struct acct_batch *b)
{
    free(b->entries);
    b->entries = NULL;
    b->n = 0;
}

/* ---- the redis-stream driver ---- */

/* The address a peer entry names: IPv4 first (Gazelle keeps one), "" when hidden. */
static void entry_ip(const struct acct_entry *e, char *ip, size_t cap, unsigned *port)
{
    struct addr a = {0};
    *port = 0;
    ip[0] = '\0';
    if (e->endpoints.has_v4) {
        a.family = AF_INET;
        memcpy(a.bytes, e->endpoints.v4, 4);
        *port = (unsigned)e->endpoints.v4[4] << 8 | e->endpoints.v4[5];
    } else if (e->endpoints.has_v6) {
        a.family = AF_INET6;
        memcpy(a.bytes, e->endpoints.v6, 16);
        *port = (unsigned)e->endpoints.v6[16] << 8 | e->endpoints.v6[17];
    } else {
        return;
    }
    addr_format(&a, ip, cap);
}

/* An entry: the count of its field/value words goes first, filled in by entry_end(). */
static size_t entry_begin(struct str_list *w, const char *type)
{
    str_list_addf(w, "0");
    str_list_addf(w, "type");
    str_list_addf(w, "%s", type);
    return w->n - 3;
}

static void entry_end(struct str_list *w, size_t at)
{
    free(w->items[at]);
    char buf[24];
    snprintf(buf, sizeof(buf), "%zu", w->n - at - 1);
    w->items[at] = xcheck(strdup(buf));
}

static void field_u64(struct str_list *w, const char *name, uint64_t v)
{
    str_list_addf(w, "%s", name);
    str_list_addf(w, "%llu", (unsigned long long)v);
}

/*
 * The stream entries of batch b (README "Private tracker" documents them): per user the
 * counted uploaded and downloaded sums, per token use, per snatch, per peer. Entries come
 * sorted by user, so a user's sums are made in one go.
 */
static void batch_words(const struct acct_batch *b, struct str_list *w)
{
    for (size_t i = 0; i < b->n;) {
        uint64_t up = 0, down = 0;
        size_t j = i;
        for (; j < b->n && b->entries[j].user_id == b->entries[i].user_id; j++)
            up += b->entries[j].uploaded, down += b->entries[j].downloaded;
        if (up > 0 || down > 0) {
            size_t at = entry_begin(w, "user");
            field_u64(w, "user", b->entries[i].user_id);
            field_u64(w, "uploaded", up);
            field_u64(w, "downloaded", down);
            entry_end(w, at);
        }
        i = j;
    }
    for (size_t i = 0; i < b->n; i++) {
        const struct acct_entry *e = &b->entries[i];
        if (e->token_downloaded > 0) {
            size_t at = entry_begin(w, "token");
            field_u64(w, "user", e->user_id);
            field_u64(w, "torrent", e->torrent_id);
            field_u64(w, "downloaded", e->token_downloaded);
            entry_end(w, at);
        }
        if (e->snatched > 0) {
            size_t at = entry_begin(w, "snatch");
            field_u64(w, "user", e->user_id);
            field_u64(w, "torrent", e->torrent_id);
            field_u64(w, "count", e->snatched);
            entry_end(w, at);
        }
        char ip[ADDR_TEXT_LEN], hex[2 * PEER_ID_LEN + 1];
        unsigned port;
        entry_ip(e, ip, sizeof(ip), &port);
        hex_encode(e->peer_id, PEER_ID_LEN, hex);
        hex[2 * PEER_ID_LEN] = '\0';
        size_t at = entry_begin(w, "peer");
        field_u64(w, "user", e->user_id);
        field_u64(w, "torrent", e->torrent_id);
        str_list_addf(w, "peer_id"), str_list_addf(w, "%s", hex);
        field_u64(w, "active", e->active);
        field_u64(w, "uploaded", e->uploaded);
        field_u64(w, "downloaded", e->downloaded);
        field_u64(w, "reported_uploaded", e->reported_uploaded);
        field_u64(w, "reported_downloaded", e->reported_downloaded);
        field_u64(w, "left", e->left);
        field_u64(w, "upspeed", e->up_speed);
        field_u64(w, "downspeed", e->down_speed);
        field_u64(w, "seedtime", e->seed_ms / 1000);
        field_u64(w, "timespent", e->spent_ms / 1000);
        field_u64(w, "announces", e->announces);
        str_list_addf(w, "ip"), str_list_addf(w, "%s", ip);
        field_u64(w, "port", port);
        field_u64(w, "mtime", e->last_ms / 1000);
        str_list_addf(w, "useragent"),
            str_list_addf(w, "%.*s", (int)e->user_agent_len, e->user_agent);
        entry_end(w, at);
    }
}

/* Delivers b exactly once through acct_publish.lua. Returns 0 (now or before), or -1. */
static int deliver_redis_stream(struct cluster *cl, const struct acct_batch *b, char *err)
{
    struct str_list w = {0};
    str_list_addf(&w, "%s", ACCT_DELTAS_KEY);
    str_list_addf(&w, "%s", ACCT_APPLIED_KEY);
    str_list_addf(&w, "%u", b->slot);
    str_list_addf(&w, "%llu", (unsigned long long)b->number);
    batch_words(b, &w);
    size_t *lens = xreallocarray(NULL, w.n, sizeof(*lens));
    for (size_t i = 0; i < w.n; i++)
        lens[i] = strlen(w.items[i]);
    struct sync_conn *sc = cluster_route(cl, ACCT_APPLIED_KEY);
    redisReply *r =
        sync_eval(sc, &lua_acct_publish, 2, (int)w.n, (const char *const *)w.items, lens);
    int rc = r != NULL && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
    if (rc < 0)
        snprintf(err, STARLING_ERR_LEN, "acct_publish.lua: %s", sync_reply_error(r, sc));
    if (r != NULL)
        freeReplyObject(r);
    free(lens);
    str_list_free(&w);
    return rc;
}

static int deliver_noop(void *ctx, struct cluster *cl, const struct acct_batch *batches, size_t n,
                        char *err)
{
    (void)ctx, (void)cl, (void)batches, (void)n, (void)err;
    return 0;
}

static int deliver_stream(void *ctx, struct cluster *cl, const struct acct_batch *batches, size_t n,
                          char *err)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        if (deliver_redis_stream(cl, &batches[i], err) < 0)
            return -1;
    return 0;
}

const struct acct_driver acct_driver_noop = {deliver_noop, NULL, ACCT_CYCLE_MAX_ENTRIES};
const struct acct_driver acct_driver_redis_stream = {deliver_stream, NULL, ACCT_CYCLE_MAX_ENTRIES};

/* ---- the cycle ---- */

/* The batches one cycle drained, with the node each came from. */
struct acct_cycle {
    struct acct_batch *batches;
    size_t *nodes;
    size_t n, cap, entries;
    bool failed; /* some slot could not be drained */
};

static void cycle_add(struct acct_cycle *c, const struct acct_batch *b, size_t node)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->batches = xreallocarray(c->batches, c->cap, sizeof(*c->batches));
        c->nodes = xreallocarray(c->nodes, c->cap, sizeof(*c->nodes));
    }
    c->batches[c->n] = *b;
    c->nodes[c->n++] = node;
    c->entries += b->n;
}

static void cycle_free(struct acct_cycle *c)
{
    for (size_t i = 0; i < c->n; i++)
        acct_batch_free(&c->batches[i]);
    free(c->batches);
    free(c->nodes);
}

/* Deletes a delivered batch. Returns 0 or -1 with err. */
static int finish_batch(struct sync_conn *sc, const struct acct_batch *b, char *err)
{
    struct slot_keys k;
    slot_keys_fill(&k, b->slot);
    char number[24];
    const char *args[] = {k.draining, number};
    size_t lens[] = {strlen(k.draining), (size_t)snprintf(number, sizeof(number), "%llu",
                                                          (unsigned long long)b->number)};
    redisReply *r = sync_eval(sc, &lua_acct_finish, 1, 2, args, lens);
    int rc = r != NULL && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
    if (rc < 0)
        snprintf(err, STARLING_ERR_LEN, "acct_finish.lua: %s", sync_reply_error(r, sc));
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

/* Drains n slots of one node (pipelined) into the cycle. Returns 0, or -1 with err (the
 * connection failed, or some slot did: taken again next cycle). */
static int drain_burst(struct sync_conn *sc, size_t node, const unsigned *slots, size_t n,
                       struct acct_cycle *c, struct acct_stats *st, char *err)
{
    redisReply *replies[DRAIN_BURST];
    size_t sent = 0;
    for (; sent < n; sent++) {
        struct slot_keys k;
        slot_keys_fill(&k, slots[sent]);
        const char *args[] = {k.pending, k.draining, k.batch};
        size_t lens[] = {strlen(k.pending), strlen(k.draining), strlen(k.batch)};
        if (sync_eval_append(sc, &lua_acct_drain, 3, 3, args, lens) < 0)
            break;
    }
    for (size_t i = 0; i < sent; i++)
        replies[i] = sync_eval_reply(sc);
    int rc = sent == n ? 0 : -1;
    if (rc < 0)
        snprintf(err, STARLING_ERR_LEN, "acct_drain.lua: connection lost");
    for (size_t i = 0; i < sent; i++) {
        redisReply *r = replies[i];
        if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
            /* A slot moved away (MOVED): drained on its new node next cycle. A node that
             * lost its scripts (a restart) has them loaded again for the next cycle. */
            snprintf(err, STARLING_ERR_LEN, "acct_drain.lua: %s", sync_reply_error(r, sc));
            if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0)
                sync_load_scripts(sc, err);
            rc = -1;
        } else if (r->elements > 0) {
            struct acct_batch b;
            if (acct_batch_parse(r, slots[i], &b, &st->bad) < 0) {
                snprintf(err, STARLING_ERR_LEN, "slot %u: a draining hash with no batch number",
                         slots[i]);
                rc = -1;
            } else {
                cycle_add(c, &b, node);
            }
        }
        if (r != NULL)
            freeReplyObject(r);
    }
    return rc;
}

/* Drains the node's slots, from st->next_slot on, until the cycle holds max entries.
 * Returns 0 or -1 with err; *full when it stopped for the limit. */
static int drain_node(struct cluster *cl, size_t node, size_t max, struct acct_cycle *c,
                      struct acct_stats *st, bool *full, char *err)
{
    const struct slot_map *m = cluster_map(cl);
    struct sync_conn *sc = cluster_node(cl, node, err);
    if (sc == NULL)
        return -1;
    int rc = 0;
    unsigned slots[DRAIN_BURST];
    size_t n = 0;
    for (unsigned i = 0; i < CLUSTER_SLOTS && sc->c != NULL && !*full; i++) {
        unsigned slot = (st->next_slot + i) % CLUSTER_SLOTS;
        if (slot_map_node_of_slot(m, slot) == (int)node)
            slots[n++] = slot;
        bool last = i + 1 == CLUSTER_SLOTS;
        if (n == DRAIN_BURST || (last && n > 0)) {
            if (drain_burst(sc, node, slots, n, c, st, err) < 0)
                rc = -1;
            n = 0;
            if (c->entries >= max) {
                *full = true;
                st->next_slot = (slot + 1) % CLUSTER_SLOTS;
            }
        }
    }
    return rc;
}

struct acct_cycle *acct_drain(struct cluster *cl, size_t max_entries, struct acct_stats *st,
                              char *err)
{
    struct acct_cycle *c = xcalloc(1, sizeof(*c));
    bool full = false;
    st->cycles++;
    /* From where the last cycle stopped (node and slot), so under a sustained load above
     * the limit every slot still gets its turn. */
    size_t nodes = cluster_size(cl);
    for (size_t i = 0; i < nodes && !full; i++) {
        size_t node = (st->next_node + i) % nodes;
        if (drain_node(cl, node, max_entries, c, st, &full, err) < 0)
            c->failed = true;
        if (full)
            st->next_node = node;
    }
    if (!full)
        st->next_slot = 0, st->next_node = 0;
    return c;
}

const struct acct_batch *acct_cycle_batches(const struct acct_cycle *c, size_t *n)
{
    *n = c->n;
    return c->batches;
}

int acct_settle(struct cluster *cl, struct acct_cycle *c, bool delivered, struct acct_stats *st,
                char *err)
{
    int rc = c->failed ? -1 : 0;
    char derr[STARLING_ERR_LEN];
    for (size_t i = 0; i < c->n && delivered; i++) {
        struct sync_conn *sc = cluster_node(cl, c->nodes[i], derr);
        if (sc == NULL || finish_batch(sc, &c->batches[i], derr) < 0) {
            /* Delivered: the next cycle hands it again, and the driver skips it. */
            snprintf(err, STARLING_ERR_LEN, "%s", derr);
            rc = -1;
            continue;
        }
        st->batches++;
        st->entries += c->batches[i].n;
        st->dropped += c->batches[i].dropped;
    }
    if (!delivered)
        rc = -1;
    if (rc < 0)
        st->failures++;
    cycle_free(c);
    free(c);
    return rc;
}

int acct_cycle(struct cluster *cl, const struct acct_driver *driver, struct acct_stats *st,
               char *err)
{
    struct acct_cycle *c = acct_drain(cl, driver->max_entries, st, err);
    /* What was drained is delivered even when some slot failed: the others' batches need
     * not wait. Undelivered, all stay in their draining hashes for the next cycle. */
    bool delivered = true;
    char derr[STARLING_ERR_LEN];
    if (c->n > 0 && driver->deliver(driver->ctx, cl, c->batches, c->n, derr) < 0) {
        snprintf(err, STARLING_ERR_LEN, "%s", derr);
        delivered = false;
    }
    return acct_settle(cl, c, delivered, st, err);
}
