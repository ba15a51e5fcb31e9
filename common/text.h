#ifndef STARLING_TEXT_H
#define STARLING_TEXT_H

/* Small text codecs every part needs: hex digits, percent-escapes, decimal numbers; and a
 * list of owned strings built with printf formats. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The value of one hex digit (either case), or -1. */
int hex_digit_value(char c);

/* Writes 2 * len lowercase hex digits of bytes at out (no NUL). */
void hex_encode(const uint8_t *bytes, size_t len, char *out);

/* Reads exactly 2 * len hex digits (either case) into out. Returns 0 or -1. */
int hex_decode(const char *text, size_t len, uint8_t *out);

/*
 * Percent-decodes len bytes of in, writing at most outcap bytes (out may be NULL when
 * outcap is 0) but checking every escape. '+' stays a plus. Returns the full decoded
 * length, which may exceed outcap (so a caller learns that a value is too long without a
 * second pass), or -1 on a malformed escape.
 */
ssize_t percent_decode_measure(const char *in, size_t len, uint8_t *out, size_t outcap);

/* The same, but a result longer than outcap is an error too: the decoded length or -1. */
ssize_t percent_decode(const char *in, size_t len, uint8_t *out, size_t outcap);

/*
 * Parses len decimal digits (no sign, no spaces, at least one) into a value no larger
 * than max. Returns 0, or -1 (*out untouched).
 */
int decimal_parse(const char *s, size_t len, uint64_t max, uint64_t *out);

/* A growable list of owned, NUL-terminated strings (the arguments of a script call). */
struct str_list {
    char **items;
    size_t n, cap;
};

/* Appends the printf-formatted text (at most STR_LIST_ITEM_MAX - 1 bytes; longer is cut). */
#define STR_LIST_ITEM_MAX 96
void str_list_addf(struct str_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Frees every item and the list's array; the list is then empty. */
void str_list_free(struct str_list *l);

#endif
