/* Unit tests for frontend/peer_cache.c: admission, fill, hits, what a reply may hold, the
 * ttl, fills in flight and eviction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "frontend/peer_cache.h"

#define TTL 1000
#define NUMWANT 4

/* Peer i: id filled with byte i, IPv4 port i; every third is IPv6 only, every fifth both. */
struct peer_bytes {
    uint8_t id[PEER_ID_LEN], v4[COMPACT_V4_LEN], v6[COMPACT_V6_LEN];
};
static struct peer_bytes bytes[64];

static struct swarm_peer peer(int i)
{
    struct peer_bytes *b = &bytes[i];
    memset(b->id, i, PEER_ID_LEN);
    memset(b->v4, 0, COMPACT_V4_LEN);
    memset(b->v6, 0, COMPACT_V6_LEN);
    b->v4[5] = b->v6[17] = (uint8_t)i;
    bool v6_only = i % 3 == 0 && i % 5 != 0;
    bool dual = i % 5 == 0;
    return (struct swarm_peer){
        .peer_id = b->id, .v4 = v6_only ? NULL : b->v4, .v6 = v6_only || dual ? b->v6 : NULL};
}

static const uint8_t HASH[INFO_HASH_LEN] = {1, 2, 3};

static struct peer_cache_want want_of(int self, bool seeding, enum swarm_family family)
{
    static uint8_t id[PEER_ID_LEN];
    memset(id, self, PEER_ID_LEN);
    return (struct peer_cache_want){id, seeding, family, NUMWANT};
}

/* A fill's reply: seeders with ids 1.., leechers with ids 30..; whole or not. */
static struct announce_reply fill_reply(struct swarm_peer *buf, size_t ns, size_t nl, bool whole)
{
    for (size_t i = 0; i < ns; i++)
        buf[i] = peer((int)(1 + i));
    for (size_t i = 0; i < nl; i++)
        buf[ns + i] = peer((int)(30 + i));
    return (struct announce_reply){.npeers = ns + nl,
                                   .peers = buf,
                                   .nseeder_peers = ns,
                                   .seeders_whole = whole,
                                   .leechers_whole = whole};
}

/* Admits HASH and fills it at time t with a reply of ns seeders and nl leechers. */
static struct peer_cache_entry *admit_and_fill(struct peer_cache *c, uint64_t t, size_t ns,
                                               size_t nl, bool whole)
{
    struct peer_cache_want w = want_of(99, false, SWARM_ANY);
    struct peer_cache_entry *e = NULL;
    assert_int_equal(peer_cache_plan(c, HASH, &w, t, &e), PEER_CACHE_BYPASS);
    peer_cache_saw(c, HASH, 100, NUMWANT, t);
    assert_int_equal(peer_cache_plan(c, HASH, &w, t + 1, &e), PEER_CACHE_FILL);
    struct swarm_peer buf[64];
    struct announce_reply r = fill_reply(buf, ns, nl, whole);
    peer_cache_store(e, &r, t + 1);
    peer_cache_release(e, false);
    return e;
}

static void test_admission(void **state)
{
    (void)state;
    struct peer_cache *c = peer_cache_new(16, TTL, 7);
    struct peer_cache_want w = want_of(99, false, SWARM_ANY);
    struct peer_cache_entry *e = NULL;
    /* Unknown: to Redis. A reply showing a swarm small enough to list whole admits nothing. */
    assert_int_equal(peer_cache_plan(c, HASH, &w, 10, &e), PEER_CACHE_BYPASS);
    peer_cache_saw(c, HASH, NUMWANT + 1, NUMWANT, 10);
    assert_int_equal(peer_cache_plan(c, HASH, &w, 20, &e), PEER_CACHE_BYPASS);
    /* A bigger one does, for ttl. */
    peer_cache_saw(c, HASH, NUMWANT + 2, NUMWANT, 20);
    assert_int_equal(peer_cache_plan(c, HASH, &w, 20 + TTL, &e), PEER_CACHE_BYPASS);
    peer_cache_saw(c, HASH, 100, NUMWANT, 30 + TTL);
    assert_int_equal(peer_cache_plan(c, HASH, &w, 40 + TTL, &e), PEER_CACHE_FILL);
    assert_non_null(e);
    /* A fill in flight: the others go to Redis, not to a second fill. */
    struct peer_cache_entry *e2 = NULL;
    assert_int_equal(peer_cache_plan(c, HASH, &w, 50 + TTL, &e2), PEER_CACHE_BYPASS);
    /* It failed: the next announce tries again. */
    peer_cache_release(e, true);
    assert_int_equal(peer_cache_plan(c, HASH, &w, 60 + TTL, &e2), PEER_CACHE_FILL);
    assert_ptr_equal(e2, e);
    peer_cache_release(e2, true);
    peer_cache_free(c);
    peer_cache_free(NULL);
    assert_null(peer_cache_new(0, TTL, 1));
}

