#ifndef STARLING_TABLE_ENTRIES_H
#define STARLING_TABLE_ENTRIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/tables.h"

/*
 * What each shared table is (storage/tables.h) and the forms its entries take: as text in
 * Redis, and as the binary keys and values a replica keeps. Pure; storage/tables.c's.
 */

/* The longest key and value a keyed table has (TABLE_USERS' passkey; a table_torrent). */
#define TABLE_KEY_MAX PASSKEY_LEN
#define TABLE_VALUE_MAX sizeof(struct table_torrent)

struct table_desc {
    const char *name, *key;
    bool hash;               /* a Redis HASH (field -> value), else a SET */
    size_t key_len, val_len; /* the replica's binary key and value (TABLE_CLIENTS: a list) */
};

extern const struct table_desc tables_desc[TABLE_COUNT];

/* The binary key of member (a field, for hashes) of table id (not TABLE_CLIENTS), into
 * key (TABLE_KEY_MAX bytes); returns 0 or -1. */
int table_parse_member(enum table_id id, const char *m, size_t len, uint8_t *key);

/* TABLE_SETTINGS' one field: "announce_interval" -> seconds (1..TABLES_ANNOUNCE_MAX_S),
 * into *ms. Returns 0 or -1. */
int table_parse_setting(const char *field, size_t len, const char *v, size_t vlen, uint64_t *ms);

/* The binary value (TABLE_VALUE_MAX bytes) of a hash table's value text; 0 or -1. */
int table_parse_value(enum table_id id, const char *v, size_t len, uint8_t *out);

/* The arguments of one lua/table_change.lua call: its 3 KEYS, the table's name, the
 * operation's name, then args[0..n). */
#define TABLE_CHANGE_ARGS_MAX (5 + TABLES_CHANGE_BATCH)

/*
 * Fills argv/lens (TABLE_CHANGE_ARGS_MAX) for op on n (1..TABLES_CHANGE_BATCH) arguments of
 * table id (see tables_change()). Returns the count, or -1 for a change the table does not
 * take (a set's PATCH, an odd count of pairs).
 */
int table_change_args(enum table_id id, enum table_op op, const char *const *args, size_t n,
                      const char **argv, size_t *lens);

#endif
