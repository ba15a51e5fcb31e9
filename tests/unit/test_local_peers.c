/* Unit tests for frontend/local_peers.c: the window asked of storage, which peers are local
 * (own prefixes of both families, custom prefixes, the CIDR list, dual-stacked peers), and
 * the reply's order (local first, otherwise as read, cut at numwant, nothing lost or
 * repeated). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "frontend/local_peers.h"

#define MAX_PEERS (LOCAL_PEERS_IN_MAX + 200)

/* Peer i's bytes; its peer_id is filled with i (mod 256) and its port is i. */
struct peer_bytes {
    uint8_t id[PEER_ID_LEN], v4[COMPACT_V4_LEN], v6[COMPACT_V6_LEN];
};
static struct peer_bytes bytes[MAX_PEERS];

/* Peer i at ip4 and/or ip6 (NULL: none of that family). */
static struct swarm_peer peer(int i, const char *ip4, const char *ip6)
{
    struct peer_bytes *b = &bytes[i];
    memset(b->id, i, PEER_ID_LEN);
    struct swarm_peer p = {.peer_id = b->id};
    if (ip4 != NULL) {
        assert_int_equal(inet_pton(AF_INET, ip4, b->v4), 1);
        b->v4[4] = (uint8_t)(i >> 8), b->v4[5] = (uint8_t)i;
        p.v4 = b->v4;
    }
    if (ip6 != NULL) {
        assert_int_equal(inet_pton(AF_INET6, ip6, b->v6), 1);
        b->v6[16] = (uint8_t)(i >> 8), b->v6[17] = (uint8_t)i;
        p.v6 = b->v6;
    }
    return p;
}

static struct peer_endpoints own(const char *ip4, const char *ip6)
{
    struct peer_endpoints e = {.has_v4 = ip4 != NULL, .has_v6 = ip6 != NULL};
    if (ip4 != NULL)
        assert_int_equal(inet_pton(AF_INET, ip4, e.v4), 1);
    if (ip6 != NULL)
        assert_int_equal(inet_pton(AF_INET6, ip6, e.v6), 1);
    return e;
}

static void on_config(struct config *cfg)
{
    config_defaults(cfg);
    cfg->local_subnet_priority = true;
}

static void add_cidr(struct config *cfg, const char *text)
{
    char err[64];
    assert_int_equal(
        cidr_parse(text, &cfg->local_subnet_cidrs[cfg->n_local_subnet_cidrs], err, sizeof(err)), 0);
    cfg->n_local_subnet_cidrs++;
}

/* Whether the peer at ip4/ip6 is local to an announcer at own4/own6 under cfg. */
static bool is_local(const struct config *cfg, const char *own4, const char *own6, const char *ip4,
                     const char *ip6)
{
    struct local_nets nets;
    struct peer_endpoints e = own(own4, own6);
    local_peers_nets(cfg, &e, &nets);
    struct swarm_peer p = peer(1, ip4, ip6);
    return local_peers_is_local(&nets, &p);
}

static void test_window(void **state)
{
    struct config cfg;
    (void)state;
    config_defaults(&cfg); /* off: exactly numwant, as without the option */
    assert_int_equal(local_peers_window(&cfg, 50), 50);
    assert_int_equal(local_peers_window(&cfg, 200), 200);
    on_config(&cfg);
    assert_int_equal(local_peers_window(&cfg, 0), 0);
    assert_int_equal(local_peers_window(&cfg, 1), 2);
    assert_int_equal(local_peers_window(&cfg, 50), 50 * LOCAL_PEERS_WIDEN);
    assert_int_equal(local_peers_window(&cfg, 150), 200); /* max_num_want bounds it */
    assert_int_equal(local_peers_window(&cfg, 200), 200);
    cfg.max_num_want = CONFIG_NUM_WANT_CEILING;
    assert_int_equal(local_peers_window(&cfg, CONFIG_NUM_WANT_CEILING), CONFIG_NUM_WANT_CEILING);
    assert_true(local_peers_window(&cfg, CONFIG_NUM_WANT_CEILING) <= LOCAL_PEERS_IN_MAX);
}

