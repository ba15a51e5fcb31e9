#ifndef STARLING_RANDOM_H
#define STARLING_RANDOM_H

#include <stdint.h>

/*
 * A fast, per-process pseudo-random stream (xorshift64*, seeded from the clock and the pid
 * on first use): where a reply's window of peers starts. Not for anything secret.
 */
uint64_t random_u64(void);

#endif
