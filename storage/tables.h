#ifndef STARLING_TABLES_H
#define STARLING_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/torrent.h"

/*
 * Shared tables: small tables kept in Redis (storage/keys.h) that every frontend needs on
 * every announce (the torrent access list, the client whitelist, and in private mode the
 * users by passkey and the registered torrents), so each frontend keeps a read-only
 * replica instead of asking Redis (a table in another cluster slot than the swarm could not
 * be read by the swarm's script anyway).
 *
 * A replica starts from the latest change's number and stream id (lua/table_head.lua),
 * loads each table with SSCAN or HSCAN (lua/table_scan.lua), then every TABLES_POLL_MS
 * applies the changes logged after that id (lua/table_read.lua), in order. Changes are
 * numbered without gaps (lua/table_change.lua, the only writer): a gap means the stream
 * was trimmed past this replica, which then loads everything again. So a change is seen by
 * every frontend within about TABLES_POLL_MS, and a restarted frontend rebuilds from Redis
 * alone.
 *
 * Bounded: each keyed table holds at most TABLES_ENTRIES_MAX entries, in an open-addressing
 * table kept between a quarter and half full (2 to 4 slots of 1 + key + value bytes per
 * entry: 21 for the access list, 41 for users, 37 for registered torrents), and twice that
 * while a load builds the next copy beside the live one; TABLES_CLIENTS_MAX clients (128 KB
 * per copy, two copies). A table past its limit is not taken: the load starts over after a
 * pause, and readiness lapses after TABLES_STALE_MS.
 */

enum table_id {
    TABLE_TORRENTS,   /* the access list: SET of 40-hex info_hashes */
    TABLE_CLIENTS,    /* the client whitelist's shared entries: SET of peer_id prefixes */
    TABLE_USERS,      /* private mode: HASH passkey -> "id can_leech visible enabled" */
    TABLE_REGISTERED, /* private mode: HASH 40-hex -> "id freetorrent deleted_at reason" */
    TABLE_TOKENS,     /* private mode: SET "<40-hex>:<user id>", freeleech tokens */
    TABLE_SETTINGS,   /* private mode: HASH "announce_interval" -> seconds */
    TABLE_COUNT
};

#define TABLES_POLL_MS 250
/* Not ready when the last good read of the changes is older than this. */
#define TABLES_STALE_MS 5000
#define TABLES_ENTRIES_MAX (16u << 20)
#define TABLES_CLIENTS_MAX 4096

struct event_base;
struct redis_pool;
struct tables;

/* A private tracker's user (TABLE_USERS). */
struct table_user {
    uint32_t id;
    bool can_leech; /* 0: seeding only */
    bool visible;   /* 0: the address recorded for the site is hidden (Ocelot's protected) */
    bool enabled;   /* 0: removed by the site (remove_user), refused as disabled */
};

enum freetorrent { FREE_NORMAL = 0, FREE_FREE = 1, FREE_NEUTRAL = 2 };

/* A torrent registered with a private tracker (TABLE_REGISTERED). */
struct table_torrent {
    uint32_t id;
    uint8_t free;        /* enum freetorrent */
    int32_t reason;      /* delete_torrent's reason code (-1: none given) */
    uint64_t deleted_at; /* 0: registered; else deleted then (Unix seconds) */
};

/* A replica of the tables follow[] names (NULL when it names none). */
struct tables *tables_new(struct event_base *base, struct redis_pool *pool,
                          const bool follow[TABLE_COUNT]);
void tables_free(struct tables *t);

/* Loaded, and the changes read within TABLES_STALE_MS (a reload after a gap keeps serving
 * the previous tables meanwhile). NULL: ready (nothing to follow). */
bool tables_ready(const struct tables *t);

/* A whole load finished (the tables can be trusted, if maybe stale). */
bool tables_loaded(const struct tables *t);

bool tables_has_torrent(const struct tables *t, const uint8_t *info_hash);

