#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "common/addr.h"

/* Parses a C string that must be accepted; returns the address. */
static struct addr parse_ok(const char *text)
{
    struct addr a;
    if (addr_parse(text, strlen(text), &a) != 0)
        fail_msg("\"%s\" refused", text);
    return a;
}

static void parse_bad(const char *text)
{
    struct addr a;
    if (addr_parse(text, strlen(text), &a) != -1)
        fail_msg("\"%s\" accepted", text);
}

/* The text form of a, for comparisons that read well. */
static const char *fmt(const struct addr *a)
{
    static char buf[ADDR_TEXT_LEN];
    addr_format(a, buf, sizeof(buf));
    return buf;
}

/* The text form of a literal after a round trip through addr_parse(). */
static const char *roundtrip(const char *text)
{
    struct addr a = parse_ok(text);
    return fmt(&a);
}

static void test_parse_v4(void **state)
{
    (void)state;
    struct addr a = parse_ok("192.0.2.1");
    assert_int_equal(a.family, AF_INET);
    const uint8_t want[4] = {192, 0, 2, 1};
    assert_memory_equal(a.bytes, want, 4);
    assert_string_equal(roundtrip("0.0.0.0"), "0.0.0.0");
    assert_string_equal(roundtrip("255.255.255.255"), "255.255.255.255");
}

