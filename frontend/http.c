/*
 * A small HTTP/1.x server for tracker requests, on plain libevent events and evbuffers.
 *
 * Trackers see one kind of traffic: short GETs, answered from one storage call each.
 * So this server parses a request only once its headers are complete, handles one
 * request per connection at a time (pipelined ones wait in the input buffer, and are
 * answered in order), and writes each reply with a Content-Length. Anything malformed
 * gets a clean 4xx and the connection is closed; nothing a client sends can crash it.
 *
 * This file is the connections: reading, writing, timeouts and shutdown. Accepting them is
 * http_accept.c's, what a request says http_parse.c's, what it gets http_handler.c's.
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

#include "common/addr.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "frontend/http_internal.h"
#include "frontend/http_parse.h"
#include "frontend/http_reply.h"
#include "frontend/stats.h"

/*
 * What a connection holds is bounded in real memory (README "Limits of a connection"):
 * its input is one buffer of http_max_request_bytes (reading stops when it is full), and
 * pipelined requests are answered only while less than OUTPUT_HIGH_WATER bytes of replies
 * wait for the client. Replies are copied into the output's buffers back to back (see
 * append_reply()), so the bytes waiting are the memory held, give or take two buffers of
 * libevent's (4 KiB each) and the one reply that went past the mark.
 */
#define OUTPUT_HIGH_WATER (8 * 1024)

/*
 * On SIGTERM a connection with nothing in progress is not closed at once: a client that
 * keeps connections open (a load balancer's pool) may have sent a request on it that has
 * not arrived yet, and would lose it to the close. For this long (at most half of
 * shutdown_timeout, at most http_read_timeout) such a connection still has a request
 * answered, with Connection: close; then it is closed.
 */
#define DRAIN_IDLE_GRACE_MS 1000

static bool conn_process_input(struct http_conn *c);

/* ---- connection lifetime ---- */

/* The input buffer goes when it is empty: an idle connection holds none. */
static void conn_free_input(struct http_conn *c)
{
    free(c->in);
    c->in = NULL;
    c->in_start = c->in_len = 0;
}

static void conn_free(struct http_conn *c)
{
    free(c->scrape_hashes);
    free(c);
}

/* Runs the timeout of the connection's state (enum http_conn_timer); one that runs on
 * already is left alone, so a request's timeout counts from its first byte. */
static void conn_set_timer(struct http_conn *c, enum http_conn_timer which)
{
    if (c->timer_on == which)
        return;
    if (which == HTTP_TIMER_NONE)
        event_del(&c->timer);
    else
        event_add(&c->timer,
                  which == HTTP_TIMER_IDLE ? c->srv->read_timeout : c->srv->request_timeout);
    c->timer_on = which;
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
        conn_free_input(c);
        evbuffer_free(c->out);
        c->out = NULL;
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            srv->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        conn_set_timer(c, HTTP_TIMER_NONE);
        srv->nconns--;
        frontend_stats.connections_open--;
        http_accept_closed(srv, c);
        if (srv->draining && srv->conns == NULL)
            event_active(srv->drained_ev, 0, 0); /* not from here: callers still hold c */
    }
    if (!c->busy)
        conn_free(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    (void)fd, (void)what;
    if (c->timer_on == HTTP_TIMER_IDLE)
        log_debug("http: connection idle past http_read_timeout, closing");
    else
        log_debug("http: request not complete within http_request_timeout, closing");
    c->timer_on = HTTP_TIMER_NONE;
    conn_close(c);
}

/* ---- writing replies ---- */

/*
 * Moves body to the end of out. Replies of up to OUTPUT_HIGH_WATER are copied into out's
 * last buffer (and new ones as it fills): moved as they are, each small reply would hold a
 * libevent buffer of its own (>= 1 KiB), 12 times the bytes waiting in a pipeline of small
 * replies. A larger reply is moved: it fills its buffers, and only one is ever queued past
 * the mark.
 */
static void append_reply(struct evbuffer *out, struct evbuffer *body)
{
    size_t len = evbuffer_get_length(body);
    if (len > OUTPUT_HIGH_WATER) {
        evbuffer_add_buffer(out, body);
        return;
    }
    while (len > 0) {
        struct evbuffer_iovec v[8];
        int n = evbuffer_peek(body, -1, NULL, v, 8);
        size_t copied = 0;
        for (int i = 0; i < n && i < 8; i++) {
            evbuffer_add(out, v[i].iov_base, v[i].iov_len);
            copied += v[i].iov_len;
        }
        evbuffer_drain(body, copied);
        len -= copied;
    }
}

