/* Unit tests for storage/keyslot.c: Redis Cluster key slots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "storage/keyslot.h"

static unsigned slot(const char *key)
{
    return key_hash_slot(key, strlen(key));
}

static void test_known_slots(void **state)
{
    (void)state;
    /* Values from the Redis Cluster specification and CLUSTER KEYSLOT. */
    assert_int_equal(slot("foo"), 12182);
    assert_int_equal(slot("{user1000}.following"), 3443);
    assert_int_equal(slot("{user1000}.followers"), 3443);
    assert_int_equal(slot("123456789"), 0x31C3 & 16383); /* CRC16 check value 0x31C3 */
}

static void test_hash_tags(void **state)
{
    (void)state;
    /* Only the first {...} counts; an empty tag means the whole key. */
    assert_int_equal(slot("{a}b"), slot("a"));
    assert_int_equal(slot("x{a}{b}"), slot("a"));
    assert_int_equal(slot("{}a"), slot("{}a"));
    assert_int_not_equal(slot("{}a"), slot("a"));
    assert_int_equal(slot("a{b"), slot("a{b"));
    /* Every key of a swarm shares its slot. */
    const char *tag = "{0123456789abcdef0123456789abcdef01234567}";
    char k1[64], k2[64];
    strcpy(k1, tag), strcat(k1, ":seeders");
    strcpy(k2, tag), strcat(k2, ":peers");
    assert_int_equal(slot(k1), slot(k2));
    assert_true(slot(k1) < 16384);
}

/* Every slot has a tag, and a key under it lands in that slot. */
static void test_slot_tags(void **state)
{
    (void)state;
    for (unsigned n = 0; n < CLUSTER_SLOTS; n++) {
        const char *tag = slot_tag(n);
        size_t len = strlen(tag);
        assert_true(len >= 1 && len < SLOT_TAG_MAX);
        char key[32];
        snprintf(key, sizeof(key), "{%s}:acct", tag);
        assert_int_equal(slot(key), n);
    }
    assert_string_equal(slot_tag(0), slot_tag(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_tags),
        cmocka_unit_test(test_known_slots),
        cmocka_unit_test(test_hash_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