static void test_hit_never_serves_self_and_respects_roles(void **state)
{
    (void)state;
    struct peer_cache *c = peer_cache_new(16, TTL, 7);
    admit_and_fill(c, 0, 3, 10, false);
    struct swarm_peer out[16];
    struct peer_cache_entry *e = NULL;

    /* A leecher: the seeders first (all 3), then leechers. It is leecher 31 itself. */
    struct peer_cache_want w = want_of(31, false, SWARM_ANY);
    assert_int_equal(peer_cache_plan(c, HASH, &w, 5, &e), PEER_CACHE_HIT);
    for (int round = 0; round < 20; round++) {
        size_t n = peer_cache_serve(e, &w, out, 16);
        assert_int_equal(n, NUMWANT);
        int seeders = 0;
        for (size_t i = 0; i < n; i++) {
            assert_int_not_equal(out[i].peer_id[0], 31);
            seeders += out[i].peer_id[0] < 30;
        }
        assert_int_equal(seeders, 3);
    }
    peer_cache_release(e, false);

    /* A seeder: leechers only, itself (as a leecher's id) excluded. */
    w = want_of(30, true, SWARM_ANY);
    assert_int_equal(peer_cache_plan(c, HASH, &w, 6, &e), PEER_CACHE_HIT);
    for (int round = 0; round < 20; round++) {
        size_t n = peer_cache_serve(e, &w, out, 16);
        assert_int_equal(n, NUMWANT);
        for (size_t i = 0; i < n; i++) {
            assert_true(out[i].peer_id[0] >= 31);
            assert_true(out[i].peer_id[0] < 40);
        }
    }
    peer_cache_release(e, false);

    /* One family: IPv6 only gets peers with an IPv6 endpoint (30, 33, 35, 36, 39). */
    w = want_of(99, true, SWARM_V6_ONLY);
    assert_int_equal(peer_cache_plan(c, HASH, &w, 7, &e), PEER_CACHE_HIT);
    size_t n = peer_cache_serve(e, &w, out, 16);
    assert_int_equal(n, NUMWANT);
    for (size_t i = 0; i < n; i++)
        assert_non_null(out[i].v6);
    peer_cache_release(e, false);
    w = want_of(99, true, SWARM_V4_ONLY);
    assert_int_equal(peer_cache_plan(c, HASH, &w, 8, &e), PEER_CACHE_HIT);
    n = peer_cache_serve(e, &w, out, 16);
    for (size_t i = 0; i < n; i++)
        assert_non_null(out[i].v4);
    peer_cache_release(e, false);

    /* More than the windows can give: to Redis. */
    w = want_of(99, false, SWARM_ANY);
    w.numwant = 14;
    assert_int_equal(peer_cache_plan(c, HASH, &w, 9, &e), PEER_CACHE_BYPASS);
    peer_cache_free(c);
}

