/* A hash table of fixed-size keys and values (common/keyed_table.h). */
#include "common/keyed_table.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

enum { SLOT_EMPTY, SLOT_USED, SLOT_GONE };

static uint64_t keyed_hash(const struct keyed *s, const uint8_t *key)
{
    uint64_t h = s->seed;
    for (size_t i = 0; i < s->key_len; i++) {
        h ^= key[i];
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 31);
}

static uint8_t *slot_at(const struct keyed *s, size_t i)
{
    return s->slots + i * s->stride;
}

/* The slot holding key, or the first free one on its probe path (NULL: cap 0). */
static uint8_t *keyed_find(const struct keyed *s, const uint8_t *key, bool for_insert)
{
    if (s->cap == 0)
        return NULL;
    uint8_t *free_slot = NULL;
    for (size_t i = keyed_hash(s, key) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        uint8_t *sl = slot_at(s, i);
        if (sl[0] == SLOT_EMPTY)
            return for_insert && free_slot != NULL ? free_slot : (for_insert ? sl : NULL);
        if (sl[0] == SLOT_GONE) {
            if (free_slot == NULL)
                free_slot = sl;
        } else if (memcmp(sl + 1, key, s->key_len) == 0) {
            return sl;
        }
    }
}

const uint8_t *keyed_get(const struct keyed *s, const uint8_t *key)
{
    const uint8_t *sl = keyed_find(s, key, false);
    return sl != NULL && sl[0] == SLOT_USED ? sl + 1 + s->key_len : NULL;
}

/* Rebuilds into a table of cap slots (dropping tombstones). */
static void keyed_rehash(struct keyed *s, size_t cap)
{
    struct keyed n = *s;
    n.slots = xcalloc(cap, s->stride);
    n.cap = cap, n.used = 0, n.gone = 0;
    for (size_t i = 0; i < s->cap; i++) {
        const uint8_t *old = slot_at(s, i);
        if (old[0] != SLOT_USED)
            continue;
        memcpy(keyed_find(&n, old + 1, true), old, s->stride);
        n.used++;
    }
    free(s->slots);
    *s = n;
}

int keyed_put(struct keyed *s, const uint8_t *key, const uint8_t *val)
{
    uint8_t *sl = keyed_find(s, key, false);
    if (sl == NULL || sl[0] != SLOT_USED) {
        if (s->used >= s->max)
            return -1;
        /* At most half full, counting tombstones: probes stay short. */
        if ((s->used + s->gone + 1) * 2 > s->cap)
            keyed_rehash(s, s->cap == 0 ? 64 : (s->used + 1) * 4 > s->cap ? s->cap * 2 : s->cap);
        sl = keyed_find(s, key, true);
        if (sl[0] == SLOT_GONE)
            s->gone--;
        sl[0] = SLOT_USED;
        memcpy(sl + 1, key, s->key_len);
        s->used++;
    }
    if (s->stride > 1 + s->key_len) /* a set has no value (val may be NULL) */
        memcpy(sl + 1 + s->key_len, val, s->stride - 1 - s->key_len);
    return 0;
}

void keyed_del(struct keyed *s, const uint8_t *key)
{
    uint8_t *sl = keyed_find(s, key, false);
    if (sl == NULL || sl[0] != SLOT_USED)
        return;
    sl[0] = SLOT_GONE;
    s->used--;
    s->gone++;
}

void keyed_clear(struct keyed *s)
{
    free(s->slots);
    s->slots = NULL;
    s->cap = s->used = s->gone = 0;
}

void keyed_init(struct keyed *s, size_t key_len, size_t val_len, size_t max, uint64_t seed)
{
    *s = (struct keyed){
        .key_len = key_len, .stride = 1 + key_len + val_len, .max = max, .seed = seed};
}
