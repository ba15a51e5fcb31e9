#ifndef STARLING_FULLSCRAPE_H
#define STARLING_FULLSCRAPE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The full-scrape snapshot (allow_full_scrape), fetched from Redis once per aggregator pass
 * and shared by every reply that carries it: replies hold a reference, never a copy, so a
 * thousand clients that do not read cost one snapshot, not a thousand. Whether a newer pass
 * was published is checked at most every FULLSCRAPE_CHECK_MS (a few bytes each time), and
 * only while full scrapes are asked for.
 *
 * Memory: at most FULLSCRAPE_MAX_GENERATIONS snapshots are alive at once (the current one
 * and older ones still being written to slow readers); while that many are alive, no newer
 * one is fetched and the current one keeps being served. Worst case: that many times the
 * snapshot's size (the aggregator writes about 60 bytes per swarm), whatever the number of
 * readers. Requests that arrive while a fetch is in flight wait for it (one fetch for all:
 * a waiter per request in progress, so at most http_listen_limit of them).
 */
#define FULLSCRAPE_MAX_GENERATIONS 3
#define FULLSCRAPE_CHECK_MS 100

struct evbuffer;
struct redis_pool;
struct fullscrape_snapshot;
struct fullscrape_cache;

/* A snapshot from bytes (copied): the bencoded `files` dictionary, or NULL when no pass has
 * written one yet. Its one reference belongs to the caller. */
struct fullscrape_snapshot *fullscrape_snapshot_new(const char *files, size_t len);

/* Takes and drops a reference; the last one frees the snapshot. */
struct fullscrape_snapshot *fullscrape_snapshot_ref(struct fullscrape_snapshot *s);
void fullscrape_snapshot_unref(struct fullscrape_snapshot *s);

/* Appends the `files` dictionary to out by reference (no copy; "de" when there is none yet):
 * the buffer holds a reference until those bytes are sent or freed. */
void fullscrape_snapshot_append(struct evbuffer *out, struct fullscrape_snapshot *s);

/* Snapshots alive now, in every cache (for tests and /metrics). */
size_t fullscrape_snapshots_alive(void);

/* The answer to fullscrape_get(): a snapshot (valid during the call; take a reference to
 * keep it), or NULL and err when Redis failed and there is no earlier snapshot to serve. */
typedef void fullscrape_fn(void *arg, struct fullscrape_snapshot *s, const char *err);

struct fullscrape_cache *fullscrape_cache_new(struct redis_pool *pool);

/* Drops the cache's reference; readers keep theirs. Waiters must have been answered (the
 * Redis pool is freed first, which answers every call). */
void fullscrape_cache_free(struct fullscrape_cache *cache);

/*
 * The current snapshot. When it is fresh (or a newer one may not be fetched yet) it is
 * returned at once: 1, with *now set to a reference for the caller (done not called).
 * Otherwise 0: done(arg, ...) runs once the one fetch in flight is answered. REDIS_DOWN or
 * REDIS_BUSY (storage/redis.h, both < 0) when Redis cannot be asked and there is nothing to
 * serve (done not called).
 */
int fullscrape_get(struct fullscrape_cache *cache, uint64_t now_ms,
                   struct fullscrape_snapshot **now, fullscrape_fn *done, void *arg);

#endif
