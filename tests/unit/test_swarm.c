/* Unit tests for storage/swarm.c's reply decoders: replies of every wrong shape are parsed
 * from RESP bytes by hiredis's own reader, as they come off a connection, and must give a
 * clear failure, never a crash or a read past what they hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "storage/keys.h"
#include "storage/swarm.h"

/* One reply parsed from len bytes of RESP (freeReplyObject() it). */
static redisReply *parse(const char *resp, size_t len)
{
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, resp, len), REDIS_OK);
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(rd);
    return reply;
}

#define PARSE(s) parse((s), sizeof(s) - 1)

static struct swarm_peer peers[8];

static int announce(const redisReply *r, struct announce_reply *out, size_t cap)
{
    return swarm_decode_announce(r, out, peers, cap);
}

/* id: 20 bytes, then endpoints */
#define ID "AAAAAAAAAAAAAAAAAAAA"
#define V4 "\x7f\x00\x00\x01\x1a\xe1"
#define V6 "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1"

static void test_announce_ok(void **state)
{
    (void)state;
    struct announce_reply out;
    redisReply *r =
        PARSE("*5\r\n:3\r\n:4\r\n$26\r\n" ID V4 "\r\n$38\r\n" ID V6 "\r\n$44\r\n" ID V4 V6 "\r\n");
    assert_int_equal(announce(r, &out, 8), 0);
    assert_int_equal(out.complete, 3);
    assert_int_equal(out.incomplete, 4);
    assert_int_equal(out.npeers, 3);
    assert_ptr_equal(out.peers, peers);
    assert_memory_equal(out.peers[0].peer_id, ID, PEER_ID_LEN);
    assert_memory_equal(out.peers[0].v4, V4, COMPACT_V4_LEN);
    assert_null(out.peers[0].v6);
    assert_null(out.peers[1].v4);
    assert_memory_equal(out.peers[1].v6, V6, COMPACT_V6_LEN);
    assert_memory_equal(out.peers[2].v4, V4, COMPACT_V4_LEN);
    assert_memory_equal(out.peers[2].v6, V6, COMPACT_V6_LEN);
    freeReplyObject(r);

    /* No peers; counts as large as Redis integers go. */
    r = PARSE("*2\r\n:9223372036854775807\r\n:0\r\n");
    assert_int_equal(announce(r, &out, 8), 0);
    assert_int_equal(out.complete, INT64_MAX);
    assert_int_equal(out.npeers, 0);
    freeReplyObject(r);
}

static void test_announce_wrong_shape(void **state)
{
    (void)state;
    static const struct {
        const char *resp;
        size_t len;
    } cases[] = {
#define C(s) {(s), sizeof(s) - 1}
        C(":5\r\n"),              /* not an array */
        C("+OK\r\n"),             /* status */
        C("-ERR no\r\n"),         /* error */
        C("$3\r\nabc\r\n"),       /* string */
        C("$-1\r\n"),             /* nil */
        C("*-1\r\n"),             /* nil array */
        C("*0\r\n"),              /* no counts */
        C("*1\r\n:1\r\n"),        /* one count */
        C("*2\r\n:-1\r\n:0\r\n"), /* negative count */
        C("*2\r\n:0\r\n:-9223372036854775808\r\n"),
        C("*2\r\n$1\r\n1\r\n:0\r\n"),                      /* count as text */
        C("*2\r\n:0\r\n*2\r\n:1\r\n:2\r\n"),               /* count as array */
        C("*2\r\n:0\r\n$-1\r\n"),                          /* count nil */
        C("*3\r\n:0\r\n:0\r\n:7\r\n"),                     /* member as integer */
        C("*3\r\n:0\r\n:0\r\n*1\r\n$26\r\n" ID V4 "\r\n"), /* member as array */
        C("*3\r\n:0\r\n:0\r\n$-1\r\n"),                    /* member nil */
        C("*3\r\n:0\r\n:0\r\n+" ID "xxxxxx\r\n"),          /* member as status */
#undef C
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct announce_reply out;
        redisReply *r = parse(cases[i].resp, cases[i].len);
        if (announce(r, &out, 8) != -1)
            fail_msg("case %zu decoded: %s", i, cases[i].resp);
        freeReplyObject(r);
    }
    struct announce_reply out;
    assert_int_equal(announce(NULL, &out, 8), -1);
}

