#ifndef STARLING_TORRENT_H
#define STARLING_TORRENT_H

/*
 * The words every part of starling shares: a torrent's and a peer's identity, the
 * addresses a peer is given out under, and an announce as the tracker sees it, whichever
 * protocol carried it. Plain data, no functions.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

#define INFO_HASH_LEN 20
#define PEER_ID_LEN 20
/* A private tracker's key in the path (Gazelle's torrent_pass, Ocelot's site and report
 * passwords): exactly this many [0-9A-Za-z]. */
#define PASSKEY_LEN 32
/* A client's User-Agent as kept for a private site's peer records: longer ones are cut. */
#define USER_AGENT_MAX 64
/* BEP 3 leaves `key` free-form; clients send 8 hex digits. Longer ones are refused. */
#define ANNOUNCE_KEY_MAX 64

#define COMPACT_V4_LEN 6  /* 4-byte address + 2-byte port, network order (BEP 23) */
#define COMPACT_V6_LEN 18 /* 16-byte address + 2-byte port (BEP 7) */

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
 * A parsed announce, independent of the protocol that carried it (HTTP or UDP). Holds no
 * pointers into the request it came from.
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
    /* Honoured only with allow_ip_spoofing (frontend/peer_addr.c decides). An ip= that is
     * not a literal address (BEP 3 allows a DNS name) is ignored, never looked up. */
    struct named_endpoint ip, ipv4, ipv6;
    /* Private mode: the key of /<passkey>/announce (HTTP path, or BEP 41 URL data). */
    bool has_passkey;
    char passkey[PASSKEY_LEN];
    /* HTTP's User-Agent (printable ASCII, others as '?'; cut at USER_AGENT_MAX), for a
     * private site's peer records; empty over UDP. */
    char user_agent[USER_AGENT_MAX];
    size_t user_agent_len;
};

/* The addresses a peer is given out under, in compact form. At least one is present. */
struct peer_endpoints {
    bool has_v4, has_v6;
    uint8_t v4[COMPACT_V4_LEN];
    uint8_t v6[COMPACT_V6_LEN];
};

#endif
