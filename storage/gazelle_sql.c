/* SQL of the mysql driver's flushes (storage/gazelle_sql.h). */
#include "storage/gazelle_sql.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/mem.h"

static const char *const table_names[GAZELLE_TABLE_COUNT] = {[GAZELLE_USERS] = "users_main",
                                                             [GAZELLE_TOKENS] = "users_freeleeches",
                                                             [GAZELLE_TORRENTS] = "torrents",
                                                             [GAZELLE_SNATCHED] = "xbt_snatched",
                                                             [GAZELLE_PEERS] = "xbt_files_users"};

const char *gazelle_table_name(enum gazelle_table t)
{
    return table_names[t];
}

void sql_buf_free(struct sql_buf *b)
{
    free(b->s);
    *b = (struct sql_buf){0};
}

const char *sql_buf_next(const struct sql_buf *b, size_t *at)
{
    if (*at >= b->len)
        return NULL;
    const char *s = b->s + *at;
    *at += strlen(s) + 1;
    return s;
}

static void reserve(struct sql_buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    b->s = xreallocarray(b->s, cap, 1);
    b->cap = cap;
}

__attribute__((format(printf, 2, 3))) static void put(struct sql_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* X'<hex>' of len bytes (X'' for none). */
static void put_hex(struct sql_buf *b, const void *p, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    reserve(b, 2 * len + 4);
    char *w = b->s + b->len;
    *w++ = 'X', *w++ = '\'';
    for (size_t i = 0; i < len; i++) {
        uint8_t c = ((const uint8_t *)p)[i];
        *w++ = digits[c >> 4], *w++ = digits[c & 15];
    }
    *w++ = '\'';
    b->len = (size_t)(w - b->s);
}

static void end_statement(struct sql_buf *b)
{
    reserve(b, 1);
    b->s[b->len++] = '\0';
    b->count++;
}

/* Gazelle's columns' widths: ip and IP varchar(15) (IPv4 text), useragent varchar(51), and
 * the int columns a client's numbers must fit (its bigints are signed). */
#define GAZELLE_IP_MAX 15
#define GAZELLE_USERAGENT_MAX 51
#define INT32_COLUMN_MAX 2147483647ULL
#define UINT32_COLUMN_MAX 4294967295ULL
#define INT64_COLUMN_MAX 9223372036854775807ULL

static unsigned long long at_most(uint64_t v, unsigned long long max)
{
    return v < max ? (unsigned long long)v : max;
}

/* The address Gazelle records, as text: its columns hold IPv4 only (as Ocelot's); "" when
 * hidden or IPv6 only. */
static size_t entry_ip_text(const struct acct_entry *e, char *out, size_t cap)
{
    out[0] = '\0';
    if (!e->endpoints.has_v4)
        return 0;
    struct addr a = {.family = AF_INET};
    memcpy(a.bytes, e->endpoints.v4, 4);
    addr_format(&a, out, cap);
    size_t n = strlen(out);
    return n <= GAZELLE_IP_MAX ? n : 0;
}

/* ---- sums by key ---- */

/* One row of the summed tables: a key (user, torrent or both) and its sums. */
struct sum {
    uint32_t user_id, torrent_id;
    uint64_t a, b; /* users: up, down; tokens: down; torrents: snatched, seeder seen (s) */
};

static int by_key(const void *x, const void *y)
{
    const struct sum *p = x, *q = y;
    if (p->user_id != q->user_id)
        return p->user_id < q->user_id ? -1 : 1;
    return (p->torrent_id > q->torrent_id) - (p->torrent_id < q->torrent_id);
}

/* The entries' sums for t, one per key, rows with nothing to apply left out. */
static size_t sums_of(enum gazelle_table t, const struct acct_entry *const *entries, size_t n,
                      struct sum *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct acct_entry *e = entries[i];
        struct sum s = {0};
        if (t == GAZELLE_USERS)
            s = (struct sum){e->user_id, 0, e->uploaded, e->downloaded};
        else if (t == GAZELLE_TOKENS)
            s = (struct sum){e->user_id, e->torrent_id, e->token_downloaded, 0};
        else /* torrents: keyed by torrent alone */
            s = (struct sum){0, e->torrent_id, e->snatched,
                             e->active && e->left == 0 ? e->last_ms / 1000 : 0};
        if (s.a > 0 || s.b > 0)
            out[m++] = s;
    }
    qsort(out, m, sizeof(*out), by_key);
    size_t kept = 0;
    for (size_t i = 0; i < m; i++) {
        struct sum *last = kept > 0 ? &out[kept - 1] : NULL;
        if (last != NULL && by_key(last, &out[i]) == 0) {
            last->a += out[i].a;
            last->b = t == GAZELLE_TORRENTS ? (out[i].b > last->b ? out[i].b : last->b)
                                            : last->b + out[i].b;
        } else {
            out[kept++] = out[i];
        }
    }
    return kept;
}

