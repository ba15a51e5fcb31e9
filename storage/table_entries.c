/* The shared tables and their entries' forms (storage/table_entries.h). */
#include "storage/table_entries.h"

#include <string.h>

#include "common/text.h"
#include "storage/keys.h"

const struct table_desc tables_desc[TABLE_COUNT] = {
    [TABLE_TORRENTS] = {"torrents", TABLE_TORRENTS_KEY, false, INFO_HASH_LEN, 0},
    [TABLE_CLIENTS] = {"clients", TABLE_CLIENTS_KEY, false, 0, 0},
    [TABLE_USERS] = {"users", TABLE_USERS_KEY, true, PASSKEY_LEN, sizeof(struct table_user)},
    [TABLE_REGISTERED] = {"registered", TABLE_REGISTERED_KEY, true, INFO_HASH_LEN,
                          sizeof(struct table_torrent)},
    [TABLE_TOKENS] = {"tokens", TABLE_TOKENS_KEY, false, INFO_HASH_LEN + 4, 0},
    [TABLE_SETTINGS] = {"settings", TABLE_SETTINGS_KEY, true, 0, 0},
};

const char *table_name(enum table_id id)
{
    return tables_desc[id].name;
}

const char *table_key(enum table_id id)
{
    return tables_desc[id].key;
}

bool table_is_hash(enum table_id id)
{
    return tables_desc[id].hash;
}

static bool is_passkey(const char *s, size_t len)
{
    if (len != PASSKEY_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    return true;
}

/* Exactly n space-separated decimals of s, each at most max[i], into out[]; with neg, a
 * leading '-' is taken too (neg[i] gets the signed value). Returns 0 or -1. */
static int parse_words(const char *s, size_t len, uint64_t *out, int64_t *neg, size_t n,
                       const uint64_t *max)
{
    size_t i = 0, got = 0;
    for (;;) {
        while (i < len && s[i] == ' ')
            i++;
        if (i == len)
            break;
        size_t j = i;
        while (j < len && s[j] != ' ')
            j++;
        if (got == n)
            return -1;
        bool minus = s[i] == '-' && neg != NULL;
        uint64_t v;
        if (decimal_parse(s + i + minus, j - i - minus, max[got], &v) < 0)
            return -1;
        if (neg != NULL)
            neg[got] = minus ? -(int64_t)v : (int64_t)v;
        out[got++] = v;
        i = j;
    }
    return got == n ? 0 : -1;
}

int table_parse_member(enum table_id id, const char *m, size_t len, uint8_t *key)
{
    switch (id) {
    case TABLE_TORRENTS:
    case TABLE_REGISTERED:
        return len == 2 * INFO_HASH_LEN ? hex_decode(m, INFO_HASH_LEN, key) : -1;
    case TABLE_USERS:
        if (!is_passkey(m, len))
            return -1;
        memcpy(key, m, PASSKEY_LEN);
        return 0;
    case TABLE_TOKENS: {
        uint64_t user;
        if (len < 2 * INFO_HASH_LEN + 2 || m[2 * INFO_HASH_LEN] != ':' ||
            hex_decode(m, INFO_HASH_LEN, key) < 0 ||
            decimal_parse(m + 2 * INFO_HASH_LEN + 1, len - 2 * INFO_HASH_LEN - 1, UINT32_MAX,
                          &user) < 0)
            return -1;
        uint32_t u = (uint32_t)user;
        memcpy(key + INFO_HASH_LEN, &u, 4);
        return 0;
    }
    default:
        return -1;
    }
}

int table_parse_value(enum table_id id, const char *v, size_t len, uint8_t *out)
{
    uint64_t w[4];
    if (id == TABLE_USERS) {
        static const uint64_t max[4] = {UINT32_MAX, 1, 1, 1};
        if (parse_words(v, len, w, NULL, 4, max) < 0)
            return -1;
        struct table_user u = {(uint32_t)w[0], w[1] != 0, w[2] != 0, w[3] != 0};
        memcpy(out, &u, sizeof(u));
        return 0;
    }
    if (id != TABLE_REGISTERED)
        return -1;
    /* id, freetorrent, deleted_at, reason (-1: none) */
    static const uint64_t max[4] = {UINT32_MAX, FREE_NEUTRAL, UINT32_MAX, INT32_MAX};
    int64_t s[4];
    if (parse_words(v, len, w, s, 4, max) < 0 || s[0] < 0 || s[1] < 0 || s[2] < 0 || s[3] < -1)
        return -1;
    struct table_torrent t = {(uint32_t)w[0], (uint8_t)w[1], (int32_t)s[3], w[2]};
    memcpy(out, &t, sizeof(t));
    return 0;
}

int table_parse_setting(const char *field, size_t len, const char *v, size_t vlen, uint64_t *ms)
{
    uint64_t s;
    if (len != strlen(TABLE_SETTING_ANNOUNCE) || memcmp(field, TABLE_SETTING_ANNOUNCE, len) != 0 ||
        decimal_parse(v, vlen, TABLES_ANNOUNCE_MAX_S, &s) < 0 || s == 0)
        return -1;
    *ms = s * 1000;
    return 0;
}

bool tables_member_valid(enum table_id id, const char *member, size_t len)
{
    uint8_t key[TABLE_KEY_MAX];
    if (id == TABLE_CLIENTS)
        return len >= 1 && len <= CONFIG_CLIENT_LEN;
    if (id == TABLE_SETTINGS)
        return len == strlen(TABLE_SETTING_ANNOUNCE) &&
               memcmp(member, TABLE_SETTING_ANNOUNCE, len) == 0;
    return table_parse_member(id, member, len, key) == 0;
}

bool tables_value_valid(enum table_id id, const char *value, size_t len)
{
    uint8_t out[TABLE_VALUE_MAX];
    uint64_t ms;
    if (id == TABLE_SETTINGS)
        return table_parse_setting(TABLE_SETTING_ANNOUNCE, strlen(TABLE_SETTING_ANNOUNCE), value,
                                   len, &ms) == 0;
    return tables_desc[id].hash && table_parse_value(id, value, len, out) == 0;
}

/* table_change.lua's name for op on a set or a hash (NULL: no such change). */
static const char *script_op(enum table_id id, enum table_op op)
{
    if (!tables_desc[id].hash)
        return op == TABLE_ADD ? "sadd" : op == TABLE_DEL ? "srem" : NULL;
    static const char *const ops[] = {"hset", "hdel", "hpatch", "hrename", "hdelif"};
    return ops[op];
}

int table_change_args(enum table_id id, enum table_op op, const char *const *args, size_t n,
                      const char **argv, size_t *lens)
{
    const char *name = script_op(id, op);
    bool pairs = tables_desc[id].hash && op != TABLE_DEL;
    if (n < 1 || n > TABLES_CHANGE_BATCH || name == NULL || (pairs && n % 2 != 0))
        return -1;
    argv[0] = tables_desc[id].key, argv[1] = TABLE_CHANGES_KEY, argv[2] = TABLE_SEQ_KEY;
    argv[3] = tables_desc[id].name, argv[4] = name;
    for (size_t i = 0; i < n; i++)
        argv[5 + i] = args[i];
    for (size_t i = 0; i < 5 + n; i++)
        lens[i] = strlen(argv[i]);
    return (int)(5 + n);
}
