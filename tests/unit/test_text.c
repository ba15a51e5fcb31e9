/* Unit tests for common/text.c: hex digits, percent-escapes, decimal numbers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/text.h"

static void test_percent_decode(void **state)
{
    (void)state;
    uint8_t out[32];
    assert_int_equal(percent_decode("abc", 3, out, sizeof(out)), 3);
    assert_memory_equal(out, "abc", 3);
    assert_int_equal(percent_decode("%41%62%7e%7E", 12, out, sizeof(out)), 4);
    assert_memory_equal(out, "Ab~~", 4);
    assert_int_equal(percent_decode("a+b", 3, out, sizeof(out)), 3);
    assert_memory_equal(out, "a+b", 3);
    assert_int_equal(percent_decode("%00%ff%FF", 9, out, sizeof(out)), 3);
    const uint8_t want[3] = {0x00, 0xff, 0xff};
    assert_memory_equal(out, want, 3);
    assert_int_equal(percent_decode("", 0, out, sizeof(out)), 0);
    assert_int_equal(percent_decode(NULL, 0, NULL, 0), 0);
    /* Only len bytes are read. */
    assert_int_equal(percent_decode("ab%4", 2, out, sizeof(out)), 2);
}

static void test_percent_decode_capacity(void **state)
{
    (void)state;
    uint8_t out[4];
    assert_int_equal(percent_decode("%61%62%63%64", 12, out, 4), 4);
    assert_memory_equal(out, "abcd", 4);
    assert_int_equal(percent_decode("abcde", 5, out, 4), -1);
    assert_int_equal(percent_decode("a", 1, out, 0), -1);
}

static void test_percent_decode_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"%",  "%4",   "a%",  "a%4", "%G1", "%1G",  "%g0",
                         "%%", "%%41", "% 1", "%+1", "%-1", "%x41", "%4\0"};
    uint8_t out[32];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = strlen(bad[i]);
        if (percent_decode(bad[i], len, out, sizeof(out)) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
    }
    /* An escape cut by len is truncated even if the bytes after it would complete it. */
    assert_int_equal(percent_decode("%41", 2, out, sizeof(out)), -1);
    assert_int_equal(percent_decode("x%41", 3, out, sizeof(out)), -1);
    /* An embedded NUL is just a byte, but it is no hex digit. */
    assert_int_equal(percent_decode("%4\0", 3, out, sizeof(out)), -1);
}

static void test_percent_decode_measure(void **state)
{
    (void)state;
    uint8_t out[2];
    /* The full length is reported even past outcap; only outcap bytes are written. */
    assert_int_equal(percent_decode_measure("%61bcd", 6, out, 2), 4);
    assert_memory_equal(out, "ab", 2);
    assert_int_equal(percent_decode_measure("abc%", 4, NULL, 0), -1);
    assert_int_equal(percent_decode_measure("a%41", 4, NULL, 0), 2);
}

static void test_hex(void **state)
{
    (void)state;
    const uint8_t bytes[4] = {0x00, 0x9f, 0xa0, 0xff};
    char text[9] = {0};
    uint8_t back[4];
    hex_encode(bytes, 4, text);
    assert_string_equal(text, "009fa0ff");
    assert_int_equal(hex_decode("009FA0fF", 4, back), 0);
    assert_memory_equal(back, bytes, 4);
    assert_int_equal(hex_decode("009fa0fg", 4, back), -1);
    assert_int_equal(hex_decode("-09fa0ff", 4, back), -1);
    assert_int_equal(hex_digit_value('/'), -1);
    assert_int_equal(hex_digit_value(':'), -1);
    assert_int_equal(hex_digit_value('@'), -1);
    assert_int_equal(hex_digit_value('G'), -1);
    assert_int_equal(hex_digit_value('`'), -1);
    assert_int_equal(hex_digit_value('f'), 15);
}

static void test_decimal(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(decimal_parse("0", 1, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(decimal_parse("65535", 5, 65535, &v), 0);
    assert_int_equal(v, 65535);
    assert_int_equal(decimal_parse("18446744073709551615", 20, UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    v = 7;
    const char *bad[] = {"", "65536", "-1", "+1", " 1", "1 ", "1a", "0x1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (decimal_parse(bad[i], strlen(bad[i]), 65535, &v) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
    }
    assert_int_equal(decimal_parse("18446744073709551616", 20, UINT64_MAX, &v), -1);
    assert_int_equal(v, 7); /* untouched on failure */
    /* Only len bytes are read. */
    assert_int_equal(decimal_parse("12x", 2, 100, &v), 0);
    assert_int_equal(v, 12);
    /* A maximum below 9: a larger digit is refused, not wrapped around. */
    assert_int_equal(decimal_parse("1", 1, 1, &v), 0);
    assert_int_equal(decimal_parse("2", 1, 1, &v), -1);
    assert_int_equal(decimal_parse("9", 1, 0, &v), -1);
    assert_int_equal(decimal_parse("3", 1, 2, &v), -1);
    assert_int_equal(decimal_parse("2", 1, 2, &v), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_percent_decode_capacity),
        cmocka_unit_test(test_percent_decode_malformed),
        cmocka_unit_test(test_percent_decode_measure),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_decimal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