/*
 * An UPDATE joined with the sums as a derived table: rows the site does not have are left
 * alone (an INSERT ... ON DUPLICATE KEY UPDATE, Ocelot's form, would create them).
 */
static void put_update(enum gazelle_table t, const struct sum *s, size_t n, struct sql_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (t == GAZELLE_USERS)
            put(out, "%s%u AS ID, %llu AS up, %llu AS down", i ? " UNION ALL SELECT " : "",
                s[i].user_id, (unsigned long long)s[i].a, (unsigned long long)s[i].b);
        else if (t == GAZELLE_TOKENS)
            put(out, "%s%u AS UserID, %u AS TorrentID, %llu AS down", i ? " UNION ALL SELECT " : "",
                s[i].user_id, s[i].torrent_id, (unsigned long long)s[i].a);
        else
            put(out, "%s%u AS ID, %llu AS snatched, %llu AS seen", i ? " UNION ALL SELECT " : "",
                s[i].torrent_id, (unsigned long long)s[i].a, (unsigned long long)s[i].b);
    }
}

static size_t summed_statements(enum gazelle_table t, const struct acct_entry *const *entries,
                                size_t n, size_t max_rows, struct sql_buf *out)
{
    struct sum *s = xreallocarray(NULL, n ? n : 1, sizeof(*s));
    size_t m = sums_of(t, entries, n, s);
    for (size_t at = 0; at < m; at += max_rows) {
        size_t k = m - at < max_rows ? m - at : max_rows;
        if (t == GAZELLE_USERS) {
            put(out, "UPDATE users_main AS u JOIN (SELECT ");
            put_update(t, s + at, k, out);
            put(out, ") AS d ON u.ID = d.ID SET u.Uploaded = u.Uploaded + d.up, "
                     "u.Downloaded = u.Downloaded + d.down");
        } else if (t == GAZELLE_TOKENS) {
            put(out, "UPDATE users_freeleeches AS f JOIN (SELECT ");
            put_update(t, s + at, k, out);
            put(out, ") AS d ON f.UserID = d.UserID AND f.TorrentID = d.TorrentID "
                     "SET f.Downloaded = f.Downloaded + d.down");
        } else {
            put(out, "UPDATE torrents AS t JOIN (SELECT ");
            put_update(t, s + at, k, out);
            put(out, ") AS d ON t.ID = d.ID SET t.Snatched = t.Snatched + d.snatched, "
                     "t.last_action = IF(d.seen > 0, FROM_UNIXTIME(d.seen), t.last_action)");
        }
        end_statement(out);
    }
    free(s);
    return m;
}

/* ---- rows per entry ---- */

/* A completed download is one row; more than this many per entry are not recorded. */
#define SNATCH_ROWS_MAX 16

static size_t snatched_statements(const struct acct_entry *const *entries, size_t n,
                                  size_t max_rows, struct sql_buf *out)
{
    size_t rows = 0, in_statement = 0;
    for (size_t i = 0; i < n; i++) {
        const struct acct_entry *e = entries[i];
        char ip[ADDR_TEXT_LEN];
        size_t ip_len = entry_ip_text(e, ip, sizeof(ip));
        uint64_t times = e->snatched < SNATCH_ROWS_MAX ? e->snatched : SNATCH_ROWS_MAX;
        for (uint64_t k = 0; k < times; k++) {
            if (in_statement == 0)
                put(out, "INSERT INTO xbt_snatched (uid, fid, tstamp, IP) VALUES ");
            put(out, "%s(%u, %u, %llu, ", in_statement ? ", " : "", e->user_id, e->torrent_id,
                at_most(e->last_ms / 1000, INT32_COLUMN_MAX));
            put_hex(out, ip, ip_len);
            put(out, ")");
            rows++;
            if (++in_statement == max_rows) {
                end_statement(out);
                in_statement = 0;
            }
        }
    }
    if (in_statement > 0)
        end_statement(out);
    return rows;
}

