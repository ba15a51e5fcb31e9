#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <event2/buffer.h>

#include "frontend/bencode.h"

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

/* The buffer must hold exactly want_len bytes equal to want. */
static void expect_bytes(struct evbuffer *buf, const void *want, size_t want_len)
{
    size_t len = evbuffer_get_length(buf);
    assert_int_equal(len, want_len);
    if (len > 0)
        assert_memory_equal(evbuffer_pullup(buf, -1), want, want_len);
}

static void expect(struct evbuffer *buf, const char *want)
{
    expect_bytes(buf, want, strlen(want));
}

static void int_is(struct evbuffer *buf, int64_t v, const char *want)
{
    evbuffer_drain(buf, evbuffer_get_length(buf));
    bencode_int(buf, v);
    expect(buf, want);
}

static void test_int(void **state)
{
    struct evbuffer *buf = *state;
    int_is(buf, 0, "i0e");
    int_is(buf, 1, "i1e");
    int_is(buf, 9, "i9e");
    int_is(buf, 10, "i10e");
    int_is(buf, 42, "i42e");
    int_is(buf, 1800, "i1800e");
    int_is(buf, -1, "i-1e");
    int_is(buf, -10, "i-10e");
    int_is(buf, 1000000007, "i1000000007e");
    int_is(buf, INT32_MAX, "i2147483647e");
    int_is(buf, (int64_t)INT32_MAX + 1, "i2147483648e");
}

static void test_int_extremes(void **state)
{
    struct evbuffer *buf = *state;
    int_is(buf, INT64_MAX, "i9223372036854775807e");
    int_is(buf, INT64_MIN, "i-9223372036854775808e");
    int_is(buf, INT64_MIN + 1, "i-9223372036854775807e");
}

static void test_str(void **state)
{
    struct evbuffer *buf = *state;
    bencode_str(buf, "spam", 4);
    expect(buf, "4:spam");
}

static void test_str_empty(void **state)
{
    struct evbuffer *buf = *state;
    bencode_str(buf, "", 0);
    bencode_str(buf, NULL, 0);
    bencode_cstr(buf, "");
    expect(buf, "0:0:0:");
}

static void test_str_binary(void **state)
{
    struct evbuffer *buf = *state;
    const uint8_t bytes[] = {0x00, 0xff, ':', 'e', 0x00, 0x80};
    bencode_str(buf, bytes, sizeof(bytes));
    const uint8_t want[] = {'6', ':', 0x00, 0xff, ':', 'e', 0x00, 0x80};
    expect_bytes(buf, want, sizeof(want));
}

static void test_str_long(void **state)
{
    struct evbuffer *buf = *state;
    char big[12345];
    memset(big, 'x', sizeof(big));
    bencode_str(buf, big, sizeof(big));
    assert_int_equal(evbuffer_get_length(buf), 6 + sizeof(big));
    const char *p = (const char *)evbuffer_pullup(buf, -1);
    assert_memory_equal(p, "12345:", 6);
    assert_memory_equal(p + 6, big, sizeof(big));
}

static void test_cstr(void **state)
{
    struct evbuffer *buf = *state;
    bencode_cstr(buf, "interval");
    expect(buf, "8:interval");
}

static void test_str_prefix(void **state)
{
    struct evbuffer *buf = *state;
    bencode_str_prefix(buf, 0);
    bencode_str_prefix(buf, 6);
    evbuffer_add(buf, "abcdef", 6);
    bencode_str_prefix(buf, 1234567890);
    expect(buf, "0:6:abcdef1234567890:");
}

static void test_str_prefix_max(void **state)
{
    struct evbuffer *buf = *state;
    bencode_str_prefix(buf, SIZE_MAX);
    expect(buf, SIZE_MAX == UINT64_MAX ? "18446744073709551615:" : "4294967295:");
}

static void test_containers(void **state)
{
    struct evbuffer *buf = *state;
    bencode_dict_begin(buf);
    bencode_end(buf);
    bencode_list_begin(buf);
    bencode_end(buf);
    expect(buf, "dele");
}

/* A whole announce reply, as http.c writes it: keys in raw byte order. */
static void test_announce_reply(void **state)
{
    struct evbuffer *buf = *state;
    const uint8_t peers[] = {192, 0, 2, 1, 0x1a, 0xe1};
    bencode_dict_begin(buf);
    bencode_cstr(buf, "complete");
    bencode_int(buf, 3);
    bencode_cstr(buf, "incomplete");
    bencode_int(buf, 0);
    bencode_cstr(buf, "interval");
    bencode_int(buf, 1800);
    bencode_cstr(buf, "peers");
    bencode_str(buf, peers, sizeof(peers));
    bencode_cstr(buf, "peers6");
    bencode_str_prefix(buf, 0);
    bencode_end(buf);
    const char want[] = "d8:completei3e10:incompletei0e8:intervali1800e5:peers6:"
                        "\xc0\x00\x02\x01\x1a\xe1"
                        "6:peers60:e";
    expect_bytes(buf, want, sizeof(want) - 1);
}

static void test_nested(void **state)
{
    struct evbuffer *buf = *state;
    bencode_dict_begin(buf);
    bencode_cstr(buf, "files");
    bencode_dict_begin(buf);
    bencode_str(buf, "AAAAAAAAAAAAAAAAAAAA", 20);
    bencode_dict_begin(buf);
    bencode_cstr(buf, "complete");
    bencode_int(buf, 1);
    bencode_end(buf);
    bencode_end(buf);
    bencode_cstr(buf, "list");
    bencode_list_begin(buf);
    bencode_int(buf, -5);
    bencode_cstr(buf, "x");
    bencode_end(buf);
    bencode_end(buf);
    expect(buf, "d5:filesd20:AAAAAAAAAAAAAAAAAAAAd8:completei1eee4:listli-5e1:xee");
}

static void test_failure(void **state)
{
    struct evbuffer *buf = *state;
    bencode_failure(buf, "invalid info_hash");
    expect(buf, "d14:failure reason17:invalid info_hashe");
}

static void test_failure_empty_reason(void **state)
{
    struct evbuffer *buf = *state;
    bencode_failure(buf, "");
    expect(buf, "d14:failure reason0:e");
}

static void test_appends(void **state)
{
    struct evbuffer *buf = *state;
    evbuffer_add(buf, "HEAD", 4);
    bencode_int(buf, 7);
    expect(buf, "HEADi7e");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_int, setup, teardown),
        cmocka_unit_test_setup_teardown(test_int_extremes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cstr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_prefix_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_containers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_announce_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_empty_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appends, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
