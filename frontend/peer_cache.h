#ifndef STARLING_PEER_CACHE_H
#define STARLING_PEER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/torrent.h"
#include "storage/swarm.h"

/*
 * Soft state of one frontend: short-lived copies of hot swarms' peer windows. Reading a
 * reply's members is most of what an announce costs Redis (lua/announce.lua); a popular
 * swarm's announces, many a second, can share one read. When a swarm is announced to twice
 * within ttl on this frontend, the next announce fills its entry: the script returns a
 * window of seeders and one of leechers, drawn among members that stay live past the
 * entry's last use (the horizon). For ttl after that, announces to the swarm ask Redis only
 * to record the peer and count (exact counts), and take their peers from the entry.
 *
 * What a cached reply may differ in: its peers are up to ttl old (a peer that joined since
 * is missing, one that sent `stopped` since may be listed; none has expired: the horizon),
 * and announces in the same ttl share a window. Never the announcer itself (by peer_id),
 * never a peer of a family the reply does not want. An entry answers only an announce it can
 * give as many peers as asked out of more than that (the reply is a sample of the swarm
 * anyway): a small swarm's replies, which list all of it, always come from Redis.
 *
 * Admission: peer_cache_saw() notes the swarms Redis's replies showed too big to list whole;
 * one announced to again within ttl gets an entry and is filled.
 *
 * Bounded: at most `swarms` entries (set-associative, 4 ways; the least recently announced
 * unpinned way goes), each holding at most 2 x (max_num_want + 1) peers of 72 bytes (record
 * and view), plus ~100 B of entry and 32 B of admission filter: worst case swarms x (2 x
 * (max_num_want + 1) x 72 + 136) bytes, 29.8 MB with the defaults (1024 swarms, max_num_want 200).
 * Killing the frontend loses nothing.
 *
 * No clock or I/O (now_ms is any monotonic millisecond count); where a served window starts
 * comes from common/random.h.
 */

struct peer_cache;
struct peer_cache_entry;

/* swarms 0: NULL (no cache). seed: keys the admission filter's hash. */
struct peer_cache *peer_cache_new(uint32_t swarms, uint64_t ttl_ms, uint64_t seed);
void peer_cache_free(struct peer_cache *c);

/* Who asks, for what: the same rules as lua/announce.lua's reply. */
struct peer_cache_want {
    const uint8_t *peer_id; /* PEER_ID_LEN bytes: never served itself */
    bool seeding;           /* a seeder gets leechers only; a leecher seeders, then leechers */
    enum swarm_family family;
    uint32_t numwant; /* > 0 */
};

enum peer_cache_plan {
    PEER_CACHE_BYPASS = 0, /* ask Redis for the peers, as without a cache */
    PEER_CACHE_FILL,       /* ask for both windows (swarm_announce_args.fill_horizon_ms), then
                              peer_cache_store() them */
    PEER_CACHE_HIT,        /* ask Redis to record and count only (numwant 0); peers from
                              peer_cache_serve() */
    PEER_CACHE_PLANS
};

/*
 * What the announce w to info_hash at now_ms should do. FILL and HIT pin *entry (which
 * then stays this swarm's, not evicted) until peer_cache_release().
 */
enum peer_cache_plan peer_cache_plan(struct peer_cache *c, const uint8_t *info_hash,
                                     const struct peer_cache_want *w, uint64_t now_ms,
                                     struct peer_cache_entry **entry);

/* Redis said the swarm of info_hash has `live` peers, for an announce of plan BYPASS
 * wanting numwant: admits it if a reply could only be a sample of it. */
void peer_cache_saw(struct peer_cache *c, const uint8_t *info_hash, uint64_t live, uint32_t numwant,
                    uint64_t now_ms);

/*
 * A fill's reply (swarm_decode_announce() of a fill), read from Redis as of planned_ms
 * (the now_ms of peer_cache_plan()): the entry's windows until planned_ms + ttl.
 */
void peer_cache_store(struct peer_cache_entry *e, const struct announce_reply *r,
                      uint64_t planned_ms);

/*
 * Writes w's peers from e's windows into out (at most cap, pointing into e: valid until the
 * entry is released or stored again); returns how many. Each window is read from a random
 * place on (wrapping), so announces sharing a window get different peers when they want
 * fewer than it holds.
 */
size_t peer_cache_serve(const struct peer_cache_entry *e, const struct peer_cache_want *w,
                        struct swarm_peer *out, size_t cap);

/* Unpins e. fill_failed: a FILL got no windows (the next announce may try again). */
void peer_cache_release(struct peer_cache_entry *e, bool fill_failed);

#endif
