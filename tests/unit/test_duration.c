#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/duration.h"

static uint64_t parse_ok(const char *text)
{
    uint64_t ms = 0;
    char err[128] = "";
    int rc = duration_parse_ms(text, &ms, err, sizeof(err));
    if (rc != 0)
        fail_msg("\"%s\" refused: %s", text, err);
    return ms;
}

/* Refused, *out_ms untouched, and the reason mentions want. */
static void parse_bad(const char *text, const char *want)
{
    uint64_t ms = 12345;
    char err[128] = "";
    assert_int_equal(duration_parse_ms(text, &ms, err, sizeof(err)), -1);
    assert_int_equal(ms, 12345);
    if (strstr(err, want) == NULL)
        fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", text, err, want);
}

static void test_single_units(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("250ms"), 250);
    assert_int_equal(parse_ok("1s"), 1000);
    assert_int_equal(parse_ok("30m"), 30 * 60 * 1000);
    assert_int_equal(parse_ok("2h"), 2 * 3600 * 1000);
    assert_int_equal(parse_ok("1ms"), 1);
}

static void test_compound(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1h30m"), 90 * 60 * 1000);
    assert_int_equal(parse_ok("1m30s"), 90 * 1000);
    assert_int_equal(parse_ok("1s500ms"), 1500);
    /* Go allows any order and repeats. */
    assert_int_equal(parse_ok("30s1m"), 90 * 1000);
    assert_int_equal(parse_ok("1s1s"), 2000);
}

static void test_fractions(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1.5s"), 1500);
    assert_int_equal(parse_ok("0.5m"), 30000);
    assert_int_equal(parse_ok(".5s"), 500);
    assert_int_equal(parse_ok("1.s"), 1000);
    assert_int_equal(parse_ok("1.5h"), 90 * 60 * 1000);
    /* Sub-millisecond parts are truncated. */
    assert_int_equal(parse_ok("1.9ms"), 1);
    assert_int_equal(parse_ok("0.0015s"), 1);
    /* Digits past the ninth are ignored, not an overflow. */
    assert_int_equal(parse_ok("1.123456789123456789123s"), 1123);
}

static void test_leading_zeros(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("007s"), 7000);
    assert_int_equal(parse_ok("0s1ms"), 1);
}

static void test_large(void **state)
{
    (void)state;
    /* UINT64_MAX ms exactly. */
    assert_true(parse_ok("18446744073709551615ms") == UINT64_MAX);
    parse_bad("18446744073709551616ms", "too large");
    parse_bad("18446744073709551615s", "too large");
    parse_bad("18446744073709551615ms1ms", "too large");
    parse_bad("99999999999999999999999h", "too large");
}

static void test_empty(void **state)
{
    (void)state;
    parse_bad("", "empty");
    uint64_t ms = 7;
    assert_int_equal(duration_parse_ms(NULL, &ms, NULL, 0), -1);
    assert_int_equal(ms, 7);
}

static void test_zero_refused(void **state)
{
    (void)state;
    parse_bad("0s", "at least 1ms");
    parse_bad("0ms", "at least 1ms");
    parse_bad("0h0m0s", "at least 1ms");
    parse_bad("0.5ms", "at least 1ms");
}

/* Where zero turns a feature off (announce_jitter, peer_cache_ttl). */
static void test_zero_allowed(void **state)
{
    (void)state;
    char err[128];
    uint64_t ms = 99;
    assert_int_equal(duration_parse_ms_or_zero("0s", &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(duration_parse_ms_or_zero("0h0m0s", &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(duration_parse_ms_or_zero("3m", &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 180000);
    assert_int_equal(duration_parse_ms_or_zero("-1s", &ms, err, sizeof(err)), -1);
    assert_int_equal(duration_parse_ms_or_zero("", &ms, err, sizeof(err)), -1);
}

static void test_signs_refused(void **state)
{
    (void)state;
    parse_bad("-1s", "positive");
    parse_bad("+1s", "positive");
    parse_bad("1s-1s", "unknown unit");
}

static void test_missing_unit(void **state)
{
    (void)state;
    parse_bad("30", "missing unit");
    parse_bad("0", "missing unit");
    parse_bad("1h30", "missing unit");
    parse_bad("1.5", "missing unit");
}

static void test_unknown_unit(void **state)
{
    (void)state;
    parse_bad("1d", "unknown unit");
    parse_bad("1us", "unknown unit");
    parse_bad("1ns", "unknown unit");
    parse_bad("1S", "unknown unit");
    parse_bad("1 s", "unknown unit");
    parse_bad("1sec", "unknown unit");
    parse_bad("1mss", "unknown unit");
}

static void test_missing_number(void **state)
{
    (void)state;
    parse_bad("s", "expected a number");
    parse_bad("ms", "expected a number");
    parse_bad(".s", "expected a number");
    parse_bad("1s.", "expected a number");
    parse_bad("1..5s", "missing unit");
    parse_bad(" 1s", "expected a number");
}

static void test_reason_names_text(void **state)
{
    (void)state;
    parse_bad("5x", "\"5x\"");
}

static void test_err_truncated_and_optional(void **state)
{
    (void)state;
    uint64_t ms = 0;
    char err[8];
    memset(err, 'z', sizeof(err));
    assert_int_equal(duration_parse_ms("bogus", &ms, err, sizeof(err)), -1);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    /* No buffer at all is allowed. */
    assert_int_equal(duration_parse_ms("bogus", &ms, NULL, 0), -1);
    assert_int_equal(duration_parse_ms("5s", &ms, NULL, 0), 0);
    assert_int_equal(ms, 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_units),
        cmocka_unit_test(test_compound),
        cmocka_unit_test(test_fractions),
        cmocka_unit_test(test_leading_zeros),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_zero_refused),
        cmocka_unit_test(test_zero_allowed),
        cmocka_unit_test(test_signs_refused),
        cmocka_unit_test(test_missing_unit),
        cmocka_unit_test(test_unknown_unit),
        cmocka_unit_test(test_missing_number),
        cmocka_unit_test(test_reason_names_text),
        cmocka_unit_test(test_err_truncated_and_optional),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
