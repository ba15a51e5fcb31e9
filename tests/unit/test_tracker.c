#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>

#include "frontend/tracker.h"
#include "storage/tables.h"
#include "frontend/udp_proto.h"

/* What the two protocols pass (frontend/http.c, frontend/udp.c). */
static const struct tracker_wire http_wire = {false, UINT32_MAX, UINT32_MAX};
static const struct tracker_wire udp_wire = {true, UDP_MAX_PEERS_V4, UDP_MAX_PEERS_V6};

static struct config defaults(void)
{
    struct config cfg;
    config_defaults(&cfg);
    assert_int_equal(cfg.default_num_want, 50);
    assert_int_equal(cfg.max_num_want, 200);
    assert_false(cfg.respect_af);
    return cfg;
}

static struct tracker_reply_peers decide(const struct config *cfg, int32_t numwant, int family,
                                         const struct tracker_wire *wire)
{
    struct tracker_reply_peers p = {12345, false, false};
    tracker_decide_peers(cfg, numwant, family, wire, &p);
    return p;
}

static void test_numwant_default_and_cap(void **state)
{
    (void)state;
    struct config cfg = defaults();
    assert_int_equal(decide(&cfg, -1, AF_INET, &http_wire).numwant, 50);
    assert_int_equal(decide(&cfg, INT32_MIN, AF_INET, &http_wire).numwant, 50);
    assert_int_equal(decide(&cfg, 0, AF_INET, &http_wire).numwant, 0);
    assert_int_equal(decide(&cfg, 7, AF_INET, &http_wire).numwant, 7);
    assert_int_equal(decide(&cfg, 200, AF_INET, &http_wire).numwant, 200);
    assert_int_equal(decide(&cfg, 201, AF_INET, &http_wire).numwant, 200);
    assert_int_equal(decide(&cfg, INT32_MAX, AF_INET6, &http_wire).numwant, 200);
    cfg.max_num_want = 1000;
    cfg.default_num_want = 0;
    assert_int_equal(decide(&cfg, -1, AF_INET, &http_wire).numwant, 0);
    assert_int_equal(decide(&cfg, 999, AF_INET, &http_wire).numwant, 999);
}

/* UDP: a datagram holds 242 IPv4 or 79 IPv6 peers; the smallest limit wins. */
static void test_numwant_wire_cap(void **state)
{
    (void)state;
    struct config cfg = defaults();
    assert_int_equal(decide(&cfg, -1, AF_INET, &udp_wire).numwant, 50);
    assert_int_equal(decide(&cfg, -1, AF_INET6, &udp_wire).numwant, 50);
    assert_int_equal(decide(&cfg, 100, AF_INET, &udp_wire).numwant, 100);
    assert_int_equal(decide(&cfg, 100, AF_INET6, &udp_wire).numwant, UDP_MAX_PEERS_V6);
    assert_int_equal(decide(&cfg, 1000, AF_INET, &udp_wire).numwant, 200);
    cfg.max_num_want = 1000;
    assert_int_equal(decide(&cfg, 1000, AF_INET, &udp_wire).numwant, UDP_MAX_PEERS_V4);
    assert_int_equal(decide(&cfg, 1000, AF_INET6, &udp_wire).numwant, UDP_MAX_PEERS_V6);
    cfg.default_num_want = 300;
    assert_int_equal(decide(&cfg, -1, AF_INET, &udp_wire).numwant, UDP_MAX_PEERS_V4);
    assert_int_equal(decide(&cfg, -1, AF_INET, &http_wire).numwant, 300);
    /* A two-family reply is held to the smaller of the limits. */
    struct tracker_wire both = {false, 30, 20};
    assert_int_equal(decide(&cfg, -1, AF_INET, &both).numwant, 20);
    both = (struct tracker_wire){false, 10, 20};
    assert_int_equal(decide(&cfg, -1, AF_INET6, &both).numwant, 10);
}

static void expect_families(const struct config *cfg, const struct tracker_wire *wire, int family,
                            bool v4, bool v6)
{
    struct tracker_reply_peers p = decide(cfg, -1, family, wire);
    assert_int_equal(p.v4, v4);
    assert_int_equal(p.v6, v6);
}

