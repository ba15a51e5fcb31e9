#ifndef STARLING_REQUEST_H
#define STARLING_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/torrent.h"

/*
 * Parses an announce query string: the bytes after '?' (len bytes, need not be
 * NUL-terminated). Unknown parameters are ignored; one we read given twice is refused
 * ("repeated port"). '+' is a literal plus (only %XX decodes). Returns 0, or -1 with
 * *reason set to a static, client-facing failure reason.
 */
int request_parse_announce(const char *query, size_t len, struct announce_req *out,
                           const char **reason);

/*
 * Parses a scrape query: every info_hash parameter, in order, into hashes (room for max).
 * More than max is an error. *count may be 0 (a full scrape request).
 * Returns 0, or -1 with *reason set to a static failure reason.
 */
int request_parse_scrape(const char *query, size_t len, uint8_t (*hashes)[INFO_HASH_LEN],
                         size_t max, size_t *count, const char **reason);

/*
 * The first parameter called name in a query, percent-decoded into out (room for cap
 * bytes). Returns its length; -1 when absent; -2 when malformed or longer than cap.
 */
ssize_t request_query_value(const char *query, size_t len, const char *name, uint8_t *out,
                            size_t cap);

#endif