static void test_default_prefixes(void **state)
{
    struct config cfg;
    (void)state;
    on_config(&cfg);
    /* /24 */
    assert_true(is_local(&cfg, "10.1.2.3", NULL, "10.1.2.3", NULL));
    assert_true(is_local(&cfg, "10.1.2.3", NULL, "10.1.2.0", NULL));
    assert_true(is_local(&cfg, "10.1.2.3", NULL, "10.1.2.255", NULL));
    assert_false(is_local(&cfg, "10.1.2.3", NULL, "10.1.3.3", NULL));
    assert_false(is_local(&cfg, "10.1.2.3", NULL, "11.1.2.3", NULL));
    /* /48 */
    assert_true(is_local(&cfg, NULL, "2001:db8:1:2::5", NULL, "2001:db8:1:ffff::1"));
    assert_false(is_local(&cfg, NULL, "2001:db8:1:2::5", NULL, "2001:db8:2:2::5"));
    assert_false(is_local(&cfg, NULL, "2001:db8:1:2::5", NULL, "2001:db9:1:2::5"));
    /* Families compare with their own kind only. */
    assert_false(is_local(&cfg, "10.1.2.3", NULL, NULL, "2001:db8:1:2::5"));
    assert_false(is_local(&cfg, NULL, "2001:db8:1:2::5", "10.1.2.3", NULL));
    /* A dual-stacked peer is local by either address; a dual-stacked announcer by either. */
    assert_true(is_local(&cfg, "10.1.2.3", "2001:db8:1::1", "192.0.2.1", "2001:db8:1::2"));
    assert_true(is_local(&cfg, "10.1.2.3", "2001:db8:1::1", "10.1.2.9", "2001:db8:9::2"));
    assert_false(is_local(&cfg, "10.1.2.3", "2001:db8:1::1", "192.0.2.1", "2001:db8:9::2"));
    /* No address of the announcer: nothing is local. */
    assert_false(is_local(&cfg, NULL, NULL, "10.1.2.3", "2001:db8:1::1"));
}

static void test_custom_prefixes(void **state)
{
    struct config cfg;
    (void)state;
    on_config(&cfg);
    cfg.local_subnet_v4_prefix = 16;
    cfg.local_subnet_v6_prefix = 64;
    assert_true(is_local(&cfg, "10.1.2.3", NULL, "10.1.250.1", NULL));
    assert_false(is_local(&cfg, "10.1.2.3", NULL, "10.2.2.3", NULL));
    assert_true(is_local(&cfg, NULL, "2001:db8:1:2::5", NULL, "2001:db8:1:2:ffff::1"));
    assert_false(is_local(&cfg, NULL, "2001:db8:1:2::5", NULL, "2001:db8:1:3::5"));
    /* A prefix inside a byte: /23 holds 10.1.2.0 - 10.1.3.255; /47 two /48s. */
    cfg.local_subnet_v4_prefix = 23;
    cfg.local_subnet_v6_prefix = 47;
    assert_true(is_local(&cfg, "10.1.2.3", NULL, "10.1.3.200", NULL));
    assert_false(is_local(&cfg, "10.1.2.3", NULL, "10.1.4.1", NULL));
    assert_false(is_local(&cfg, "10.1.3.3", NULL, "10.1.1.1", NULL));
    assert_true(is_local(&cfg, NULL, "2001:db8:2::1", NULL, "2001:db8:3::1"));
    assert_false(is_local(&cfg, NULL, "2001:db8:2::1", NULL, "2001:db8:4::1"));
    /* /32 and /128: the same address only. */
    cfg.local_subnet_v4_prefix = 32;
    cfg.local_subnet_v6_prefix = 128;
    assert_true(is_local(&cfg, "10.1.2.3", NULL, "10.1.2.3", NULL));
    assert_false(is_local(&cfg, "10.1.2.3", NULL, "10.1.2.4", NULL));
    assert_true(is_local(&cfg, NULL, "2001:db8::1", NULL, "2001:db8::1"));
    assert_false(is_local(&cfg, NULL, "2001:db8::1", NULL, "2001:db8::2"));
    /* 0: no own-prefix match at all, not even the same address. */
    cfg.local_subnet_v4_prefix = 0;
    cfg.local_subnet_v6_prefix = 0;
    assert_false(is_local(&cfg, "10.1.2.3", NULL, "10.1.2.3", NULL));
    assert_false(is_local(&cfg, NULL, "2001:db8::1", NULL, "2001:db8::1"));
}

