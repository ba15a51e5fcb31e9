/* Unit tests for common/keyed_table.c: fixed-size keys and values, growth, tombstones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/keyed_table.h"

static void key_of(uint32_t n, uint8_t key[8])
{
    memset(key, 0, 8);
    memcpy(key, &n, sizeof(n));
}

static void test_put_get_del(void **state)
{
    (void)state;
    struct keyed t;
    keyed_init(&t, 8, 4, 100000, 12345);
    uint8_t key[8];
    key_of(1, key);
    assert_null(keyed_get(&t, key)); /* empty: no memory yet */
    uint32_t v = 7;
    assert_int_equal(keyed_put(&t, key, (const uint8_t *)&v), 0);
    const uint8_t *got = keyed_get(&t, key);
    assert_non_null(got);
    uint32_t out;
    memcpy(&out, got, 4);
    assert_int_equal(out, 7);
    v = 9; /* a put of a present key replaces its value */
    assert_int_equal(keyed_put(&t, key, (const uint8_t *)&v), 0);
    memcpy(&out, keyed_get(&t, key), 4);
    assert_int_equal(out, 9);
    assert_int_equal(t.used, 1);
    keyed_del(&t, key);
    assert_null(keyed_get(&t, key));
    keyed_del(&t, key); /* twice: nothing */
    assert_int_equal(t.used, 0);
    keyed_clear(&t);
}

/* Many keys, every other one deleted, then put again: all found, load kept at most half. */
static void test_growth_and_tombstones(void **state)
{
    (void)state;
    struct keyed t;
    keyed_init(&t, 8, 4, 1u << 20, 99);
    uint8_t key[8];
    for (uint32_t n = 0; n < 50000; n++) {
        key_of(n, key);
        assert_int_equal(keyed_put(&t, key, (const uint8_t *)&n), 0);
    }
    for (uint32_t n = 0; n < 50000; n += 2) {
        key_of(n, key);
        keyed_del(&t, key);
    }
    for (uint32_t n = 0; n < 50000; n++) {
        key_of(n, key);
        const uint8_t *v = keyed_get(&t, key);
        if (n % 2 == 0) {
            assert_null(v);
        } else {
            uint32_t out;
            assert_non_null(v);
            memcpy(&out, v, 4);
            assert_int_equal(out, n);
        }
    }
    for (uint32_t n = 0; n < 50000; n += 2) {
        key_of(n, key);
        assert_int_equal(keyed_put(&t, key, (const uint8_t *)&n), 0);
    }
    assert_int_equal(t.used, 50000);
    assert_true((t.used + t.gone) * 2 <= t.cap);
    keyed_clear(&t);
}

/* At max entries a new key is refused; a present one can still change. */
static void test_limit(void **state)
{
    (void)state;
    struct keyed t;
    keyed_init(&t, 8, 0, 3, 1); /* a set */
    uint8_t key[8];
    for (uint32_t n = 0; n < 3; n++) {
        key_of(n, key);
        assert_int_equal(keyed_put(&t, key, NULL), 0);
    }
    key_of(3, key);
    assert_int_equal(keyed_put(&t, key, NULL), -1);
    key_of(1, key);
    assert_int_equal(keyed_put(&t, key, NULL), 0);
    assert_non_null(keyed_get(&t, key));
    keyed_clear(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_growth_and_tombstones),
        cmocka_unit_test(test_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
