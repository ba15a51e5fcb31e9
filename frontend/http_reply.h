#ifndef STARLING_HTTP_REPLY_H
#define STARLING_HTTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/torrent.h"
#include "storage/swarm.h"

struct fullscrape_snapshot;

struct evbuffer;

/*
 * The bytes of HTTP tracker replies: the response head, and the bencoded bodies of BEP 3
 * (peer lists as BEP 23 compact strings with BEP 7's peers6, or as dictionaries) and of
 * scrapes (BEP 48). Encoders only: what a reply carries is decided by the caller (and
 * frontend/tracker.c). Failure bodies are bencode_failure() (frontend/bencode.h).
 */

/* Room for the longest head http_reply_head() writes. */
#define HTTP_REPLY_HEAD_MAX 256

/* The Connection header of a reply: none (HTTP/1.1 keep-alive), close, or keep-alive (what
 * an HTTP/1.0 client must be told). */
enum http_connection { HTTP_CONNECTION_NONE, HTTP_CONNECTION_CLOSE, HTTP_CONNECTION_KEEP_ALIVE };

/* The reason phrase of a status this server sends. */
const char *http_status_text(int status);

/*
 * "HTTP/1.1 <status> <reason>", Content-Type: text/plain, Content-Length: body_len, the
 * Connection header, "Allow: GET" with a 405, and the blank line. Returns its length.
 */
size_t http_reply_head(char out[HTTP_REPLY_HEAD_MAX], int status, size_t body_len,
                       enum http_connection connection);

/* How an announce reply lists peers: the request's options and the tracker's families. */
struct http_peer_list {
    bool compact;    /* "peers" and "peers6" strings (BEP 23, BEP 7), else dictionaries */
    bool no_peer_id; /* dictionaries without "peer id" */
    bool v4, v6;     /* which addresses to list (a peer may have one of each) */
};

/* d8:completei..e10:incompletei..e8:intervali..e12:min intervali..e<peers>e */
void http_reply_announce(struct evbuffer *out, const struct announce_reply *r, uint64_t interval_s,
                         uint64_t min_interval_s, const struct http_peer_list *list);

/*
 * Sorts hashes[0, n) and drops repeats, as the keys of the reply's files dictionary must
 * be (bencode keys are sorted and distinct). Returns how many remain (n = 0: 0).
 */
size_t http_scrape_keys(uint8_t (*hashes)[INFO_HASH_LEN], size_t n);

/* d5:filesd<hash>d8:completei..e10:downloadedi..e10:incompletei..ee...ee, with counts[i]
 * for hashes[i], which must be http_scrape_keys() order. */
void http_reply_scrape(struct evbuffer *out, const uint8_t (*hashes)[INFO_HASH_LEN],
                       const struct scrape_counts *counts, size_t n);

/* d5:files<files>e around the aggregator's bencoded dictionary; files NULL: an empty one. */
void http_reply_full_scrape(struct evbuffer *out, struct fullscrape_snapshot *s);

#endif
