#ifndef STARLING_HTTP_INTERNAL_H
#define STARLING_HTTP_INTERNAL_H

/*
 * Inside the HTTP server (private to http.c and http_handler.c): the server and connection
 * state, and the calls between the connection's I/O (http.c) and the handling of the
 * requests it reads (http_handler.c).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event_struct.h>

#include "common/addr.h"
#include "common/config.h"
#include "common/torrent.h"
#include "frontend/http_reply.h"
#include "frontend/stats.h"
#include "frontend/tracker.h"

struct addr_limit;
struct evbuffer;
struct evconnlistener;

/* The server: its listeners and connections, and the scratch buffer replies are built in. */
struct http_server {
    struct event_base *base;
    const struct config *cfg;
    struct tracker *tracker;
    struct evconnlistener *listeners[CONFIG_MAX_LISTEN];
    size_t nlisteners;
    uint32_t nconns;
    uint32_t conn_limit;      /* http_listen_limit, fitted to the open files limit */
    bool accepting;           /* the listeners are enabled */
    bool accept_paused;       /* after an accept failure, until accept_timer fires */
    uint32_t accept_pause_ms; /* the next such pause */
    struct event *accept_timer;
    struct addr_limit *per_address;        /* counts by client address; NULL: no limit */
    const struct timeval *request_timeout; /* libevent common timeouts: O(1) add/del */
    const struct timeval *read_timeout;
    const struct timeval *write_timeout;
    struct evbuffer *body;    /* scratch for the reply being built */
    struct http_conn *conns;  /* open connections, to close at shutdown */
    bool draining;            /* http_server_drain() was called */
    struct event *drained_ev; /* fires drained_cb once no connection is left */
    void (*drained_cb)(void *);
    void *drained_arg;
};

/*
 * The timeout a connection runs, by its state: idle (nothing to write, no request in
 * progress): http_read_timeout; a request head arriving: http_request_timeout from its
 * first byte; a reply being written: none here (write_ev has http_write_timeout, which
 * starts again whenever the client takes bytes); a storage call in flight: none (storage
 * answers within redis.command_timeout).
 */
enum http_conn_timer { HTTP_TIMER_NONE, HTTP_TIMER_IDLE, HTTP_TIMER_REQUEST };

/* One client connection: its socket state, and the request being answered. */
struct http_conn {
    struct http_server *srv;
    struct http_conn *prev, *next; /* srv->conns, while the socket is open */
    evutil_socket_t fd;            /* -1 once the socket is closed */
    struct event read_ev;          /* persistent, without a timeout: see timer */
    struct event write_ev;         /* added only while output waits for the client */
    bool reading, writing;         /* whether read_ev / write_ev are added */
    char *in;                      /* bytes read, not yet answered; NULL when none */
    size_t in_start, in_len;       /* in[in_start, in_start + in_len): at most
                                      http_max_request_bytes, the buffer's size */
    struct evbuffer *out;          /* replies waiting for the client */
    struct addr client;            /* socket peer, v4-mapped unmapped */
    bool client_trusted;           /* from trusted_proxies: real_ip_header is honoured */
    struct event timer;            /* closes the connection when it fires: */
    enum http_conn_timer timer_on; /* which timeout it runs now */
    bool busy;                     /* a storage call is in flight */
    bool close_after_write;        /* close once the output is flushed */
    bool eof;                      /* the client half-closed: answer what it sent, then close */
    bool last_request;             /* the request being answered closes the connection */
    /* The request being answered. */
    bool keep_alive;
    bool http10;                     /* keep-alive must then be said explicitly */
    struct http_peer_list peer_list; /* an announce's: the request's options, the families */
    enum stat_endpoint endpoint;     /* for the metrics: what it asked for ... */
    const char *failure;             /* ... the failure reason it gets, if any ... */
    uint64_t started_us;             /* ... and when its headers were complete */
    uint8_t (*scrape_hashes)[INFO_HASH_LEN]; /* allocated on a connection's first scrape */
};

/* ---- http.c ---- */

/*
 * Queues status, headers and srv->body (emptied) on the connection's output, or drops the
 * body if the socket is closed already. Closing statuses and a request without keep-alive
 * make the connection close once the output is flushed.
 */
void http_conn_send(struct http_conn *c, int status);

/* After a storage answer: go on with pipelined input, then settle (may free c). */
void http_conn_request_done(struct http_conn *c);

/* Takes an accepted socket from client (trusted: one of trusted_proxies) as a connection. */
void http_conn_open(struct http_server *srv, evutil_socket_t fd, const struct addr *client,
                    bool trusted);

/* ---- http_accept.c ---- */

/* Fits the connection limit to the open files limit (logged) and opens every listener.
 * Returns 0, or -1 with a reason in err (STARLING_ERR_LEN bytes). */
int http_accept_start(struct http_server *srv, char *err);

/* Enables the listeners exactly while accepting is allowed: not draining, under the
 * connection limit, not pausing after an accept failure. */
void http_accept_update(struct http_server *srv);

/* Closes the listeners (draining, or freeing the server). */
void http_accept_stop(struct http_server *srv);

/* A connection closed: uncounts it from its address, and accepts again if it was at the
 * connection limit. */
void http_accept_closed(struct http_server *srv, const struct http_conn *c);

/* After the last connection closed: frees what http_accept_start() made. */
void http_accept_free(struct http_server *srv);

/* ---- http_handler.c ---- */

/* Answers (or starts answering: c->busy) the complete request head in data[0, len). Never
 * closes the connection: only marks it to be closed. */
void http_handle(struct http_conn *c, const char *data, size_t len);

/* A refusal (400, 405, 414, 431): its failure reason, and Connection: close. */
void http_refuse(struct http_conn *c, int status);

#endif