static void test_parse_v6(void **state)
{
    (void)state;
    struct addr a = parse_ok("2001:db8::1");
    assert_int_equal(a.family, AF_INET6);
    const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_memory_equal(a.bytes, want, 16);
    assert_string_equal(roundtrip("::"), "::");
    assert_string_equal(roundtrip("::1"), "::1");
    assert_string_equal(roundtrip("2001:0DB8:0000::0001"), "2001:db8::1");
    /* The longest literal there is (45 characters). */
    assert_string_equal(roundtrip("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"),
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

static void test_parse_brackets(void **state)
{
    (void)state;
    struct addr a = parse_ok("[::1]");
    assert_int_equal(a.family, AF_INET6);
    assert_string_equal(fmt(&a), "::1");
    /* Brackets are for IPv6 only. */
    parse_bad("[192.0.2.1]");
    parse_bad("[::1");
    parse_bad("::1]");
    parse_bad("[]");
    parse_bad("[");
    parse_bad("[[::1]]");
}

static void test_parse_v4_mapped(void **state)
{
    (void)state;
    struct addr a = parse_ok("::ffff:192.0.2.1");
    assert_int_equal(a.family, AF_INET);
    assert_string_equal(fmt(&a), "192.0.2.1");
    a = parse_ok("[::ffff:c000:201]");
    assert_int_equal(a.family, AF_INET);
    assert_string_equal(fmt(&a), "192.0.2.1");
    /* v4-compatible (deprecated) and NAT64 prefixes are not v4-mapped. */
    assert_int_equal(parse_ok("::192.0.2.1").family, AF_INET6);
    assert_int_equal(parse_ok("64:ff9b::192.0.2.1").family, AF_INET6);
    assert_int_equal(parse_ok("::fffe:192.0.2.1").family, AF_INET6);
}

static void test_parse_not_nul_terminated(void **state)
{
    (void)state;
    struct addr a;
    const char text[] = "10.1.2.3456";
    assert_int_equal(addr_parse(text, 8, &a), 0);
    assert_string_equal(fmt(&a), "10.1.2.3");
    assert_int_equal(addr_parse("[::1]:80", 5, &a), 0);
    assert_string_equal(fmt(&a), "::1");
}

static void test_parse_malformed(void **state)
{
    (void)state;
    parse_bad("");
    parse_bad("localhost");
    parse_bad("example.com");
    parse_bad("1.2.3");
    parse_bad("1.2.3.4.5");
    parse_bad("256.1.1.1");
    parse_bad("01.2.3.4");
    parse_bad("1.2.3.4 ");
    parse_bad(" 1.2.3.4");
    parse_bad("0x7f.0.0.1");
    parse_bad("127.1");
    parse_bad("1:2:3:4:5:6:7:8:9");
    parse_bad("::1::");
    parse_bad("fe80::1%eth0");
    parse_bad("12345::");
    parse_bad("1.2.3.4:80");
    parse_bad("-1.2.3.4");
}

static void test_parse_overlong(void **state)
{
    (void)state;
    char text[200];
    memset(text, '0', sizeof(text));
    struct addr a;
    assert_int_equal(addr_parse(text, sizeof(text), &a), -1);
    /* Leading zeros of a group stay valid only up to four digits. */
    parse_bad("00000::1");
}

static void test_parse_embedded_nul(void **state)
{
    (void)state;
    struct addr a;
    const char text[] = "1.2.3.4\0junk";
    assert_int_equal(addr_parse(text, sizeof(text) - 1, &a), -1);
    assert_int_equal(addr_parse(text, 8, &a), -1);
}

/* Parses an endpoint that must be accepted; checks its text form and port. */
static void endpoint_ok(const char *text, const char *want, int family, uint16_t want_port)
{
    struct addr a;
    uint16_t port = 999;
    if (addr_parse_endpoint(text, strlen(text), &a, &port) != 0)
        fail_msg("\"%s\" refused", text);
    assert_int_equal(a.family, family);
    assert_string_equal(fmt(&a), want);
    assert_int_equal(port, want_port);
}

static void endpoint_bad(const char *text)
{
    struct addr a;
    uint16_t port = 999;
    if (addr_parse_endpoint(text, strlen(text), &a, &port) != -1)
        fail_msg("\"%s\" accepted", text);
    assert_int_equal(port, 999);
}

static void test_endpoint(void **state)
{
    (void)state;
    endpoint_ok("1.2.3.4:6881", "1.2.3.4", AF_INET, 6881);
    endpoint_ok("1.2.3.4", "1.2.3.4", AF_INET, 0);
    endpoint_ok("[::1]:6881", "::1", AF_INET6, 6881);
    endpoint_ok("[::1]", "::1", AF_INET6, 0);
    endpoint_ok("::1", "::1", AF_INET6, 0);
    endpoint_ok("2001:db8::1", "2001:db8::1", AF_INET6, 0);
    endpoint_ok("1.2.3.4:65535", "1.2.3.4", AF_INET, 65535);
    endpoint_ok("1.2.3.4:1", "1.2.3.4", AF_INET, 1);
    endpoint_ok("1.2.3.4:0", "1.2.3.4", AF_INET, 0);
    endpoint_ok("1.2.3.4:06881", "1.2.3.4", AF_INET, 6881);
    endpoint_ok("[::ffff:1.2.3.4]:80", "1.2.3.4", AF_INET, 80);
    endpoint_ok("::ffff:1.2.3.4", "1.2.3.4", AF_INET, 0);
}

static void test_endpoint_not_nul_terminated(void **state)
{
    (void)state;
    struct addr a;
    uint16_t port;
    assert_int_equal(addr_parse_endpoint("1.2.3.4:6881junk", 12, &a, &port), 0);
    assert_int_equal(port, 6881);
    assert_int_equal(addr_parse_endpoint("[::1]:6881junk", 10, &a, &port), 0);
    assert_int_equal(port, 6881);
}

static void test_endpoint_malformed(void **state)
{
    (void)state;
    endpoint_bad("");
    endpoint_bad(":");
    endpoint_bad(":6881");
    endpoint_bad("1.2.3.4:");
    endpoint_bad("1.2.3.4:65536");
    endpoint_bad("1.2.3.4:100000");
    endpoint_bad("1.2.3.4:-1");
    endpoint_bad("1.2.3.4:+1");
    endpoint_bad("1.2.3.4:68a1");
    endpoint_bad("1.2.3.4: 6881");
    endpoint_bad("host:6881");
    endpoint_bad("[::1]:");
    endpoint_bad("[::1]6881");
    endpoint_bad("[::1]:99999");
    endpoint_bad("[::1");
    endpoint_bad("[1.2.3.4]:6881");
    endpoint_bad("[::1]]:6881");
    endpoint_bad("[]:6881");
    endpoint_bad("::1:6881:x");
    endpoint_bad("1.2.3:6881");
}

static void test_from_sockaddr(void **state)
{
    (void)state;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(6881)};
    inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
    struct addr a;
    uint16_t port = 0;
    assert_int_equal(addr_from_sockaddr((struct sockaddr *)&sin, &a, &port), 0);
    assert_int_equal(a.family, AF_INET);
    assert_string_equal(fmt(&a), "192.0.2.7");
    assert_int_equal(port, 6881);

    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr);
    assert_int_equal(addr_from_sockaddr((struct sockaddr *)&sin6, &a, &port), 0);
    assert_int_equal(a.family, AF_INET6);
    assert_string_equal(fmt(&a), "2001:db8::7");
    assert_int_equal(port, 443);

    /* A dual-stack socket reports IPv4 clients as v4-mapped. */
    inet_pton(AF_INET6, "::ffff:192.0.2.9", &sin6.sin6_addr);
    assert_int_equal(addr_from_sockaddr((struct sockaddr *)&sin6, &a, NULL), 0);
    assert_int_equal(a.family, AF_INET);
    assert_string_equal(fmt(&a), "192.0.2.9");
}

