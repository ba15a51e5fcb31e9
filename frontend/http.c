/*
 * A small HTTP/1.x server for tracker requests, on plain libevent events and evbuffers.
 *
 * Trackers see one kind of traffic: short GETs, answered from one storage call each.
 * So this server parses a request only once its headers are complete, handles one
 * request per connection at a time (pipelined ones wait in the input buffer, and are
 * answered in order), and writes each reply with a Content-Length. Anything malformed
 * gets a clean 4xx and the connection is closed; nothing a client sends can crash it.
 *
 * Ownership: a connection is freed by conn_close() unless a storage call is in flight;
 * then it is only marked closed, and the storage callback frees it.
 */
#include "frontend/http.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>

#include "common/addr.h"
#include "frontend/bencode.h"
#include "frontend/http_parse.h"
#include "frontend/http_reply.h"
#include "common/clock.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/mem.h"
#include "frontend/stats.h"
#include "frontend/request.h"

/* Stop answering pipelined requests while this much output is waiting for the client. */
#define OUTPUT_HIGH_WATER (64 * 1024)
/* Stop reading while this much input waits behind the request being answered. */
#define READ_HIGH_WATER(srv) ((size_t)(srv)->cfg->http_max_request_bytes * 4)

struct http_server {
    struct event_base *base;
    const struct config *cfg;
    struct tracker *tracker;
    struct evconnlistener *listeners[CONFIG_MAX_LISTEN];
    size_t nlisteners;
    uint32_t nconns;
    bool listeners_paused; /* http_listen_limit reached */
    const struct timeval *request_timeout; /* libevent common timeouts: O(1) add/del */
    const struct timeval *read_timeout;
    const struct timeval *write_timeout;
    struct evbuffer *body;                 /* scratch for the reply being built */
    struct http_conn *conns;               /* open connections, to close at shutdown */
    bool draining;                         /* http_server_drain() was called */
    struct event *drained_ev;              /* fires drained_cb once no connection is left */
    void (*drained_cb)(void *);
    void *drained_arg;
};

struct http_conn {
    struct http_server *srv;
    struct http_conn *prev, *next; /* srv->conns, while the socket is open */
    evutil_socket_t fd;      /* -1 once the socket is closed */
    struct event read_ev;    /* persistent; its timeout is http_read_timeout */
    struct event write_ev;   /* added only while output waits for the client */
    bool reading, writing;   /* whether read_ev / write_ev are added */
    struct evbuffer *in, *out;
    struct addr client;      /* socket peer, v4-mapped unmapped */
    bool client_trusted;     /* from trusted_proxies: real_ip_header is honoured */
    struct event request_timer;
    bool request_timer_armed;
    bool busy;              /* a storage call is in flight */
    bool close_after_write; /* close once the output is flushed */
    bool eof;               /* the client half-closed: answer what it sent, then close */
    bool last_request;      /* the request being answered closes the connection */
    /* The request being answered. */
    bool keep_alive;
    bool http10; /* keep-alive must then be said explicitly */
    struct http_peer_list peer_list; /* an announce's: the request's options, the families */
    enum stat_endpoint endpoint; /* for the metrics: what it asked for ... */
    const char *failure;         /* ... the failure reason it gets, if any ... */
    uint64_t started_us;         /* ... and when its headers were complete */
    uint8_t (*scrape_hashes)[INFO_HASH_LEN]; /* allocated on a connection's first scrape */
};

static void conn_process_input(struct http_conn *c);

/* ---- connection lifetime ---- */

/* At http_listen_limit connections, new ones wait in the kernel's backlog. */
static void pause_listeners(struct http_server *srv, bool pause)
{
    for (size_t i = 0; i < srv->nlisteners; i++) {
        if (pause)
            evconnlistener_disable(srv->listeners[i]);
        else
            evconnlistener_enable(srv->listeners[i]);
    }
    srv->listeners_paused = pause;
}

