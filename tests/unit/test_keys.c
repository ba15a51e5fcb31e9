/* Unit tests for storage/keys.c: the Redis schema (key names, hash tags, member layout). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "storage/keys.h"
#include "storage/keyslot.h"

static const uint8_t HASH[INFO_HASH_LEN] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
                                            0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
                                            0x32, 0x10, 0x00, 0x0f, 0xf0, 0xff};

static void assert_key(const struct swarm_keys *k, enum swarm_key which, const char *want)
{
    assert_int_equal(k->len[which], strlen(want));
    assert_memory_equal(k->name[which], want, strlen(want));
}

static void test_swarm_keys(void **state)
{
    (void)state;
    char tag[SWARM_TAG_LEN];
    swarm_tag(HASH, tag);
    assert_int_equal(SWARM_TAG_LEN, 42);
    assert_memory_equal(tag, "{0123456789abcdeffedcba9876543210000ff0ff}", SWARM_TAG_LEN);

    struct swarm_keys k;
    swarm_keys_fill(&k, HASH);
    assert_key(&k, SWARM_SEEDERS, "{0123456789abcdeffedcba9876543210000ff0ff}:seeders");
    assert_key(&k, SWARM_LEECHERS, "{0123456789abcdeffedcba9876543210000ff0ff}:leechers");
    assert_key(&k, SWARM_PEERS, "{0123456789abcdeffedcba9876543210000ff0ff}:peers");
    assert_true(k.len[SWARM_LEECHERS] <= SWARM_KEY_MAX);

    /* The scripts' KEYS[1..3]: seeders, leechers, peers. */
    const char *args[4] = {NULL, NULL, NULL, "next"};
    size_t lens[4] = {0, 0, 0, 4};
    swarm_keys_args(&k, args, lens);
    assert_ptr_equal(args[0], k.name[SWARM_SEEDERS]);
    assert_ptr_equal(args[1], k.name[SWARM_LEECHERS]);
    assert_ptr_equal(args[2], k.name[SWARM_PEERS]);
    assert_int_equal(lens[2], k.len[SWARM_PEERS]);
    assert_string_equal(args[3], "next");
    assert_int_equal(lens[3], 4);

    /* One hash tag: a swarm's keys share a cluster slot. */
    unsigned slot = key_hash_slot(k.name[0], k.len[0]);
    for (int i = 1; i < SWARM_NKEYS; i++)
        assert_int_equal(key_hash_slot(k.name[i], k.len[i]), slot);
}

static int parse(const char *key, uint8_t *out)
{
    return swarm_key_info_hash(key, strlen(key), out);
}

static void test_swarm_key_info_hash(void **state)
{
    (void)state;
    uint8_t out[INFO_HASH_LEN];
    struct swarm_keys k;
    swarm_keys_fill(&k, HASH);
    memset(out, 0, sizeof(out));
    assert_int_equal(swarm_key_info_hash(k.name[SWARM_PEERS], k.len[SWARM_PEERS], out), 0);
    assert_memory_equal(out, HASH, INFO_HASH_LEN);

    assert_int_equal(parse("{0123456789abcdeffedcba9876543210000ff0ff}:peers", out), 0);
    /* Not a swarm's peers hash: */
    assert_int_equal(parse("{0123456789abcdeffedcba9876543210000ff0ff}:seeders", out), -1);
    assert_int_equal(parse("{0123456789abcdeffedcba9876543210000ff0ff}:leechers", out), -1);
    assert_int_equal(parse("{0123456789ABCDEFfedcba9876543210000ff0ff}:peers", out), -1);
    assert_int_equal(parse("{0123456789abcdeffedcba9876543210000ff0fg}:peers", out), -1);
    assert_int_equal(parse("{0123456789abcdeffedcba9876543210000ff0f}:peers", out), -1);
    assert_int_equal(parse("{0123456789abcdeffedcba9876543210000ff0ff0}:peers", out), -1);
    assert_int_equal(parse("[0123456789abcdeffedcba9876543210000ff0ff}:peers", out), -1);
    assert_int_equal(parse("{0123456789abcdeffedcba9876543210000ff0ff]:peers", out), -1);
    assert_int_equal(parse("{0123456789abcdeffedcba9876543210000ff0ff}:peerz", out), -1);
    assert_int_equal(parse("{0123456789abcdeffedcba9876543210000ff0ff}:peers ", out), -1);
    assert_int_equal(parse("{starling}:requests", out), -1);
    assert_int_equal(parse("", out), -1);
}

