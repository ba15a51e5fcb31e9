/* Unit tests for common/log.c: the rate limit of lines that can repeat per event. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/log.h"

static void test_first_line_passes(void **state)
{
    (void)state;
    struct log_limit lim = {0};
    uint64_t suppressed = 99;
    assert_true(log_limit_pass(&lim, 5000, &suppressed));
    assert_int_equal(suppressed, 0);
    /* A clock at 0 (a fresh monotonic clock) still counts as "logged". */
    struct log_limit at_zero = {0};
    assert_true(log_limit_pass(&at_zero, 0, &suppressed));
    assert_false(log_limit_pass(&at_zero, 10, &suppressed));
}

static void test_one_line_per_interval_with_count(void **state)
{
    (void)state;
    struct log_limit lim = {0};
    uint64_t suppressed = 0;
    assert_true(log_limit_pass(&lim, 1000, &suppressed));
    unsigned passed = 0;
    /* A flood: 10,000 events within one interval write nothing more. */
    for (uint64_t i = 0; i < 10000; i++)
        passed += log_limit_pass(&lim, 1000 + i % LOG_LIMIT_INTERVAL_MS, &suppressed);
    assert_int_equal(passed, 0);
    /* The next interval's first line says how many were dropped. */
    assert_true(log_limit_pass(&lim, 1000 + LOG_LIMIT_INTERVAL_MS, &suppressed));
    assert_int_equal(suppressed, 10000);
    assert_false(log_limit_pass(&lim, 1000 + LOG_LIMIT_INTERVAL_MS + 1, &suppressed));
    assert_true(log_limit_pass(&lim, 5000 + LOG_LIMIT_INTERVAL_MS, &suppressed));
    assert_int_equal(suppressed, 1);
}

static void test_kinds_are_independent(void **state)
{
    (void)state;
    struct log_limit a = {0}, b = {0};
    uint64_t suppressed;
    assert_true(log_limit_pass(&a, 100, &suppressed));
    assert_true(log_limit_pass(&b, 100, &suppressed));
    assert_false(log_limit_pass(&a, 101, &suppressed));
    assert_false(log_limit_pass(&b, 101, &suppressed));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_line_passes),
        cmocka_unit_test(test_one_line_per_interval_with_count),
        cmocka_unit_test(test_kinds_are_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