static void test_families(void **state)
{
    (void)state;
    struct config cfg = defaults();
    /* HTTP lists both families, to clients of either. */
    expect_families(&cfg, &http_wire, AF_INET, true, true);
    expect_families(&cfg, &http_wire, AF_INET6, true, true);
    /* A UDP reply has one list: the client's family. */
    expect_families(&cfg, &udp_wire, AF_INET, true, false);
    expect_families(&cfg, &udp_wire, AF_INET6, false, true);
    /* respect_af: every protocol gives the client's family only. */
    cfg.respect_af = true;
    expect_families(&cfg, &http_wire, AF_INET, true, false);
    expect_families(&cfg, &http_wire, AF_INET6, false, true);
    expect_families(&cfg, &udp_wire, AF_INET, true, false);
    expect_families(&cfg, &udp_wire, AF_INET6, false, true);
}

static void test_peer_ttl(void **state)
{
    struct config cfg = defaults();
    (void)state;

    assert_int_equal(tracker_peer_ttl_ms(&cfg, 0), 2700000);
    cfg.announce_ms = 1001;
    assert_int_equal(tracker_peer_ttl_ms(&cfg, 0), 1501);
    cfg.announce_ms = 1;
    assert_int_equal(tracker_peer_ttl_ms(&cfg, 0), 1);
    /* The largest interval whose 1.5x still fits, and the next ones, which saturate. */
    cfg.announce_ms = UINT64_MAX / 3 * 2;
    assert_true(tracker_peer_ttl_ms(&cfg, 0) == UINT64_MAX);
    cfg.announce_ms = UINT64_MAX / 3 * 2 - 2;
    assert_true(tracker_peer_ttl_ms(&cfg, 0) == UINT64_MAX - 3);
    cfg.announce_ms = UINT64_MAX / 3 * 2 + 2;
    assert_true(tracker_peer_ttl_ms(&cfg, 0) == UINT64_MAX);
    cfg.announce_ms = UINT64_MAX;
    assert_true(tracker_peer_ttl_ms(&cfg, 0) == UINT64_MAX);
}

static void test_intervals(void **state)
{
    struct config cfg = defaults();
    (void)state;

    assert_int_equal(tracker_interval_s(&cfg, 0), 1800);
    assert_int_equal(tracker_min_interval_s(&cfg), 900);
    cfg.announce_ms = 1999; /* whole seconds, rounded down */
    cfg.min_announce_ms = 999;
    assert_int_equal(tracker_interval_s(&cfg, 0), 1);
    assert_int_equal(tracker_min_interval_s(&cfg), 0);
}

static void test_jitter(void **state)
{
    struct config cfg = defaults();
    (void)state;

    /* 30m +- 3m: every value within, the spread used, min interval unchanged. */
    cfg.announce_jitter_ms = 3 * 60 * 1000;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 2000; i++) {
        uint64_t v = tracker_interval_s(&cfg, 0);
        assert_true(v >= 1620 && v <= 1980);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    assert_true(lo < 1680 && hi > 1920);
    assert_int_equal(tracker_min_interval_s(&cfg), 900);
    /* Peers outlive the longest interval given, 1.5x. */
    assert_int_equal(tracker_peer_ttl_ms(&cfg, 0), (30 + 3) * 60 * 1000 * 3 / 2);
    /* Never below min_announce. */
    cfg.min_announce_ms = cfg.announce_ms;
    for (int i = 0; i < 200; i++)
        assert_true(tracker_interval_s(&cfg, 0) >= 1800);
}

/* A private site's update_announce_interval: its interval, never below min_announce, with
 * jitter at most half of it; peers live by the longer of the two. */
static void test_site_interval(void **state)
{
    struct config cfg = defaults();
    (void)state;
    assert_int_equal(tracker_interval_s(&cfg, 2400000), 2400);
    assert_int_equal(tracker_interval_s(&cfg, 60000), 900); /* min_announce 15m */
    assert_int_equal(tracker_peer_ttl_ms(&cfg, 2400000), 3600000);
    assert_int_equal(tracker_peer_ttl_ms(&cfg, 60000), 2700000);
    cfg.min_announce_ms = 0;
    cfg.announce_jitter_ms = 10 * 60 * 1000;
    for (int i = 0; i < 500; i++) {
        uint64_t v = tracker_interval_s(&cfg, 60000);
        assert_true(v >= 30 && v <= 90);
    }
}