static void test_cidr_list(void **state)
{
    struct config cfg;
    (void)state;
    on_config(&cfg);
    add_cidr(&cfg, "100.64.0.0/10");
    add_cidr(&cfg, "2001:db8::/32");
    /* An announcer inside an entry: every peer inside the same entry is local ... */
    assert_true(is_local(&cfg, "100.70.1.1", NULL, "100.127.255.1", NULL));
    assert_true(is_local(&cfg, "100.70.1.1", NULL, "100.70.1.99", NULL)); /* and its /24 */
    assert_false(is_local(&cfg, "100.70.1.1", NULL, "100.128.0.1", NULL));
    assert_true(is_local(&cfg, NULL, "2001:db8:aaaa::1", NULL, "2001:db8:bbbb::1"));
    assert_false(is_local(&cfg, NULL, "2001:db8:aaaa::1", NULL, "2001:db9::1"));
    /* ... an announcer outside: the entry means nothing to it. */
    assert_false(is_local(&cfg, "10.9.9.9", NULL, "100.70.1.1", NULL));
    assert_false(is_local(&cfg, NULL, "2001:db9::1", NULL, "2001:db8::1"));
    /* An announcer in an IPv6 entry finds IPv4 peers local only by its IPv4 networks. */
    assert_false(is_local(&cfg, "10.9.9.9", "2001:db8::1", "100.70.1.1", NULL));
    assert_true(is_local(&cfg, "10.9.9.9", "2001:db8::1", "100.70.1.1", "2001:db8:5::5"));

    /* Only the list (prefixes 0); overlapping entries each count. */
    cfg.local_subnet_v4_prefix = 0;
    cfg.local_subnet_v6_prefix = 0;
    add_cidr(&cfg, "100.64.0.0/16");
    add_cidr(&cfg, "198.51.100.0/24");
    assert_true(is_local(&cfg, "100.64.1.1", NULL, "100.100.0.1", NULL));
    assert_true(is_local(&cfg, "100.64.1.1", NULL, "100.64.200.1", NULL));
    assert_false(is_local(&cfg, "198.51.100.7", NULL, "100.64.200.1", NULL));
    assert_true(is_local(&cfg, "198.51.100.7", NULL, "198.51.100.8", NULL));

    /* Every entry at once: the networks stay within their bound. */
    on_config(&cfg);
    for (int i = 0; i < CONFIG_MAX_LOCAL_CIDRS; i++)
        add_cidr(&cfg, i % 2 ? "10.0.0.0/8" : "::/0");
    struct local_nets nets;
    struct peer_endpoints e = own("10.1.2.3", "2001:db8::1");
    local_peers_nets(&cfg, &e, &nets);
    assert_int_equal(nets.n, LOCAL_PEERS_NETS_MAX);
}

/* Checks out[0 .. k) against in[0 .. n) for numwant: the locals of in, then the others,
 * each group in the order of in, k = min(n, numwant), no peer repeated. */
static void check_order(const struct local_nets *nets, const struct swarm_peer *in, size_t n,
                        size_t numwant, const struct swarm_peer *out, size_t k, size_t nlocal)
{
    size_t all_local = 0;
    for (size_t i = 0; i < n; i++)
        all_local += local_peers_is_local(nets, &in[i]);
    assert_int_equal(nlocal, all_local < numwant ? all_local : numwant);
    assert_int_equal(k, n < numwant ? n : numwant);
    size_t j = 0;
    /* Locals first, as in, then the others, as in: exactly a stable partition, cut. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n && j < k; i++)
            if (local_peers_is_local(nets, &in[i]) == (pass == 0)) {
                assert_ptr_equal(out[j].peer_id, in[i].peer_id);
                assert_ptr_equal(out[j].v4, in[i].v4);
                assert_ptr_equal(out[j].v6, in[i].v6);
                j++;
            }
    assert_int_equal(j, k);
}

static void test_order(void **state)
{
    struct config cfg;
    struct local_nets nets;
    struct swarm_peer in[8], out[8];
    size_t nlocal;
    (void)state;
    on_config(&cfg);
    struct peer_endpoints e = own("10.1.2.3", "2001:db8:1::1");
    local_peers_nets(&cfg, &e, &nets);
    in[0] = peer(0, "192.0.2.1", NULL);
    in[1] = peer(1, "10.1.2.50", NULL);
    in[2] = peer(2, "192.0.2.2", NULL);
    in[3] = peer(3, NULL, "2001:db8:1::7");
    in[4] = peer(4, "192.0.2.3", "2001:db8:9::1");
    in[5] = peer(5, "10.1.2.51", "2001:db8:9::2");
    in[6] = peer(6, NULL, "2001:db8:9::3");
    in[7] = peer(7, "10.1.3.1", NULL);
    static const int want[8] = {1, 3, 5, 0, 2, 4, 6, 7};

    /* The whole window wanted: a permutation, locals first, each group in window order. */
    assert_int_equal(local_peers_order(&nets, in, 8, 8, out, &nlocal), 8);
    assert_int_equal(nlocal, 3);
    for (int i = 0; i < 8; i++)
        assert_ptr_equal(out[i].peer_id, in[want[i]].peer_id);
    check_order(&nets, in, 8, 8, out, 8, nlocal);
    /* A wider window than numwant (the tracker asks for that): cut after the first others. */
    assert_int_equal(local_peers_order(&nets, in, 8, 5, out, &nlocal), 5);
    assert_int_equal(nlocal, 3);
    for (int i = 0; i < 5; i++)
        assert_ptr_equal(out[i].peer_id, in[want[i]].peer_id);
    /* More locals than numwant: the first locals only. */
    assert_int_equal(local_peers_order(&nets, in, 8, 2, out, &nlocal), 2);
    assert_int_equal(nlocal, 2);
    assert_ptr_equal(out[0].peer_id, in[1].peer_id);
    assert_ptr_equal(out[1].peer_id, in[3].peer_id);
    /* Fewer peers than numwant: all of them. */
    assert_int_equal(local_peers_order(&nets, in, 3, 50, out, &nlocal), 3);
    assert_int_equal(nlocal, 1);
    check_order(&nets, in, 3, 50, out, 3, nlocal);
    assert_int_equal(local_peers_order(&nets, in, 0, 50, out, &nlocal), 0);
    assert_int_equal(nlocal, 0);
    assert_int_equal(local_peers_order(&nets, in, 8, 0, out, &nlocal), 0);
    assert_int_equal(nlocal, 0);

    /* No networks (nothing local): the window as read, cut at numwant. */
    struct local_nets none = {.n = 0};
    assert_int_equal(local_peers_order(&none, in, 8, 6, out, &nlocal), 6);
    assert_int_equal(nlocal, 0);
    for (int i = 0; i < 6; i++)
        assert_memory_equal(&out[i], &in[i], sizeof(in[i]));
}

