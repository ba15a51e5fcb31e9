#ifndef STARLING_AGGREGATE_H
#define STARLING_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/torrent.h"
#include "storage/keys.h" /* the keys it writes (README, "What the aggregator does") */
#include "storage/live_users.h"
#include "storage/sync.h"

struct cluster;

/* The first six are added up from the entries when the pass publishes. */
struct aggregate_totals {
    uint64_t torrents; /* swarms with a live peer */
    uint64_t seeders, leechers;
    uint64_t peers_v4, peers_v6; /* a dual-stacked peer counts in both */
    uint64_t completed;
    uint64_t peers_expired, swarms_deleted; /* what this pass removed */
    uint64_t max_call_us;                   /* longest single Redis call seen */
    uint64_t frontends;                     /* that reported within a minute */
};

/* A swarm with peers or completed downloads, as the pass met it. */
struct fullscrape_entry {
    uint8_t info_hash[INFO_HASH_LEN];
    uint32_t seq; /* the order the pass met it in: the last sight of a swarm counts */
    uint64_t complete, incomplete, downloaded;
    uint64_t v4, v6;  /* live peers with an address of each family */
    size_t users_off; /* private mode: its users' live peers, in the pass's users */
    uint32_t users_n;
};

/*
 * One pass over every swarm, done in steps (one SCAN batch each) so the caller's event
 * loop runs in between. Owns its memory until aggregate_end().
 */
struct aggregate_pass {
    struct aggregate_totals totals;
    struct fullscrape_entry *entries; /* swarms with peers or completed downloads */
    size_t nentries, capacity;
    char cursor[32]; /* "0" at the start of a node */
    bool node_done;
    uint64_t now_ms;
    bool purge;
    bool count_users;          /* private mode: each user's live peers (live_users.h) */
    struct user_tallies users; /* the entries' (users_off, users_n), then each user's */
    bool users_merged;         /* users holds each user's (aggregate_publish()) */
    uint32_t scan_count;
};

void aggregate_begin(struct aggregate_pass *p, uint64_t now_ms, bool purge, bool count_users,
                     uint32_t scan_count);

/* Starts over on another master (Redis Cluster: each is walked separately). */
void aggregate_next_node(struct aggregate_pass *p);

/*
 * One SCAN batch of the current node and the swarms in it (lua/purge.lua, pipelined).
 * Returns 1 while the node has more, 0 when it is done, -1 on a Redis failure (err).
 */
int aggregate_step(struct aggregate_pass *p, struct sync_conn *sc, char *err);

/* Who ran the pass and when, for {starling}:stats and {starling}:aggregator:passes. */
struct pass_info {
    const char *leader;
    uint64_t started_ms, finished_ms;
    uint64_t passes; /* this replica's count, this one included */
};

/* aggregate_publish(): nothing was written, the lock is not ours (another replica leads). */
#define AGGREGATE_NOT_LEADER (-2)

/*
 * Reads the frontends' request totals, then writes {starling}:stats, the full-scrape
 * snapshot and the pass history in one call (lua/publish.lua) that first checks that the
 * lock is still ours (info->leader), on the node serving their slot. Returns 0,
 * AGGREGATE_NOT_LEADER, or -1 with err.
 */
int aggregate_publish(struct aggregate_pass *p, struct cluster *cl, const struct pass_info *info,
                      char *err);

/* Up to this many "<endpoint>:<result>" request totals are published and read back. */
#define PUBLISHED_REQUEST_FIELDS 64

/* The latest published totals, read back from {starling}:stats (the same on every replica). */
struct published_stats {
    bool valid; /* a pass has published */
    uint64_t torrents, seeders, leechers, peers_v4, peers_v6, completed, frontends;
    uint64_t pass_duration_ms, pass_max_call_ms, pass_finished_ms;
    size_t nrequests;
    char request_endpoint[PUBLISHED_REQUEST_FIELDS][32];
    char request_result[PUBLISHED_REQUEST_FIELDS][32];
    uint64_t request_count[PUBLISHED_REQUEST_FIELDS];
};

/* HGETALL {starling}:stats into *out. Returns 0, or -1 (out untouched) on a Redis failure. */
int aggregate_read_published(struct cluster *cl, struct published_stats *out);

void aggregate_end(struct aggregate_pass *p);

#endif
