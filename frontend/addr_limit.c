#include "frontend/addr_limit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "common/mem.h"
#include "frontend/connid.h"

/* An address and its open connections; count 0 marks a free slot. */
struct slot {
    struct addr addr;
    uint32_t count;
};

struct addr_limit {
    uint32_t limit;
    uint32_t max_addresses;
    uint32_t used;
    uint32_t mask; /* slots - 1; slots a power of two, at least twice used */
    struct slot *slots;
    uint8_t key[CONNID_KEY_LEN];
};

#define MIN_SLOTS 16u

static uint32_t slot_of(const struct addr_limit *t, const struct addr *a)
{
    uint8_t buf[1 + sizeof(a->bytes)];
    size_t len = a->family == AF_INET6 ? 16 : 4;
    buf[0] = a->family == AF_INET6 ? 6 : 4;
    memcpy(buf + 1, a->bytes, len);
    return (uint32_t)siphash24(t->key, buf, 1 + len) & t->mask;
}

/* The slot holding a, or the free slot where it would go (linear probing). */
static struct slot *find(const struct addr_limit *t, const struct addr *a)
{
    for (uint32_t i = slot_of(t, a);; i = (i + 1) & t->mask) {
        struct slot *s = &t->slots[i];
        if (s->count == 0 || addr_equal(&s->addr, a))
            return s;
    }
}

static void grow(struct addr_limit *t)
{
    struct slot *old = t->slots;
    uint32_t n = t->mask + 1;
    t->mask = 2 * n - 1;
    t->slots = xcalloc(2 * (size_t)n, sizeof(*t->slots));
    for (uint32_t i = 0; i < n; i++) {
        if (old[i].count != 0)
            *find(t, &old[i].addr) = old[i];
    }
    free(old);
}

struct addr_limit *addr_limit_new(uint32_t limit, uint32_t max_addresses)
{
    struct addr_limit *t = xcalloc(1, sizeof(*t));
    t->limit = limit;
    t->max_addresses = max_addresses;
    t->mask = MIN_SLOTS - 1;
    t->slots = xcalloc(MIN_SLOTS, sizeof(*t->slots));
    /* Without randomness the key stays zero: the table still works, only guessable. */
    if (getrandom(t->key, sizeof(t->key), 0) != (ssize_t)sizeof(t->key))
        memset(t->key, 0, sizeof(t->key));
    return t;
}

bool addr_limit_take(struct addr_limit *t, const struct addr *a)
{
    struct slot *s = find(t, a);
    if (s->count != 0) {
        if (s->count >= t->limit)
            return false;
        s->count++;
        return true;
    }
    if (t->used >= t->max_addresses || t->limit == 0)
        return false;
    /* At most half full, so probes stay short. */
    if (2 * (t->used + 1) > t->mask + 1) {
        grow(t);
        s = find(t, a);
    }
    s->addr = *a;
    s->count = 1;
    t->used++;
    return true;
}

void addr_limit_release(struct addr_limit *t, const struct addr *a)
{
    struct slot *s = find(t, a);
    if (s->count == 0 || --s->count > 0)
        return;
    t->used--;
    /* Backward-shift deletion: later entries of the probe run move up into the hole, so
     * lookups never need tombstones. */
    uint32_t hole = (uint32_t)(s - t->slots);
    for (uint32_t i = (hole + 1) & t->mask; t->slots[i].count != 0; i = (i + 1) & t->mask) {
        uint32_t home = slot_of(t, &t->slots[i].addr);
        /* Movable when its home is not in (hole, i], cyclically. */
        if (((i - home) & t->mask) >= ((i - hole) & t->mask)) {
            t->slots[hole] = t->slots[i];
            hole = i;
        }
    }
    t->slots[hole].count = 0;
}

uint32_t addr_limit_addresses(const struct addr_limit *t)
{
    return t->used;
}

uint32_t addr_limit_count(const struct addr_limit *t, const struct addr *a)
{
    return find(t, a)->count;
}

void addr_limit_free(struct addr_limit *t)
{
    if (t == NULL)
        return;
    free(t->slots);
    free(t);
}