static void conn_free(struct http_conn *c)
{
    free(c->scrape_hashes);
    free(c);
}

/* Closes the socket now; frees the connection unless storage still owes it an answer. */
static void conn_close(struct http_conn *c)
{
    struct http_server *srv = c->srv;
    if (c->fd >= 0) {
        event_del(&c->read_ev);
        event_del(&c->write_ev);
        evutil_closesocket(c->fd);
        c->fd = -1;
        evbuffer_free(c->in);
        evbuffer_free(c->out);
        c->in = c->out = NULL;
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            srv->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        if (c->request_timer_armed)
            event_del(&c->request_timer);
        c->request_timer_armed = false;
        srv->nconns--;
        frontend_stats.connections_open--;
        if (srv->draining && srv->conns == NULL)
            event_active(srv->drained_ev, 0, 0); /* not from here: callers still hold c */
        if (!srv->draining && srv->listeners_paused && srv->nconns < srv->cfg->http_listen_limit)
            pause_listeners(srv, false);
    }
    if (!c->busy)
        conn_free(c);
}

static void on_request_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    (void)fd, (void)what;
    c->request_timer_armed = false;
    log_debug("http: request not complete within http_request_timeout, closing");
    conn_close(c);
}

/* ---- writing replies ---- */

/* Counts the reply about to be sent in the metrics, by endpoint and result class. */
static void count_reply(struct http_conn *c, int status)
{
    enum stat_result result = STAT_OK;
    if (status == 404)
        result = STAT_NOT_FOUND;
    else if (status != 200)
        result = STAT_BAD_HTTP;
    else if (c->failure == TRACKER_STORAGE_FAILURE)
        result = STAT_STORAGE_ERROR;
    else if (c->failure != NULL)
        result = STAT_BAD_PARAMS;
    frontend_stats.requests[c->endpoint][result]++;
    if (c->endpoint != STAT_OTHER && c->started_us != 0)
        latency_observe(&frontend_stats.latency[c->endpoint],
                        (double)(clock_monotonic_us() - c->started_us) / 1e6);
    c->endpoint = STAT_OTHER;
    c->failure = NULL;
    c->started_us = 0;
}

/* Sends status + headers + srv->body (emptied). Closing statuses end the connection. */
static void conn_send(struct http_conn *c, int status)
{
    count_reply(c, status);
    struct evbuffer *body = c->srv->body;
    if (c->fd < 0) {
        evbuffer_drain(body, evbuffer_get_length(body));
        return;
    }
    struct evbuffer *out = c->out;
    if (http_status_closes(status))
        c->close_after_write = true;
    if (!c->keep_alive)
        c->close_after_write = true;
    enum http_connection connection = c->close_after_write ? HTTP_CONNECTION_CLOSE
                                       : c->http10        ? HTTP_CONNECTION_KEEP_ALIVE
                                                          : HTTP_CONNECTION_NONE;
    char head[HTTP_REPLY_HEAD_MAX];
    evbuffer_add(out, head, http_reply_head(head, status, evbuffer_get_length(body), connection));
    evbuffer_add_buffer(out, body);
}

static void send_failure(struct http_conn *c, int status, const char *reason)
{
    c->failure = reason;
    bencode_failure(c->srv->body, reason);
    conn_send(c, status);
}

/*
 * Ends every turn of a connection (a read, a write, a storage answer): writes what is
 * pending right away (no write event unless the socket is full), then closes the
 * connection if it is done. Returns false when the connection is gone.
 */
static bool conn_settle(struct http_conn *c)
{
    if (c->fd < 0)
        return false;
    if (evbuffer_get_length(c->out) > 0 && evbuffer_write(c->out, c->fd) < 0 &&
        errno != EAGAIN && errno != EINTR) {
        conn_close(c);
        return false;
    }
    if (evbuffer_get_length(c->out) > 0) {
        if (!c->writing)
            event_add(&c->write_ev, c->srv->write_timeout);
        c->writing = true;
        return true;
    }
    if (c->writing)
        event_del(&c->write_ev);
    c->writing = false;
    /* After a half-close, once no request is in flight everything sent was answered. */
    if (c->eof && !c->busy)
        c->close_after_write = true;
    if (c->close_after_write && !c->busy) {
        conn_close(c);
        return false;
    }
    return true;
}

