/*
 * The site update API (frontend/site_api.h): Ocelot's actions, each turned into changes of
 * the shared tables and sent in order, one lua/table_change.lua call per batch.
 */
#include "frontend/site_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/text.h"
#include "storage/redis.h"
#include "storage/swarm.h"
#include "storage/tables.h"
#include "frontend/request.h"
#include "frontend/tracker.h"

_Static_assert(TABLES_CHANGE_BATCH % 2 == 0, "a batch keeps field/value pairs whole");

/* Changes one action makes: at most two steps (edit_whitelist: remove, then add). */
#define STEPS_MAX 2

struct step {
    enum table_id table;
    enum table_op op;
    size_t first, n; /* args[first, first + n) */
};

struct update {
    struct redis_pool *pool;
    struct step steps[STEPS_MAX];
    size_t nsteps, step, sent; /* the step being sent, and its args sent so far */
    struct str_list args;      /* members, or field/value pairs */
    site_update_fn *done;
    void *arg;
};

bool site_key_matches(const char *configured, const char *key)
{
    if (strlen(configured) != PASSKEY_LEN)
        return false;
    /* Constant time: how much of a guess is right must not show in the reply's timing. */
    unsigned diff = 0;
    for (size_t i = 0; i < PASSKEY_LEN; i++)
        diff |= (unsigned)(configured[i] ^ key[i]);
    return diff == 0;
}

bool site_source_allowed(const struct config *cfg, const struct addr *client)
{
    if (cfg->n_site_api_allow == 0)
        return true;
    for (size_t i = 0; i < cfg->n_site_api_allow; i++)
        if (cidr_contains(&cfg->site_api_allow[i], client))
            return true;
    return false;
}

static void begin_step(struct update *u, enum table_id table, enum table_op op)
{
    u->steps[u->nsteps++] = (struct step){table, op, u->args.n, 0};
}

static void end_step(struct update *u)
{
    struct step *s = &u->steps[u->nsteps - 1];
    s->n = u->args.n - s->first;
}

static void update_free(struct update *u)
{
    str_list_free(&u->args);
    free(u);
}

/* ---- parameters ---- */

/* A parameter that must be present: decoded into out (cap bytes), its length or -1. */
static ssize_t param(const char *q, size_t len, const char *name, uint8_t *out, size_t cap)
{
    ssize_t n = request_query_value(q, len, name, out, cap);
    return n < 0 ? -1 : n;
}

