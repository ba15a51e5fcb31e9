#ifndef STARLING_DURATION_H
#define STARLING_DURATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses a Go-style duration, the format Chihaya's config used: one or more
 * <number><unit> terms, number possibly fractional, unit one of ms, s, m, h
 * ("30m", "1h30m", "1.5s", "250ms"). Zero and negative durations are refused.
 * Returns 0 with *out_ms set, or -1 with a reason in err (errlen bytes).
 */
int duration_parse_ms(const char *text, uint64_t *out_ms, char *err, size_t errlen);

/* The same, but a zero duration ("0s", "0ms") is accepted: for settings where 0 turns a
 * feature off. */
int duration_parse_ms_or_zero(const char *text, uint64_t *out_ms, char *err, size_t errlen);

#endif
