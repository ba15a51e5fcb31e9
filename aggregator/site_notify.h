#ifndef STARLING_SITE_NOTIFY_H
#define STARLING_SITE_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "storage/gazelle_db.h"

/*
 * The one call Ocelot makes to its site: freeleech tokens used up (a token's downloads
 * past its torrent's size) are reported with
 *   GET <site_url>/tools.php?key=<site_password>&type=expiretoken&action=ocelot&tokens=uid:tid,...
 * so the site expires them (and calls remove_token back). Plain HTTP/1.0, blocking, bounded
 * by timeout_ms for the whole exchange; at most SITE_NOTIFY_TOKENS tokens per call.
 */
#define SITE_NOTIFY_TOKENS 100

/* Sends tokens[0..n) (n <= SITE_NOTIFY_TOKENS). Returns 0 when the site answered 200, or
 * -1 with err (which never holds the password). */
int site_notify_expired_tokens(const char *site_url, const char *site_password,
                               const struct gazelle_token *tokens, size_t n, uint64_t timeout_ms,
                               char *err);

/* The request line's target for tokens (into out, cap bytes), without the URL's host:
 * "<path>/tools.php?key=...". Returns its length, or 0 when it does not fit. Pure. */
size_t site_notify_target(const char *path, const char *site_password,
                          const struct gazelle_token *tokens, size_t n, char *out, size_t cap);

#endif