/* After a storage answer: go on with pipelined input, then settle. */
static void conn_request_done(struct http_conn *c)
{
    c->busy = false;
    if (c->fd < 0) {
        conn_free(c);
        return;
    }
    if (!c->close_after_write)
        conn_process_input(c);
    conn_settle(c);
}

/* Answers a storage failure (the client is told to retry). Returns whether there was one. */
static bool storage_failed(struct http_conn *c, bool failed, const char *what, const char *err)
{
    if (!failed)
        return false;
    log_debug("%s failed: %s", what, err);
    send_failure(c, 200, TRACKER_STORAGE_FAILURE);
    conn_request_done(c);
    return true;
}

static void on_announce_done(void *arg, const struct announce_reply *r, const char *err)
{
    struct http_conn *c = arg;
    const struct config *cfg = c->srv->cfg;
    if (storage_failed(c, r == NULL, "announce", err))
        return;
    http_reply_announce(c->srv->body, r, cfg->announce_ms / 1000, cfg->min_announce_ms / 1000,
                        &c->peer_list);
    conn_send(c, 200);
    conn_request_done(c);
}

static void on_scrape_done(void *arg, const struct scrape_counts *counts, size_t n,
                           const char *err)
{
    struct http_conn *c = arg;
    if (storage_failed(c, counts == NULL, "scrape", err))
        return;
    http_reply_scrape(c->srv->body, (const uint8_t(*)[INFO_HASH_LEN])c->scrape_hashes, counts,
                      n);
    conn_send(c, 200);
    conn_request_done(c);
}

static void on_fullscrape_done(void *arg, const char *files, size_t len, const char *err)
{
    struct http_conn *c = arg;
    if (storage_failed(c, err != NULL, "full scrape", err))
        return;
    http_reply_full_scrape(c->srv->body, files, len);
    conn_send(c, 200);
    conn_request_done(c);
}

/* ---- handling one parsed request ---- */

/* A reply lists peers of both families, and as many as asked. */
static const struct tracker_wire http_wire = {
    .one_family = false,
    .max_peers_v4 = UINT32_MAX,
    .max_peers_v6 = UINT32_MAX,
};

static void handle_announce(struct http_conn *c, const char *query, size_t query_len,
                            const struct addr *client)
{
    struct announce_req req;
    const char *reason = NULL;
    if (request_parse_announce(query, query_len, &req, &reason) < 0) {
        send_failure(c, 200, reason);
        return;
    }
    struct tracker_reply_peers peers;
    if (tracker_announce(c->srv->tracker, &req, client, &http_wire, &peers, on_announce_done, c,
                         &reason) < 0) {
        send_failure(c, 200, reason);
        return;
    }
    c->peer_list = (struct http_peer_list){req.compact, req.no_peer_id, peers.v4, peers.v6};
    c->busy = true;
}

static void handle_scrape(struct http_conn *c, const char *query, size_t query_len)
{
    const struct config *cfg = c->srv->cfg;
    if (c->scrape_hashes == NULL)
        c->scrape_hashes = xcalloc(cfg->max_scrape_hashes, sizeof(*c->scrape_hashes));
    const char *reason = NULL;
    size_t n = 0;
    if (request_parse_scrape(query, query_len, c->scrape_hashes, cfg->max_scrape_hashes, &n,
                             &reason) < 0) {
        send_failure(c, 200, reason);
        return;
    }
    if (n == 0) {
        if (!cfg->allow_full_scrape) {
            send_failure(c, 200, "full scrape is disabled");
            return;
        }
        /* Walking every swarm is no per-request job for a stateless frontend: the
         * aggregator writes a snapshot each pass, and this is one GET of it. */
        if (tracker_full_scrape(c->srv->tracker, on_fullscrape_done, c, &reason) < 0) {
            send_failure(c, 200, reason);
            return;
        }
        c->busy = true;
        return;
    }
    /* Bencode wants dictionary keys sorted, and a hash asked twice is answered once. */
    size_t unique = http_scrape_keys(c->scrape_hashes, n);
    const uint8_t(*hashes)[INFO_HASH_LEN] = (const uint8_t(*)[INFO_HASH_LEN])c->scrape_hashes;
    if (tracker_scrape(c->srv->tracker, hashes, unique, on_scrape_done, c, &reason) < 0) {
        send_failure(c, 200, reason);
        return;
    }
    c->busy = true;
}

