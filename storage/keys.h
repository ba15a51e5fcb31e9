#ifndef STARLING_KEYS_H
#define STARLING_KEYS_H

/*
 * The Redis schema, in one place: the keys starling reads and writes, the hash tag that
 * keeps one swarm's keys in one cluster slot, the layout of a swarm's members and the
 * fields of the stats hash. The Lua scripts get this file's integer #defines at build
 * time (lua/embed.cmake), so C and Lua cannot disagree on the layout.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/torrent.h"

/* ---- a swarm: three keys sharing the hash tag "{<40 lowercase hex of the info_hash>}" ---- */

#define SWARM_TAG_LEN (2 + 2 * INFO_HASH_LEN)
#define SWARM_SEEDERS_SUFFIX ":seeders"   /* ZSET member -> expiry (ms since the epoch) */
#define SWARM_LEECHERS_SUFFIX ":leechers" /* ZSET, the same */
/* HASH peer_id -> role .. endpoints (role: 'S' seeder, 'L' leecher, 'C' leecher whose completed
 * event was counted; lua/announce.lua); and "downloaded" -> completed downloads */
#define SWARM_PEERS_SUFFIX ":peers"
/* The longest of the three keys. */
#define SWARM_KEY_MAX (SWARM_TAG_LEN + sizeof(SWARM_LEECHERS_SUFFIX) - 1)
/* What SCAN matches to visit every swarm once, by its peers hash. A glob only: the keys it
 * returns are checked with swarm_key_info_hash(). */
#define SWARM_SCAN_MATCH "{*}" SWARM_PEERS_SUFFIX

/* The keys in the order announce.lua, scrape.lua and purge.lua take them as KEYS[1..3]. */
enum swarm_key { SWARM_SEEDERS, SWARM_LEECHERS, SWARM_PEERS, SWARM_NKEYS };

struct swarm_keys {
    char name[SWARM_NKEYS][SWARM_KEY_MAX]; /* not NUL-terminated */
    size_t len[SWARM_NKEYS];
};

/* Writes the tag of the swarm of info_hash (SWARM_TAG_LEN bytes, no NUL) into out. */
void swarm_tag(const uint8_t *info_hash, char *out);

/* The three keys of the swarm of info_hash. */
void swarm_keys_fill(struct swarm_keys *k, const uint8_t *info_hash);

/* Puts the three keys at args[0..2] and lens[0..2]: a script's KEYS. */
void swarm_keys_args(const struct swarm_keys *k, const char **args, size_t *lens);

/*
 * The info_hash of a swarm's peers key: exactly what swarm_keys_fill() writes (so lowercase
 * hex only). Returns 0, or -1 for a key of any other shape.
 */
int swarm_key_info_hash(const char *key, size_t len, uint8_t *info_hash);

/*
 * ---- a member of a swarm set: the peer_id, then the peer's compact endpoints ----
 * IPv4, IPv6, or both with IPv4 first, so a member's length tells which it has. The peers
 * hash names the peer by the member's first MEMBER_ID_LEN bytes.
 */
#define MEMBER_ID_LEN PEER_ID_LEN
#define MEMBER_V4_LEN (MEMBER_ID_LEN + COMPACT_V4_LEN)
#define MEMBER_V6_LEN (MEMBER_ID_LEN + COMPACT_V6_LEN)
#define MEMBER_DUAL_LEN (MEMBER_ID_LEN + COMPACT_V4_LEN + COMPACT_V6_LEN)
#define MEMBER_ENDPOINTS_MAX (MEMBER_DUAL_LEN - MEMBER_ID_LEN)

/* Writes what follows the peer_id in the peer's member into out; returns its length. */
size_t member_endpoints(const struct peer_endpoints *e, uint8_t *out);

/*
 * Finds the endpoints in a member of len bytes: *v4 and *v6 point into it, or are NULL
 * when absent. Returns 0, or -1 for a length of no layout.
 */
int member_split(const uint8_t *member, size_t len, const uint8_t **v4, const uint8_t **v6);

/* ---- keys of the whole tracker ---- */

/*
 * The aggregator's keys share one hash tag, so on a Redis Cluster they live in one slot
 * and lua/publish.lua can check the leader lock and write the others in one atomic call.
 */
#define GLOBAL_TAG "{starling}"
/* HASH, the aggregator's totals: stats_field */
#define STATS_KEY GLOBAL_TAG ":stats"
/* STRING, the bencoded `files` of a full scrape */
#define FULLSCRAPE_KEY GLOBAL_TAG ":fullscrape"
/* LIST "<leader> <started_ms> <finished_ms>" */
#define PASSES_KEY GLOBAL_TAG ":aggregator:passes"
/* STRING, the leading aggregator's id */
#define LEADER_LOCK_KEY GLOBAL_TAG ":aggregator:lock"
/* The frontends' request totals (lua/counters.lua); one hash tag: one slot on a cluster. */
#define COUNTERS_REQUESTS_KEY "{starling}:requests"   /* HASH "<endpoint>:<result>" -> count */
#define COUNTERS_FRONTENDS_KEY "{starling}:frontends" /* ZSET node id -> last report (ms) */
/* + node id: HASH "<endpoint>:<result>" -> that frontend's own total, as last applied. */
#define COUNTERS_NODE_PREFIX "{starling}:requests:"
/* A frontend silent this long is forgotten (its hash and set entry go; its counts stay in
 * the sum), at most COUNTERS_RETIRE_BATCH per report. */