static void test_member_layout(void **state)
{
    (void)state;
    /* The bytes in Redis: changing them would strand every stored swarm. */
    assert_int_equal(MEMBER_ID_LEN, 20);
    assert_int_equal(MEMBER_V4_LEN, 26);
    assert_int_equal(MEMBER_V6_LEN, 38);
    assert_int_equal(MEMBER_DUAL_LEN, 44);
    assert_int_equal(MEMBER_ENDPOINTS_MAX, 24);

    struct peer_endpoints e = {.has_v4 = true, .has_v6 = true};
    memcpy(e.v4, "\x0a\x00\x00\x01\x1a\xe1", COMPACT_V4_LEN);
    memset(e.v6, 0x66, COMPACT_V6_LEN);
    uint8_t member[MEMBER_DUAL_LEN];
    memset(member, 'p', MEMBER_ID_LEN);
    const uint8_t *v4, *v6;

    size_t n = member_endpoints(&e, member + MEMBER_ID_LEN);
    assert_int_equal(MEMBER_ID_LEN + n, MEMBER_DUAL_LEN);
    assert_memory_equal(member + MEMBER_ID_LEN, e.v4, COMPACT_V4_LEN); /* v4 first */
    assert_int_equal(member_split(member, MEMBER_ID_LEN + n, &v4, &v6), 0);
    assert_ptr_equal(v4, member + MEMBER_ID_LEN);
    assert_ptr_equal(v6, member + MEMBER_ID_LEN + COMPACT_V4_LEN);
    assert_memory_equal(v6, e.v6, COMPACT_V6_LEN);

    e.has_v6 = false;
    n = member_endpoints(&e, member + MEMBER_ID_LEN);
    assert_int_equal(MEMBER_ID_LEN + n, MEMBER_V4_LEN);
    assert_int_equal(member_split(member, MEMBER_ID_LEN + n, &v4, &v6), 0);
    assert_memory_equal(v4, e.v4, COMPACT_V4_LEN);
    assert_null(v6);

    e.has_v4 = false, e.has_v6 = true;
    n = member_endpoints(&e, member + MEMBER_ID_LEN);
    assert_int_equal(MEMBER_ID_LEN + n, MEMBER_V6_LEN);
    assert_int_equal(member_split(member, MEMBER_ID_LEN + n, &v4, &v6), 0);
    assert_null(v4);
    assert_memory_equal(v6, e.v6, COMPACT_V6_LEN);

    for (size_t len = 0; len <= MEMBER_DUAL_LEN + 1; len++) {
        bool known = len == MEMBER_V4_LEN || len == MEMBER_V6_LEN || len == MEMBER_DUAL_LEN;
        assert_int_equal(member_split(member, len, &v4, &v6), known ? 0 : -1);
    }
}

static void test_global_keys(void **state)
{
    (void)state;
    /* Names other tools read (README, dashboards, operators' redis-cli). */
    assert_string_equal(STATS_KEY, "{starling}:stats");
    assert_string_equal(FULLSCRAPE_KEY, "{starling}:fullscrape");
    assert_string_equal(PASSES_KEY, "{starling}:aggregator:passes");
    assert_string_equal(LEADER_LOCK_KEY, "{starling}:aggregator:lock");
    assert_string_equal(COUNTERS_REQUESTS_KEY, "{starling}:requests");
    assert_string_equal(COUNTERS_FRONTENDS_KEY, "{starling}:frontends");
    assert_string_equal(COUNTERS_NODE_PREFIX, "{starling}:requests:");
    assert_string_equal(SWARM_SCAN_MATCH, "{*}:peers");
    /* The lock and what the leader publishes go to one script call (lua/publish.lua): one
     * slot on a cluster. */
    unsigned lock_slot = key_hash_slot(LEADER_LOCK_KEY, strlen(LEADER_LOCK_KEY));
    assert_int_equal(key_hash_slot(STATS_KEY, strlen(STATS_KEY)), lock_slot);
    assert_int_equal(key_hash_slot(FULLSCRAPE_KEY, strlen(FULLSCRAPE_KEY)), lock_slot);
    assert_int_equal(key_hash_slot(PASSES_KEY, strlen(PASSES_KEY)), lock_slot);
    /* The counters' two keys go to one script call: one slot on a cluster. */
    assert_int_equal(key_hash_slot(COUNTERS_REQUESTS_KEY, strlen(COUNTERS_REQUESTS_KEY)),
                     key_hash_slot(COUNTERS_FRONTENDS_KEY, strlen(COUNTERS_FRONTENDS_KEY)));
    /* ... and so do the nodes' own hashes, which it names. */
    assert_int_equal(key_hash_slot(COUNTERS_REQUESTS_KEY, strlen(COUNTERS_REQUESTS_KEY)),
                     key_hash_slot(COUNTERS_NODE_PREFIX "host:1:ab", 29));
}

static void test_stats_fields(void **state)
{
    (void)state;
    static const char *const written[] = {
        "torrents",         "seeders",         "leechers",         "peers_ipv4",
        "peers_ipv6",       "completed",       "frontends",        "peers_expired",
        "swarms_deleted",   "pass_started_ms", "pass_finished_ms", "pass_duration_ms",
        "pass_max_call_ms", "passes",
    };
    assert_int_equal(STATS_NFIELDS, sizeof(written) / sizeof(written[0]));
    for (size_t i = 0; i < STATS_NFIELDS; i++) {
        assert_non_null(stats_field_names[i]);
        assert_string_equal(stats_field_names[i], written[i]);
    }
    assert_string_equal(STATS_LEADER_FIELD, "leader");
    assert_string_equal(STATS_REQUESTS_PREFIX, "requests:");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swarm_keys),    cmocka_unit_test(test_swarm_key_info_hash),
        cmocka_unit_test(test_member_layout), cmocka_unit_test(test_global_keys),
        cmocka_unit_test(test_stats_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
