#ifndef STARLING_FUZZ_H
#define STARLING_FUZZ_H

/*
 * What every target of tests/fuzz/ shares. A target is one LLVMFuzzerTestOneInput(): built
 * with libFuzzer in a STARLING_FUZZ build (clang), and with replay.c as its main() in every
 * build, where ctest runs it over its committed corpus.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: a violation is a finding, like a sanitizer report. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Reads every byte of [p, p + n), so ASan reports a range that is not all inside its block. */
static inline void fuzz_touch(const void *p, size_t n)
{
    const volatile uint8_t *b = p;
    uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum = (uint8_t)(sum + b[i]);
    (void)sum;
}

/* Whether [p, p + n) lies within [base, base + len). */
static inline int fuzz_within(const void *p, size_t n, const void *base, size_t len)
{
    const char *c = p, *b = base;
    return c >= b && n <= len && (size_t)(c - b) <= len - n;
}

#endif
