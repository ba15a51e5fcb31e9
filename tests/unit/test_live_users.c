/* Private mode's live peers per user (storage/live_users.c): script replies read, tallies
 * added up per user, field names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "storage/live_users.h"

static redisReply ints[16];
static redisReply *int_ptrs[16];

/* A reply array of n integers (values), as hiredis builds it. */
static redisReply flat_of(const long long *values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ints[i] = (redisReply){.type = REDIS_REPLY_INTEGER, .integer = values[i]};
        int_ptrs[i] = &ints[i];
    }
    return (redisReply){.type = REDIS_REPLY_ARRAY, .elements = n, .element = int_ptrs};
}

static void test_reply_read_and_merged(void **state)
{
    (void)state;
    struct user_tallies t = {0};
    const long long a[] = {7, 1, 0, 3, 0, 2};
    const long long b[] = {7, 2, 5, 9, 0, 1};
    redisReply ra = flat_of(a, 6);
    assert_int_equal(user_tallies_add_reply(&t, &ra), 0);
    redisReply rb = flat_of(b, 6);
    assert_int_equal(user_tallies_add_reply(&t, &rb), 0);
    assert_int_equal(t.n, 4);
    user_tallies_merge(&t);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.v[0].user_id, 3);
    assert_int_equal(t.v[0].leeching, 2);
    assert_int_equal(t.v[1].user_id, 7);
    assert_int_equal(t.v[1].seeding, 3);
    assert_int_equal(t.v[1].leeching, 5);
    assert_int_equal(t.v[2].user_id, 9);
    assert_int_equal(t.v[2].leeching, 1);
    user_tallies_merge(&t); /* merged already: unchanged */
    assert_int_equal(t.n, 3);
    user_tallies_free(&t);
    assert_null(t.v);
}

static void test_bad_replies_add_nothing(void **state)
{
    (void)state;
    struct user_tallies t = {0};
    const long long short_one[] = {1, 2};
    redisReply r = flat_of(short_one, 2);
    assert_int_equal(user_tallies_add_reply(&t, &r), -1);
    const long long negative[] = {1, 2, 3, 4, -1, 0};
    r = flat_of(negative, 6);
    assert_int_equal(user_tallies_add_reply(&t, &r), -1);
    const long long too_big[] = {4294967296LL, 0, 0};
    r = flat_of(too_big, 3);
    assert_int_equal(user_tallies_add_reply(&t, &r), -1);
    char x[] = "x";
    redisReply text = {.type = REDIS_REPLY_STRING, .str = x, .len = 1};
    assert_int_equal(user_tallies_add_reply(&t, &text), -1);
    assert_int_equal(t.n, 0);
    const long long none[] = {0};
    r = flat_of(none, 0);
    assert_int_equal(user_tallies_add_reply(&t, &r), 0);
    assert_int_equal(t.n, 0);
    user_tallies_free(&t);
}

static void test_counts_saturate(void **state)
{
    (void)state;
    struct user_tallies t = {0};
    struct user_tally big[] = {{1, UINT32_MAX - 1, 0}, {1, 5, 1}};
    user_tallies_add(&t, big, 2);
    user_tallies_merge(&t);
    assert_int_equal(t.n, 1);
    assert_true(t.v[0].seeding == UINT32_MAX);
    user_tallies_free(&t);
}

static void test_field_names(void **state)
{
    (void)state;
    char f[LIVE_USERS_FIELD_LEN];
    size_t n = live_users_field(f, 4294967295u, 0);
    assert_int_equal(n, strlen("4294967295:leeching"));
    assert_memory_equal(f, "4294967295:leeching", n);
    n = live_users_field(f, 12, 1);
    assert_memory_equal(f, "12:seeding", n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_read_and_merged),
        cmocka_unit_test(test_bad_replies_add_nothing),
        cmocka_unit_test(test_counts_saturate),
        cmocka_unit_test(test_field_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