static size_t peer_statements(const struct acct_entry *const *entries, size_t n, size_t max_rows,
                              struct sql_buf *out)
{
    for (size_t at = 0; at < n; at += max_rows) {
        size_t k = n - at < max_rows ? n - at : max_rows;
        put(out, "INSERT INTO xbt_files_users (uid, fid, active, uploaded, downloaded, upspeed, "
                 "downspeed, remaining, corrupt, timespent, announced, ip, peer_id, useragent, "
                 "mtime) VALUES ");
        for (size_t i = at; i < at + k; i++) {
            const struct acct_entry *e = entries[i];
            char ip[ADDR_TEXT_LEN];
            size_t ip_len = entry_ip_text(e, ip, sizeof(ip));
            put(out, "%s(%u, %u, %d, %llu, %llu, %llu, %llu, %llu, 0, %llu, %llu, ",
                i > at ? ", " : "", e->user_id, e->torrent_id, e->active ? 1 : 0,
                at_most(e->reported_uploaded, INT64_COLUMN_MAX),
                at_most(e->reported_downloaded, INT64_COLUMN_MAX),
                at_most(e->up_speed, UINT32_COLUMN_MAX), at_most(e->down_speed, UINT32_COLUMN_MAX),
                at_most(e->left, INT64_COLUMN_MAX), at_most(e->spent_ms / 1000, UINT32_COLUMN_MAX),
                at_most(e->announces, INT32_COLUMN_MAX));
            put_hex(out, ip, ip_len);
            put(out, ", ");
            put_hex(out, e->peer_id, PEER_ID_LEN);
            put(out, ", ");
            put_hex(out, e->user_agent,
                    e->user_agent_len < GAZELLE_USERAGENT_MAX ? e->user_agent_len
                                                              : GAZELLE_USERAGENT_MAX);
            put(out, ", %llu)", at_most(e->last_ms / 1000, INT32_COLUMN_MAX));
        }
        /* announced: the entries count announces since the last flush. */
        put(out, " ON DUPLICATE KEY UPDATE active = VALUES(active), uploaded = VALUES(uploaded), "
                 "downloaded = VALUES(downloaded), upspeed = VALUES(upspeed), "
                 "downspeed = VALUES(downspeed), remaining = VALUES(remaining), "
                 "timespent = VALUES(timespent), announced = announced + VALUES(announced), "
                 "ip = VALUES(ip), useragent = VALUES(useragent), mtime = VALUES(mtime)");
        end_statement(out);
    }
    return n;
}

void gazelle_count_statements(const struct gazelle_count *counts, size_t n, size_t max_rows,
                              struct sql_buf *out)
{
    if (max_rows == 0)
        max_rows = 1;
    for (size_t at = 0; at < n; at += max_rows) {
        size_t k = n - at < max_rows ? n - at : max_rows;
        put(out, "UPDATE torrents AS t JOIN (SELECT ");
        for (size_t i = at; i < at + k; i++) {
            put(out, "%s", i > at ? " UNION ALL SELECT " : "");
            put_hex(out, counts[i].info_hash, INFO_HASH_LEN);
            put(out, " AS h, %llu AS s, %llu AS l", at_most(counts[i].seeders, INT32_COLUMN_MAX),
                at_most(counts[i].leechers, INT32_COLUMN_MAX));
        }
        put(out, ") AS d ON t.info_hash = d.h SET t.Seeders = d.s, t.Leechers = d.l, "
                 "t.last_action = IF(d.s > 0, NOW(), t.last_action)");
        end_statement(out);
    }
}

void gazelle_marker_statements(enum gazelle_table t, const struct gazelle_mark *marks, size_t n,
                               size_t max_rows, struct sql_buf *out)
{
    if (max_rows == 0)
        max_rows = 1;
    for (size_t at = 0; at < n; at += max_rows) {
        size_t k = n - at < max_rows ? n - at : max_rows;
        put(out, "INSERT INTO " GAZELLE_MARKERS_TABLE " (tbl, slot, batch) VALUES ");
        for (size_t i = at; i < at + k; i++)
            put(out, "%s('%s', %u, %llu)", i > at ? ", " : "", table_names[t], marks[i].slot,
                (unsigned long long)marks[i].batch);
        put(out, " ON DUPLICATE KEY UPDATE batch = GREATEST(batch, VALUES(batch))");
        end_statement(out);
    }
}

size_t gazelle_statements(enum gazelle_table t, const struct acct_entry *const *entries, size_t n,
                          size_t max_rows, struct sql_buf *out)
{
    if (max_rows == 0)
        max_rows = 1;
    switch (t) {
    case GAZELLE_SNATCHED:
        return snatched_statements(entries, n, max_rows, out);
    case GAZELLE_PEERS:
        return peer_statements(entries, n, max_rows, out);
    default:
        return summed_statements(t, entries, n, max_rows, out);
    }
}
