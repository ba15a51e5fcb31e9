#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "frontend/peer_addr.h"

static const struct peer_addr_policy strict = {false, false};
static const struct peer_addr_policy strict_dual = {false, true};
static const struct peer_addr_policy spoof = {true, false};
static const struct peer_addr_policy spoof_dual = {true, true};

static struct addr addr_of(const char *text)
{
    struct addr a;
    if (addr_parse(text, strlen(text), &a) != 0)
        fail_msg("bad test address %s", text);
    return a;
}

static struct named_endpoint named(const char *text, uint16_t port)
{
    return (struct named_endpoint){.present = true, .addr = addr_of(text), .port = port};
}

/* An announce on port 6881 (0x1ae1) with nothing named. */
static struct announce_req req_base(void)
{
    struct announce_req r;
    memset(&r, 0, sizeof(r));
    r.port = 6881;
    return r;
}

static struct peer_endpoints resolve(const char *client, const struct announce_req *req,
                                     const struct peer_addr_policy *policy)
{
    struct peer_endpoints out;
    struct addr c = addr_of(client);
    memset(&out, 0xa5, sizeof(out)); /* every byte must be written */
    assert_int_equal(peer_addr_resolve(&c, req, policy, &out), 0);
    return out;
}

static void expect_v4(const struct peer_endpoints *e, const uint8_t want[COMPACT_V4_LEN])
{
    assert_true(e->has_v4);
    assert_memory_equal(e->v4, want, COMPACT_V4_LEN);
}

static void expect_v6(const struct peer_endpoints *e, const uint8_t want[COMPACT_V6_LEN])
{
    assert_true(e->has_v6);
    assert_memory_equal(e->v6, want, COMPACT_V6_LEN);
}

/* Compact forms used below. */
static const uint8_t client4[COMPACT_V4_LEN] = {192, 0, 2, 1, 0x1a, 0xe1};
static const uint8_t client6[COMPACT_V6_LEN] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,    0,
                                                0,    0,    0,    0,    0, 0, 1, 0x1a, 0xe1};
static const uint8_t named4[COMPACT_V4_LEN] = {198, 51, 100, 7, 0x1a, 0xe1};
static const uint8_t named6[COMPACT_V6_LEN] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,    0,
                                               0,    0,    0,    0,    0, 0, 7, 0x1a, 0xe1};

static void test_strict_v4_client(void **state)
{
    (void)state;
    struct announce_req req = req_base();
    struct peer_endpoints e = resolve("192.0.2.1", &req, &strict);
    expect_v4(&e, client4);
    assert_false(e.has_v6);
}

static void test_strict_v6_client(void **state)
{
    (void)state;
    struct announce_req req = req_base();
    struct peer_endpoints e = resolve("2001:db8::1", &req, &strict);
    expect_v6(&e, client6);
    assert_false(e.has_v4);
}

static void test_strict_ignores_named(void **state)
{
    (void)state;
    struct announce_req req = req_base();
    req.ip = named("198.51.100.9", 0);
    req.ipv4 = named("198.51.100.7", 1);
    req.ipv6 = named("2001:db8::7", 2);
    struct peer_endpoints e = resolve("192.0.2.1", &req, &strict);
    expect_v4(&e, client4);
    assert_false(e.has_v6);
    /* Dual stack alone does not make named addresses count. */
    e = resolve("192.0.2.1", &req, &strict_dual);
    expect_v4(&e, client4);
    assert_false(e.has_v6);
    e = resolve("2001:db8::1", &req, &strict_dual);
    expect_v6(&e, client6);
    assert_false(e.has_v4);
}

static void test_spoof_without_names(void **state)
{
    (void)state;
    struct announce_req req = req_base();
    struct peer_endpoints e = resolve("192.0.2.1", &req, &spoof_dual);
    expect_v4(&e, client4);
    assert_false(e.has_v6);
}

static void test_ip_replaces_own_family(void **state)
{
    (void)state;
    struct announce_req req = req_base();
    req.ip = named("198.51.100.7", 0);
    struct peer_endpoints e = resolve("192.0.2.1", &req, &spoof);
    expect_v4(&e, named4);
    assert_false(e.has_v6);

    req.ip = named("2001:db8::7", 0);
    e = resolve("2001:db8::1", &req, &spoof);
    expect_v6(&e, named6);
    assert_false(e.has_v4);
}

static void test_ip_other_family(void **state)
{
    (void)state;
    struct announce_req req = req_base();
    req.ip = named("2001:db8::7", 0);
    /* Dual stacked: the v4 client keeps its address and gains the named v6 one. */
    struct peer_endpoints e = resolve("192.0.2.1", &req, &spoof_dual);
    expect_v4(&e, client4);
    expect_v6(&e, named6);
    /* Single stack: the client's own family wins. */
    e = resolve("192.0.2.1", &req, &spoof);
    expect_v4(&e, client4);
    assert_false(e.has_v6);
}

