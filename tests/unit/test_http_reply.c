#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <event2/buffer.h>

#include "frontend/fullscrape.h"
#include "frontend/http_reply.h"

static int setup(void **state)
{
    *state = evbuffer_new();
    return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    evbuffer_free(*state);
    return 0;
}

/* The buffer holds exactly want_len bytes equal to want; it is emptied. */
static void expect_bytes(struct evbuffer *buf, const void *want, size_t want_len)
{
    size_t len = evbuffer_get_length(buf);
    if (len != want_len)
        fail_msg("%zu bytes, not %zu: \"%.*s\"", len, want_len, (int)len,
                 (const char *)evbuffer_pullup(buf, -1));
    if (len > 0)
        assert_memory_equal(evbuffer_pullup(buf, -1), want, want_len);
    evbuffer_drain(buf, len);
}

/* want is a C string literal (it may hold NULs: sizeof, not strlen). */
#define EXPECT(buf, want) expect_bytes((buf), (want), sizeof(want) - 1)

/* ---- the head ---- */

static void expect_head(int status, size_t body_len, enum http_connection connection,
                        const char *want)
{
    char head[HTTP_REPLY_HEAD_MAX];
    memset(head, 'x', sizeof(head));
    size_t n = http_reply_head(head, status, body_len, connection);
    if (n != strlen(want) || memcmp(head, want, n) != 0)
        fail_msg("got \"%.*s\", want \"%s\"", (int)n, head, want);
}

static void test_head(void **state)
{
    (void)state;
    expect_head(200, 45, HTTP_CONNECTION_NONE,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 45\r\n\r\n");
    expect_head(200, 0, HTTP_CONNECTION_KEEP_ALIVE,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n"
                "Connection: keep-alive\r\n\r\n");
    expect_head(404, 10, HTTP_CONNECTION_NONE,
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
                "\r\n");
    expect_head(400, 30, HTTP_CONNECTION_CLOSE,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n"
                "Connection: close\r\n\r\n");
    /* test_bad_input's test_post_405: Allow: GET. */
    expect_head(405, 37, HTTP_CONNECTION_CLOSE,
                "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\n"
                "Content-Length: 37\r\nConnection: close\r\nAllow: GET\r\n\r\n");
    expect_head(414, 36, HTTP_CONNECTION_CLOSE,
                "HTTP/1.1 414 URI Too Long\r\nContent-Type: text/plain\r\nContent-Length: 36\r\n"
                "Connection: close\r\n\r\n");
    /* The longest head: the longest reason, a 20-digit length and Connection: keep-alive. */
    expect_head(431, SIZE_MAX, HTTP_CONNECTION_KEEP_ALIVE,
                "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n"
                "Content-Length: 18446744073709551615\r\nConnection: keep-alive\r\n\r\n");
    assert_string_equal(http_status_text(500), "Error");
}

/* ---- announce ---- */

static const uint8_t id_a[PEER_ID_LEN] = "-AA0001-aaaaaaaaaaaa";
static const uint8_t id_b[PEER_ID_LEN] = "-BB0001-bbbbbbbbbbbb";
static const uint8_t id_c[PEER_ID_LEN] = "-CC0001-cccccccccccc";
/* 10.0.0.1:6881, 10.0.0.2:80 */
static const uint8_t v4_a[COMPACT_V4_LEN] = {10, 0, 0, 1, 0x1a, 0xe1};
static const uint8_t v4_c[COMPACT_V4_LEN] = {10, 0, 0, 2, 0, 80};
/* [2001:db8::1]:6882, [::1]:20101 */
static const uint8_t v6_b[COMPACT_V6_LEN] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,    0,
                                             0,    0,    0,    0,    0, 0, 1, 0x1a, 0xe2};
static const uint8_t v6_c[COMPACT_V6_LEN] = {0, 0, 0, 0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0, 0, 1, 0x4e, 0x85};

/* a: IPv4 only; b: IPv6 only; c: dual-stacked. */
static const struct swarm_peer three[] = {
    {id_a, v4_a, NULL},
    {id_b, NULL, v6_b},
    {id_c, v4_c, v6_c},
};

static const struct announce_reply reply3 = {
    .complete = 1, .incomplete = 3, .npeers = 3, .peers = three};

#define COUNTS "d8:completei1e10:incompletei3e8:intervali1800e12:min intervali900e"
#define C4_A "\x0a\x00\x00\x01\x1a\xe1"
#define C4_C "\x0a\x00\x00\x02\x00\x50"
#define C6_B "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe2"
#define C6_C "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x4e\x85"

static void test_announce_compact(void **state)
{
    struct evbuffer *b = *state;
    struct http_peer_list both = {.compact = true, .v4 = true, .v6 = true};
    http_reply_announce(b, &reply3, 1800, 900, &both);
    EXPECT(b, COUNTS "5:peers12:" C4_A C4_C "6:peers636:" C6_B C6_C "e");
    /* One family (respect_af): the dual-stacked peer under that family only. */
    struct http_peer_list v4 = {.compact = true, .v4 = true};
    http_reply_announce(b, &reply3, 1800, 900, &v4);
    EXPECT(b, COUNTS "5:peers12:" C4_A C4_C "6:peers60:e");
    struct http_peer_list v6 = {.compact = true, .v6 = true};
    http_reply_announce(b, &reply3, 1800, 900, &v6);
    EXPECT(b, COUNTS "5:peers0:6:peers636:" C6_B C6_C "e");
    /* no_peer_id changes nothing in compact form. */
    both.no_peer_id = true;
    http_reply_announce(b, &reply3, 1800, 900, &both);
    EXPECT(b, COUNTS "5:peers12:" C4_A C4_C "6:peers636:" C6_B C6_C "e");
}

