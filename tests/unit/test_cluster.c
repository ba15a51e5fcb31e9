/* Unit tests for storage/slot_map.c: the slot map, built from ranges and from constructed
 * CLUSTER SLOTS replies, and a pass's walk over a changing map; and for the parser of
 * MOVED/ASK replies (storage/sync.c). No server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "storage/cluster.h"
#include "storage/sync.h"

static struct slot_map map;

/* ---- redisReply trees, as hiredis builds them from CLUSTER SLOTS ---- */

#define POOL 4096
static redisReply pool[POOL];
static redisReply *children[POOL];
static size_t npool, nchildren;

static redisReply *node(int type)
{
    assert_true(npool < POOL);
    redisReply *r = &pool[npool++];
    memset(r, 0, sizeof(*r));
    r->type = type;
    return r;
}

static redisReply *integer(long long v)
{
    redisReply *r = node(REDIS_REPLY_INTEGER);
    r->integer = v;
    return r;
}

static redisReply *string(const char *s)
{
    redisReply *r = node(REDIS_REPLY_STRING);
    r->str = (char *)s;
    r->len = strlen(s);
    return r;
}

static redisReply *array(size_t n, ...)
{
    redisReply *r = node(REDIS_REPLY_ARRAY);
    assert_true(nchildren + n <= POOL);
    r->element = &children[nchildren];
    r->elements = n;
    nchildren += n;
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        r->element[i] = va_arg(ap, redisReply *);
    va_end(ap);
    return r;
}

/* [first, last, [host, port, id]] with one replica after the master. */
static redisReply *entry(long long first, long long last, const char *host, long long port)
{
    return array(4, integer(first), integer(last),
                 array(3, string(host), integer(port), string("0123abcd")),
                 array(3, string("10.0.0.99"), integer(port + 1000), string("replica")));
}

static int setup(void **state)
{
    (void)state;
    npool = nchildren = 0;
    memset(&map, 0xa5, sizeof(map)); /* whatever was there before */
    return 0;
}

static void assert_node(int index, const char *host, unsigned port)
{
    assert_true(index >= 0 && (size_t)index < map.nnodes);
    assert_string_equal(map.nodes[index].host, host);
    assert_int_equal(map.nodes[index].port, port);
}

/* ---- tests ---- */

static void test_plain_redis_is_one_node_for_every_slot(void **state)
{
    (void)state;
    slot_map_single(&map, "redis.local", 6379);
    assert_int_equal(map.nnodes, 1);
    assert_node(0, "redis.local", 6379);
    for (unsigned s = 0; s < CLUSTER_SLOTS; s++)
        assert_int_equal(slot_map_node_of_slot(&map, s), 0);
    assert_int_equal(slot_map_node_of_key(&map, "{starling}:stats", 16), 0);
    assert_int_equal(slot_map_node_of_slot(&map, CLUSTER_SLOTS), -1);
}

static void test_cleared_map_serves_nothing(void **state)
{
    (void)state;
    slot_map_clear(&map);
    assert_int_equal(map.nnodes, 0);
    assert_int_equal(slot_map_node_of_slot(&map, 0), -1);
    assert_int_equal(slot_map_node_of_slot(&map, CLUSTER_SLOTS - 1), -1);
    assert_int_equal(slot_map_node_of_key(&map, "foo", 3), -1);
}