static int param_u32(const char *q, size_t len, const char *name, uint32_t *out)
{
    char text[16];
    uint64_t v;
    ssize_t n = param(q, len, name, (uint8_t *)text, sizeof(text));
    if (n <= 0 || decimal_parse(text, (size_t)n, UINT32_MAX, &v) < 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Ocelot's reading of a flag: "0" is false, anything else (or absence) true. */
static int param_flag(const char *q, size_t len, const char *name)
{
    char text[8];
    ssize_t n = request_query_value(q, len, name, (uint8_t *)text, sizeof(text));
    return !(n == 1 && text[0] == '0');
}

static int param_free(const char *q, size_t len, int *out)
{
    char text[8];
    ssize_t n = param(q, len, "freetorrent", (uint8_t *)text, sizeof(text));
    if (n != 1 || text[0] < '0' || text[0] > '2')
        return -1;
    *out = text[0] - '0';
    return 0;
}

static int param_hash(const char *q, size_t len, const char *name, char hex[2 * INFO_HASH_LEN + 1])
{
    uint8_t hash[INFO_HASH_LEN];
    if (param(q, len, name, hash, sizeof(hash)) != INFO_HASH_LEN)
        return -1;
    hex_encode(hash, INFO_HASH_LEN, hex);
    hex[2 * INFO_HASH_LEN] = '\0';
    return 0;
}

static int param_passkey(const char *q, size_t len, const char *name, char key[PASSKEY_LEN + 1])
{
    if (param(q, len, name, (uint8_t *)key, PASSKEY_LEN) != PASSKEY_LEN)
        return -1;
    key[PASSKEY_LEN] = '\0';
    return tables_member_valid(TABLE_USERS, key, PASSKEY_LEN) ? 0 : -1;
}

/* A whitelist entry: 1..CONFIG_CLIENT_LEN bytes, no NUL. */
static int param_client(const char *q, size_t len, const char *name,
                        char out[CONFIG_CLIENT_LEN + 1])
{
    ssize_t n = param(q, len, name, (uint8_t *)out, CONFIG_CLIENT_LEN);
    if (n < 1 || memchr(out, '\0', (size_t)n) != NULL)
        return -1;
    out[n] = '\0';
    return 0;
}

/* ---- actions ---- */

/* Fills u's steps for the action; NULL, or the failure text. */
static const char *plan(struct update *u, const char *q, size_t len)
{
    char action[32], hex[2 * INFO_HASH_LEN + 1], key[PASSKEY_LEN + 1], key2[PASSKEY_LEN + 1];
    char client[CONFIG_CLIENT_LEN + 1], client2[CONFIG_CLIENT_LEN + 1];
    uint32_t id;
    int fl;
    ssize_t n = param(q, len, "action", (uint8_t *)action, sizeof(action) - 1);
    if (n < 0)
        return "missing action";
    action[n] = '\0';

    if (strcmp(action, "add_torrent") == 0) {
        if (param_u32(q, len, "id", &id) < 0 || param_hash(q, len, "info_hash", hex) < 0 ||
            param_free(q, len, &fl) < 0)
            return "add_torrent needs id, info_hash and freetorrent (0, 1 or 2)";
        begin_step(u, TABLE_REGISTERED, TABLE_ADD);
        str_list_addf(&u->args, "%s", hex);
        str_list_addf(&u->args, "%u %d 0 -1", id, fl);
    } else if (strcmp(action, "update_torrent") == 0) {
        if (param_hash(q, len, "info_hash", hex) < 0 || param_free(q, len, &fl) < 0)
            return "update_torrent needs info_hash and freetorrent (0, 1 or 2)";
        begin_step(u, TABLE_REGISTERED, TABLE_PATCH);
        str_list_addf(&u->args, "%s", hex);
        str_list_addf(&u->args, "- %d", fl);
    } else if (strcmp(action, "update_torrents") == 0) {
        uint8_t *hashes = xmalloc(len + 1);
        ssize_t got = param(q, len, "info_hashes", hashes, len + 1);
        if (got <= 0 || got % INFO_HASH_LEN != 0 || param_free(q, len, &fl) < 0) {
            free(hashes);
            return "update_torrents needs info_hashes (20-byte hashes) and freetorrent";
        }
        begin_step(u, TABLE_REGISTERED, TABLE_PATCH);
        for (ssize_t i = 0; i < got; i += INFO_HASH_LEN) {
            hex_encode(hashes + i, INFO_HASH_LEN, hex);
            hex[2 * INFO_HASH_LEN] = '\0';
            str_list_addf(&u->args, "%s", hex);
            str_list_addf(&u->args, "- %d", fl);
        }
        free(hashes);
    } else if (strcmp(action, "delete_torrent") == 0) {
        char reason[16];
        uint64_t r = 0;
        ssize_t rn = request_query_value(q, len, "reason", (uint8_t *)reason, sizeof(reason));
        if (param_hash(q, len, "info_hash", hex) < 0 ||
            (rn >= 0 && (rn == 0 || decimal_parse(reason, (size_t)rn, INT32_MAX, &r) < 0)))
            return "delete_torrent needs info_hash (and reason: a number)";
        begin_step(u, TABLE_REGISTERED, TABLE_PATCH);
        str_list_addf(&u->args, "%s", hex);
        str_list_addf(&u->args, "- - %llu %lld", (unsigned long long)(tracker_now_ms() / 1000),
                      rn >= 0 ? (long long)r : -1LL);
    } else if (strcmp(action, "add_user") == 0) {
        if (param_u32(q, len, "id", &id) < 0 || param_passkey(q, len, "passkey", key) < 0)
            return "add_user needs id and passkey";
        begin_step(u, TABLE_USERS, TABLE_ADD);
        str_list_addf(&u->args, "%s", key);
        str_list_addf(&u->args, "%u 1 %d 1", id, param_flag(q, len, "visible"));
    } else if (strcmp(action, "update_user") == 0) {
        if (param_passkey(q, len, "passkey", key) < 0)
            return "update_user needs passkey";
        begin_step(u, TABLE_USERS, TABLE_PATCH);
        str_list_addf(&u->args, "%s", key);
        str_list_addf(&u->args, "- %d %d", param_flag(q, len, "can_leech"),
                      param_flag(q, len, "visible"));
    } else if (strcmp(action, "remove_user") == 0) {
        if (param_passkey(q, len, "passkey", key) < 0)
            return "remove_user needs passkey";
        begin_step(u, TABLE_USERS, TABLE_PATCH);
        str_list_addf(&u->args, "%s", key);
        str_list_addf(&u->args, "- - - 0");
    } else if (strcmp(action, "remove_users") == 0) {
        char *keys = xmalloc(len + 1);
        ssize_t got = param(q, len, "passkeys", (uint8_t *)keys, len + 1);
        bool ok = got > 0 && got % PASSKEY_LEN == 0;
        for (ssize_t i = 0; ok && i < got; i += PASSKEY_LEN)
            ok = tables_member_valid(TABLE_USERS, keys + i, PASSKEY_LEN);
        if (!ok) {
            free(keys);
            return "remove_users needs passkeys (32-character keys, concatenated)";
        }
        begin_step(u, TABLE_USERS, TABLE_PATCH);
        for (ssize_t i = 0; i < got; i += PASSKEY_LEN) {
            str_list_addf(&u->args, "%.*s", PASSKEY_LEN, keys + i);
            str_list_addf(&u->args, "- - - 0");
        }
        free(keys);
    } else if (strcmp(action, "change_passkey") == 0) {
        if (param_passkey(q, len, "oldpasskey", key) < 0 ||
            param_passkey(q, len, "newpasskey", key2) < 0)
            return "change_passkey needs oldpasskey and newpasskey";
        begin_step(u, TABLE_USERS, TABLE_RENAME);
        str_list_addf(&u->args, "%s", key);
        str_list_addf(&u->args, "%s", key2);
    } else if (strcmp(action, "add_token") == 0 || strcmp(action, "remove_token") == 0) {
        if (param_hash(q, len, "info_hash", hex) < 0 || param_u32(q, len, "userid", &id) < 0)
            return "add_token and remove_token need info_hash and userid";
        begin_step(u, TABLE_TOKENS, action[0] == 'a' ? TABLE_ADD : TABLE_DEL);
        str_list_addf(&u->args, "%s:%u", hex, id);
    } else if (strcmp(action, "add_whitelist") == 0 || strcmp(action, "remove_whitelist") == 0) {
        if (param_client(q, len, "peer_id", client) < 0)
            return "add_whitelist and remove_whitelist need peer_id (1 to 20 bytes)";
        begin_step(u, TABLE_CLIENTS, action[0] == 'a' ? TABLE_ADD : TABLE_DEL);
        str_list_addf(&u->args, "%s", client);
    } else if (strcmp(action, "edit_whitelist") == 0) {
        if (param_client(q, len, "old_peer_id", client) < 0 ||
            param_client(q, len, "new_peer_id", client2) < 0)
            return "edit_whitelist needs old_peer_id and new_peer_id (1 to 20 bytes)";
        begin_step(u, TABLE_CLIENTS, TABLE_DEL);
        str_list_addf(&u->args, "%s", client);
        end_step(u);
        begin_step(u, TABLE_CLIENTS, TABLE_ADD);
        str_list_addf(&u->args, "%s", client2);
    } else if (strcmp(action, "update_announce_interval") == 0) {
        char secs[16];
        ssize_t sn = param(q, len, "new_announce_interval", (uint8_t *)secs, sizeof(secs) - 1);
        if (sn < 0 || (secs[sn] = '\0', !tables_value_valid(TABLE_SETTINGS, secs, (size_t)sn)))
            return "update_announce_interval needs new_announce_interval (1 to 604800 s)";
        begin_step(u, TABLE_SETTINGS, TABLE_ADD);
        str_list_addf(&u->args, "%s", TABLE_SETTING_ANNOUNCE);
        str_list_addf(&u->args, "%s", secs);
    } else {
        return "unknown action";
    }
    end_step(u);
    return NULL;
}

static void send_next(struct update *u);

static void on_changed(void *arg, long long changed, const char *err)
{
    (void)changed;
    struct update *u = arg;
    if (err != NULL) {
        u->done(u->arg, tracker_storage_failure(err));
        update_free(u);
        return;
    }
    send_next(u);
}

/* The next batch of the current step (or the next step's first); done after the last. */
static void send_next(struct update *u)
{
    while (u->step < u->nsteps && u->sent == u->steps[u->step].n) {
        u->step++;
        u->sent = 0;
    }
    if (u->step == u->nsteps) {
        u->done(u->arg, NULL);
        update_free(u);
        return;
    }
    const struct step *s = &u->steps[u->step];
    size_t n = s->n - u->sent;
    if (n > TABLES_CHANGE_BATCH)
        n = TABLES_CHANGE_BATCH; /* even: pairs stay whole */
    const char *const *args = (const char *const *)&u->args.items[s->first + u->sent];
    u->sent += n;
    int rc = tables_change(u->pool, s->table, s->op, args, n, on_changed, u);
    if (rc != REDIS_SENT) {
        u->done(u->arg, rc == REDIS_BUSY ? TRACKER_STORAGE_BUSY : TRACKER_STORAGE_FAILURE);
        update_free(u);
    }
}

int site_update(struct redis_pool *pool, const char *query, size_t len, site_update_fn *done,
                void *arg, const char **failure)
{
    struct update *u = xcalloc(1, sizeof(*u));
    *u = (struct update){.pool = pool, .done = done, .arg = arg};
    if ((*failure = plan(u, query, len)) != NULL) {
        update_free(u);
        return -1;
    }
    /* The first call is sent here, so a refusal at once is this function's to report. */
    const struct step *s = &u->steps[0];
    size_t n = s->n < TABLES_CHANGE_BATCH ? s->n : TABLES_CHANGE_BATCH;
    int rc = tables_change(pool, s->table, s->op, (const char *const *)&u->args.items[s->first], n,
                           on_changed, u);
    if (rc != REDIS_SENT) {
        *failure = rc == REDIS_BUSY ? TRACKER_STORAGE_BUSY : TRACKER_STORAGE_FAILURE;
        update_free(u);
        return -1;
    }
    u->sent = n;
    return 0;
}

/* ---- the report ---- */

struct report {
    site_report_fn *done;
    void *arg;
};

/* Ocelot's lines for the tracker (get=stats) or for a user (get=user): "<leechers> <what
 * they are>", then "<seeders> <what they are>". */
static void answer(struct report *r, const struct swarm_totals *t, const char *err,
                   const char *leechers, const char *seeders)
{
    if (t == NULL) {
        r->done(r->arg, NULL, 0, tracker_storage_failure(err));
    } else {
        char text[96];
        int n = snprintf(text, sizeof(text), "%llu %s\n%llu %s\n", (unsigned long long)t->leechers,
                         leechers, (unsigned long long)t->seeders, seeders);
        r->done(r->arg, text, (size_t)n, NULL);
    }
    free(r);
}

static void on_totals(void *arg, const struct swarm_totals *t, const char *err)
{
    answer(arg, t, err, "leechers tracked", "seeders tracked");
}

static void on_user_live(void *arg, const struct swarm_totals *t, const char *err)
{
    answer(arg, t, err, "leeching", "seeding");
}

int site_report(struct redis_pool *pool, const struct tables *tables, const char *query, size_t len,
                site_report_fn *done, void *arg, const char **failure)
{
    char get[16];
    ssize_t n = param(query, len, "get", (uint8_t *)get, sizeof(get));
    bool stats = n == 5 && memcmp(get, "stats", 5) == 0;
    bool user = n == 4 && memcmp(get, "user", 4) == 0;
    char passkey[PASSKEY_LEN + 1];
    struct table_user u;
    if (!stats && !user) {
        *failure = "unknown report";
        return -1;
    }
    if (user && param_passkey(query, len, "key", passkey) < 0) {
        *failure = "Invalid action"; /* Ocelot's, for a missing key */
        return -1;
    }
    if (user && !tables_user(tables, passkey, &u))
        return SITE_REPORT_EMPTY; /* Ocelot answers nothing for an unknown passkey */
    struct report *r = xmalloc(sizeof(*r));
    *r = (struct report){done, arg};
    int rc = stats ? swarm_read_totals(pool, on_totals, r)
                   : swarm_read_user_live(pool, u.id, on_user_live, r);
    if (rc == REDIS_SENT)
        return 0;
    free(r);
    *failure = rc == REDIS_BUSY ? TRACKER_STORAGE_BUSY : TRACKER_STORAGE_FAILURE;
    return -1;
}
