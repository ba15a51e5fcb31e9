#ifndef STARLING_KEYED_TABLE_H
#define STARLING_KEYED_TABLE_H

#include <stddef.h>
#include <stdint.h>

/*
 * A hash table of fixed-size binary keys and values (a set when values are 0 bytes):
 * open addressing, linear probing, tombstones. Kept between a quarter and half full
 * (counting tombstones), so an entry costs 2 to 4 slots of 1 + key_len + val_len bytes.
 * Values sit unaligned in their slots: copy them out. One owner, no locking.
 */
struct keyed {
    uint8_t *slots;         /* the state, the key, the value, per slot */
    size_t cap, used, gone; /* cap: a power of two, or 0 */
    size_t key_len, stride;
    size_t max; /* entries it takes at most */
    uint64_t seed;
};

/* An empty table (no memory until the first put); seed varies the hash per process. */
void keyed_init(struct keyed *s, size_t key_len, size_t val_len, size_t max, uint64_t seed);

/* The value stored under key (key_len bytes; for a set, a pointer to no bytes), or NULL;
 * valid until the next put, del or clear. */
const uint8_t *keyed_get(const struct keyed *s, const uint8_t *key);

/* Sets key's value (val_len bytes from val; NULL for a set). Returns 0, or -1 when the table holds
 * max entries already and key is new. */
int keyed_put(struct keyed *s, const uint8_t *key, const uint8_t *val);

void keyed_del(struct keyed *s, const uint8_t *key);

/* Frees the slots; the table stays usable (empty). */
void keyed_clear(struct keyed *s);

#endif
