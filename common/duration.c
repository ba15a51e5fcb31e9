#include "common/duration.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/text.h"

/*
 * Fraction digits kept per term. The largest unit is 3,600,000 ms, so seven digits already
 * resolve a millisecond; nine keep frac * unit far below UINT64_MAX.
 */
#define FRACTION_SCALE_MAX 1000000000u /* 10^9 */

struct unit {
    const char *name;
    uint64_t ms;
};

/* Matched as whole words, so "ms" is never read as "m" followed by a bad term. */
static const struct unit units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60000},
    {"h", 3600000},
};

static int fail(char *err, size_t errlen, const char *text, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "bad duration \"%s\": %s", text, why);
    return -1;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Returns the milliseconds in one unit of the len-byte name at p, or 0 if it is no unit. */
static uint64_t unit_ms(const char *p, size_t len)
{
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strlen(units[i].name) == len && memcmp(units[i].name, p, len) == 0)
            return units[i].ms;
    }
    return 0;
}

/*
 * Reads one <number><unit> term at *pos, adding its value to *total. Fractions are
 * truncated to whole milliseconds. Returns NULL, or a reason.
 */
static const char *parse_term(const char *text, size_t *pos, uint64_t *total)
{
    const char *p = text + *pos;
    uint64_t whole = 0, frac = 0, scale = 1;
    size_t i = strspn(p, "0123456789"), digits = i;

    if (i > 0 && decimal_parse(p, i, UINT64_MAX, &whole) < 0)
        return "too large";
    if (p[i] == '.') {
        for (i++; is_digit(p[i]); i++, digits++) {
            if (scale < FRACTION_SCALE_MAX) { /* later digits are below a millisecond */
                frac = frac * 10 + (uint64_t)(p[i] - '0');
                scale *= 10;
            }
        }
    }
    if (digits == 0)
        return "expected a number";

    size_t unit_start = i;
    while (p[i] != '\0' && !is_digit(p[i]) && p[i] != '.')
        i++;
    if (i == unit_start)
        return "missing unit (ms, s, m or h)";
    uint64_t unit = unit_ms(p + unit_start, i - unit_start);
    if (unit == 0)
        return "unknown unit (ms, s, m or h)";

    if (whole > UINT64_MAX / unit)
        return "too large";
    uint64_t ms = whole * unit + frac * unit / scale;
    if (ms > UINT64_MAX - *total)
        return "too large";
    *total += ms;
    *pos += i;
    return NULL;
}

static int parse(const char *text, bool zero_ok, uint64_t *out_ms, char *err, size_t errlen)
{
    uint64_t total = 0;
    size_t pos = 0;

    if (text == NULL || text[0] == '\0')
        return fail(err, errlen, "", "empty");
    /* Go accepts a sign, but no setting here means anything with a negative duration. */
    if (text[0] == '-' || text[0] == '+')
        return fail(err, errlen, text, "must be positive and unsigned");
    while (text[pos] != '\0') {
        const char *why = parse_term(text, &pos, &total);
        if (why != NULL)
            return fail(err, errlen, text, why);
    }
    if (total == 0 && !zero_ok)
        return fail(err, errlen, text, "must be at least 1ms");
    *out_ms = total;
    return 0;
}

int duration_parse_ms(const char *text, uint64_t *out_ms, char *err, size_t errlen)
{
    return parse(text, false, out_ms, err, errlen);
}

int duration_parse_ms_or_zero(const char *text, uint64_t *out_ms, char *err, size_t errlen)
{
    return parse(text, true, out_ms, err, errlen);
}
