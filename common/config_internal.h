#ifndef STARLING_CONFIG_INTERNAL_H
#define STARLING_CONFIG_INTERNAL_H

/* Shared by common/config.c (defaults, environment, checks) and common/config_json.c (the
 * file); not for other modules. */

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

/* Redis' own `databases` setting may be raised above 16, so only the wire type bounds db. */
#define REDIS_DB_MAX INT32_MAX
/* More connections than this only queue on Redis' single thread. */
#define REDIS_CONNECTIONS_MAX 64
/* redis.max_in_flight: a call costs the frontend about 1 KiB while outstanding. */
#define REDIS_IN_FLIGHT_MAX 1000000
/* A request line plus headers: below 256 no real announce fits, above 1 MiB it is abuse. */
#define HTTP_REQUEST_BYTES_MIN 256
#define HTTP_REQUEST_BYTES_MAX 1048576
#define LOG_LEVEL_HINT "expected debug, info, warn or error"
#define LISTEN_ADDR_HINT "expected host:port, [v6]:port, :port, or \"\" to disable"
/* Scans beyond this would make one SCAN call long enough to delay announces. */
#define SCAN_COUNT_MAX 100000

/*
 * Writes a reason into err (STARLING_ERR_LEN bytes; longer text is cut) and returns -1, so a
 * failure reads `return config_err(err, ...)`.
 */
int config_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Config errors name the key and the problem, never the value: a secret put under the wrong
 * key (or a typo in a secret's line) must not reach a terminal or a log. The shared parsers
 * (durations, CIDRs, listen addresses) quote the text they refused: this removes it from
 * their reason, in place (` in "TEXT"` and ` "TEXT"`), and puts fallback there instead if a
 * quote is left (a cut one).
 */
void config_reason_without_value(char *reason, const char *text, const char *fallback);

/* Copies len bytes of src and a NUL into dst (cap bytes). Returns 0, or -1 if it won't fit. */
int config_copy_str(char *dst, size_t cap, const char *src, size_t len);

bool config_is_log_level(const char *s);
/* A listen address for an auxiliary server, or "" for none. */
bool config_is_listen_addr_or_empty(const char *s);
/* Only token characters real header names use, so the value can never smuggle a CR or ':'. */
bool config_is_header_name(const char *s);
/* "" (off), or PASSKEY_LEN of [0-9A-Za-z]: a key that can stand where a passkey does. */
bool config_is_path_key_or_empty(const char *s);
#define PATH_KEY_HINT "32 characters [0-9A-Za-z], or \"\" for none"

/* Appends one listen address (len bytes, blanks around it ignored) after checking it. */
int config_add_listen_addr(char (*list)[CONFIG_ADDR_LEN], size_t *n, const char *s, size_t len,
                           const char *label, char *err);

/* Replaces a listen list with the comma-separated addresses in text ("" for none only when
 * allow_empty). label starts each error: a quoted key path or an environment variable. */
int config_set_listen_list(char (*list)[CONFIG_ADDR_LEN], size_t *n, const char *text,
                           bool allow_empty, const char *label, char *err);

#endif
