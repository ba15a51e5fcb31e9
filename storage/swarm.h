#ifndef STARLING_SWARM_H
#define STARLING_SWARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/torrent.h"

struct redis_pool;

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
};

/* reply NULL and err set on failure; exactly once, never from inside swarm_announce(). */
typedef void swarm_announce_fn(void *arg, const struct announce_reply *reply, const char *err);

/* One EVALSHA of lua/announce.lua. Returns 0, or -1 (done not called) when Redis is down. */
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
 * cluster), all pipelined at once. The hashes are copied. Returns 0, or -1 (done not
 * called) when Redis is down.
 */
int swarm_scrape(struct redis_pool *pool, const uint8_t (*hashes)[INFO_HASH_LEN], size_t n,
                 uint64_t now_ms, swarm_scrape_fn *done, void *arg);

/*
 * The aggregator's full-scrape snapshot ({starling}:fullscrape): the bencoded `files`
 * dictionary, valid during the callback; files NULL when no pass has written one yet.
 */
typedef void swarm_fullscrape_fn(void *arg, const char *files, size_t len, const char *err);

/* One GET. Returns 0, or -1 (done not called) when Redis is down. */
int swarm_full_scrape(struct redis_pool *pool, swarm_fullscrape_fn *done, void *arg);

#endif
