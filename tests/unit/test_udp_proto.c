#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "frontend/udp_proto.h"

/* Room for an announce with options, as a datagram could carry. */
#define PKT_MAX 1500
/* Room for a scrape one hash past the limit. */
#define SCRAPE_PKT_MAX (16 + 20 * (UDP_SCRAPE_MAX_HASHES + 1))

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/*
 * A valid announce, byte by byte as BEP 15 lays it out: info_hash 0x01.., peer_id 0x41..,
 * downloaded 0x0102030405060708, left 5, uploaded 0x7fffffffffffffff, event started,
 * ip 0, key de ad be ef, num_want 50, port 6881. Returns 98.
 */
static size_t build_announce(uint8_t *pkt)
{
    memset(pkt, 0, PKT_MAX);
    put64(pkt, 0x1122334455667788ULL);
    put32(pkt + 8, UDP_ACTION_ANNOUNCE);
    put32(pkt + 12, 0xcafebabe);
    for (int i = 0; i < 20; i++) {
        pkt[16 + i] = (uint8_t)(1 + i);
        pkt[36 + i] = (uint8_t)(0x41 + i);
    }
    put64(pkt + 56, 0x0102030405060708ULL);
    put64(pkt + 64, 5);
    put64(pkt + 72, 0x7fffffffffffffffULL);
    put32(pkt + 80, 2);
    put32(pkt + 84, 0);
    pkt[88] = 0xde;
    pkt[89] = 0xad;
    pkt[90] = 0xbe;
    pkt[91] = 0xef;
    put32(pkt + 92, 50);
    pkt[96] = 0x1a; /* 6881 */
    pkt[97] = 0xe1;
    return UDP_ANNOUNCE_LEN;
}

struct parsed {
    struct announce_req req;
    char url[UDP_URL_DATA_MAX + 1];
    size_t url_len;
};

static enum udp_parse_result parse(const uint8_t *pkt, size_t len, struct parsed *out)
{
    memset(out, 0x5a, sizeof(*out)); /* garbage the parser must overwrite */
    return udp_parse_announce(pkt, len, &out->req, out->url, &out->url_len);
}

/* Appends one BEP 41 option with a payload to pkt at *len. */
static void add_option(uint8_t *pkt, size_t *len, uint8_t type, const void *data, size_t n)
{
    pkt[(*len)++] = type;
    pkt[(*len)++] = (uint8_t)n;
    memcpy(pkt + *len, data, n);
    *len += n;
}

static void test_error_texts(void **state)
{
    (void)state;
    assert_null(udp_error_text(UDP_OK));
    assert_null(udp_error_text(UDP_DROP_SHORT));
    assert_null(udp_error_text(UDP_DROP_BAD_MAGIC));
    assert_string_equal(udp_error_text(UDP_ERR_UNKNOWN_ACTION), "unknown action");
    assert_string_equal(udp_error_text(UDP_ERR_SHORT_ANNOUNCE), "malformed announce");
    assert_string_equal(udp_error_text(UDP_ERR_BAD_OPTIONS), "malformed options");
    assert_string_equal(udp_error_text(UDP_ERR_BAD_PORT), "invalid port");
    assert_string_equal(udp_error_text(UDP_ERR_BAD_EVENT), "invalid event");
    assert_string_equal(udp_error_text(UDP_ERR_SCRAPE_COUNT), "malformed scrape");
}

static void test_header_connect(void **state)
{
    (void)state;
    const uint8_t pkt[16] = {0x00, 0x00, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80,
                             0,    0,    0,    0,    0x12, 0x34, 0x56, 0x78};
    struct udp_header h;
    assert_int_equal(udp_parse_header(pkt, sizeof(pkt), &h), UDP_OK);
    assert_true(h.connection_id == UDP_PROTOCOL_ID);
    assert_int_equal(h.action, UDP_ACTION_CONNECT);
    assert_int_equal(h.transaction_id, 0x12345678);
}

static void test_header_short(void **state)
{
    (void)state;
    uint8_t pkt[16] = {0};
    struct udp_header h;
    assert_int_equal(udp_parse_header(pkt, 15, &h), UDP_DROP_SHORT);
    assert_int_equal(udp_parse_header(pkt, 0, &h), UDP_DROP_SHORT);
}