static void test_client_whitelist(void **state)
{
    struct config cfg = defaults();
    (void)state;
    const uint8_t *qb = (const uint8_t *)"-qB4650-abcdefghijkl";
    const uint8_t *ut = (const uint8_t *)"-UT2210-abcdefghijkl";
    const uint8_t *shadow = (const uint8_t *)"S58B-----abcdefghijk";

    assert_true(tracker_client_approved(&cfg, NULL, 0, qb)); /* off: everyone */
    cfg.client_whitelist_enabled = true;
    cfg.client_whitelist[0] = (struct config_client){"-qB4", 4};   /* Ocelot's prefix form */
    cfg.client_whitelist[1] = (struct config_client){"UT2210", 6}; /* Chihaya's client ID */
    cfg.client_whitelist[2] = (struct config_client){"S58B--", 6};
    cfg.n_client_whitelist = 3;
    assert_true(tracker_client_approved(&cfg, NULL, 0, qb));
    assert_true(tracker_client_approved(&cfg, NULL, 0, ut));
    assert_true(tracker_client_approved(&cfg, NULL, 0, shadow));
    assert_false(tracker_client_approved(&cfg, NULL, 0, (const uint8_t *)"-qB3300-abcdefghijkl"));
    assert_false(tracker_client_approved(&cfg, NULL, 0, (const uint8_t *)"-UT2200-abcdefghijkl"));
    /* "-qB4" needs its dash. */
    assert_false(tracker_client_approved(&cfg, NULL, 0, (const uint8_t *)"qB4650-abcdefghijklm"));
    /* Only an Azureus-style id matches after its dash. */
    assert_false(tracker_client_approved(&cfg, NULL, 0, (const uint8_t *)"xUT2210-abcdefghijkl"));
    /* A whole-id entry. */
    cfg.client_whitelist[0] = (struct config_client){"-XX0000-abcdefghijkl", 20};
    cfg.n_client_whitelist = 1;
    assert_true(tracker_client_approved(&cfg, NULL, 0, (const uint8_t *)"-XX0000-abcdefghijkl"));
    assert_false(tracker_client_approved(&cfg, NULL, 0, (const uint8_t *)"-XX0000-abcdefghijkm"));
    /* The shared entries (Redis) count as well as the config's. */
    struct config_client shared[] = {{"-TR30", 5}};
    assert_false(tracker_client_approved(&cfg, NULL, 0, (const uint8_t *)"-TR3000-abcdefghijkl"));
    assert_true(tracker_client_approved(&cfg, shared, 1, (const uint8_t *)"-TR3000-abcdefghijkl"));
    cfg.n_client_whitelist = 0;
    assert_true(tracker_client_approved(&cfg, shared, 1, (const uint8_t *)"-TR3000-abcdefghijkl"));
}

/* delete_torrent's reason: Ocelot's texts, for a day after the deletion. */
static void test_unregistered_text(void **state)
{
    (void)state;
    uint64_t now = 1800000000;
    assert_string_equal(tracker_unregistered_text(0, now - 10, now), "Unregistered torrent: Dupe");
    assert_string_equal(tracker_unregistered_text(1, now, now), "Unregistered torrent: Trump");
    assert_string_equal(tracker_unregistered_text(22, now, now),
                        "Unregistered torrent: Audience Recording");
    assert_string_equal(tracker_unregistered_text(23, now, now), "Unregistered torrent");
    assert_string_equal(tracker_unregistered_text(-1, now, now), "Unregistered torrent");
    assert_string_equal(tracker_unregistered_text(0, now - TABLES_DELETED_KEEP_S, now),
                        "Unregistered torrent");
    assert_string_equal(tracker_unregistered_text(0, now - TABLES_DELETED_KEEP_S + 1, now),
                        "Unregistered torrent: Dupe");
    assert_string_equal(tracker_unregistered_text(0, 0, now), "Unregistered torrent");
    for (int r = 0; r < TRACKER_REFUSALS; r++)
        assert_non_null(tracker_refusal_name((enum tracker_refusal)r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unregistered_text),
        cmocka_unit_test(test_site_interval),
        cmocka_unit_test(test_numwant_default_and_cap),
        cmocka_unit_test(test_numwant_wire_cap),
        cmocka_unit_test(test_families),
        cmocka_unit_test(test_peer_ttl),
        cmocka_unit_test(test_intervals),
        cmocka_unit_test(test_jitter),
        cmocka_unit_test(test_client_whitelist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
