#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "frontend/addr_limit.h"

static struct addr v4(uint32_t n)
{
    struct addr x;
    memset(&x, 0xee, sizeof(x)); /* the unused bytes must not matter */
    x.family = AF_INET;
    x.bytes[0] = (uint8_t)(n >> 24);
    x.bytes[1] = (uint8_t)(n >> 16);
    x.bytes[2] = (uint8_t)(n >> 8);
    x.bytes[3] = (uint8_t)n;
    return x;
}

static struct addr v6(uint32_t n)
{
    struct addr x;
    memset(&x, 0, sizeof(x));
    x.family = AF_INET6;
    x.bytes[0] = 0x20;
    x.bytes[1] = 0x01;
    x.bytes[12] = (uint8_t)(n >> 24);
    x.bytes[13] = (uint8_t)(n >> 16);
    x.bytes[14] = (uint8_t)(n >> 8);
    x.bytes[15] = (uint8_t)n;
    return x;
}

static void test_limit_per_address(void **state)
{
    (void)state;
    struct addr_limit *t = addr_limit_new(3, 100);
    struct addr a = v4(0x0a000001), b = v4(0x0a000002);
    for (int i = 0; i < 3; i++)
        assert_true(addr_limit_take(t, &a));
    assert_false(addr_limit_take(t, &a));
    assert_int_equal(addr_limit_count(t, &a), 3);
    assert_true(addr_limit_take(t, &b)); /* another address is not affected */
    assert_int_equal(addr_limit_addresses(t), 2);
    addr_limit_release(t, &a);
    assert_true(addr_limit_take(t, &a));
    assert_false(addr_limit_take(t, &a));
    addr_limit_free(t);
}

static void test_entry_goes_with_last_connection(void **state)
{
    (void)state;
    struct addr_limit *t = addr_limit_new(2, 100);
    struct addr a = v6(7);
    assert_true(addr_limit_take(t, &a));
    assert_true(addr_limit_take(t, &a));
    addr_limit_release(t, &a);
    assert_int_equal(addr_limit_addresses(t), 1);
    addr_limit_release(t, &a);
    assert_int_equal(addr_limit_addresses(t), 0);
    assert_int_equal(addr_limit_count(t, &a), 0);
    addr_limit_free(t);
}

static void test_families_distinct(void **state)
{
    (void)state;
    struct addr_limit *t = addr_limit_new(1, 100);
    struct addr a = v4(1), b = v6(0);
    memset(b.bytes, 0, sizeof(b.bytes));
    b.bytes[3] = 1; /* the same first four bytes as 0.0.0.1 */
    assert_true(addr_limit_take(t, &a));
    assert_true(addr_limit_take(t, &b));
    addr_limit_free(t);
}

static void test_table_never_exceeds_max_addresses(void **state)
{
    (void)state;
    struct addr_limit *t = addr_limit_new(5, 10);
    for (uint32_t i = 0; i < 10; i++) {
        struct addr a = v4(i);
        assert_true(addr_limit_take(t, &a));
    }
    struct addr more = v4(99);
    assert_false(addr_limit_take(t, &more));
    struct addr known = v4(3);
    assert_true(addr_limit_take(t, &known)); /* a known address still counts */
    addr_limit_free(t);
}

/* Many addresses in, then out in a scrambled order: every lookup on the way finds exactly
 * what is in (backward-shift deletion keeps probe runs whole). */
static void test_many_in_and_out(void **state)
{
    (void)state;
    enum { N = 5000 };
    struct addr_limit *t = addr_limit_new(2, N);
    static uint32_t order[N];
    static uint8_t in[N];
    for (uint32_t i = 0; i < N; i++) {
        struct addr a = (i % 2) ? v6(i) : v4(i);
        assert_true(addr_limit_take(t, &a));
        assert_true(addr_limit_take(t, &a));
        order[i] = i;
        in[i] = 1;
    }
    assert_int_equal(addr_limit_addresses(t), N);
    srand(42);
    for (uint32_t i = N - 1; i > 0; i--) {
        uint32_t j = (uint32_t)rand() % (i + 1);
        uint32_t x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    for (uint32_t k = 0; k < N; k++) {
        uint32_t i = order[k];
        struct addr a = (i % 2) ? v6(i) : v4(i);
        addr_limit_release(t, &a);
        addr_limit_release(t, &a);
        in[i] = 0;
        if (k % 97 == 0) {
            for (uint32_t m = 0; m < N; m++) {
                struct addr b = (m % 2) ? v6(m) : v4(m);
                assert_int_equal(addr_limit_count(t, &b), in[m] ? 2 : 0);
            }
        }
    }
    assert_int_equal(addr_limit_addresses(t), 0);
    addr_limit_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_per_address),
        cmocka_unit_test(test_entry_goes_with_last_connection),
        cmocka_unit_test(test_families_distinct),
        cmocka_unit_test(test_table_never_exceeds_max_addresses),
        cmocka_unit_test(test_many_in_and_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