static void test_header_bad_magic(void **state)
{
    (void)state;
    uint8_t pkt[16] = {0x00, 0x00, 0x04, 0x17, 0x27, 0x10, 0x19, 0x81, 0, 0, 0, 0, 0, 0, 0, 1};
    struct udp_header h;
    assert_int_equal(udp_parse_header(pkt, sizeof(pkt), &h), UDP_DROP_BAD_MAGIC);
    /* only a connect carries the magic: other actions pass whatever ID they hold */
    pkt[11] = UDP_ACTION_ANNOUNCE;
    assert_int_equal(udp_parse_header(pkt, sizeof(pkt), &h), UDP_OK);
    assert_true(h.connection_id == 0x0000041727101981ULL);
    assert_int_equal(h.action, UDP_ACTION_ANNOUNCE);
    assert_int_equal(h.transaction_id, 1);
    /* an unknown action is the caller's business */
    pkt[11] = 9;
    assert_int_equal(udp_parse_header(pkt, sizeof(pkt), &h), UDP_OK);
    assert_int_equal(h.action, 9);
}

static void test_announce_fields(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    size_t len = build_announce(pkt);
    uint8_t want_hash[20], want_peer[20];
    const uint8_t want_key[4] = {0xde, 0xad, 0xbe, 0xef};
    for (int i = 0; i < 20; i++) {
        want_hash[i] = (uint8_t)(1 + i);
        want_peer[i] = (uint8_t)(0x41 + i);
    }

    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    assert_memory_equal(p.req.info_hash, want_hash, 20);
    assert_memory_equal(p.req.peer_id, want_peer, 20);
    assert_true(p.req.downloaded == 0x0102030405060708ULL);
    assert_true(p.req.left == 5);
    assert_true(p.req.uploaded == 0x7fffffffffffffffULL);
    assert_int_equal(p.req.event, EVENT_STARTED);
    assert_false(p.req.ip.present);
    assert_false(p.req.ipv4.present);
    assert_false(p.req.ipv6.present);
    assert_int_equal(p.req.key_len, 4);
    assert_memory_equal(p.req.key, want_key, 4);
    assert_int_equal(p.req.key[4], 0); /* zeroed past the key */
    assert_int_equal(p.req.numwant, 50);
    assert_int_equal(p.req.port, 6881);
    assert_true(p.req.compact);
    assert_false(p.req.no_peer_id);
    assert_int_equal(p.url_len, 0);
    assert_string_equal(p.url, "");
}

static void test_announce_events(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    size_t len = build_announce(pkt);
    const enum announce_event want[4] = {EVENT_NONE, EVENT_COMPLETED, EVENT_STARTED, EVENT_STOPPED};
    for (uint32_t e = 0; e < 4; e++) {
        put32(pkt + 80, e);
        assert_int_equal(parse(pkt, len, &p), UDP_OK);
        assert_int_equal(p.req.event, want[e]);
    }
    put32(pkt + 80, 4);
    assert_int_equal(parse(pkt, len, &p), UDP_ERR_BAD_EVENT);
    put32(pkt + 80, 0xffffffff);
    assert_int_equal(parse(pkt, len, &p), UDP_ERR_BAD_EVENT);
}

static void test_announce_ip(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    size_t len = build_announce(pkt);
    const uint8_t ip[4] = {203, 0, 113, 9};
    memcpy(pkt + 84, ip, 4);
    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    assert_true(p.req.ip.present);
    assert_int_equal(p.req.ip.addr.family, AF_INET);
    assert_memory_equal(p.req.ip.addr.bytes, ip, 4);
    assert_int_equal(p.req.ip.port, 0);
}

static void test_announce_num_want(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    size_t len = build_announce(pkt);
    put32(pkt + 92, 0xffffffff); /* -1 */
    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    assert_int_equal(p.req.numwant, -1);
    put32(pkt + 92, 0);
    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    assert_int_equal(p.req.numwant, -1);
    put32(pkt + 92, 0x80000000); /* INT32_MIN */
    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    assert_int_equal(p.req.numwant, -1);
    put32(pkt + 92, 0x7fffffff);
    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    assert_int_equal(p.req.numwant, INT32_MAX);
}

static void test_announce_negative_counters(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    size_t len = build_announce(pkt);
    put64(pkt + 56, 0xffffffffffffffffULL);
    put64(pkt + 64, 0x8000000000000000ULL);
    put64(pkt + 72, 0xfffffffffffffffeULL);
    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    assert_true(p.req.downloaded == 0);
    assert_true(p.req.left == 0);
    assert_true(p.req.uploaded == 0);
}

