#ifndef STARLING_HTTP_PARSE_H
#define STARLING_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/addr.h"
#include "common/torrent.h"

/*
 * The request side of HTTP/1.x as pure functions over bytes: where a request head ends,
 * what it says, and what is done with it (which route, which refusal, whether the
 * connection stays open). No sockets and no event loop: frontend/http.c does the I/O, and
 * every malformed case is unit-tested (tests/unit/test_http_parse.c).
 *
 * Only GETs without a body are served, so a head is all a request is; a request is parsed
 * once its head is complete.
 */

/*
 * Length of the first request head in data[0, len), up to and including the blank line
 * that ends it (lines end in CRLF or a bare LF), or 0 while it is incomplete. What follows
 * is the next pipelined request.
 */
size_t http_head_length(const char *data, size_t len);

/*
 * The refusal of len bytes (http_max_request_bytes) holding no complete head: 414 URI Too
 * Long while even the request line is unfinished, else 431 Request Header Fields Too Large.
 */
int http_too_large_status(const char *data, size_t len);

/* A parsed request head; the pointers point into the parsed bytes. */
struct http_head {
    const char *method, *target;
    size_t method_len, target_len;
    int minor_version;                /* HTTP/1.<minor_version> */
    bool conn_close, conn_keep_alive; /* tokens seen in Connection headers */
    bool has_body;                    /* a Content-Length above 0, or a Transfer-Encoding */
    const char *real_ip;              /* the real_ip_header's value (the last such header), */
    size_t real_ip_len;               /* NULL when absent */
    const char *user_agent;           /* User-Agent's value (the last one), NULL when absent */
    size_t user_agent_len;
};

/*
 * Parses the request line and the headers of a complete head (http_head_length() bytes).
 * real_ip_header names the header to keep ("" for none; case-insensitive). Returns 0, or
 * -1 when the head is malformed (400): a request line other than "METHOD SP target SP
 * HTTP/1.<digit>" with an upper-case method, a header line without a colon, with an empty
 * name or a name holding whitespace or a control byte, an obsolete folded line, or a
 * Content-Length that is not all digits.
 */
int http_parse_head(const char *data, size_t len, const char *real_ip_header, struct http_head *h);

/* Whether the connection stays open after the answer: HTTP/1.1 unless "Connection: close",
 * HTTP/1.0 only with "Connection: keep-alive". */
bool http_keep_alive(const struct http_head *h);

enum http_route {
    HTTP_ROUTE_ANNOUNCE,
    HTTP_ROUTE_SCRAPE,
    HTTP_ROUTE_UPDATE, /* /<site_password>/update: the site's update API */
    HTTP_ROUTE_REPORT, /* /<report_password>/report */
    HTTP_ROUTE_NOT_FOUND
};

/* What a request asks for; query and key point into the parsed bytes. */
struct http_target {
    enum http_route route;
    const char *query; /* after '?', may be empty */
    size_t query_len;
    const char *key; /* the PASSKEY_LEN bytes of /<key>/<action> (not checked), or NULL */
};

/*
 * Routes a parsed head. Returns 0 with *t set, or the refusal status: 405 for a method
 * other than GET, 400 for a request with a body or a target that is neither origin-form
 * (/path?query) nor absolute-form (http://host/path?query). /announce and /scrape route
 * without a key; /<key>/announce, /<key>/scrape, /<key>/update and /<key>/report (key:
 * any PASSKEY_LEN bytes but '/') with one. Paths are compared without regard to case; an
 * unknown one routes to HTTP_ROUTE_NOT_FOUND (404).
 */
int http_route_request(const struct http_head *h, struct http_target *t);

/* The failure reason a refusal (400, 405, 414, 431) carries in its bencoded body. */
const char *http_refusal_reason(int status);

/* Whether a reply with this status ends the connection: all but 200 and 404 do. */
bool http_status_closes(int status);

/*
 * The client address in a real_ip_header value: its last comma-separated entry (the one
 * the trusted proxy added), blanks trimmed. Returns 0, or -1 (out untouched) when that
 * entry is no address.
 */
int http_real_ip(const char *value, size_t len, struct addr *out);

#endif