static void test_ttl(void **state)
{
    (void)state;
    struct peer_cache *c = peer_cache_new(16, TTL, 7);
    admit_and_fill(c, 100, 3, 10, false); /* read at 101 */
    struct peer_cache_want w = want_of(99, false, SWARM_ANY);
    struct peer_cache_entry *e = NULL;
    assert_int_equal(peer_cache_plan(c, HASH, &w, 100 + TTL, &e), PEER_CACHE_HIT);
    peer_cache_release(e, false);
    assert_int_equal(peer_cache_plan(c, HASH, &w, 101 + TTL, &e), PEER_CACHE_FILL);
    peer_cache_release(e, true);
    peer_cache_free(c);
}

static void test_small_swarm_never_served(void **state)
{
    (void)state;
    struct peer_cache *c = peer_cache_new(16, TTL, 7);
    /* The windows hold all of it (whole): 1 seeder and 3 leechers. */
    admit_and_fill(c, 0, 1, 3, true);
    struct peer_cache_want w = want_of(99, false, SWARM_ANY);
    struct peer_cache_entry *e = NULL;
    assert_int_equal(peer_cache_plan(c, HASH, &w, 10, &e), PEER_CACHE_BYPASS);
    /* Nor read for the cache again for a while. */
    assert_int_equal(peer_cache_plan(c, HASH, &w, 2 + TTL, &e), PEER_CACHE_BYPASS);
    assert_int_equal(peer_cache_plan(c, HASH, &w, 2 + 8 * TTL, &e), PEER_CACHE_FILL);
    peer_cache_release(e, true);

    /* Refilled: whole windows, but more peers than wanted: a sample anyway, served. */
    struct swarm_peer buf[64];
    struct announce_reply r = fill_reply(buf, 3, 3, true);
    assert_int_equal(peer_cache_plan(c, HASH, &w, 3 + 8 * TTL, &e), PEER_CACHE_FILL);
    peer_cache_store(e, &r, 3 + 8 * TTL);
    peer_cache_release(e, false);
    assert_int_equal(peer_cache_plan(c, HASH, &w, 4 + 8 * TTL, &e), PEER_CACHE_HIT);
    peer_cache_release(e, false);
    /* Exactly as many as wanted, all of the swarm: to Redis. */
    w.numwant = 6;
    assert_int_equal(peer_cache_plan(c, HASH, &w, 5 + 8 * TTL, &e), PEER_CACHE_BYPASS);
    peer_cache_free(c);
}

static void test_eviction_spares_pinned(void **state)
{
    (void)state;
    /* 4 entries: one bucket of 4 ways. */
    struct peer_cache *c = peer_cache_new(4, TTL, 7);
    struct peer_cache_want w = want_of(99, false, SWARM_ANY);
    struct peer_cache_entry *pinned[4];
    uint8_t hashes[5][INFO_HASH_LEN];
    for (int i = 0; i < 5; i++) {
        memset(hashes[i], 0x40 + i, INFO_HASH_LEN);
        peer_cache_saw(c, hashes[i], 100, NUMWANT, 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(peer_cache_plan(c, hashes[i], &w, 10 + (uint64_t)i, &pinned[i]),
                         PEER_CACHE_FILL);
    /* Every way pinned by a fill in flight: the fifth swarm goes to Redis. */
    struct peer_cache_entry *e = NULL;
    assert_int_equal(peer_cache_plan(c, hashes[4], &w, 20, &e), PEER_CACHE_BYPASS);
    /* Unpinned, the least recently announced (the first) gives way. */
    for (int i = 0; i < 4; i++)
        peer_cache_release(pinned[i], true);
    peer_cache_saw(c, hashes[4], 100, NUMWANT, 21);
    assert_int_equal(peer_cache_plan(c, hashes[4], &w, 22, &e), PEER_CACHE_FILL);
    assert_ptr_equal(e, pinned[0]);
    peer_cache_release(e, true);
    /* The others are still theirs. */
    assert_int_equal(peer_cache_plan(c, hashes[1], &w, 23, &e), PEER_CACHE_FILL);
    assert_ptr_equal(e, pinned[1]);
    peer_cache_release(e, true);
    peer_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admission),
        cmocka_unit_test(test_hit_never_serves_self_and_respects_roles),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_small_swarm_never_served),
        cmocka_unit_test(test_eviction_spares_pinned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