/* A refusal: its status, its failure reason, and (for all but 404) Connection: close. */
static void refuse(struct http_conn *c, int status)
{
    send_failure(c, status, http_refusal_reason(status));
}

/* The address the announce is from: real_ip_header's, when the socket peer is trusted. */
static struct addr client_address(const struct http_conn *c, const struct http_head *h)
{
    struct addr client = c->client;
    if (c->client_trusted && h->real_ip != NULL)
        http_real_ip(h->real_ip, h->real_ip_len, &client);
    return client;
}

/* Answers (or starts answering) the complete request in data[0, len). */
static void conn_handle(struct http_conn *c, const char *data, size_t len)
{
    struct http_head h;
    struct http_target t;
    c->keep_alive = false; /* until we know the version */
    c->started_us = clock_monotonic_us();
    if (http_parse_head(data, len, c->srv->cfg->real_ip_header, &h) < 0) {
        refuse(c, 400);
        return;
    }
    c->http10 = h.minor_version == 0;
    c->keep_alive = http_keep_alive(&h);
    c->last_request = !c->keep_alive;
    int status = http_route_request(&h, &t);
    if (status != 0) {
        refuse(c, status);
        return;
    }
    c->endpoint = t.route == HTTP_ROUTE_ANNOUNCE ? STAT_ANNOUNCE
                  : t.route == HTTP_ROUTE_SCRAPE ? STAT_SCRAPE
                                                 : STAT_OTHER;
    switch (t.route) {
    case HTTP_ROUTE_ANNOUNCE: {
        struct addr client = client_address(c, &h);
        handle_announce(c, t.query, t.query_len, &client);
        break;
    }
    case HTTP_ROUTE_SCRAPE:
        handle_scrape(c, t.query, t.query_len);
        break;
    case HTTP_ROUTE_NOT_FOUND:
        evbuffer_add(c->srv->body, "not found\n", 10);
        conn_send(c, 404);
        break;
    }
}

static void conn_process_input(struct http_conn *c)
{
    const size_t limit = c->srv->cfg->http_max_request_bytes;
    while (c->fd >= 0 && !c->busy && !c->close_after_write) {
        struct evbuffer *in = c->in;
        if (evbuffer_get_length(c->out) > OUTPUT_HIGH_WATER)
            break; /* resumed by the write callback */
        size_t len = evbuffer_get_length(in);
        if (len == 0) {
            if (c->request_timer_armed)
                event_del(&c->request_timer);
            c->request_timer_armed = false;
            break;
        }
        size_t look = len < limit ? len : limit;
        const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
        size_t hdr_len = http_head_length(data, look);
        if (hdr_len == 0) {
            if (len >= limit) {
                c->keep_alive = false;
                refuse(c, http_too_large_status(data, look));
            } else if (!c->request_timer_armed) {
                event_add(&c->request_timer, c->srv->request_timeout);
                c->request_timer_armed = true;
            }
            break;
        }
        if (c->request_timer_armed)
            event_del(&c->request_timer);
        c->request_timer_armed = false;
        conn_handle(c, data, hdr_len); /* never closes: only marks */
        evbuffer_drain(in, hdr_len);
    }
    /* Reading resumes unless the client queued too much ahead of its answers, or the
     * request being answered closes the connection: its client sends no more, and not
     * watching the socket saves two epoll_ctl calls per such request. */
    if (c->fd >= 0 && !c->reading && !c->eof && !c->last_request &&
        evbuffer_get_length(c->in) < READ_HIGH_WATER(c->srv)) {
        event_add(&c->read_ev, c->srv->read_timeout);
        c->reading = true;
    }
}

