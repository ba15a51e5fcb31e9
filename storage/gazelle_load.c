/*
 * driver "mysql", down (storage/gazelle_db.h): the site's users, torrents, tokens and
 * client whitelist into the shared tables, differences only, through lua/table_change.lua.
 *
 * Per table: the site's rows are read (streamed) into a sorted list of wanted entries, the
 * table in Redis is walked (HSCAN/SSCAN) and each entry compared: one the site no longer
 * has goes (a registered torrent is marked deleted instead, so announces get
 * "Unregistered torrent" and the aggregator's pass removes it a day later), one that
 * differs is rewritten, and the wanted entries Redis lacked are added. Memory: the wanted
 * list, about 80 bytes per row (1 M users: about 80 MB while it runs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/mem.h"
#include "common/text.h"
#include "storage/cluster.h"
#include "storage/gazelle_internal.h"
#include "storage/keys.h"
#include "storage/scripts.h"
#include "storage/sync.h"
#include "storage/table_entries.h"
#include "storage/tables.h"

/* A wanted entry: member (a hash's field) and, for hashes, its value text. */
struct wanted {
    char *member, *value;
    bool seen;
};

struct wanted_list {
    struct wanted *v;
    size_t n, cap;
};

static void wanted_add(struct wanted_list *l, const char *member, const char *value)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
    }
    l->v[l->n++] = (struct wanted){xcheck(strdup(member)),
                                   value != NULL ? xcheck(strdup(value)) : NULL, false};
}

static void wanted_free(struct wanted_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].member), free(l->v[i].value);
    free(l->v);
    *l = (struct wanted_list){0};
}

static int by_member(const void *a, const void *b)
{
    return strcmp(((const struct wanted *)a)->member, ((const struct wanted *)b)->member);
}

static struct wanted *wanted_find(struct wanted_list *l, const char *member, size_t len)
{
    char key[STR_LIST_ITEM_MAX];
    if (len >= sizeof(key))
        return NULL;
    memcpy(key, member, len);
    key[len] = '\0';
    struct wanted probe = {.member = key};
    return bsearch(&probe, l->v, l->n, sizeof(*l->v), by_member);
}

/* ---- the site's rows ---- */

/* The query of each table, and how a row becomes an entry. */
static const char *const queries[TABLE_COUNT] = {
    /* Gazelle's Enabled: '1' enabled, '2' disabled ("Your account is disabled"), '0' not
     * confirmed yet (unknown to the tracker, as in Ocelot). */
    [TABLE_USERS] = "SELECT ID, torrent_pass, can_leech, Visible, Enabled FROM users_main "
                    "WHERE Enabled IN ('1', '2')",
    [TABLE_REGISTERED] = "SELECT ID, LOWER(HEX(info_hash)), FreeTorrent FROM torrents",
    [TABLE_TOKENS] = "SELECT LOWER(HEX(t.info_hash)), f.UserID FROM users_freeleeches AS f "
                     "JOIN torrents AS t ON t.ID = f.TorrentID WHERE f.Expired = '0'",
    [TABLE_CLIENTS] = "SELECT peer_id FROM xbt_client_whitelist",
};

static bool flag(const char *s)
{
    return s != NULL && strcmp(s, "0") != 0 && s[0] != '\0';
}

/* The entry of a row of table id into member/value (value "" for sets); false to skip. */
static bool row_entry(enum table_id id, MYSQL_ROW row, char *member, char *value)
{
    for (int i = 0; i < (id == TABLE_USERS     ? 5
                         : id == TABLE_CLIENTS ? 1
                         : id == TABLE_TOKENS  ? 2
                                               : 3);
         i++)
        if (row[i] == NULL)
            return false;
    value[0] = '\0';
    switch (id) {
    case TABLE_USERS:
        snprintf(member, STR_LIST_ITEM_MAX, "%s", row[1]);
        snprintf(value, STR_LIST_ITEM_MAX, "%s %d %d %d", row[0], flag(row[2]),
                 strcmp(row[3], "1") == 0, strcmp(row[4], "1") == 0);
        break;
    case TABLE_REGISTERED:
        snprintf(member, STR_LIST_ITEM_MAX, "%s", row[1]);
        snprintf(value, STR_LIST_ITEM_MAX, "%s %s 0 -1", row[0], row[2]);
        break;
    case TABLE_TOKENS:
        snprintf(member, STR_LIST_ITEM_MAX, "%s:%s", row[0], row[1]);
        break;
    default:
        snprintf(member, STR_LIST_ITEM_MAX, "%s", row[0]);
        break;
    }
    uint8_t parsed[TABLE_VALUE_MAX];
    return tables_member_valid(id, member, strlen(member)) &&
           (!table_is_hash(id) || table_parse_value(id, value, strlen(value), parsed) == 0);
}

