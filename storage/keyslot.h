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

#endif
