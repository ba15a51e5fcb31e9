#ifndef STARLING_MEM_H
#define STARLING_MEM_H

#include <stddef.h>

/*
 * The out-of-memory policy, for every binary: allocation failure aborts the process, here
 * and nowhere else (as redis zmalloc and h2o_mem_alloc do). Memory is bounded by limits
 * (connections, calls in flight, batch sizes), so a failed malloc means the process is
 * already past what it was sized for; recovering on every path would be code that never
 * runs. Callers of these never check for NULL. A library constructor that fails only for
 * want of memory (event_new, evbuffer_new, evhttp_new, redisAsyncConnect) goes through
 * xcheck() and aborts the same way. Writes into libevent buffers (evbuffer_add) are not
 * checked one by one: past a failed one the process is about to abort anyway.
 */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
/* n * size overflow aborts too. */
void *xreallocarray(void *p, size_t n, size_t size);

/* Returns p, a library's fresh object; NULL (its allocation failed) aborts. */
void *xcheck(void *p);

#endif
