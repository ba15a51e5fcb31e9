#include "common/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

int hex_digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void hex_encode(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
}

int hex_decode(const char *text, size_t len, uint8_t *out)
{
    for (size_t i = 0; i < len; i++) {
        int hi = hex_digit_value(text[2 * i]), lo = hex_digit_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

ssize_t percent_decode_measure(const char *in, size_t len, uint8_t *out, size_t outcap)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++, n++) {
        uint8_t c = (uint8_t)in[i];
        if (c == '%') {
            if (len - i < 3)
                return -1;
            int hi = hex_digit_value(in[i + 1]), lo = hex_digit_value(in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (uint8_t)(hi << 4 | lo);
            i += 2;
        }
        if (n < outcap)
            out[n] = c;
    }
    return (ssize_t)n;
}

ssize_t percent_decode(const char *in, size_t len, uint8_t *out, size_t outcap)
{
    ssize_t n = percent_decode_measure(in, len, out, outcap);
    if (n < 0 || (size_t)n > outcap)
        return -1;
    return n;
}

int decimal_parse(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (d > max || v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

void str_list_addf(struct str_list *l, const char *fmt, ...)
{
    if (l->n == l->cap)
        l->items = xreallocarray(l->items, l->cap = l->cap ? 2 * l->cap : 16, sizeof(*l->items));
    char buf[STR_LIST_ITEM_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    l->items[l->n++] = xcheck(strdup(buf));
}

void str_list_free(struct str_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    *l = (struct str_list){0};
}
