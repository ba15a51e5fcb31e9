#ifndef STARLING_REQUEST_H
#define STARLING_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"

#define INFO_HASH_LEN 20
#define PEER_ID_LEN 20
/* BEP 3 leaves `key` free-form; clients send 8 hex digits. Longer ones are refused. */
#define ANNOUNCE_KEY_MAX 64

enum announce_event {
    EVENT_NONE = 0, /* absent, empty, "empty" or BEP 21's "paused" */
    EVENT_STARTED = 1,
    EVENT_COMPLETED = 2,
    EVENT_STOPPED = 3,
};

/* An address the client named in the query (BEP 3 ip=, BEP 7 ipv4= / ipv6=). */
struct named_endpoint {
    bool present;
    struct addr addr;
    uint16_t port; /* 0: the announce's port */
};

/*
 * A parsed announce, independent of the protocol that carried it (HTTP now, UDP later).
 * Filled by request_parse_announce(); no pointers into the query survive.
 */
struct announce_req {
    uint8_t info_hash[INFO_HASH_LEN];
    uint8_t peer_id[PEER_ID_LEN];
    uint16_t port;
    uint64_t uploaded, downloaded, left;
    enum announce_event event;
    int32_t numwant; /* -1 when not given (or negative): the configured default */
    bool compact;    /* true unless compact=0 */
    bool no_peer_id;
    uint8_t key[ANNOUNCE_KEY_MAX];
    size_t key_len;
    /* Honoured only with allow_ip_spoofing (peer_addr.c decides). An ip= that is not
     * a literal address (BEP 3 allows a DNS name) is ignored, never looked up. */
    struct named_endpoint ip, ipv4, ipv6;
};

/*
 * Parses an announce query string: the bytes after '?' (len bytes, need not be
 * NUL-terminated). Unknown parameters are ignored; for repeated ones the first wins.
 * '+' is a literal plus (only %XX decodes). Returns 0, or -1 with *reason set to a
 * static, client-facing failure reason.
 */
int request_parse_announce(const char *query, size_t len, struct announce_req *out,
                           const char **reason);

/*
 * Parses a scrape query: every info_hash parameter, in order, into hashes (room for max).
 * More than max is an error. *count may be 0 (a full scrape request).
 * Returns 0, or -1 with *reason set to a static failure reason.
 */
int request_parse_scrape(const char *query, size_t len, uint8_t (*hashes)[INFO_HASH_LEN], size_t max,
                         size_t *count, const char **reason);

/*
 * Percent-decodes len bytes of in into out (room for outcap bytes). Returns the decoded
 * length, or -1 on a malformed escape or when out is too small.
 */
ssize_t percent_decode(const char *in, size_t len, uint8_t *out, size_t outcap);

#endif
