#include "frontend/fullscrape.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "common/mem.h"
#include "storage/redis.h"
#include "storage/swarm.h"

struct fullscrape_snapshot {
    size_t refs;
    bool none; /* no pass has written a snapshot yet */
    size_t len;
    char files[]; /* the bencoded `files` dictionary */
};

/* One process, one event loop: a plain count. */
static size_t alive;

struct fullscrape_snapshot *fullscrape_snapshot_new(const char *files, size_t len)
{
    struct fullscrape_snapshot *s = xmalloc(sizeof(*s) + (files != NULL ? len : 0));
    s->refs = 1;
    s->none = files == NULL;
    s->len = files != NULL ? len : 0;
    if (s->len > 0)
        memcpy(s->files, files, s->len);
    alive++;
    return s;
}

struct fullscrape_snapshot *fullscrape_snapshot_ref(struct fullscrape_snapshot *s)
{
    s->refs++;
    return s;
}

void fullscrape_snapshot_unref(struct fullscrape_snapshot *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    alive--;
    free(s);
}

size_t fullscrape_snapshots_alive(void)
{
    return alive;
}

static void release_reference(const void *data, size_t len, void *arg)
{
    (void)data, (void)len;
    fullscrape_snapshot_unref(arg);
}

void fullscrape_snapshot_append(struct evbuffer *out, struct fullscrape_snapshot *s)
{
    if (s->none || s->len == 0) {
        evbuffer_add(out, "de", 2);
        return;
    }
    fullscrape_snapshot_ref(s);
    if (evbuffer_add_reference(out, s->files, s->len, release_reference, s) < 0)
        fullscrape_snapshot_unref(s);
}

/* ---- the cache ---- */

struct waiter {
    fullscrape_fn *done;
    void *arg;
};

struct fullscrape_cache {
    struct redis_pool *pool;
    struct fullscrape_snapshot *current; /* NULL until the first check succeeds */
    char pass[SWARM_PASS_LEN];           /* the pass current is of ("" before the first) */
    uint64_t checked_ms;                 /* when the last check was sent */
    bool fetching;
    struct waiter *waiters; /* requests waiting for the fetch in flight */
    size_t nwaiters, cap;
};

struct fullscrape_cache *fullscrape_cache_new(struct redis_pool *pool)
{
    struct fullscrape_cache *cache = xcalloc(1, sizeof(*cache));
    cache->pool = pool;
    return cache;
}

void fullscrape_cache_free(struct fullscrape_cache *cache)
{
    if (cache == NULL)
        return;
    fullscrape_snapshot_unref(cache->current);
    free(cache->waiters);
    free(cache);
}

/* The check is answered: every waiter gets the newest snapshot (the old one if it failed). */
static void on_fetched(void *arg, const struct fullscrape_reply *r, const char *err)
{
    struct fullscrape_cache *cache = arg;
    cache->fetching = false;
    if (r != NULL && (r->changed || cache->current == NULL)) {
        fullscrape_snapshot_unref(cache->current);
        cache->current = fullscrape_snapshot_new(r->changed ? r->files : NULL, r->len);
        memcpy(cache->pass, r->pass, sizeof(cache->pass));
    } else if (r == NULL) {
        static struct log_limit fetch_errors;
        log_limited(&fetch_errors, LOG_WARN, "full scrape: fetching the snapshot failed: %s%s", err,
                    cache->current != NULL ? " (serving the previous one)" : "");
    }
    /* Waiters may ask again from their callbacks: answer a detached list. */
    struct waiter *waiters = cache->waiters;
    size_t n = cache->nwaiters;
    cache->waiters = NULL;
    cache->nwaiters = cache->cap = 0;
    struct fullscrape_snapshot *s =
        cache->current != NULL ? fullscrape_snapshot_ref(cache->current) : NULL;
    for (size_t i = 0; i < n; i++)
        waiters[i].done(waiters[i].arg, s, s != NULL ? NULL : err);
    fullscrape_snapshot_unref(s);
    free(waiters);
}

/* Whether to ask for a newer snapshot now: at most every FULLSCRAPE_CHECK_MS, and not while
 * the oldest ones are still being sent. */
static bool may_check(const struct fullscrape_cache *cache, uint64_t now_ms)
{
    if (cache->current == NULL)
        return true;
    return now_ms - cache->checked_ms >= FULLSCRAPE_CHECK_MS &&
           fullscrape_snapshots_alive() < FULLSCRAPE_MAX_GENERATIONS;
}

int fullscrape_get(struct fullscrape_cache *cache, uint64_t now_ms,
                   struct fullscrape_snapshot **now, fullscrape_fn *done, void *arg)
{
    if (!cache->fetching && may_check(cache, now_ms)) {
        int rc = swarm_full_scrape(cache->pool, cache->pass, on_fetched, cache);
        if (rc == REDIS_SENT) {
            cache->fetching = true;
            cache->checked_ms = now_ms;
        } else if (cache->current == NULL) {
            return rc;
        }
    }
    if (!cache->fetching) {
        *now = fullscrape_snapshot_ref(cache->current);
        return 1;
    }
    if (cache->nwaiters == cache->cap) {
        cache->cap = cache->cap != 0 ? 2 * cache->cap : 16;
        cache->waiters = xreallocarray(cache->waiters, cache->cap, sizeof(*cache->waiters));
    }
    cache->waiters[cache->nwaiters++] = (struct waiter){done, arg};
    return 0;
}
