#ifndef STARLING_SWARM_H
#define STARLING_SWARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/torrent.h"

struct redis_pool;
struct redisReply;

/* One peer of a reply; pointers are valid only during the callback. */
struct swarm_peer {
    const uint8_t *peer_id; /* PEER_ID_LEN bytes */
    const uint8_t *v4;      /* COMPACT_V4_LEN bytes, or NULL */
    const uint8_t *v6;      /* COMPACT_V6_LEN bytes, or NULL */
};

struct announce_reply {
    uint64_t complete;   /* seeders, after this announce */
    uint64_t incomplete; /* leechers, after this announce */
    size_t npeers;
    const struct swarm_peer *peers;
    /* A fill's (swarm_announce_args.fill_horizon_ms): peers[0 .. nseeder_peers) are seeders,
     * the rest leechers; *_whole: that window is every member live past the horizon. */
    size_t nseeder_peers;
    bool seeders_whole, leechers_whole;
};

/* Private mode: what the announce's script accounts for the site (lua/lib/account.lua). */
struct swarm_acct {
    uint32_t user_id, torrent_id;
    uint8_t freetorrent; /* 0 normal, 1 free (download not counted), 2 neutral (neither) */
    bool token;          /* the user holds a freeleech token for the torrent */
    bool visible;        /* false: the address is not recorded for the site */
    uint64_t uploaded, downloaded, left;
    const char *user_agent; /* user_agent_len bytes (0: none) */
    size_t user_agent_len;
};

/* Which peers a reply may carry (respect_af). */
enum swarm_family { SWARM_ANY = 0, SWARM_V4_ONLY = 4, SWARM_V6_ONLY = 6 };

/* An announce as storage sees it: what to record and what to return. */
struct swarm_announce_args {
    const uint8_t *info_hash; /* INFO_HASH_LEN bytes */
    const uint8_t *peer_id;   /* PEER_ID_LEN bytes */
    struct peer_endpoints endpoints;
    bool seeding;
    enum announce_event event;
    uint32_t numwant;
    enum swarm_family family;
    uint64_t now_ms;      /* wall clock, ms since the epoch */
    uint64_t peer_ttl_ms; /* how long the peer stays without announcing again */
    bool purge;           /* let the swarm's keys expire (purge_inactive_torrents) */
    /* Non-zero: a peer cache fill (frontend/peer_cache.h): a window of up to numwant seeders
     * and one of leechers, of members live past this wall-clock ms, any family, the
     * announcer's own included (family is then ignored). */
    uint64_t fill_horizon_ms;
    const struct swarm_acct *acct; /* private mode's accounting; NULL: none */
};

/* reply NULL and err set on failure; exactly once, never from inside swarm_announce(). */
typedef void swarm_announce_fn(void *arg, const struct announce_reply *reply, const char *err);

/* One EVALSHA of lua/announce.lua. Returns REDIS_SENT, or REDIS_DOWN / REDIS_BUSY (done not
 * called): storage/redis.h. */
int swarm_announce(struct redis_pool *pool, const struct swarm_announce_args *a,
                   swarm_announce_fn *done, void *arg);

struct scrape_counts {
    uint64_t complete, incomplete, downloaded;
};

/* counts[i] belongs to hashes[i]; reply NULL and err set when any swarm failed. */
typedef void swarm_scrape_fn(void *arg, const struct scrape_counts *counts, size_t n,
                             const char *err);

/*
 * One EVALSHA of lua/scrape.lua per hash (each touches one swarm, so this works on a
 * cluster), all pipelined at once: admitted whole or refused whole. The hashes are copied.
 * Returns REDIS_SENT, or REDIS_DOWN / REDIS_BUSY (done not called).
 */
int swarm_scrape(struct redis_pool *pool, const uint8_t (*hashes)[INFO_HASH_LEN], size_t n,
                 uint64_t now_ms, swarm_scrape_fn *done, void *arg);

/*
 * The scripts' replies, decoded: pure (no Redis needed), for the reply handlers, the unit
 * tests and fuzzing. A reply of the wrong shape is a failure, never a crash.
 *
 * announce.lua's: an array of the two counts (integers >= 0) and the members (strings).
 * Fills *out, its peers pointing into peers[] (at most cap) and into r. A member of no
 * layout (storage/keys.h) is skipped; a member that is no string fails the reply. Returns 0,
 * or -1 (out undefined).
 */
int swarm_decode_announce(const struct redisReply *r, struct announce_reply *out,
                          struct swarm_peer *peers, size_t cap);

/*
 * A fill's: the two counts, the counts live past the horizon (hs, hl), k, then k seeders and
 * the leechers. A window is whole when it holds all of its role's hs or hl. The same
 * conventions otherwise.
 */
int swarm_decode_fill(const struct redisReply *r, struct announce_reply *out,
                      struct swarm_peer *peers, size_t cap);

/* scrape.lua's: exactly three integers >= 0. Returns 0, or -1 (out undefined). */
int swarm_decode_scrape(const struct redisReply *r, struct scrape_counts *out);

/* The last pass's name (its pass_finished_ms), room for a decimal uint64_t and a NUL. */
#define SWARM_PASS_LEN 24

/* What a full-scrape check found; pointers valid during the callback only. */
struct fullscrape_reply {
    char pass[SWARM_PASS_LEN]; /* the last published pass, "" before the first */
    bool changed;              /* pass differs from the caller's: files is its snapshot */
    const char *files;         /* the bencoded `files` dictionary, NULL when none */
    size_t len;
};

typedef void swarm_fullscrape_fn(void *arg, const struct fullscrape_reply *r, const char *err);

/*
 * The aggregator's full-scrape snapshot, only if a pass other than known_pass (the caller's,
 * "" for none) has been published since (lua/fullscrape.lua): a check costs a few bytes, the
 * snapshot is sent once per pass. Returns REDIS_SENT, or REDIS_DOWN / REDIS_BUSY (done not
 * called).
 */
int swarm_full_scrape(struct redis_pool *pool, const char *known_pass, swarm_fullscrape_fn *done,
                      void *arg);

/* The seeders and leechers of the aggregator's last pass (0 before any). */
struct swarm_totals {
    uint64_t seeders, leechers;
};
typedef void swarm_totals_fn(void *arg, const struct swarm_totals *t, const char *err);

/* One EVALSHA of lua/totals.lua. Returns REDIS_SENT, or REDIS_DOWN / REDIS_BUSY. */
int swarm_read_totals(struct redis_pool *pool, swarm_totals_fn *done, void *arg);

/* Private mode: the peers a user has live (seeders: seeding, leechers: leeching), as of the
 * aggregator's last pass (storage/live_users.h; 0 for none). As swarm_read_totals(). */
int swarm_read_user_live(struct redis_pool *pool, uint32_t user_id, swarm_totals_fn *done,
                         void *arg);

#endif