/* ---- socket events ---- */

#define READ_CHUNK 16384

/* Reads what the socket has (no FIONREAD ioctl, unlike evbuffer_read()). Returns the
 * bytes read, 0 at end of stream, -1 when nothing is there now or on error (errno). */
static ssize_t read_some(struct http_conn *c)
{
    struct evbuffer_iovec vec;
    if (evbuffer_reserve_space(c->in, READ_CHUNK, &vec, 1) < 1) {
        errno = ENOMEM;
        return -1;
    }
    ssize_t n = recv(c->fd, vec.iov_base, READ_CHUNK, 0);
    if (n > 0) {
        vec.iov_len = (size_t)n;
        evbuffer_commit_space(c->in, &vec, 1);
    }
    return n;
}

/* Closes the connection when its read or write event timed out. Returns whether it did. */
static bool conn_timed_out(struct http_conn *c, short what, const char *why)
{
    if (!(what & EV_TIMEOUT))
        return false;
    log_debug("http: %s, closing", why);
    conn_close(c);
    return true;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    (void)fd;
    if (conn_timed_out(c, what, "connection idle past http_read_timeout"))
        return;
    ssize_t n = read_some(c);
    if (n == 0) {
        /* The client half-closed after sending: answer what it sent, then close. */
        c->eof = true;
        event_del(&c->read_ev);
        c->reading = false;
    } else if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            conn_close(c);
            return;
        }
    } else if (evbuffer_get_length(c->in) >= READ_HIGH_WATER(c->srv)) {
        event_del(&c->read_ev);
        c->reading = false;
    }
    conn_process_input(c);
    conn_settle(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    (void)fd;
    if (conn_timed_out(c, what, "client not reading past http_write_timeout"))
        return;
    if (!conn_settle(c) || c->writing)
        return;
    /* The output drained: pipelined requests may go on. */
    conn_process_input(c);
    conn_settle(c);
}

/* ---- accepting ---- */

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct http_server *srv = arg;
    const struct config *cfg = srv->cfg;
    (void)l, (void)salen;
    struct evbuffer *in = evbuffer_new();
    struct evbuffer *out = evbuffer_new();
    if (in == NULL || out == NULL) {
        log_error("http: out of memory accepting a connection");
        if (in != NULL)
            evbuffer_free(in);
        if (out != NULL)
            evbuffer_free(out);
        evutil_closesocket(fd);
        return;
    }
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->endpoint = STAT_OTHER; /* until a request is routed */
    c->fd = fd;
    c->in = in;
    c->out = out;
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    uint16_t port;
    if (addr_from_sockaddr(sa, &c->client, &port) < 0)
        memset(&c->client, 0, sizeof(c->client));
    for (size_t i = 0; i < cfg->n_trusted_proxies; i++)
        if (cidr_contains(&cfg->trusted_proxies[i], &c->client))
            c->client_trusted = true;
    event_assign(&c->request_timer, srv->base, -1, 0, on_request_timeout, c);

    event_assign(&c->read_ev, srv->base, fd, EV_READ | EV_PERSIST, on_read, c);
    event_assign(&c->write_ev, srv->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    frontend_stats.connections_open++;
    frontend_stats.connections_total++;
    if (++srv->nconns >= cfg->http_listen_limit && !srv->listeners_paused)
        pause_listeners(srv, true);
    /* A client sends its request right after connecting: it is usually here already,
     * and reading it now saves a trip through the event loop (and, for a request with
     * Connection: close, registering the socket for reading at all). */
    on_read(fd, EV_READ, c);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)arg, (void)l;
    int err = EVUTIL_SOCKET_ERROR();
    /* EMFILE and friends: the connection waits in the backlog; keep serving the rest. */
    log_warn("http: accept failed: %s", evutil_socket_error_to_string(err));
}

