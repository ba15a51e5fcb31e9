/*
 * The HTTP server's listeners: how many connections it takes (http_listen_limit, fitted to
 * the open files limit), pausing when accept() runs out of descriptors, and handing each
 * accepted socket to http.c.
 *
 * Listeners are enabled exactly while accepting is allowed (not draining, under the
 * connection limit, not pausing after an accept failure). A connection that is not
 * accepted waits in the kernel's backlog: nothing is refused for being early.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "common/clock.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/mem.h"
#include "frontend/addr_limit.h"
#include "frontend/http_internal.h"

/*
 * Descriptors the process needs besides its HTTP connections: stdio and the log file,
 * epoll and libevent's signal pair, the metrics listener and its scrapers' connections,
 * and room to spare; the listeners and Redis connections are counted on top.
 */
#define FD_RESERVE 32
/* After an accept failure (EMFILE, ENFILE, ENOBUFS), accepting pauses this long, doubling
 * up to the maximum while failures go on, back to the minimum after a success. */
#define ACCEPT_PAUSE_MIN_MS 100
#define ACCEPT_PAUSE_MAX_MS 1000

/* http_listen_limit, lowered to what the open files limit leaves (said once, at start). */
static uint32_t connection_limit(const struct config *cfg)
{
    uint64_t reserve = FD_RESERVE + cfg->n_http_listen_addr + cfg->n_udp_listen_addr +
                       2 * (uint64_t)cfg->redis.connections; /* each may be reconnecting */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) {
        log_info("http: at most %u connections (http_listen_limit)", cfg->http_listen_limit);
        return cfg->http_listen_limit;
    }
    uint64_t room = rl.rlim_cur > reserve + 1 ? rl.rlim_cur - reserve : 1;
    if (room < cfg->http_listen_limit) {
        log_warn("http: at most %llu connections: the open files limit is %llu (%llu kept "
                 "for the rest), below http_listen_limit %u",
                 (unsigned long long)room, (unsigned long long)rl.rlim_cur,
                 (unsigned long long)reserve, cfg->http_listen_limit);
        return (uint32_t)room;
    }
    log_info("http: at most %u connections (http_listen_limit; open files limit %llu)",
             cfg->http_listen_limit, (unsigned long long)rl.rlim_cur);
    return cfg->http_listen_limit;
}

void http_accept_update(struct http_server *srv)
{
    bool accept = !srv->draining && !srv->accept_paused && srv->nconns < srv->conn_limit;
    if (accept == srv->accepting)
        return;
    for (size_t i = 0; i < srv->nlisteners; i++) {
        if (accept)
            evconnlistener_enable(srv->listeners[i]);
        else
            evconnlistener_disable(srv->listeners[i]);
    }
    srv->accepting = accept;
}

/* Whether a connection counts for http_per_address_limit: not from a trusted proxy (whose
 * connections carry many clients). One rule for counting and uncounting. */
static bool counts_address(const struct http_server *srv, bool trusted)
{
    return srv->per_address != NULL && !trusted;
}

/*
 * A connection past http_per_address_limit is closed at once, unread: a reply would need
 * its request read and a buffer held, which is what the limit keeps this client from
 * taking; a tracker client retries at its next announce. SO_LINGER 0 makes the close a
 * reset, so no TIME_WAIT is kept for it either.
 */
static void refuse(evutil_socket_t fd, const struct addr *client, uint32_t limit)
{
    struct linger now = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
    evutil_closesocket(fd);
    frontend_stats.connections_over_address_limit++;
    static struct log_limit refusals;
    char text[ADDR_TEXT_LEN];
    addr_format(client, text, sizeof(text));
    log_limited(&refusals, LOG_INFO,
                "http: %s has http_per_address_limit (%u) connections open: "
                "closed a new one",
                text, limit);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct http_server *srv = arg;
    const struct config *cfg = srv->cfg;
    (void)l, (void)salen;
    srv->accept_pause_ms = ACCEPT_PAUSE_MIN_MS;
    struct addr client;
    uint16_t port;
    if (addr_from_sockaddr(sa, &client, &port) < 0)
        memset(&client, 0, sizeof(client));
    bool trusted = false;
    for (size_t i = 0; i < cfg->n_trusted_proxies && !trusted; i++)
        trusted = cidr_contains(&cfg->trusted_proxies[i], &client);
    if (counts_address(srv, trusted) && !addr_limit_take(srv->per_address, &client)) {
        refuse(fd, &client, cfg->http_per_address_limit);
        return;
    }
    http_conn_open(srv, fd, &client, trusted);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *srv = arg;
    (void)fd, (void)what;
    srv->accept_paused = false;
    http_accept_update(srv);
}

/*
 * accept() failed for want of descriptors or memory. The connection it was for is still
 * there, so the listener would report it again on every turn of the loop (a full core):
 * accepting pauses instead, the open connections are served meanwhile, and the waiting
 * ones stay in the backlog until accepting resumes.
 */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct http_server *srv = arg;
    (void)l;
    int err = EVUTIL_SOCKET_ERROR();
    frontend_stats.accept_failures++;
    static struct log_limit accept_errors;
    log_limited(&accept_errors, LOG_WARN, "http: accept failed: %s; not accepting for %u ms",
                evutil_socket_error_to_string(err), srv->accept_pause_ms);
    if (srv->accept_paused)
        return; /* another listener's, in the same turn */
    srv->accept_paused = true;
    http_accept_update(srv);
    struct timeval tv = clock_ms_to_tv(srv->accept_pause_ms);
    evtimer_add(srv->accept_timer, &tv);
    srv->accept_pause_ms *= 2;
    if (srv->accept_pause_ms > ACCEPT_PAUSE_MAX_MS)
        srv->accept_pause_ms = ACCEPT_PAUSE_MAX_MS;
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

int http_accept_start(struct http_server *srv, char *err)
{
    srv->conn_limit = connection_limit(srv->cfg);
    srv->accept_pause_ms = ACCEPT_PAUSE_MIN_MS;
    srv->accept_timer = xcheck(evtimer_new(srv->base, on_accept_resume, srv));
    srv->accepting = true; /* a new listener is enabled */
    if (srv->cfg->http_per_address_limit > 0)
        srv->per_address = addr_limit_new(srv->cfg->http_per_address_limit, srv->conn_limit);
    for (size_t i = 0; i < srv->cfg->n_http_listen_addr; i++) {
        if (listen_on(srv, srv->cfg->http_listen_addr[i], err) < 0)
            return -1;
    }
    return 0;
}

void http_accept_stop(struct http_server *srv)
{
    for (size_t i = 0; i < srv->nlisteners; i++)
        evconnlistener_free(srv->listeners[i]);
    srv->nlisteners = 0;
    srv->accepting = false;
    if (srv->accept_timer != NULL)
        event_free(srv->accept_timer);
    srv->accept_timer = NULL;
}

void http_accept_closed(struct http_server *srv, const struct http_conn *c)
{
    if (counts_address(srv, c->client_trusted))
        addr_limit_release(srv->per_address, &c->client);
    http_accept_update(srv);
}

void http_accept_free(struct http_server *srv)
{
    addr_limit_free(srv->per_address);
    srv->per_address = NULL;
}