static void test_from_sockaddr_bad_family(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    struct addr a;
    uint16_t port = 5;
    assert_int_equal(addr_from_sockaddr((struct sockaddr *)&ss, &a, &port), -1);
    assert_int_equal(port, 5);
    assert_int_equal(addr_from_sockaddr(NULL, &a, &port), -1);
}

static void test_format_small_buffer(void **state)
{
    (void)state;
    struct addr a = parse_ok("2001:db8::1");
    char buf[4] = "xyz";
    addr_format(&a, buf, sizeof(buf));
    assert_string_equal(buf, "");
    addr_format(&a, buf, 0); /* writes nothing at all */
}

static void test_equal(void **state)
{
    (void)state;
    struct addr a = parse_ok("1.2.3.4"), b = parse_ok("::ffff:1.2.3.4"), c = parse_ok("1.2.3.5");
    assert_true(addr_equal(&a, &b));
    assert_false(addr_equal(&a, &c));
    struct addr d = parse_ok("::1"), e = parse_ok("0:0::1"), f = parse_ok("::2");
    assert_true(addr_equal(&d, &e));
    assert_false(addr_equal(&d, &f));
    /* Same leading bytes, different family. */
    struct addr g = parse_ok("0.0.0.0"), h = parse_ok("::");
    assert_false(addr_equal(&g, &h));
}

static struct cidr cidr_ok(const char *text)
{
    struct cidr c;
    char err[128] = "";
    if (cidr_parse(text, &c, err, sizeof(err)) != 0)
        fail_msg("\"%s\" refused: %s", text, err);
    return c;
}

static void cidr_bad(const char *text, const char *want)
{
    struct cidr c = {.prefix = 77};
    char err[128] = "";
    assert_int_equal(cidr_parse(text, &c, err, sizeof(err)), -1);
    assert_int_equal(c.prefix, 77);
    if (strstr(err, want) == NULL)
        fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", text, err, want);
}

static void test_cidr_parse(void **state)
{
    (void)state;
    struct cidr c = cidr_ok("10.0.0.0/8");
    assert_int_equal(c.net.family, AF_INET);
    assert_int_equal(c.prefix, 8);
    assert_string_equal(fmt(&c.net), "10.0.0.0");

    c = cidr_ok("fd00::/8");
    assert_int_equal(c.net.family, AF_INET6);
    assert_int_equal(c.prefix, 8);

    c = cidr_ok("0.0.0.0/0");
    assert_int_equal(c.prefix, 0);
    c = cidr_ok("::/0");
    assert_int_equal(c.net.family, AF_INET6);
    assert_int_equal(c.prefix, 0);
    c = cidr_ok("192.0.2.1/32");
    assert_int_equal(c.prefix, 32);
    c = cidr_ok("2001:db8::1/128");
    assert_int_equal(c.prefix, 128);
    c = cidr_ok("10.0.0.0/08");
    assert_int_equal(c.prefix, 8);
}