static void test_ipv4_ipv6_with_ports(void **state)
{
    (void)state;
    struct announce_req req = req_base();
    req.ipv4 = named("198.51.100.7", 0x0102);
    req.ipv6 = named("2001:db8::7", 0xfffe);
    struct peer_endpoints e = resolve("192.0.2.1", &req, &spoof_dual);
    const uint8_t want4[COMPACT_V4_LEN] = {198, 51, 100, 7, 0x01, 0x02};
    const uint8_t want6[COMPACT_V6_LEN] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,    0,
                                           0,    0,    0,    0,    0, 0, 7, 0xff, 0xfe};
    expect_v4(&e, want4);
    expect_v6(&e, want6);
}

static void test_ipv6_without_port_uses_announce_port(void **state)
{
    (void)state;
    struct announce_req req = req_base();
    req.ipv6 = named("2001:db8::7", 0);
    struct peer_endpoints e = resolve("192.0.2.1", &req, &spoof_dual);
    expect_v4(&e, client4);
    expect_v6(&e, named6);
}

static void test_ipv4_beats_ip(void **state)
{
    (void)state;
    struct announce_req req = req_base();
    req.ip = named("203.0.113.3", 0);
    req.ipv4 = named("198.51.100.7", 0);
    struct peer_endpoints e = resolve("192.0.2.1", &req, &spoof);
    expect_v4(&e, named4);

    req.ip = named("2001:db8::3", 0);
    req.ipv4.present = false;
    req.ipv6 = named("2001:db8::7", 0);
    e = resolve("2001:db8::1", &req, &spoof);
    expect_v6(&e, named6);
}

static void test_v6_client_single_stack(void **state)
{
    (void)state;
    struct announce_req req = req_base();
    req.ipv4 = named("198.51.100.7", 0);
    struct peer_endpoints e = resolve("2001:db8::1", &req, &spoof);
    expect_v6(&e, client6);
    assert_false(e.has_v4);
    e = resolve("2001:db8::1", &req, &spoof_dual);
    expect_v6(&e, client6);
    expect_v4(&e, named4);
}

static void test_named_wrong_family_ignored(void **state)
{
    (void)state;
    /* request.c never produces these, but a UDP frontend might fill the struct itself. */
    struct announce_req req = req_base();
    req.ipv4 = named("2001:db8::7", 0);
    req.ipv6 = named("198.51.100.7", 0);
    struct peer_endpoints e = resolve("192.0.2.1", &req, &spoof_dual);
    expect_v4(&e, client4);
    assert_false(e.has_v6);
}

static void test_not_present_ignored(void **state)
{
    (void)state;
    struct announce_req req = req_base();
    req.ipv4 = named("198.51.100.7", 0);
    req.ipv4.present = false;
    struct peer_endpoints e = resolve("192.0.2.1", &req, &spoof_dual);
    expect_v4(&e, client4);
}

static void test_port_byte_order(void **state)
{
    (void)state;
    struct announce_req req = req_base();
    req.port = 1;
    struct peer_endpoints e = resolve("10.0.0.1", &req, &strict);
    const uint8_t want1[COMPACT_V4_LEN] = {10, 0, 0, 1, 0x00, 0x01};
    expect_v4(&e, want1);
    req.port = 65535;
    e = resolve("10.0.0.1", &req, &strict);
    const uint8_t want2[COMPACT_V4_LEN] = {10, 0, 0, 1, 0xff, 0xff};
    expect_v4(&e, want2);
    req.port = 0x1234;
    e = resolve("::1", &req, &strict);
    const uint8_t want3[COMPACT_V6_LEN] = {0, 0, 0, 0, 0, 0, 0, 0,    0,
                                           0, 0, 0, 0, 0, 0, 1, 0x12, 0x34};
    expect_v6(&e, want3);
}

static void test_v4_mapped_client(void **state)
{
    (void)state;
    /* addr_parse() already unmapped it; it must come out as plain IPv4. */
    struct announce_req req = req_base();
    struct peer_endpoints e = resolve("::ffff:192.0.2.1", &req, &strict);
    expect_v4(&e, client4);
    assert_false(e.has_v6);
}

static void test_bad_client_family(void **state)
{
    (void)state;
    struct announce_req req = req_base();
    struct addr c;
    memset(&c, 0, sizeof(c));
    c.family = AF_UNIX;
    struct peer_endpoints e;
    assert_int_equal(peer_addr_resolve(&c, &req, &strict, &e), -1);
    assert_false(e.has_v4);
    assert_false(e.has_v6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strict_v4_client),
        cmocka_unit_test(test_strict_v6_client),
        cmocka_unit_test(test_strict_ignores_named),
        cmocka_unit_test(test_spoof_without_names),
        cmocka_unit_test(test_ip_replaces_own_family),
        cmocka_unit_test(test_ip_other_family),
        cmocka_unit_test(test_ipv4_ipv6_with_ports),
        cmocka_unit_test(test_ipv6_without_port_uses_announce_port),
        cmocka_unit_test(test_ipv4_beats_ip),
        cmocka_unit_test(test_v6_client_single_stack),
        cmocka_unit_test(test_named_wrong_family_ignored),
        cmocka_unit_test(test_not_present_ignored),
        cmocka_unit_test(test_port_byte_order),
        cmocka_unit_test(test_v4_mapped_client),
        cmocka_unit_test(test_bad_client_family),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