void http_conn_send(struct http_conn *c, int status)
{
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
                                      : c->http10          ? HTTP_CONNECTION_KEEP_ALIVE
                                                           : HTTP_CONNECTION_NONE;
    char head[HTTP_REPLY_HEAD_MAX];
    evbuffer_add(out, head, http_reply_head(head, status, evbuffer_get_length(body), connection));
    append_reply(out, body);
}

/* Writes what is pending right away (no write event unless the socket is full). Returns
 * false after a write error: the caller closes. */
static bool conn_flush(struct http_conn *c)
{
    return evbuffer_get_length(c->out) == 0 || evbuffer_write(c->out, c->fd) >= 0 ||
           errno == EAGAIN || errno == EINTR;
}

/*
 * Ends every turn of a connection (a read, a write, a storage answer): answers the complete
 * requests in the input, writes the replies, and goes on while they leave at once, so
 * nothing waits in the input without an event to resume it. Then closes the connection if
 * it is done. Returns false when the connection is gone.
 */
static bool conn_settle(struct http_conn *c)
{
    for (;;) {
        if (c->fd < 0)
            return false;
        bool held = conn_process_input(c);
        if (!conn_flush(c)) {
            conn_close(c);
            return false;
        }
        if (evbuffer_get_length(c->out) > 0) {
            if (!c->writing)
                event_add(&c->write_ev, c->srv->write_timeout);
            c->writing = true;
            return true; /* on_write settles again */
        }
        if (!held)
            break;
    }
    if (c->writing)
        event_del(&c->write_ev);
    c->writing = false;
    /* After a half-close, with nothing in flight and the output written, every complete
     * request was answered: what is left can never complete. */
    if (c->eof && !c->busy)
        c->close_after_write = true;
    if (c->close_after_write && !c->busy) {
        conn_close(c);
        return false;
    }
    /* Idle: nothing to write, nothing in flight, no request begun. */
    if (!c->busy && c->in_len == 0)
        conn_set_timer(c, HTTP_TIMER_IDLE);
    return true;
}

void http_conn_request_done(struct http_conn *c)
{
    c->busy = false;
    if (c->fd < 0) {
        conn_free(c);
        return;
    }
    conn_settle(c);
}

/* ---- reading requests ---- */

/* Hands each complete request head in the input to http_handle(), in order. Returns true
 * when it stopped because replies wait past OUTPUT_HIGH_WATER (to go on once written). */
static bool conn_process_input(struct http_conn *c)
{
    const size_t limit = c->srv->cfg->http_max_request_bytes;
    bool held = false;
    while (c->fd >= 0 && !c->busy && !c->close_after_write) {
        if (evbuffer_get_length(c->out) > OUTPUT_HIGH_WATER) {
            held = true;
            break;
        }
        if (c->in_len == 0)
            break;
        const char *data = c->in + c->in_start;
        size_t hdr_len = http_head_length(data, c->in_len);
        if (hdr_len == 0) {
            if (c->in_len >= limit) {
                c->keep_alive = false;
                http_refuse(c, http_too_large_status(data, c->in_len));
            } else {
                conn_set_timer(c, HTTP_TIMER_REQUEST);
            }
            break;
        }
        conn_set_timer(c, HTTP_TIMER_NONE);
        http_handle(c, data, hdr_len); /* never closes: only marks */
        c->in_start += hdr_len;
        c->in_len -= hdr_len;
    }
    if (c->in_len == 0)
        conn_free_input(c);
    /* Reading resumes unless the input is full, or the request being answered closes the
     * connection: its client sends no more, and not watching the socket saves two
     * epoll_ctl calls per such request. */
    if (c->fd >= 0 && !c->reading && !c->eof && !c->last_request && c->in_len < limit) {
        event_add(&c->read_ev, NULL);
        c->reading = true;
    }
    return held;
}

/* ---- socket events ---- */

/* Reads what the socket has into the room left in the input (there is some: reading
 * stops when it is full). Returns the bytes read, 0 at end of stream, -1 when nothing is
 * there now or on error (errno). */
