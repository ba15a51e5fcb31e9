#ifndef STARLING_NUMTEXT_H
#define STARLING_NUMTEXT_H

#include <stdint.h>
#include <string.h>

/*
 * Decimal text without printf, for the per-request paths (reply headers, Redis commands),
 * where printf showed in profiles. Header-only: each is a few instructions.
 */

/* Writes the decimal text of v at p (room for 20 bytes); returns the end. */
static inline char *put_uint(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/* Copies the string s (without its NUL) to p; returns the end. */
static inline char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

#endif
