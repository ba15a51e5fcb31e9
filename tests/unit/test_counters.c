/* Unit tests for storage/counters.c: counters.lua's reply decoded (from RESP bytes, by
 * hiredis's reader), and node ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <hiredis/hiredis.h>

#include "storage/counters.h"

static int decode(const char *resp)
{
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(rd);
    int rc = counters_decode_reply(reply);
    freeReplyObject(reply);
    return rc;
}

static void test_decode_reply(void **state)
{
    (void)state;
    assert_int_equal(decode(":1\r\n"), 1);
    assert_int_equal(decode(":0\r\n"), 0);
    /* Anything else is no answer: the report counts as not taken. */
    assert_int_equal(decode(":2\r\n"), -1);
    assert_int_equal(decode(":-1\r\n"), -1);
    assert_int_equal(decode("$1\r\n1\r\n"), -1);
    assert_int_equal(decode("+OK\r\n"), -1);
    assert_int_equal(decode("-ERR x\r\n"), -1);
    assert_int_equal(decode("$-1\r\n"), -1);
    assert_int_equal(decode("*1\r\n:1\r\n"), -1);
    assert_int_equal(decode("*-1\r\n"), -1);
    assert_int_equal(counters_decode_reply(NULL), -1);
}

static void test_node_ids(void **state)
{
    (void)state;
    struct counters_reporter a, b;
    counters_init(&a, "host:1");
    counters_init(&b, "host:1");
    /* "host:1:" and 8 hex digits: a restarted process with the same pid is another node. */
    assert_int_equal(strlen(a.node), 15);
    assert_memory_equal(a.node, "host:1:", 7);
    assert_int_equal(strspn(a.node + 7, "0123456789abcdef"), 8);
    assert_string_not_equal(a.node, b.node);
    assert_false(a.applied);
    assert_false(a.in_flight);
    /* A base too long is cut, never overflows. */
    char lng[400];
    memset(lng, 'x', sizeof(lng) - 1);
    lng[sizeof(lng) - 1] = '\0';
    counters_init(&a, lng);
    assert_true(strlen(a.node) < sizeof(a.node));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_reply),
        cmocka_unit_test(test_node_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
