#ifndef STARLING_UDP_PROTO_H
#define STARLING_UDP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frontend/request.h"

/*
 * BEP 15 packets: parsing requests and building replies. Pure: no sockets, no allocation.
 * All integers on the wire are big-endian.
 */
#define UDP_PROTOCOL_ID 0x41727101980ULL
#define UDP_ACTION_CONNECT 0
#define UDP_ACTION_ANNOUNCE 1
#define UDP_ACTION_SCRAPE 2
#define UDP_ACTION_ERROR 3

#define UDP_CONNECT_LEN 16    /* connect request */
#define UDP_ANNOUNCE_LEN 98   /* announce request without BEP 41 options */
#define UDP_SCRAPE_MIN_LEN 36 /* scrape request with one info_hash */
#define UDP_SCRAPE_MAX_HASHES 74
#define UDP_URL_DATA_MAX 255 /* longest BEP 41 path+query kept */

/* Why a datagram was not answered normally: the metrics' `reason` label. */
enum udp_parse_result {
    UDP_OK = 0,
    UDP_DROP_SHORT,         /* shorter than 16 bytes: not even a header; dropped */
    UDP_DROP_BAD_MAGIC,     /* connect without the protocol id; dropped */
    UDP_ERR_UNKNOWN_ACTION, /* error reply "unknown action" */
    UDP_ERR_SHORT_ANNOUNCE, /* error reply "malformed announce" */
    UDP_ERR_BAD_OPTIONS,    /* BEP 41 options run past the datagram: "malformed options" */
    UDP_ERR_BAD_PORT,       /* port 0: "invalid port" */
    UDP_ERR_BAD_EVENT,      /* event > 3: "invalid event" */
    UDP_ERR_SCRAPE_COUNT,   /* 0 or more than 74 hashes, or a partial one: "malformed scrape" */
};

/* The client-facing text of an error result (NULL for UDP_OK and the dropped ones). */
const char *udp_error_text(enum udp_parse_result r);

/* The 16-byte header every request starts with. */
struct udp_header {
    uint64_t connection_id;
    uint32_t action;
    uint32_t transaction_id;
};

/*
 * Reads the header of a datagram of len bytes. Returns UDP_OK or UDP_DROP_SHORT; for a
 * connect it also checks the protocol id (UDP_DROP_BAD_MAGIC).
 */
enum udp_parse_result udp_parse_header(const uint8_t *pkt, size_t len, struct udp_header *h);

/*
 * An announce (action 1) into req, in the protocol-neutral form HTTP uses: info_hash,
 * peer_id, downloaded, left, uploaded, event (0 none, 1 completed, 2 started, 3 stopped in
 * BEP 15's numbering, mapped to enum announce_event), ip (IPv4, 0 = none: set req->ip only
 * when non-zero), key (4 bytes), num_want (-1 or 0: the default, as numwant -1), port.
 * compact is true. BEP 41 options after byte 98 are walked: NOP (1) and EndOfOptions (0)
 * honoured, URLData (2) appended to url_data (room for UDP_URL_DATA_MAX bytes plus a NUL;
 * longer is cut), unknown types skipped by their length byte. Options that run past the
 * datagram give UDP_ERR_BAD_OPTIONS.
 */
enum udp_parse_result udp_parse_announce(const uint8_t *pkt, size_t len, struct announce_req *req,
                                         char *url_data, size_t *url_data_len);

/*
 * The passkey of BEP 41 URL data "/<passkey>/announce" (optionally followed by "?..."):
 * copies its PASSKEY_LEN bytes into passkey and returns true; false for any other path.
 */
bool udp_url_passkey(const char *url_data, size_t len, char passkey[PASSKEY_LEN]);

/*
 * A scrape (action 2): the info_hashes after the header, in order (1..74 of them; a
 * trailing partial hash is malformed). *hashes points into pkt.
 */
enum udp_parse_result udp_parse_scrape(const uint8_t *pkt, size_t len, const uint8_t **hashes,
                                       size_t *count);

/* Replies, written into out (cap bytes); each returns the length written, or 0 when cap
 * is too small. */
size_t udp_build_connect(uint8_t *out, size_t cap, uint32_t transaction_id, uint64_t connection_id);
/* peers: n compact entries of entry_len bytes each (6 for IPv4, 18 for IPv6), copied. */
size_t udp_build_announce(uint8_t *out, size_t cap, uint32_t transaction_id, uint32_t interval_s,
                          uint32_t leechers, uint32_t seeders, const uint8_t *const *peers,
                          size_t n, size_t entry_len);
/* counts: n triples (seeders, completed, leechers), in the request's order. */
size_t udp_build_scrape(uint8_t *out, size_t cap, uint32_t transaction_id,
                        const uint32_t (*counts)[3], size_t n);
size_t udp_build_error(uint8_t *out, size_t cap, uint32_t transaction_id, const char *message);

/* Most peers of a family that fit one reply in a 1500-byte MTU path: IPv4 (20-byte IP + 8
 * UDP headers, 20-byte announce header) -> (1500-28-20)/6 = 242; IPv6 (40 + 8) ->
 * (1500-48-20)/18 = 79. */
#define UDP_MAX_PEERS_V4 242
#define UDP_MAX_PEERS_V6 79

#endif