static void test_announce_short(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    build_announce(pkt);
    assert_int_equal(parse(pkt, UDP_ANNOUNCE_LEN - 1, &p), UDP_ERR_SHORT_ANNOUNCE);
    assert_int_equal(parse(pkt, 16, &p), UDP_ERR_SHORT_ANNOUNCE);
    assert_int_equal(parse(pkt, 0, &p), UDP_ERR_SHORT_ANNOUNCE);
}

static void test_announce_port_zero(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    size_t len = build_announce(pkt);
    pkt[96] = 0;
    pkt[97] = 0;
    assert_int_equal(parse(pkt, len, &p), UDP_ERR_BAD_PORT);
    pkt[97] = 1;
    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    assert_int_equal(p.req.port, 1);
}

static void test_options_url_data_split(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    size_t len = build_announce(pkt);
    pkt[len++] = 1; /* NOP: no length byte */
    add_option(pkt, &len, 2, "/ann", 4);
    pkt[len++] = 1;
    add_option(pkt, &len, 2, "ounce?passkey=x", 15);
    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    assert_string_equal(p.url, "/announce?passkey=x");
    assert_int_equal(p.url_len, 19);
}

static void test_options_end(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    size_t len = build_announce(pkt);
    add_option(pkt, &len, 2, "/a", 2);
    pkt[len++] = 0; /* EndOfOptions: what follows is not read, even if malformed */
    add_option(pkt, &len, 2, "/b", 2);
    pkt[len++] = 2;
    pkt[len++] = 200;
    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    assert_string_equal(p.url, "/a");
    assert_int_equal(p.url_len, 2);
}

static void test_options_only_nops(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    size_t len = build_announce(pkt);
    pkt[len++] = 1;
    pkt[len++] = 1;
    pkt[len++] = 1;
    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    assert_int_equal(p.url_len, 0);
    assert_string_equal(p.url, "");
}

static void test_options_unknown_skipped(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    size_t len = build_announce(pkt);
    /* its payload looks like options that would fail if they were walked */
    const uint8_t junk[3] = {2, 250, 7};
    add_option(pkt, &len, 0x7f, junk, sizeof(junk));
    add_option(pkt, &len, 2, "/x", 2);
    add_option(pkt, &len, 0xff, "", 0);
    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    assert_string_equal(p.url, "/x");
}

static void test_options_truncated_length(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    size_t len = build_announce(pkt);
    pkt[len++] = 2; /* URLData without its length byte */
    assert_int_equal(parse(pkt, len, &p), UDP_ERR_BAD_OPTIONS);
    len = build_announce(pkt);
    pkt[len++] = 0x33; /* unknown type, same */
    assert_int_equal(parse(pkt, len, &p), UDP_ERR_BAD_OPTIONS);
}

static void test_options_length_past_end(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    size_t len = build_announce(pkt);
    add_option(pkt, &len, 2, "/abc", 4);
    len--; /* one byte short */
    assert_int_equal(parse(pkt, len, &p), UDP_ERR_BAD_OPTIONS);
    len = build_announce(pkt);
    pkt[len++] = 0x40;
    pkt[len++] = 1; /* unknown type, payload missing */
    assert_int_equal(parse(pkt, len, &p), UDP_ERR_BAD_OPTIONS);
    /* exactly to the end is fine */
    len = build_announce(pkt);
    add_option(pkt, &len, 2, "/abc", 4);
    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    assert_string_equal(p.url, "/abc");
}

static void test_options_url_too_long(void **state)
{
    (void)state;
    uint8_t pkt[PKT_MAX];
    struct parsed p;
    char chunk[255];
    char want[UDP_URL_DATA_MAX + 1];
    size_t len = build_announce(pkt);
    memset(chunk, 'a', 200);
    add_option(pkt, &len, 2, chunk, 200);
    memset(chunk, 'b', sizeof(chunk));
    add_option(pkt, &len, 2, chunk, sizeof(chunk));
    add_option(pkt, &len, 2, "/c", 2); /* nothing left for it, but still walked */
    assert_int_equal(parse(pkt, len, &p), UDP_OK);
    memset(want, 'a', 200);
    memset(want + 200, 'b', UDP_URL_DATA_MAX - 200);
    want[UDP_URL_DATA_MAX] = '\0';
    assert_int_equal(p.url_len, UDP_URL_DATA_MAX);
    assert_string_equal(p.url, want);

    /* walking continues past the cut: a bad option later is still caught */
    pkt[len++] = 2;
    assert_int_equal(parse(pkt, len, &p), UDP_ERR_BAD_OPTIONS);
}