static int listen_on(struct http_server *srv, const char *text, char *err)
{
    int fd = listen_socket(text, SOCK_STREAM, "http_listen_addr", err, STARLING_ERR_LEN);
    if (fd < 0)
        return -1;
    struct evconnlistener *l =
        evconnlistener_new(srv->base, on_accept, srv, LEV_OPT_CLOSE_ON_FREE, 0, fd);
    if (l == NULL) {
        snprintf(err, STARLING_ERR_LEN, "http_listen_addr \"%s\": out of memory", text);
        close(fd);
        return -1;
    }
    evconnlistener_set_error_cb(l, on_accept_error);
    srv->listeners[srv->nlisteners++] = l;
    char where[LISTEN_TEXT_LEN];
    listen_socket_text(fd, where);
    log_info("http listening on %s", where);
    return 0;
}

struct http_server *http_server_new(struct event_base *base, const struct config *cfg,
                                    struct tracker *tracker, char *err)
{
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    if ((srv->body = evbuffer_new()) == NULL) {
        snprintf(err, STARLING_ERR_LEN, "out of memory");
        free(srv);
        return NULL;
    }
    srv->base = base;
    srv->cfg = cfg;
    srv->tracker = tracker;
    struct timeval tv = clock_ms_to_tv(cfg->http_request_timeout_ms);
    srv->request_timeout = event_base_init_common_timeout(base, &tv);
    tv = clock_ms_to_tv(cfg->http_read_timeout_ms);
    srv->read_timeout = event_base_init_common_timeout(base, &tv);
    tv = clock_ms_to_tv(cfg->http_write_timeout_ms);
    srv->write_timeout = event_base_init_common_timeout(base, &tv);
    for (size_t i = 0; i < cfg->n_http_listen_addr; i++) {
        if (listen_on(srv, cfg->http_listen_addr[i], err) < 0) {
            http_server_free(srv);
            return NULL;
        }
    }
    return srv;
}

static void on_drained(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *srv = arg;
    (void)fd, (void)what;
    if (srv->drained_cb != NULL)
        srv->drained_cb(srv->drained_arg);
}

void http_server_drain(struct http_server *srv, void (*done)(void *), void *arg)
{
    if (srv->draining)
        return;
    srv->draining = true;
    srv->drained_cb = done;
    srv->drained_arg = arg;
    srv->drained_ev = event_new(srv->base, -1, 0, on_drained, srv);
    for (size_t i = 0; i < srv->nlisteners; i++)
        evconnlistener_free(srv->listeners[i]);
    srv->nlisteners = 0;
    /* Idle connections go now; one answering a request closes after its reply. */
    struct http_conn *c = srv->conns;
    while (c != NULL) {
        struct http_conn *next = c->next;
        if (c->busy) {
            c->keep_alive = false;
            c->last_request = true;
        } else if (evbuffer_get_length(c->out) == 0) {
            conn_close(c);
        } else {
            c->close_after_write = true; /* a reply is still being written */
        }
        c = next;
    }
    if (srv->conns == NULL)
        event_active(srv->drained_ev, 0, 0);
}

bool http_server_draining(const struct http_server *srv)
{
    return srv->draining;
}

void http_server_free(struct http_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->drained_ev != NULL)
        event_free(srv->drained_ev);
    for (size_t i = 0; i < srv->nlisteners; i++)
        evconnlistener_free(srv->listeners[i]);
    srv->nlisteners = 0;
    /* Storage is closed first (main.c), so no connection still waits for an answer. */
    while (srv->conns != NULL)
        conn_close(srv->conns);
    evbuffer_free(srv->body);
    free(srv);
}