/* The client whitelist's entries in Redis; valid until control returns to the loop. */
const struct config_client *tables_clients(const struct tables *t, size_t *n);

/* The user of passkey (PASSKEY_LEN bytes) into *out; false when there is none. */
bool tables_user(const struct tables *t, const char *passkey, struct table_user *out);

/* The registered (or deleted) torrent into *out; false when there is none. */
bool tables_registered(const struct tables *t, const uint8_t *info_hash, struct table_torrent *out);

/* The announce interval the site set (update_announce_interval), in ms; 0: none. */
uint64_t tables_announce_ms(const struct tables *t);

/* The longest announce interval the site may set, in seconds (a week). */
#define TABLES_ANNOUNCE_MAX_S 604800
#define TABLE_SETTING_ANNOUNCE "announce_interval"

/* Whether user_id holds a freeleech token for info_hash. */
bool tables_has_token(const struct tables *t, const uint8_t *info_hash, uint32_t user_id);

struct tables_stats {
    uint64_t entries[TABLE_COUNT];
    uint64_t loads;   /* full loads begun (the first, and after a gap or a failure) */
    uint64_t changes; /* changes applied */
};
void tables_stats(const struct tables *t, struct tables_stats *out);

/* Arguments one tables_change() call takes at most (lua_call_fill()'s argument limit). */
#define TABLES_CHANGE_BATCH 120

/*
 * What a change does. Sets (TORRENTS, CLIENTS, TOKENS) take ADD and DEL of members; hashes
 * (USERS, REGISTERED) take ADD of field/value pairs (set or overwritten), DEL of fields,
 * PATCH of field/value pairs (only for fields present: each space-separated word of the
 * value replaces the stored one, a '-' keeps it), RENAME of old/new field pairs (the
 * value moves; nothing when old is absent) and DEL_IF of field/value pairs (the field goes
 * only while it holds that value).
 */
enum table_op { TABLE_ADD, TABLE_DEL, TABLE_PATCH, TABLE_RENAME, TABLE_DEL_IF };

/* A deleted torrent's record (and its reason, told to clients) is kept this long after the
 * site's delete_torrent, as Ocelot keeps its deletion reasons; then the aggregator removes
 * it (tables_prune_deleted()). */
#define TABLES_DELETED_KEEP_S 86400

/* changed: members that changed the table, or -1 with err set. */
typedef void tables_change_fn(void *arg, long long changed, const char *err);

/*
 * Applies op to n (1..TABLES_CHANGE_BATCH) arguments of table id in Redis (members, or
 * field/value or old/new pairs as op says), logging each change for every replica
 * (lua/table_change.lua). Arguments are taken as given: tables_member_valid() says which
 * ones replicas accept. Returns REDIS_SENT (done will run), REDIS_DOWN or REDIS_BUSY.
 */
int tables_change(struct redis_pool *pool, enum table_id id, enum table_op op,
                  const char *const *args, size_t n, tables_change_fn *done, void *arg);

/*
 * The aggregator's clean-up (blocking, on sc: the connection serving the tables): removes
 * the registered torrents deleted TABLES_DELETED_KEEP_S or more before now_s, each only if
 * unchanged since it was read, through lua/table_change.lua so that every replica follows.
 * Returns how many went, or -1 with err.
 */
struct sync_conn;
long tables_prune_deleted(struct sync_conn *sc, uint64_t now_s, char *err);

/* Whether a replica would take member (a field, for hashes) of table id, and value (hashes
 * only; NULL for sets). */
bool tables_member_valid(enum table_id id, const char *member, size_t len);
bool tables_value_valid(enum table_id id, const char *value, size_t len);

/* Whether table id is a Redis hash (field -> value) rather than a set. */
bool table_is_hash(enum table_id id);

/* The name a table has in the change stream ("torrents", "clients", ...) and its key. */
const char *table_name(enum table_id id);
const char *table_key(enum table_id id);

#endif