/* A scrape of n hashes: header, then hash i filled with byte i. Returns its length. */
static size_t build_scrape(uint8_t *pkt, size_t n)
{
    memset(pkt, 0, 16);
    put32(pkt + 8, UDP_ACTION_SCRAPE);
    for (size_t i = 0; i < n; i++)
        memset(pkt + 16 + 20 * i, (int)i, 20);
    return 16 + 20 * n;
}

static void test_scrape_counts(void **state)
{
    (void)state;
    uint8_t pkt[SCRAPE_PKT_MAX];
    const uint8_t *hashes;
    size_t count;
    size_t len = build_scrape(pkt, 1);

    assert_int_equal(udp_parse_scrape(pkt, len, &hashes, &count), UDP_OK);
    assert_int_equal(count, 1);
    assert_ptr_equal(hashes, pkt + 16);

    len = build_scrape(pkt, 74);
    assert_int_equal(udp_parse_scrape(pkt, len, &hashes, &count), UDP_OK);
    assert_int_equal(count, 74);
    assert_ptr_equal(hashes, pkt + 16);
    assert_int_equal(hashes[73 * 20], 73);
    assert_int_equal(hashes[73 * 20 + 19], 73);

    len = build_scrape(pkt, 0);
    assert_int_equal(udp_parse_scrape(pkt, len, &hashes, &count), UDP_ERR_SCRAPE_COUNT);
    len = build_scrape(pkt, 75);
    assert_int_equal(udp_parse_scrape(pkt, len, &hashes, &count), UDP_ERR_SCRAPE_COUNT);
    /* shorter than a header */
    assert_int_equal(udp_parse_scrape(pkt, 10, &hashes, &count), UDP_ERR_SCRAPE_COUNT);
}

static void test_scrape_partial(void **state)
{
    (void)state;
    uint8_t pkt[SCRAPE_PKT_MAX];
    const uint8_t *hashes;
    size_t count;
    size_t len = build_scrape(pkt, 2);
    assert_int_equal(udp_parse_scrape(pkt, len - 1, &hashes, &count), UDP_ERR_SCRAPE_COUNT);
    assert_int_equal(udp_parse_scrape(pkt, len + 1, &hashes, &count), UDP_ERR_SCRAPE_COUNT);
    assert_int_equal(udp_parse_scrape(pkt, 16 + 19, &hashes, &count), UDP_ERR_SCRAPE_COUNT);
}