static void test_fill(void **state)
{
    (void)state;
    struct announce_reply out;
    /* 3 seeders and 9 leechers, 1 and 2 of them live past the horizon: both windows whole. */
    redisReply *r = PARSE("*8\r\n:3\r\n:9\r\n:1\r\n:2\r\n:1\r\n$26\r\n" ID V4 "\r\n$26\r\n" ID V4
                          "\r\n$38\r\n" ID V6 "\r\n");
    assert_int_equal(swarm_decode_fill(r, &out, peers, 8), 0);
    assert_int_equal(out.complete, 3);
    assert_int_equal(out.incomplete, 9);
    assert_int_equal(out.npeers, 3);
    assert_int_equal(out.nseeder_peers, 1);
    assert_true(out.seeders_whole);
    assert_true(out.leechers_whole);
    assert_memory_equal(out.peers[2].v6, V6, COMPACT_V6_LEN);
    freeReplyObject(r);

    /* 5 seeders past the horizon, one read: a sample; no leecher past it: whole. */
    r = PARSE("*6\r\n:5\r\n:0\r\n:5\r\n:0\r\n:1\r\n$26\r\n" ID V4 "\r\n");
    assert_int_equal(swarm_decode_fill(r, &out, peers, 8), 0);
    assert_int_equal(out.nseeder_peers, 1);
    assert_false(out.seeders_whole);
    assert_true(out.leechers_whole);
    freeReplyObject(r);

    static const char *const bad[] = {
        "*2\r\n:0\r\n:0\r\n",                         /* an announce's reply */
        "*5\r\n:0\r\n:0\r\n:0\r\n:0\r\n:1\r\n",       /* k past the members */
        "*5\r\n:0\r\n:0\r\n:-1\r\n:0\r\n:0\r\n",      /* negative count */
        "*5\r\n:0\r\n:0\r\n:0\r\n:0\r\n$1\r\n0\r\n",  /* k as text */
        "*6\r\n:0\r\n:0\r\n:0\r\n:1\r\n:0\r\n:7\r\n", /* member as integer */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = parse(bad[i], strlen(bad[i]));
        if (swarm_decode_fill(r, &out, peers, 8) != -1)
            fail_msg("case %zu decoded: %s", i, bad[i]);
        freeReplyObject(r);
    }
    assert_int_equal(swarm_decode_fill(NULL, &out, peers, 8), -1);
}

static void test_announce_members_of_no_layout_skipped(void **state)
{
    (void)state;
    struct announce_reply out;
    /* 0, 19, 25, 27, 45 bytes: no layout; the good one after them still counts. */
    redisReply *r =
        PARSE("*8\r\n:1\r\n:1\r\n$0\r\n\r\n$19\r\nAAAAAAAAAAAAAAAAAAA\r\n$25\r\n" ID
              "xxxxx\r\n$27\r\n" ID "xxxxxxx\r\n$45\r\n" ID V4 V6 "x\r\n$26\r\n" ID V4 "\r\n");
    assert_int_equal(announce(r, &out, 8), 0);
    assert_int_equal(out.npeers, 1);
    assert_memory_equal(out.peers[0].v4, V4, COMPACT_V4_LEN);
    freeReplyObject(r);
}

/* More members than wanted: only cap are read, whatever the array says it holds. */
static void test_announce_huge_count(void **state)
{
    (void)state;
    enum { N = 100000 };
    static const char member[] = "$26\r\n" ID V4 "\r\n";
    size_t len = 32 + N * (sizeof(member) - 1);
    char *buf = malloc(len), *p = buf;
    assert_non_null(buf);
    p += sprintf(p, "*%d\r\n:0\r\n:%d\r\n", N + 2, N);
    for (int i = 0; i < N; i++, p += sizeof(member) - 1)
        memcpy(p, member, sizeof(member) - 1);
    redisReply *r = parse(buf, (size_t)(p - buf));
    struct announce_reply out;
    assert_int_equal(announce(r, &out, 8), 0);
    assert_int_equal(out.incomplete, N);
    assert_int_equal(out.npeers, 8);
    assert_int_equal(announce(r, &out, 0), 0);
    assert_int_equal(out.npeers, 0);
    freeReplyObject(r);
    free(buf);
}

static void test_scrape(void **state)
{
    (void)state;
    struct scrape_counts c;
    redisReply *r = PARSE("*3\r\n:1\r\n:2\r\n:3\r\n");
    assert_int_equal(swarm_decode_scrape(r, &c), 0);
    assert_int_equal(c.complete, 1);
    assert_int_equal(c.incomplete, 2);
    assert_int_equal(c.downloaded, 3);
    freeReplyObject(r);

    static const char *const bad[] = {
        ":1\r\n",
        "*-1\r\n",
        "*0\r\n",
        "*2\r\n:1\r\n:2\r\n",
        "*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n",
        "*3\r\n:1\r\n:-2\r\n:3\r\n",
        "*3\r\n:1\r\n:2\r\n$1\r\n3\r\n",
        "*3\r\n:1\r\n:2\r\n$-1\r\n",
        "*3\r\n:1\r\n:2\r\n*0\r\n",
        "$5\r\nhello\r\n",
        "-ERR x\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = parse(bad[i], strlen(bad[i]));
        if (swarm_decode_scrape(r, &c) != -1)
            fail_msg("decoded: %s", bad[i]);
        freeReplyObject(r);
    }
    assert_int_equal(swarm_decode_scrape(NULL, &c), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_announce_ok),
        cmocka_unit_test(test_announce_wrong_shape),
        cmocka_unit_test(test_announce_members_of_no_layout_skipped),
        cmocka_unit_test(test_fill),
        cmocka_unit_test(test_announce_huge_count),
        cmocka_unit_test(test_scrape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
