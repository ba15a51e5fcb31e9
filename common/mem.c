#include "common/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void out_of_memory(size_t size)
{
    fprintf(stderr, "starling: out of memory (%zu bytes)\n", size);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size != 0 ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n != 0 ? n : 1, size != 0 ? size : 1);
    if (p == NULL)
        out_of_memory(n * size);
    return p;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        out_of_memory(SIZE_MAX);
    void *q = realloc(p, n * size != 0 ? n * size : 1);
    if (q == NULL)
        out_of_memory(n * size);
    return q;
}

void *xcheck(void *p)
{
    if (p == NULL)
        out_of_memory(0);
    return p;
}
