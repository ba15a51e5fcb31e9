#ifndef STARLING_KEYSLOT_H
#define STARLING_KEYSLOT_H

#include <stddef.h>
#include <stdint.h>

#define CLUSTER_SLOTS 16384

/*
 * The Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag, the text between the
 * first '{' and the next '}' when that is not empty, else of the whole key; mod 16384.
 */
unsigned key_hash_slot(const char *key, size_t len);

/* The longest slot tag and its NUL. */
#define SLOT_TAG_MAX 5

/*
 * A short hash tag (1 to 4 of [0-9a-z]) whose key slot is slot (< CLUSTER_SLOTS): a key
 * "{<tag>}:..." lives in that slot, so a script of any swarm may also write a per-slot key
 * in its own slot. The same tag for the same slot in every process (the first such string
 * in length, then alphabetical, order); the table is built on the first call (a few ms).
 */
const char *slot_tag(unsigned slot);

#endif
