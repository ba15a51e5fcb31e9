#ifndef STARLING_MEM_H
#define STARLING_MEM_H

#include <stddef.h>

/*
 * The out-of-memory policy, for every binary: allocation failure aborts the process, here
 * and nowhere else (as redis zmalloc and h2o_mem_alloc do). Memory is bounded by limits
 * (connections, calls in flight, batch sizes), so a failed malloc means the process is
 * already past what it was sized for; recovering on every path would be code that never
 * runs. Callers of these never check for NULL. Other libraries' allocations (libevent's
 * evbuffers, hiredis's replies) report failure by their own return values, which callers
 * handle as a failed operation.
 */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
/* n * size overflow aborts too. */
void *xreallocarray(void *p, size_t n, size_t size);

#endif
