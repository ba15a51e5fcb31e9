#ifndef STARLING_ACCT_H
#define STARLING_ACCT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/torrent.h"

/*
 * Private mode's accounting, the aggregator's side. Each announce's script adds the
 * peer's deltas to the pending hash of its swarm's slot (lua/lib/account.lua), in the same
 * atomic call as the announce, so what an answered announce counted is never lost. Every
 * aggregator.accounting_interval the leader drains every slot (lua/acct_drain.lua: the
 * pending hash becomes a numbered batch), hands each batch to the driver, and deletes it
 * (lua/acct_finish.lua). A driver delivers a batch exactly once (the redis-stream driver
 * records the batch's number with its entries, atomically), so a leader replaced between
 * delivery and deletion repeats nothing.
 */
struct cluster;

/* One peer's accounting since the last batch (the pending hash's entry). */
struct acct_entry {
    uint32_t user_id, torrent_id;
    uint8_t peer_id[PEER_ID_LEN];
    uint64_t uploaded, downloaded; /* counted: freeleech, neutral and tokens applied */
    uint64_t token_downloaded;     /* not counted thanks to a token (Ocelot reports it) */
    uint64_t seed_ms;              /* time seeding between announces */
    uint64_t snatched;             /* completed events counted */
    uint64_t announces;
    uint64_t left;
    bool active; /* false after a stopped event */
    uint64_t last_ms, spent_ms;
    uint64_t up_speed, down_speed;                   /* bytes/s over the last interval */
    uint64_t reported_uploaded, reported_downloaded; /* the client's own counters */
    struct peer_endpoints endpoints;                 /* none when the user's address is hidden */
    char user_agent[USER_AGENT_MAX];
    size_t user_agent_len;
};

struct acct_batch {
    unsigned slot;
    uint64_t number;
    uint64_t dropped; /* entries the slot's pending hash refused, full (ACCT_PENDING_MAX) */
    size_t n;
    struct acct_entry *entries; /* sorted by user, torrent, peer_id */
};

/* Parses a drain reply (field, value, ...) into b (entries allocated; acct_batch_free()).
 * Entries of no valid form are skipped and counted in *bad. Returns 0, or -1 when the reply
 * is no batch (no '#batch'). Pure: the unit tests and the fuzzer call it. */
struct redisReply;
int acct_batch_parse(const struct redisReply *r, unsigned slot, struct acct_batch *b,
                     uint64_t *bad);
void acct_batch_free(struct acct_batch *b);

/*
 * A driver (chosen by `driver`): what becomes of a cycle's batches. deliver() is handed every
 * batch the cycle drained, and must deliver each exactly once even when handed a batch it
 * delivered before (a leader replaced between delivery and deletion hands it again): it
 * records what it applied with the data, atomically. Returns 0 when every batch is
 * delivered (now or before), or -1 with err (all are handed again next cycle).
 */
struct acct_driver {
    int (*deliver)(void *ctx, struct cluster *cl, const struct acct_batch *batches, size_t n,
                   char *err);
    void *ctx;
    /* Most entries one cycle takes (slots beyond wait for the next cycle, which starts
     * where this one stopped); at most one slot's batch (ACCT_PENDING_MAX) more is held. */
    size_t max_entries;
};

/* The drivers that need no connection of their own: noop (discards) and redis-stream
 * (README "Private tracker"). */
extern const struct acct_driver acct_driver_noop, acct_driver_redis_stream;

/* Most entries a cycle of the noop and redis-stream drivers takes. */
#define ACCT_CYCLE_MAX_ENTRIES 100000

struct acct_stats {
    uint64_t cycles, batches, entries, dropped, bad, failures;
    size_t next_node; /* where the next cycle starts */
    unsigned next_slot;
};

/*
 * One accounting cycle over the slots the map serves: drain (up to the driver's
 * max_entries), deliver, finish. Returns 0, or -1 with err when some slot or the delivery
 * failed (the drained batches stay in Redis and are taken again next cycle, and delivered
 * at most once).
 */
int acct_cycle(struct cluster *cl, const struct acct_driver *driver, struct acct_stats *st,
               char *err);

/*
 * The same cycle in halves, for a driver that delivers off the event loop (the mysql
 * driver's thread): acct_drain() takes the batches (up to max_entries; slots that failed
 * are noted, and err set), the caller delivers acct_cycle_batches() anywhere, then
 * acct_settle() deletes them if delivered and frees the cycle. acct_settle() returns 0, or
 * -1 with err when some slot or the delivery failed (all taken again next cycle).
 */
struct acct_cycle;
struct acct_cycle *acct_drain(struct cluster *cl, size_t max_entries, struct acct_stats *st,
                              char *err);
const struct acct_batch *acct_cycle_batches(const struct acct_cycle *c, size_t *n);
int acct_settle(struct cluster *cl, struct acct_cycle *c, bool delivered, struct acct_stats *st,
                char *err);

#endif