/* The site's entries of table id, sorted. Returns 0 or -1 with err. */
static int read_site(struct gazelle_db *db, enum table_id id, struct wanted_list *out,
                     uint64_t *skipped, char *err)
{
    if (gazelle_exec(db, queries[id], table_name(id), err) < 0)
        return -1;
    MYSQL_RES *res = mysql_use_result(db->conn);
    if (res == NULL) {
        snprintf(err, STARLING_ERR_LEN, "mysql: %s: %s", table_name(id), mysql_error(db->conn));
        gazelle_disconnect(db);
        return -1;
    }
    MYSQL_ROW row;
    char member[STR_LIST_ITEM_MAX], value[STR_LIST_ITEM_MAX];
    while ((row = mysql_fetch_row(res)) != NULL) {
        if (row_entry(id, row, member, value))
            wanted_add(out, member, table_is_hash(id) ? value : NULL);
        else
            (*skipped)++;
    }
    int rc = mysql_errno(db->conn) == 0 ? 0 : -1;
    if (rc < 0)
        snprintf(err, STARLING_ERR_LEN, "mysql: %s: %s", table_name(id), mysql_error(db->conn));
    mysql_free_result(res);
    if (rc < 0)
        gazelle_disconnect(db);
    if (out->n > 0)
        qsort(out->v, out->n, sizeof(*out->v), by_member);
    return rc;
}

/* ---- the table in Redis ---- */

/* Changes of one table waiting to be sent: adds (hashes: field, value) and deletions. */
struct changes {
    enum table_id id;
    struct sync_conn *sc;
    struct str_list add, del;
    uint64_t sent;
};

static int send_changes(struct changes *c, enum table_op op, struct str_list *l, char *err)
{
    if (l->n == 0)
        return 0;
    const char *args[TABLE_CHANGE_ARGS_MAX];
    size_t lens[TABLE_CHANGE_ARGS_MAX];
    int nargs = table_change_args(c->id, op, (const char *const *)l->items, l->n, args, lens);
    redisReply *r = nargs < 0 ? NULL : sync_eval(c->sc, &lua_table_change, 3, nargs, args, lens);
    int rc = r != NULL && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
    if (rc < 0)
        snprintf(err, STARLING_ERR_LEN, "table_change.lua: %s", sync_reply_error(r, c->sc));
    else
        c->sent += table_is_hash(c->id) && op == TABLE_ADD ? l->n / 2 : l->n;
    if (r != NULL)
        freeReplyObject(r);
    str_list_free(l);
    return rc;
}

/* Queues a change; sends a full batch. Returns 0 or -1 with err. */
static int change(struct changes *c, bool add, const char *member, size_t len, const char *value,
                  char *err)
{
    struct str_list *l = add ? &c->add : &c->del;
    str_list_addf(l, "%.*s", (int)len, member);
    if (add && value != NULL)
        str_list_addf(l, "%s", value);
    if (l->n + 2 > TABLES_CHANGE_BATCH)
        return send_changes(c, add ? TABLE_ADD : TABLE_DEL, l, err);
    return 0;
}

/* Whether Redis's value of a hash entry says what the site's does. */
static bool same_value(enum table_id id, const char *have, size_t len, const char *want)
{
    uint8_t a[TABLE_VALUE_MAX], b[TABLE_VALUE_MAX];
    if (table_parse_value(id, have, len, a) < 0 || table_parse_value(id, want, strlen(want), b) < 0)
        return false;
    if (id == TABLE_REGISTERED) {
        const struct table_torrent *x = (const void *)a, *y = (const void *)b;
        return x->id == y->id && x->free == y->free && x->deleted_at == 0;
    }
    return memcmp(a, b, sizeof(struct table_user)) == 0;
}

/* One entry of the table in Redis against the site's. Returns 0 or -1 with err. */
static int compare(struct changes *c, struct wanted_list *w, const redisReply *m,
                   const redisReply *v, uint64_t now_s, char *err)
{
    struct wanted *want = wanted_find(w, m->str, m->len);
    if (want != NULL) {
        want->seen = true;
        if (v == NULL || same_value(c->id, v->str, v->len, want->value))
            return 0;
        return change(c, true, m->str, m->len, want->value, err);
    }
    if (c->id != TABLE_REGISTERED)
        return change(c, false, m->str, m->len, NULL, err);
    /* A torrent the site no longer has is marked deleted, once. */
    struct table_torrent t;
    if (table_parse_value(c->id, v->str, v->len, (uint8_t *)&t) < 0 || t.deleted_at != 0)
        return 0;
    char value[STR_LIST_ITEM_MAX];
    snprintf(value, sizeof(value), "%u %u %llu -1", t.id, (unsigned)t.free,
             (unsigned long long)now_s);
    return change(c, true, m->str, m->len, value, err);
}