static void test_cidr_bare_address(void **state)
{
    (void)state;
    struct cidr c = cidr_ok("192.0.2.1");
    assert_int_equal(c.net.family, AF_INET);
    assert_int_equal(c.prefix, 32);
    c = cidr_ok("2001:db8::1");
    assert_int_equal(c.prefix, 128);
    c = cidr_ok("::ffff:192.0.2.1");
    assert_int_equal(c.net.family, AF_INET);
    assert_int_equal(c.prefix, 32);
    assert_string_equal(fmt(&c.net), "192.0.2.1");
}

static void test_cidr_v4_mapped(void **state)
{
    (void)state;
    struct cidr c = cidr_ok("::ffff:10.0.0.0/104");
    assert_int_equal(c.net.family, AF_INET);
    assert_int_equal(c.prefix, 8);
    assert_string_equal(fmt(&c.net), "10.0.0.0");
    c = cidr_ok("::ffff:0.0.0.0/96");
    assert_int_equal(c.net.family, AF_INET);
    assert_int_equal(c.prefix, 0);
    c = cidr_ok("::ffff:192.0.2.1/128");
    assert_int_equal(c.prefix, 32);
    /* Below /96 part of the ffff marker is a host bit. */
    cidr_bad("::ffff:10.0.0.0/95", "host bits set");
    cidr_bad("::ffff:0.0.0.0/80", "host bits set");
}

static void test_cidr_malformed(void **state)
{
    (void)state;
    cidr_bad("", "not an address");
    cidr_bad("/8", "not an address");
    cidr_bad("10.0.0/8", "not an address");
    cidr_bad("example.com/8", "not an address");
    cidr_bad("[::1]/128", "not an address");
    cidr_bad("10.0.0.0 /8", "not an address");
    cidr_bad("10.0.0.0/", "bad prefix length");
    cidr_bad("10.0.0.0/33", "bad prefix length");
    cidr_bad("10.0.0.0/-1", "bad prefix length");
    cidr_bad("10.0.0.0/+8", "bad prefix length");
    cidr_bad("10.0.0.0/8 ", "bad prefix length");
    cidr_bad("10.0.0.0/8/8", "bad prefix length");
    cidr_bad("10.0.0.0/0008", "bad prefix length");
    cidr_bad("10.0.0.0/x", "bad prefix length");
    cidr_bad("fd00::/129", "bad prefix length");
    cidr_bad("fd00::/999", "bad prefix length");
    cidr_bad("10.0.0.1/8", "host bits set");
    cidr_bad("11.0.0.0/7", "host bits set");
    cidr_bad("192.0.2.1/31", "host bits set");
    cidr_bad("fd00::1/64", "host bits set");
    cidr_bad("fd00::/7", "host bits set");
}

static void test_cidr_err_names_text(void **state)
{
    (void)state;
    cidr_bad("10.0.0.1/8", "10.0.0.1/8");
    struct cidr c;
    assert_int_equal(cidr_parse("nope", &c, NULL, 0), -1);
}

static void contains(const char *net, const char *addr, bool want)
{
    struct cidr c = cidr_ok(net);
    struct addr a = parse_ok(addr);
    if (cidr_contains(&c, &a) != want)
        fail_msg("%s in %s: expected %s", addr, net, want ? "true" : "false");
}

static void test_cidr_contains(void **state)
{
    (void)state;
    contains("10.0.0.0/8", "10.255.1.2", true);
    contains("10.0.0.0/8", "11.0.0.0", false);
    contains("10.0.0.0/8", "9.255.255.255", false);
    contains("192.168.0.0/23", "192.168.1.200", true);
    contains("192.168.0.0/23", "192.168.2.0", false);
    contains("192.0.2.1", "192.0.2.1", true);
    contains("192.0.2.1", "192.0.2.2", false);
    contains("0.0.0.0/0", "203.0.113.9", true);
    contains("0.0.0.0/0", "::1", false);
    contains("::/0", "1.2.3.4", false);
    contains("::/0", "2001:db8::1", true);
    contains("fd00::/8", "fdff:1::1", true);
    contains("fd00::/8", "fe00::1", false);
    contains("2001:db8::/33", "2001:db8:7fff::1", true);
    contains("2001:db8::/33", "2001:db8:8000::1", false);
    /* Mapped networks and mapped addresses meet as IPv4. */
    contains("::ffff:10.0.0.0/104", "10.1.2.3", true);
    contains("10.0.0.0/8", "::ffff:10.1.2.3", true);
}