/* Many windows of random peers, some local: always a stable partition, cut at numwant. */
static void test_order_random_windows(void **state)
{
    static struct swarm_peer in[MAX_PEERS], out[MAX_PEERS];
    struct config cfg;
    struct local_nets nets;
    uint64_t x = 88172645463325252ull;
    char ip4[16], ip6[48];
    size_t nlocal;
    (void)state;
    on_config(&cfg);
    add_cidr(&cfg, "100.64.0.0/10");
    struct peer_endpoints e = own("100.64.2.3", "2001:db8:1::1");
    local_peers_nets(&cfg, &e, &nets);
    for (int round = 0; round < 200; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = x % 300, numwant = 1 + (x >> 20) % 200;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            snprintf(ip4, sizeof(ip4), "100.%u.%u.1", (unsigned)(60 + x % 8),
                     (unsigned)(x >> 8) % 4);
            snprintf(ip6, sizeof(ip6), "2001:db8:%x::1", (unsigned)(x >> 16) % 3);
            unsigned kind = (unsigned)(x >> 32) % 3;
            in[i] = peer((int)i, kind != 1 ? ip4 : NULL, kind != 0 ? ip6 : NULL);
        }
        size_t k = local_peers_order(&nets, in, n, numwant, out, &nlocal);
        check_order(&nets, in, n, numwant, out, k, nlocal);
        /* Nothing repeated: each peer of in has bytes of its own. */
        for (size_t a = 0; a < k; a++)
            for (size_t b = a + 1; b < k; b++)
                assert_true(out[a].peer_id != out[b].peer_id);
    }
}

/* A window past LOCAL_PEERS_IN_MAX is read only that far. */
static void test_order_bounded(void **state)
{
    static struct swarm_peer in[MAX_PEERS], out[MAX_PEERS];
    struct config cfg;
    struct local_nets nets;
    (void)state;
    on_config(&cfg);
    struct peer_endpoints e = own("10.1.2.3", NULL);
    local_peers_nets(&cfg, &e, &nets);
    for (int i = 0; i < MAX_PEERS; i++)
        in[i] = peer(i, i == MAX_PEERS - 1 ? "10.1.2.9" : "192.0.2.1", NULL);
    size_t nlocal, k = local_peers_order(&nets, in, MAX_PEERS, MAX_PEERS, out, &nlocal);
    assert_int_equal(nlocal, 0);
    assert_int_equal(k, LOCAL_PEERS_IN_MAX);
    assert_ptr_equal(out[0].peer_id, in[0].peer_id); /* the local one was past the bound */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window),          cmocka_unit_test(test_default_prefixes),
        cmocka_unit_test(test_custom_prefixes), cmocka_unit_test(test_cidr_list),
        cmocka_unit_test(test_order),           cmocka_unit_test(test_order_random_windows),
        cmocka_unit_test(test_order_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