static void test_ranges(void **state)
{
    (void)state;
    slot_map_clear(&map);
    assert_int_equal(slot_map_assign(&map, 0, 5460, "10.0.0.1", 7000), 0);
    assert_int_equal(slot_map_assign(&map, 5461, 10922, "10.0.0.2", 7000), 1);
    assert_int_equal(slot_map_assign(&map, 10923, 16000, "10.0.0.1", 7001), 2);
    /* The same address again is the same node. */
    assert_int_equal(slot_map_assign(&map, 16001, 16383, "10.0.0.2", 7000), 1);
    assert_int_equal(map.nnodes, 3);
    assert_node(2, "10.0.0.1", 7001);
    const struct {
        unsigned slot;
        int node;
    } cases[] = {{0, 0},     {5460, 0},  {5461, 1},  {10922, 1},
                 {10923, 2}, {16000, 2}, {16001, 1}, {16383, 1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(slot_map_node_of_slot(&map, cases[i].slot), cases[i].node);
    /* By key: hash tags pick the slot ("{user1000}" is slot 3443, "foo" 12182). */
    assert_int_equal(slot_map_node_of_key(&map, "{user1000}.following", 20), 0);
    assert_int_equal(slot_map_node_of_key(&map, "foo", 3), 2);
}

static void test_bad_ranges_change_nothing(void **state)
{
    (void)state;
    slot_map_single(&map, "a", 1);
    assert_int_equal(slot_map_assign(&map, 10, 9, "b", 2), -1);
    assert_int_equal(slot_map_assign(&map, 0, CLUSTER_SLOTS, "b", 2), -1);
    assert_int_equal(slot_map_assign(&map, CLUSTER_SLOTS, CLUSTER_SLOTS, "b", 2), -1);
    assert_int_equal(map.nnodes, 1);
    assert_int_equal(slot_map_node_of_slot(&map, 9), 0);
    assert_int_equal(slot_map_node_of_slot(&map, CLUSTER_SLOTS - 1), 0);
}

static void test_one_slot_moves(void **state)
{
    (void)state;
    /* What a MOVED redirect tells: one slot now lives elsewhere. */
    slot_map_clear(&map);
    slot_map_assign(&map, 0, 8191, "n1", 7000);
    slot_map_assign(&map, 8192, 16383, "n2", 7000);
    assert_int_equal(slot_map_assign(&map, 3999, 3999, "n2", 7000), 1);
    assert_int_equal(slot_map_node_of_slot(&map, 3998), 0);
    assert_int_equal(slot_map_node_of_slot(&map, 3999), 1);
    assert_int_equal(slot_map_node_of_slot(&map, 4000), 0);
    assert_int_equal(map.nnodes, 2);
}

static void test_full_map(void **state)
{
    (void)state;
    char host[32];
    slot_map_clear(&map);
    for (unsigned i = 0; i < CLUSTER_MAX_NODES; i++) {
        snprintf(host, sizeof(host), "node%u", i);
        assert_int_equal(slot_map_assign(&map, i, i, host, 7000), (int)i);
    }
    const unsigned past = CLUSTER_MAX_NODES + 100; /* slots no node holds yet */
    assert_int_equal(slot_map_assign(&map, past, past + 100, "one-too-many", 7000), -1);
    assert_int_equal(map.nnodes, CLUSTER_MAX_NODES);
    assert_int_equal(slot_map_node_of_slot(&map, past), -1);
    /* A known node still takes more slots. */
    assert_int_equal(slot_map_assign(&map, past, past + 100, "node7", 7000), 7);
    assert_int_equal(slot_map_node_of_slot(&map, past + 50), 7);
}

static void test_cluster_slots_reply(void **state)
{
    (void)state;
    /* Three masters; the first serves two ranges, listed apart; one answers with an empty
     * host (the node that was asked). */
    redisReply *reply =
        array(4, entry(0, 5000, "127.0.0.1", 7000), entry(5001, 10000, "127.0.0.1", 7001),
              entry(10001, 16000, "", 7002), entry(16001, 16383, "127.0.0.1", 7000));
    assert_int_equal(slot_map_from_cluster_slots(&map, reply, "seed.local"), 0);
    assert_int_equal(map.nnodes, 3);
    assert_node(0, "127.0.0.1", 7000);
    assert_node(1, "127.0.0.1", 7001);
    assert_node(2, "seed.local", 7002);
    assert_int_equal(slot_map_node_of_slot(&map, 0), 0);
    assert_int_equal(slot_map_node_of_slot(&map, 5000), 0);
    assert_int_equal(slot_map_node_of_slot(&map, 5001), 1);
    assert_int_equal(slot_map_node_of_slot(&map, 10001), 2);
    assert_int_equal(slot_map_node_of_slot(&map, 16000), 2);
    assert_int_equal(slot_map_node_of_slot(&map, 16001), 0);
    assert_int_equal(slot_map_node_of_slot(&map, 16383), 0);
    /* Replicas are not nodes of the map. */
    for (size_t i = 0; i < map.nnodes; i++)
        assert_string_not_equal(map.nodes[i].host, "10.0.0.99");
}

static void test_cluster_slots_gaps_and_malformed_entries(void **state)
{
    (void)state;
    redisReply *reply = array(
        7, entry(0, 99, "good", 7000), array(2, integer(100), integer(199)),       /* no address */
        array(3, string("200"), integer(299), array(2, string("x"), integer(1))),  /* text slot */
        array(3, integer(300), integer(16384), array(2, string("x"), integer(1))), /* bad slot */
        array(3, integer(400), integer(499), array(2, string("x"), integer(70000))), /* port */
        array(3, integer(500), integer(599), string("x")), /* address not array */
        integer(5));                                       /* not an entry */
    assert_int_equal(slot_map_from_cluster_slots(&map, reply, "seed"), 0);
    assert_int_equal(map.nnodes, 1);
    assert_int_equal(slot_map_node_of_slot(&map, 99), 0);
    for (unsigned s = 100; s < CLUSTER_SLOTS; s++)
        assert_int_equal(slot_map_node_of_slot(&map, s), -1);
}

static void test_cluster_slots_too_many_masters(void **state)
{
    (void)state;
    static char hosts[CLUSTER_MAX_NODES + 2][24];
    redisReply *reply = node(REDIS_REPLY_ARRAY);
    reply->elements = CLUSTER_MAX_NODES + 2;
    reply->element = &children[nchildren];
    nchildren += reply->elements;
    for (size_t i = 0; i < reply->elements; i++) {
        snprintf(hosts[i], sizeof(hosts[i]), "m%zu", i);
        reply->element[i] = entry((long long)i * 10, (long long)i * 10 + 9, hosts[i], 7000);
    }
    assert_int_equal(slot_map_from_cluster_slots(&map, reply, "seed"), 0);
    assert_int_equal(map.nnodes, CLUSTER_MAX_NODES);
    assert_int_equal(slot_map_node_of_slot(&map, (CLUSTER_MAX_NODES - 1) * 10),
                     CLUSTER_MAX_NODES - 1);
    assert_int_equal(slot_map_node_of_slot(&map, CLUSTER_MAX_NODES * 10), -1);
    assert_int_equal(slot_map_node_of_slot(&map, CLUSTER_MAX_NODES * 10 + 19), -1);
}

static void test_not_a_cluster_slots_reply(void **state)
{
    (void)state;
    slot_map_single(&map, "a", 1);
    assert_int_equal(slot_map_from_cluster_slots(&map, NULL, "seed"), -1);
    assert_int_equal(map.nnodes, 0);
    redisReply *err = node(REDIS_REPLY_ERROR);
    err->str = (char *)"ERR This instance has cluster support disabled";
    err->len = strlen(err->str);
    slot_map_single(&map, "a", 1);
    assert_int_equal(slot_map_from_cluster_slots(&map, err, "seed"), -1);
    assert_int_equal(map.nnodes, 0);
    assert_int_equal(slot_map_node_of_slot(&map, 0), -1);
    /* An empty array: a cluster node that serves no slot yet. */
    assert_int_equal(slot_map_from_cluster_slots(&map, array(0), "seed"), 0);
    assert_int_equal(map.nnodes, 0);
}

static void test_nodes_without_slots(void **state)
{
    (void)state;
    slot_map_clear(&map);
    assert_int_equal(slot_map_find(&map, "a", 1), -1);
    assert_int_equal(slot_map_node(&map, "a", 1), 0); /* an ASK target: a node, no slot */
    assert_int_equal(slot_map_node(&map, "a", 1), 0);
    assert_int_equal(slot_map_find(&map, "a", 1), 0);
    assert_int_equal(slot_map_find(&map, "a", 2), -1);
    assert_int_equal(map.nnodes, 1);
    assert_int_equal(slot_map_node_of_slot(&map, 0), -1);
}

/* The walk a pass makes over the masters, the map changing under it. */
static struct cluster_walk walk;

static int walk_next(bool *fresh)
{
    return cluster_walk_node(&map, &walk, fresh);
}

static void test_walk_every_master_once(void **state)
{
    (void)state;
    bool fresh;
    slot_map_clear(&map);
    slot_map_assign(&map, 0, 99, "a", 1);
    slot_map_assign(&map, 100, 199, "b", 1);
    cluster_walk_begin(&walk);
    assert_int_equal(walk_next(&fresh), 0);
    assert_true(fresh);
    assert_int_equal(walk_next(&fresh), 0); /* still walking a: its SCAN goes on */
    assert_false(fresh);
    cluster_walk_done(&walk);
    assert_int_equal(walk_next(&fresh), 1);
    assert_true(fresh);
    /* A master joins mid-walk (a refresh found it): it is walked too, before the end. */
    slot_map_assign(&map, 150, 199, "c", 1);
    cluster_walk_done(&walk);
    assert_int_equal(walk_next(&fresh), 2);
    assert_true(fresh);
    cluster_walk_done(&walk);
    assert_int_equal(walk_next(&fresh), -1);
    assert_int_equal(walk_next(&fresh), -1);
}

static void test_walk_survives_a_new_map(void **state)
{
    (void)state;
    bool fresh;
    slot_map_clear(&map);
    slot_map_assign(&map, 0, 99, "a", 1);
    slot_map_assign(&map, 100, 199, "b", 1);
    slot_map_assign(&map, 200, 299, "c", 1);
    cluster_walk_begin(&walk);
    assert_int_equal(walk_next(&fresh), 0);
    cluster_walk_done(&walk);
    assert_int_equal(walk_next(&fresh), 1); /* walking b when the map is read again: */
    /* b failed over to its replica d, and the nodes come in another order. */
    slot_map_clear(&map);
    slot_map_assign(&map, 0, 99, "c", 1);
    slot_map_assign(&map, 100, 199, "d", 1);
    slot_map_assign(&map, 200, 299, "a", 1);
    assert_int_equal(walk_next(&fresh), 0); /* b is gone: c, not walked yet */
    assert_true(fresh);
    cluster_walk_done(&walk);
    assert_int_equal(walk_next(&fresh), 1); /* d, new; a was walked */
    assert_true(fresh);
    cluster_walk_done(&walk);
    assert_int_equal(walk_next(&fresh), -1);
}

static void test_walk_is_bounded(void **state)
{
    (void)state;
    bool fresh;
    cluster_walk_begin(&walk);
    for (unsigned round = 0; round < 3; round++) {
        slot_map_clear(&map); /* every refresh a whole new set of masters */
        for (unsigned i = 0; i < CLUSTER_MAX_NODES; i++) {
            char host[16];
            snprintf(host, sizeof(host), "h%u", round * CLUSTER_MAX_NODES + i); /* all new */
            slot_map_assign(&map, i, i, host, 1);
        }
        for (int node; (node = walk_next(&fresh)) >= 0;)
            cluster_walk_done(&walk);
    }
    assert_int_equal(walk.ndone, CLUSTER_WALK_MAX);
}

static void test_parse_redirect(void **state)
{
    (void)state;
    char host[64];
    unsigned slot = 0;
    uint16_t port = 0;
    assert_int_equal(
        cluster_parse_redirect("MOVED 3999 127.0.0.1:6381", &slot, host, sizeof(host), &port), 1);
    assert_int_equal(slot, 3999);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6381);
    assert_int_equal(cluster_parse_redirect("ASK 16383 ::1:7000", &slot, host, sizeof(host), &port),
                     0);
    assert_int_equal(slot, 16383);
    assert_string_equal(host, "::1"); /* split at the last colon */
    assert_int_equal(port, 7000);
    assert_int_equal(cluster_parse_redirect("MOVED 12 :6379", &slot, host, sizeof(host), &port), 1);
    assert_string_equal(host, ""); /* unknown endpoint: the caller's node */
    const char *bad[] = {"TRYAGAIN Multiple keys",
                         "MOVED",
                         "MOVED 16384 a:1",
                         "MOVED x a:1",
                         "MOVED 1 a",
                         "MOVED 1 a:0",
                         "MOVED 1 a:65536",
                         "ASK 1 a:b",
                         "CLUSTERDOWN The cluster is down",
                         "moved 1 a:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cluster_parse_redirect(bad[i], &slot, host, sizeof(host), &port), -1);
    char tiny[4];
    assert_int_equal(cluster_parse_redirect("MOVED 1 abcd:1", &slot, tiny, sizeof(tiny), &port),
                     -1);
    assert_int_equal(cluster_parse_redirect("MOVED 1 abc:1", &slot, tiny, sizeof(tiny), &port), 1);
}

/* What a routing client does with each error reply a cluster gives. */
static void test_classify_error(void **state)
{
    (void)state;
    assert_int_equal(cluster_classify_error("MOVED 3999 127.0.0.1:6381"), CLUSTER_ERR_MOVED);
    assert_int_equal(cluster_classify_error("ASK 3999 127.0.0.1:6381"), CLUSTER_ERR_ASK);
    assert_int_equal(cluster_classify_error("TRYAGAIN Multiple keys request during rehashing of "
                                            "slot"),
                     CLUSTER_ERR_TRYAGAIN);
    assert_int_equal(cluster_classify_error("CLUSTERDOWN The cluster is down"), CLUSTER_ERR_DOWN);
    assert_int_equal(cluster_classify_error("READONLY You can't write against a read only "
                                            "replica."),
                     CLUSTER_ERR_DOWN);
    assert_int_equal(cluster_classify_error("MASTERDOWN Link with MASTER is down"),
                     CLUSTER_ERR_DOWN);
    assert_int_equal(cluster_classify_error("LOADING Redis is loading the dataset in memory"),
                     CLUSTER_ERR_DOWN);
    assert_int_equal(cluster_classify_error("NOSCRIPT No matching script."), CLUSTER_ERR_NOSCRIPT);
    assert_int_equal(cluster_classify_error("CROSSSLOT Keys in request don't hash to the same "
                                            "slot"),
                     CLUSTER_ERR_CROSSSLOT);
    assert_int_equal(cluster_classify_error("OOM command not allowed when used memory > "
                                            "'maxmemory'."),
                     CLUSTER_ERR_OOM);
    /* Prefixes only, whole words: neither a script's own error nor a lookalike. */
    assert_int_equal(cluster_classify_error("ERR Error running script"), CLUSTER_ERR_OTHER);
    assert_int_equal(cluster_classify_error("MOVEDX 1 a:1"), CLUSTER_ERR_OTHER);
    assert_int_equal(cluster_classify_error("ASKING"), CLUSTER_ERR_OTHER);
    assert_int_equal(cluster_classify_error(""), CLUSTER_ERR_OTHER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_plain_redis_is_one_node_for_every_slot, setup),
        cmocka_unit_test_setup(test_cleared_map_serves_nothing, setup),
        cmocka_unit_test_setup(test_ranges, setup),
        cmocka_unit_test_setup(test_bad_ranges_change_nothing, setup),
        cmocka_unit_test_setup(test_one_slot_moves, setup),
        cmocka_unit_test_setup(test_full_map, setup),
        cmocka_unit_test_setup(test_cluster_slots_reply, setup),
        cmocka_unit_test_setup(test_cluster_slots_gaps_and_malformed_entries, setup),
        cmocka_unit_test_setup(test_cluster_slots_too_many_masters, setup),
        cmocka_unit_test_setup(test_not_a_cluster_slots_reply, setup),
        cmocka_unit_test_setup(test_nodes_without_slots, setup),
        cmocka_unit_test_setup(test_walk_every_master_once, setup),
        cmocka_unit_test_setup(test_walk_survives_a_new_map, setup),
        cmocka_unit_test_setup(test_walk_is_bounded, setup),
        cmocka_unit_test_setup(test_parse_redirect, setup),
        cmocka_unit_test(test_classify_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
