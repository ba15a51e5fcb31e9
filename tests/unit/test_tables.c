/* The forms shared-table entries take in Redis (storage/tables.h): what a replica accepts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "storage/tables.h"

static bool member(enum table_id id, const char *m)
{
    return tables_member_valid(id, m, strlen(m));
}

static bool value(enum table_id id, const char *v)
{
    return tables_value_valid(id, v, strlen(v));
}

static const char hash[] = "0123456789abcdef0123456789ABCDEF01234567";

static void test_members(void **state)
{
    (void)state;
    assert_true(member(TABLE_TORRENTS, hash));
    assert_false(member(TABLE_TORRENTS, "0123"));
    assert_false(member(TABLE_TORRENTS, "g123456789abcdef0123456789abcdef01234567"));
    assert_true(member(TABLE_REGISTERED, hash));
    assert_true(member(TABLE_USERS, "0123456789abcdefABCDEF0123456789"));
    assert_false(member(TABLE_USERS, "0123456789abcdefABCDEF012345678"));
    assert_false(member(TABLE_USERS, "0123456789abcdefABCDEF012345678-"));
    assert_true(member(TABLE_TOKENS, "0123456789abcdef0123456789abcdef01234567:42"));
    assert_false(member(TABLE_TOKENS, "0123456789abcdef0123456789abcdef01234567:"));
    assert_false(member(TABLE_TOKENS, "0123456789abcdef0123456789abcdef01234567:4294967296"));
    assert_false(member(TABLE_TOKENS, "0123456789abcdef0123456789abcdef01234567-42"));
    assert_true(member(TABLE_CLIENTS, "-qB46"));
    assert_false(member(TABLE_CLIENTS, ""));
    assert_false(member(TABLE_CLIENTS, "123456789012345678901"));
}

static void test_values(void **state)
{
    (void)state;
    assert_true(value(TABLE_USERS, "42 1 0 1"));
    assert_true(value(TABLE_USERS, "4294967295 0 0 0"));
    assert_false(value(TABLE_USERS, "42 1 0"));
    assert_false(value(TABLE_USERS, "42 1 0 1 7"));
    assert_false(value(TABLE_USERS, "42 2 0 1"));
    assert_false(value(TABLE_USERS, "4294967296 1 1 1"));
    assert_false(value(TABLE_USERS, "- 1 1 1"));
    assert_true(value(TABLE_REGISTERED, "7 0 0 -1"));
    assert_true(value(TABLE_REGISTERED, "7 2 1800000000 22"));
    assert_false(value(TABLE_REGISTERED, "7 3 0 -1"));
    assert_false(value(TABLE_REGISTERED, "7 0 0 -2"));
    assert_false(value(TABLE_REGISTERED, "-7 0 0 -1"));
    assert_false(value(TABLE_REGISTERED, "7 0 0"));
    /* Sets have no values. */
    assert_false(value(TABLE_TORRENTS, "1"));
    assert_true(table_is_hash(TABLE_USERS) && table_is_hash(TABLE_REGISTERED));
    assert_false(table_is_hash(TABLE_TOKENS) || table_is_hash(TABLE_CLIENTS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