/* Parses a listen address that must be accepted; returns its text form and port. */
static void listen_ok(const char *text, int family, const char *want, uint16_t want_port)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    char err[128] = "";
    if (listen_addr_parse(text, &ss, &len, err, sizeof(err)) != 0)
        fail_msg("\"%s\" refused: %s", text, err);
    assert_int_equal(ss.ss_family, family);
    struct addr a;
    uint16_t port;
    assert_int_equal(addr_from_sockaddr((struct sockaddr *)&ss, &a, &port), 0);
    assert_string_equal(fmt(&a), want);
    assert_int_equal(port, want_port);
    if (family == AF_INET)
        assert_int_equal(len, sizeof(struct sockaddr_in));
    else
        assert_int_equal(len, sizeof(struct sockaddr_in6));
}

static void listen_bad(const char *text, const char *want)
{
    struct sockaddr_storage ss;
    socklen_t len = 123;
    char err[128] = "";
    assert_int_equal(listen_addr_parse(text, &ss, &len, err, sizeof(err)), -1);
    assert_int_equal(len, 123);
    if (strstr(err, want) == NULL)
        fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", text, err, want);
}

static void test_listen_addr(void **state)
{
    (void)state;
    listen_ok("127.0.0.1:6969", AF_INET, "127.0.0.1", 6969);
    listen_ok("[::1]:6969", AF_INET6, "::1", 6969);
    listen_ok(":6969", AF_INET, "0.0.0.0", 6969);
    listen_ok("0.0.0.0:6969", AF_INET, "0.0.0.0", 6969);
    listen_ok("[::]:6969", AF_INET6, "::", 6969);
    listen_ok("0.0.0.0:0", AF_INET, "0.0.0.0", 0);
    listen_ok("[::1]:65535", AF_INET6, "::1", 65535);
}

static void test_listen_addr_malformed(void **state)
{
    (void)state;
    listen_bad("", "missing port");
    listen_bad("127.0.0.1", "missing port");
    listen_bad("127.0.0.1:", "missing port");
    listen_bad(":", "missing port");
    listen_bad("[::1]", "missing port");
    listen_bad("[::1]:", "missing port");
    listen_bad("127.0.0.1:65536", "bad port");
    listen_bad("127.0.0.1:-1", "bad port");
    listen_bad("127.0.0.1:http", "bad port");
    listen_bad("127.0.0.1:69 69", "bad port");
    listen_bad("127.0.0.1:999999", "bad port");
    listen_bad("localhost:6969", "bad address");
    listen_bad("::1:6969", "bad address");
    listen_bad("[::1]x:6969", "bad address");
    listen_bad("[1.2.3.4]:6969", "bad address");
    listen_bad("[::1:6969", "bad address");
    listen_bad("1.2.3:6969", "bad address");
    listen_bad(" 127.0.0.1:6969", "bad address");
}

static void test_listen_err_names_text(void **state)
{
    (void)state;
    listen_bad("nowhere:1", "nowhere:1");
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(listen_addr_parse("x", &ss, &len, NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_v4),
        cmocka_unit_test(test_parse_v6),
        cmocka_unit_test(test_parse_brackets),
        cmocka_unit_test(test_parse_v4_mapped),
        cmocka_unit_test(test_parse_not_nul_terminated),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_overlong),
        cmocka_unit_test(test_parse_embedded_nul),
        cmocka_unit_test(test_endpoint),
        cmocka_unit_test(test_endpoint_not_nul_terminated),
        cmocka_unit_test(test_endpoint_malformed),
        cmocka_unit_test(test_from_sockaddr),
        cmocka_unit_test(test_from_sockaddr_bad_family),
        cmocka_unit_test(test_format_small_buffer),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_cidr_bare_address),
        cmocka_unit_test(test_cidr_v4_mapped),
        cmocka_unit_test(test_cidr_malformed),
        cmocka_unit_test(test_cidr_err_names_text),
        cmocka_unit_test(test_cidr_contains),
        cmocka_unit_test(test_listen_addr),
        cmocka_unit_test(test_listen_addr_malformed),
        cmocka_unit_test(test_listen_err_names_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
