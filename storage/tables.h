#ifndef STARLING_TABLES_H
#define STARLING_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

/*
 * Shared tables: small sets kept in Redis (storage/keys.h) that every frontend needs on
 * every announce (the torrent access list, the client whitelist), so each frontend keeps a
 * read-only replica instead of asking Redis (a set in another cluster slot than the swarm
 * could not be read by the swarm's script anyway).
 *
 * A replica starts from the latest change's number and stream id (lua/table_head.lua),
 * loads each set with SSCAN (lua/table_scan.lua), then every TABLES_POLL_MS applies the
 * changes logged after that id (lua/table_read.lua), in order. Changes are numbered
 * without gaps (lua/table_change.lua, the only writer): a gap means the stream was trimmed
 * past this replica, which then loads everything again. So a change is seen by every
 * frontend within about TABLES_POLL_MS, and a restarted frontend rebuilds from Redis alone.
 *
 * Bounded: at most TABLES_TORRENTS_MAX torrents (2 to 4 slots of 21 bytes each, as the
 * table is kept between a quarter and half full, and twice that while a load builds the
 * next copy beside the live one) and TABLES_CLIENTS_MAX clients (128 KB per copy, two
 * copies); a table past its limit is not taken: the load starts over after a pause, and
 * readiness lapses after TABLES_STALE_MS.
 */

enum table_id { TABLE_TORRENTS, TABLE_CLIENTS, TABLE_COUNT };

#define TABLES_POLL_MS 250
/* Not ready when the last good read of the changes is older than this. */
#define TABLES_STALE_MS 5000
#define TABLES_TORRENTS_MAX (16u << 20)
#define TABLES_CLIENTS_MAX 4096

struct event_base;
struct redis_pool;
struct tables;

/* A replica of the tables follow[] names (NULL when it names none). */
struct tables *tables_new(struct event_base *base, struct redis_pool *pool,
                          const bool follow[TABLE_COUNT]);
void tables_free(struct tables *t);

/* Loaded, and the changes read within TABLES_STALE_MS (a reload after a gap keeps serving
 * the previous sets meanwhile). NULL: ready (nothing to follow). */
bool tables_ready(const struct tables *t);

/* A whole load finished (the sets can be trusted, if maybe stale). */
bool tables_loaded(const struct tables *t);

bool tables_has_torrent(const struct tables *t, const uint8_t *info_hash);

/* The client whitelist's entries in Redis; valid until control returns to the loop. */
const struct config_client *tables_clients(const struct tables *t, size_t *n);

struct tables_stats {
    uint64_t entries[TABLE_COUNT];
    uint64_t loads;   /* full loads begun (the first, and after a gap or a failure) */
    uint64_t changes; /* changes applied */
};
void tables_stats(const struct tables *t, struct tables_stats *out);

/* Members one tables_change() call takes at most (lua_call_fill()'s argument limit). */
#define TABLES_CHANGE_BATCH 120

/* changed: members that changed the set, or -1 with err set. */
typedef void tables_change_fn(void *arg, long long changed, const char *err);

/*
 * Adds (add) or removes n (1..TABLES_CHANGE_BATCH) members of table id in Redis, logging
 * each change for every replica (lua/table_change.lua): torrents as 40 lowercase hex,
 * clients as 1..CONFIG_CLIENT_LEN bytes. Returns REDIS_SENT (done will run), REDIS_DOWN or
 * REDIS_BUSY.
 */
int tables_change(struct redis_pool *pool, enum table_id id, bool add, const char *const *members,
                  size_t n, tables_change_fn *done, void *arg);

/* The name a table has in the change stream ("torrents", "clients") and its set's key. */
const char *table_name(enum table_id id);
const char *table_key(enum table_id id);

#endif