/* test_announce's first reply: no peers, both strings empty. */
static void test_announce_no_peers(void **state)
{
    struct evbuffer *b = *state;
    struct announce_reply none = {.complete = 0, .incomplete = 1, .npeers = 0, .peers = NULL};
    struct http_peer_list list = {.compact = true, .v4 = true, .v6 = true};
    http_reply_announce(b, &none, 1800, 900, &list);
    EXPECT(b, "d8:completei0e10:incompletei1e8:intervali1800e12:min intervali900e"
              "5:peers0:6:peers60:e");
    list.compact = false;
    http_reply_announce(b, &none, 60, 0, &list);
    EXPECT(b, "d8:completei0e10:incompletei1e8:intervali60e12:min intervali0e5:peerslee");
}

#define DICT_A4 "d2:ip8:10.0.0.17:peer id20:-AA0001-aaaaaaaaaaaa4:porti6881ee"
#define DICT_B6 "d2:ip11:2001:db8::17:peer id20:-BB0001-bbbbbbbbbbbb4:porti6882ee"
#define DICT_C4 "d2:ip8:10.0.0.27:peer id20:-CC0001-cccccccccccc4:porti80ee"
#define DICT_C6 "d2:ip3:::17:peer id20:-CC0001-cccccccccccc4:porti20101ee"

static void test_announce_dicts(void **state)
{
    struct evbuffer *b = *state;
    struct http_peer_list both = {.compact = false, .v4 = true, .v6 = true};
    http_reply_announce(b, &reply3, 1800, 900, &both);
    /* In reply order; a dual-stacked peer once per address. */
    EXPECT(b, COUNTS "5:peersl" DICT_A4 DICT_B6 DICT_C4 DICT_C6 "ee");
    struct http_peer_list v6 = {.compact = false, .v6 = true};
    http_reply_announce(b, &reply3, 1800, 900, &v6);
    EXPECT(b, COUNTS "5:peersl" DICT_B6 DICT_C6 "ee");
    struct http_peer_list bare = {.compact = false, .no_peer_id = true, .v4 = true};
    http_reply_announce(b, &reply3, 1800, 900, &bare);
    EXPECT(b, COUNTS "5:peersld2:ip8:10.0.0.14:porti6881eed2:ip8:10.0.0.24:porti80eeee");
}

/* ---- scrape ---- */

static void test_scrape_keys(void **state)
{
    (void)state;
    uint8_t h[6][INFO_HASH_LEN];
    const uint8_t fill[6] = {5, 1, 5, 0xff, 1, 0};
    for (size_t i = 0; i < 6; i++)
        memset(h[i], fill[i], INFO_HASH_LEN);
    h[2][19] = 6; /* 5..56 sorts after 5..55 */
    assert_int_equal(http_scrape_keys(h, 6), 5);
    const uint8_t first[5] = {0, 1, 5, 5, 0xff};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(h[i][0], first[i]);
    assert_int_equal(h[2][19], 5);
    assert_int_equal(h[3][19], 6);
    /* Sorted by raw bytes, unsigned. */
    uint8_t one[1][INFO_HASH_LEN] = {{0x80}};
    assert_int_equal(http_scrape_keys(one, 1), 1);
    assert_int_equal(one[0][0], 0x80);
    assert_int_equal(http_scrape_keys(one, 0), 0);
    uint8_t same[3][INFO_HASH_LEN];
    memset(same, 7, sizeof(same));
    assert_int_equal(http_scrape_keys(same, 3), 1);
}

static void test_scrape(void **state)
{
    struct evbuffer *b = *state;
    uint8_t h[2][INFO_HASH_LEN];
    memset(h[0], 'a', INFO_HASH_LEN);
    memset(h[1], 'b', INFO_HASH_LEN);
    const struct scrape_counts counts[2] = {{.complete = 1, .incomplete = 2, .downloaded = 3},
                                            {.complete = 0, .incomplete = 0, .downloaded = 0}};
    http_reply_scrape(b, (const uint8_t(*)[INFO_HASH_LEN])h, counts, 2);
    EXPECT(b, "d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei1e10:downloadedi3e10:incompletei2ee"
              "20:bbbbbbbbbbbbbbbbbbbbd8:completei0e10:downloadedi0e10:incompletei0eeee");
    http_reply_scrape(b, (const uint8_t(*)[INFO_HASH_LEN])h, counts, 0);
    EXPECT(b, "d5:filesdee");
}

static void test_full_scrape(void **state)
{
    struct evbuffer *b = *state;
    struct fullscrape_snapshot *none = fullscrape_snapshot_new(NULL, 0); /* no pass yet */
    http_reply_full_scrape(b, none);
    EXPECT(b, "d5:filesdee");
    fullscrape_snapshot_unref(none);
    const char files[] = "d20:aaaaaaaaaaaaaaaaaaaad8:completei1eee";
    struct fullscrape_snapshot *s = fullscrape_snapshot_new(files, sizeof(files) - 1);
    http_reply_full_scrape(b, s);
    http_reply_full_scrape(b, s);
    /* Two replies, one snapshot: the buffer holds references, not copies. */
    assert_int_equal(fullscrape_snapshots_alive(), 1);
    fullscrape_snapshot_unref(s);
    assert_int_equal(fullscrape_snapshots_alive(), 1); /* still referenced by the buffer */
    EXPECT(b, "d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei1eeee"
              "d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei1eeee");
    assert_int_equal(fullscrape_snapshots_alive(), 0); /* drained: released */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head),
        cmocka_unit_test_setup_teardown(test_announce_compact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_announce_no_peers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_announce_dicts, setup, teardown),
        cmocka_unit_test(test_scrape_keys),
        cmocka_unit_test_setup_teardown(test_scrape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_scrape, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