#define COUNTERS_RETIRE_MS 3600000
#define COUNTERS_RETIRE_BATCH 16

/*
 * ---- shared tables: sets and hashes every frontend keeps a replica of (storage/tables.h) ----
 * Written only through lua/table_change.lua, which logs each change to the stream, numbered
 * by the seq key, so a frontend that missed one (trimmed history) knows to load again.
 */
#define TABLE_TORRENTS_KEY GLOBAL_TAG ":access:torrents" /* SET, 40 lowercase hex info_hashes */
#define TABLE_CLIENTS_KEY GLOBAL_TAG ":access:clients"   /* SET, peer_id prefixes */
/* Private mode: HASH passkey -> "id can_leech visible enabled" */
#define TABLE_USERS_KEY GLOBAL_TAG ":private:users"
/* Private mode: HASH 40-hex info_hash -> "id freetorrent deleted_at reason" */
#define TABLE_REGISTERED_KEY GLOBAL_TAG ":private:torrents"
/* Private mode: SET "<40-hex info_hash>:<user id>", freeleech tokens */
#define TABLE_TOKENS_KEY GLOBAL_TAG ":private:tokens"
/* Private mode: HASH "announce_interval" -> seconds (the site's update_announce_interval) */
#define TABLE_SETTINGS_KEY GLOBAL_TAG ":private:settings"
/* STREAM: n <seq>, t <table name>, o add|del, k <member or field>, v <value> (hashes' add) */
#define TABLE_CHANGES_KEY GLOBAL_TAG ":tables:changes"
#define TABLE_SEQ_KEY GLOBAL_TAG ":tables:seq" /* STRING: the latest change's n */
/* The stream keeps about this many changes (XADD MAXLEN ~). */
#define TABLE_CHANGES_MAXLEN 100000

/*
 * ---- private mode's accounting (storage/acct.h) ----
 * A swarm's script adds each announce's deltas to the pending hash of its own slot
 * ("{<slot tag>}:acct:pending", storage/keyslot.h's slot_tag()); the aggregator renames
 * it to the draining key (numbering the batch with the batch key), hands the batch to the
 * driver, records the batch as applied, then deletes it.
 */
#define ACCT_PENDING_SUFFIX ":acct:pending"   /* HASH user:torrent:peer_id -> counters */
#define ACCT_DRAINING_SUFFIX ":acct:draining" /* HASH, the same, and '#batch' -> n */
#define ACCT_BATCH_SUFFIX ":acct:batch"       /* STRING: the slot's latest batch number */
/* Fields one slot's pending hash takes at most (new ones beyond are counted in '#dropped'). */
#define ACCT_PENDING_MAX 10000
/* HASH slot -> the latest batch of that slot the driver was given (exactly once). */
#define ACCT_APPLIED_KEY GLOBAL_TAG ":acct:applied"
/* STREAM: the redis-stream driver's output (README "Private tracker"). */
#define ACCT_DELTAS_KEY GLOBAL_TAG ":acct:deltas"
/* The deltas stream keeps about this many entries (XADD MAXLEN ~). */
#define ACCT_DELTAS_MAXLEN 1000000

/* Private mode: HASH "<user id>:seeding" / "<user id>:leeching" -> live peers, as of the
 * aggregator's last pass (storage/live_users.h); each pass writes the next one to the
 * prefix + the writer's id, and lua/publish.lua renames it here. */
#define LIVE_USERS_KEY GLOBAL_TAG ":private:live"
#define LIVE_USERS_NEXT_PREFIX GLOBAL_TAG ":private:live:next:"

/* ---- the fields of {starling}:stats: written by storage/aggregate.c, read by aggregators ---- */

enum stats_field {
    STATS_TORRENTS,
    STATS_SEEDERS,
    STATS_LEECHERS,
    STATS_PEERS_IPV4,
    STATS_PEERS_IPV6,
    STATS_COMPLETED,
    STATS_FRONTENDS,
    STATS_PEERS_EXPIRED,
    STATS_SWARMS_DELETED,
    STATS_PASS_STARTED_MS,
    STATS_PASS_FINISHED_MS,
    STATS_PASS_DURATION_MS,
    STATS_PASS_MAX_CALL_MS,
    STATS_PASSES,
    STATS_NFIELDS
};

/* The name of each numeric field, by stats_field (the order the pass writes them in). */
extern const char *const stats_field_names[STATS_NFIELDS];

#define STATS_LEADER_FIELD "leader" /* the id of the aggregator that wrote them */
/* Followed by "<endpoint>:<result>": the frontends' request totals, copied. */
#define STATS_REQUESTS_PREFIX "requests:"

#endif