static ssize_t read_some(struct http_conn *c)
{
    const size_t limit = c->srv->cfg->http_max_request_bytes;
    if (c->in == NULL) {
        c->in = xmalloc(limit);
    } else if (c->in_start > 0) {
        memmove(c->in, c->in + c->in_start, c->in_len);
        c->in_start = 0;
    }
    if (c->in_len == limit) {
        errno = EAGAIN; /* not end of stream, which recv() of 0 bytes would look like */
        return -1;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, limit - c->in_len, 0);
    if (n > 0)
        c->in_len += (size_t)n;
    return n;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    (void)fd;
    (void)what;
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
    } else if (c->in_len >= c->srv->cfg->http_max_request_bytes) {
        event_del(&c->read_ev);
        c->reading = false;
    }
    conn_settle(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    (void)fd;
    if (what & EV_TIMEOUT) {
        log_debug("http: client not reading past http_write_timeout, closing");
        conn_close(c);
        return;
    }
    conn_settle(c);
}

/* ---- a new connection ---- */

void http_conn_open(struct http_server *srv, evutil_socket_t fd, const struct addr *client,
                    bool trusted)
{
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->endpoint = STAT_OTHER; /* until a request is routed */
    c->fd = fd;
    c->out = xcheck(evbuffer_new());
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    c->client = *client;
    c->client_trusted = trusted;
    event_assign(&c->timer, srv->base, -1, 0, on_timer, c);
    event_assign(&c->read_ev, srv->base, fd, EV_READ | EV_PERSIST, on_read, c);
    event_assign(&c->write_ev, srv->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    frontend_stats.connections_open++;
    frontend_stats.connections_total++;
    srv->nconns++;
    http_accept_update(srv);
    /* A client sends its request right after connecting: it is usually here already,
     * and reading it now saves a trip through the event loop (and, for a request with
     * Connection: close, registering the socket for reading at all). */
    on_read(fd, EV_READ, c);
}

/* ---- the server ---- */

struct http_server *http_server_new(struct event_base *base, const struct config *cfg,
                                    struct tracker *tracker, char *err)
{
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->body = xcheck(evbuffer_new());
    srv->base = base;
    srv->cfg = cfg;
    srv->tracker = tracker;
    struct timeval tv = clock_ms_to_tv(cfg->http_request_timeout_ms);
    srv->request_timeout = event_base_init_common_timeout(base, &tv);
    tv = clock_ms_to_tv(cfg->http_read_timeout_ms);
    srv->read_timeout = event_base_init_common_timeout(base, &tv);
    tv = clock_ms_to_tv(cfg->http_write_timeout_ms);
    srv->write_timeout = event_base_init_common_timeout(base, &tv);
    if (http_accept_start(srv, err) < 0) {
        http_server_free(srv);
        return NULL;
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
    srv->drained_ev = xcheck(event_new(srv->base, -1, 0, on_drained, srv));
    http_accept_stop(srv);
    /* Every reply from now on closes its connection (http_handle() sees srv->draining),
     * and a connection waits for a request (or the rest of one) at most the grace. */
    uint64_t grace_ms = DRAIN_IDLE_GRACE_MS;
    if (grace_ms > srv->cfg->shutdown_timeout_ms / 2)
        grace_ms = srv->cfg->shutdown_timeout_ms / 2;
    if (grace_ms > srv->cfg->http_read_timeout_ms)
        grace_ms = srv->cfg->http_read_timeout_ms;
    struct timeval tv = clock_ms_to_tv(grace_ms);
    srv->read_timeout = event_base_init_common_timeout(srv->base, &tv);
    if (srv->cfg->http_request_timeout_ms > grace_ms)
        srv->request_timeout = srv->read_timeout;
    struct http_conn *c = srv->conns;
    while (c != NULL) {
        struct http_conn *next = c->next;
        if (c->busy) {
            c->keep_alive = false;
            c->last_request = true;
        } else if (evbuffer_get_length(c->out) > 0) {
            c->close_after_write = true; /* a reply is still being written */
        } else if (c->timer_on != HTTP_TIMER_NONE) {
            /* Idle, or a request arriving: its timer starts again, with the grace. */
            enum http_conn_timer which = c->timer_on;
            c->timer_on = HTTP_TIMER_NONE;
            conn_set_timer(c, which);
        } else {
            conn_close(c); /* waits for nothing a timer would end */
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
    http_accept_stop(srv);
    /* Storage is closed first (main.c), so no connection still waits for an answer. */
    while (srv->conns != NULL)
        conn_close(srv->conns);
    http_accept_free(srv);
    evbuffer_free(srv->body);
    free(srv);
}