static void test_build_connect(void **state)
{
    (void)state;
    uint8_t out[32];
    const uint8_t want[16] = {0,    0,    0,    0,    0xde, 0xad, 0xbe, 0xef,
                              0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    assert_int_equal(udp_build_connect(out, sizeof(out), 0xdeadbeef, 0x0123456789abcdefULL), 16);
    assert_memory_equal(out, want, 16);
    assert_int_equal(udp_build_connect(out, 16, 1, 2), 16);
    assert_int_equal(udp_build_connect(out, 15, 1, 2), 0);
}

static void test_build_announce(void **state)
{
    (void)state;
    uint8_t out[64];
    const uint8_t p1[6] = {192, 0, 2, 1, 0x1a, 0xe1};
    const uint8_t p2[6] = {198, 51, 100, 2, 0xc8, 0xd5};
    const uint8_t *const peers[2] = {p1, p2};
    const uint8_t want[32] = {0, 0, 0, 1, 0,   0, 0, 7, 0,    0,    0x07, 0x08, 0,   0, 0,    3,
                              0, 0, 0, 4, 192, 0, 2, 1, 0x1a, 0xe1, 198,  51,   100, 2, 0xc8, 0xd5};
    assert_int_equal(udp_build_announce(out, sizeof(out), 7, 1800, 3, 4, peers, 2, 6), 32);
    assert_memory_equal(out, want, 32);
    assert_int_equal(udp_build_announce(out, 32, 7, 1800, 3, 4, peers, 2, 6), 32);
    assert_int_equal(udp_build_announce(out, 31, 7, 1800, 3, 4, peers, 2, 6), 0);
    /* no peers: just the 20-byte header */
    assert_int_equal(udp_build_announce(out, 20, 7, 1800, 0, 0, NULL, 0, 6), 20);
    assert_memory_equal(out, want, 12);
    assert_int_equal(udp_build_announce(out, 19, 7, 1800, 0, 0, NULL, 0, 6), 0);
}

static void test_build_announce_v6(void **state)
{
    (void)state;
    uint8_t out[64];
    uint8_t p1[18];
    const uint8_t *const peers[1] = {p1};
    for (int i = 0; i < 18; i++)
        p1[i] = (uint8_t)(0xa0 + i);
    assert_int_equal(udp_build_announce(out, sizeof(out), 1, 2, 3, 4, peers, 1, 18), 38);
    assert_memory_equal(out + 20, p1, 18);
    assert_int_equal(udp_build_announce(out, 37, 1, 2, 3, 4, peers, 1, 18), 0);
    /* a count whose size would wrap is refused, not overflowed */
    assert_int_equal(udp_build_announce(out, sizeof(out), 1, 2, 3, 4, peers, SIZE_MAX / 9, 18), 0);
}

static void test_build_scrape(void **state)
{
    (void)state;
    uint8_t out[64];
    const uint32_t counts[2][3] = {{1, 2, 3}, {0x01020304, 0, 0xffffffff}};
    const uint8_t want[32] = {0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0, 1, 0,    0,    0,    2,
                              0, 0, 0, 3, 1, 2, 3, 4, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(udp_build_scrape(out, sizeof(out), 9, counts, 2), 32);
    assert_memory_equal(out, want, 32);
    assert_int_equal(udp_build_scrape(out, 32, 9, counts, 2), 32);
    assert_int_equal(udp_build_scrape(out, 31, 9, counts, 2), 0);
    assert_int_equal(udp_build_scrape(out, 7, 9, counts, 0), 0);
}

static void test_build_error(void **state)
{
    (void)state;
    uint8_t out[64];
    const uint8_t want[22] = {0,   0,   0,   3,   0x12, 0x34, 0x56, 0x78, 'u', 'n', 'k',
                              'n', 'o', 'w', 'n', ' ',  'a',  'c',  't',  'i', 'o', 'n'};
    const char *msg = udp_error_text(UDP_ERR_UNKNOWN_ACTION);
    assert_int_equal(udp_build_error(out, sizeof(out), 0x12345678, msg), 22);
    assert_memory_equal(out, want, 22);
    assert_int_equal(udp_build_error(out, 22, 0x12345678, msg), 22);
    assert_int_equal(udp_build_error(out, 21, 0x12345678, msg), 0);
    assert_int_equal(udp_build_error(out, 8, 1, ""), 8);
    assert_int_equal(udp_build_error(out, 7, 1, ""), 0);
}

/* BEP 41 URL data naming a private tracker's passkey. */
static void test_url_passkey(void **state)
{
    (void)state;
    const char *key = "0123456789abcdefABCDEF0123456789";
    char got[PASSKEY_LEN];
    char url[128];
    snprintf(url, sizeof(url), "/%s/announce", key);
    assert_true(udp_url_passkey(url, strlen(url), got));
    assert_memory_equal(got, key, PASSKEY_LEN);
    snprintf(url, sizeof(url), "/%s/ANNOUNCE?x=1", key);
    assert_true(udp_url_passkey(url, strlen(url), got));
    const char *bad[] = {"",
                         "/announce",
                         "/0123456789abcdefABCDEF012345678/announce",
                         "/0123456789abcdefABCDEF0123456789/scrape",
                         "/0123456789abcdefABCDEF0123456789/announce/",
                         "/0123456789abcdef/BCDEF0123456789/announce",
                         "x0123456789abcdefABCDEF0123456789/announce"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (udp_url_passkey(bad[i], strlen(bad[i]), got))
            fail_msg("\"%s\" taken", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_passkey),
        cmocka_unit_test(test_error_texts),
        cmocka_unit_test(test_header_connect),
        cmocka_unit_test(test_header_short),
        cmocka_unit_test(test_header_bad_magic),
        cmocka_unit_test(test_announce_fields),
        cmocka_unit_test(test_announce_events),
        cmocka_unit_test(test_announce_ip),
        cmocka_unit_test(test_announce_num_want),
        cmocka_unit_test(test_announce_negative_counters),
        cmocka_unit_test(test_announce_short),
        cmocka_unit_test(test_announce_port_zero),
        cmocka_unit_test(test_options_url_data_split),
        cmocka_unit_test(test_options_end),
        cmocka_unit_test(test_options_only_nops),
        cmocka_unit_test(test_options_unknown_skipped),
        cmocka_unit_test(test_options_truncated_length),
        cmocka_unit_test(test_options_length_past_end),
        cmocka_unit_test(test_options_url_too_long),
        cmocka_unit_test(test_scrape_counts),
        cmocka_unit_test(test_scrape_partial),
        cmocka_unit_test(test_build_connect),
        cmocka_unit_test(test_build_announce),
        cmocka_unit_test(test_build_announce_v6),
        cmocka_unit_test(test_build_scrape),
        cmocka_unit_test(test_build_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