/* Walks the table in Redis, comparing. Returns 0 or -1 with err. */
static int walk_redis(struct changes *c, struct wanted_list *w, uint64_t now_s, char *err)
{
    bool hash = table_is_hash(c->id);
    const char *key = table_key(c->id);
    char cursor[24] = "0";
    do {
        const char *argv[] = {hash ? "HSCAN" : "SSCAN", key, cursor, "COUNT", "1000"};
        size_t lens[] = {5, strlen(key), strlen(cursor), 5, 4};
        redisReply *r = sync_command(c->sc, 5, argv, lens);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof(cursor) ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            snprintf(err, STARLING_ERR_LEN, "%s %s: %s", argv[0], key, sync_reply_error(r, c->sc));
            if (r != NULL)
                freeReplyObject(r);
            return -1;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = '\0';
        const redisReply *items = r->element[1];
        size_t step = hash ? 2 : 1;
        int rc = 0;
        for (size_t i = 0; i + step - 1 < items->elements && rc == 0; i += step) {
            const redisReply *m = items->element[i], *v = hash ? items->element[i + 1] : NULL;
            if (m->type != REDIS_REPLY_STRING || (v != NULL && v->type != REDIS_REPLY_STRING))
                continue;
            rc = compare(c, w, m, v, now_s, err);
        }
        freeReplyObject(r);
        if (rc < 0)
            return -1;
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* One table: the site's entries, compared with Redis's, the differences applied. */
static int reload_table(struct gazelle_db *db, struct cluster *cl, enum table_id id, char *err)
{
    struct wanted_list w = {0};
    uint64_t skipped = 0;
    struct changes c = {.id = id, .sc = cluster_route(cl, table_key(id))};
    int rc = read_site(db, id, &w, &skipped, err);
    if (rc == 0)
        rc = walk_redis(&c, &w, clock_wall_ms() / 1000, err);
    for (size_t i = 0; i < w.n && rc == 0; i++)
        if (!w.v[i].seen)
            rc = change(&c, true, w.v[i].member, strlen(w.v[i].member), w.v[i].value, err);
    if (rc == 0)
        rc = send_changes(&c, TABLE_ADD, &c.add, err);
    if (rc == 0)
        rc = send_changes(&c, TABLE_DEL, &c.del, err);
    db->stats.reload_changes += c.sent;
    str_list_free(&c.add);
    str_list_free(&c.del);
    wanted_free(&w);
    return rc;
}

int gazelle_db_reload(struct gazelle_db *db, struct cluster *cl, char *err)
{
    static const enum table_id order[] = {TABLE_USERS, TABLE_REGISTERED, TABLE_TOKENS,
                                          TABLE_CLIENTS};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (reload_table(db, cl, order[i], err) < 0) {
            db->stats.reload_failures++;
            return -1;
        }
    }
    db->stats.reloads++;
    db->stats.last_reload_ms = clock_wall_ms();
    return 0;
}

long gazelle_db_used_tokens(struct gazelle_db *db, struct gazelle_token *out, size_t max, char *err)
{
    char sql[320];
    snprintf(sql, sizeof(sql),
             "SELECT f.UserID, f.TorrentID FROM users_freeleeches AS f JOIN torrents AS t ON "
             "t.ID = f.TorrentID WHERE f.Expired = 0 AND t.Size > 0 AND f.Downloaded >= t.Size "
             "LIMIT %zu",
             max);
    if (gazelle_exec(db, sql, "used tokens", err) < 0)
        return -1;
    MYSQL_RES *res = mysql_store_result(db->conn);
    if (res == NULL) {
        snprintf(err, STARLING_ERR_LEN, "mysql: used tokens: %s", mysql_error(db->conn));
        gazelle_disconnect(db);
        return -1;
    }
    long n = 0;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) != NULL && (size_t)n < max) {
        if (row[0] == NULL || row[1] == NULL)
            continue;
        out[n].user_id = (uint32_t)strtoul(row[0], NULL, 10);
        out[n].torrent_id = (uint32_t)strtoul(row[1], NULL, 10);
        n++;
    }
    mysql_free_result(res);
    return n;
}
