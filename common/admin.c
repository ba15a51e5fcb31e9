#include "common/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "common/config.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/mem.h"

/* After an accept failure (out of descriptors), the listener rests this long: libevent's
 * listener is level-triggered and would otherwise retry on every turn of the loop. */
#define ACCEPT_PAUSE_MS 1000

struct admin_server {
    struct evhttp *http;
    admin_metrics_fn *metrics;
    admin_ready_fn *ready;
    void *arg;
};

static void reply_text(struct evhttp_request *req, int status, const char *reason,
                       const char *content_type, struct evbuffer *body)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", content_type);
    evhttp_send_reply(req, status, reason, body);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct admin_server *admin = arg;
    struct evbuffer *body = xcheck(evbuffer_new());
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (path == NULL)
        path = "/";
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evbuffer_add_printf(body, "method not allowed\n");
        reply_text(req, 405, "Method Not Allowed", "text/plain", body);
    } else if (strcmp(path, "/metrics") == 0) {
        admin->metrics(body, admin->arg);
        reply_text(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
    } else if (strcmp(path, "/healthz") == 0) {
        evbuffer_add_printf(body, "ok\n");
        reply_text(req, 200, "OK", "text/plain", body);
    } else if (strcmp(path, "/readyz") == 0) {
        if (admin->ready(admin->arg)) {
            evbuffer_add_printf(body, "ready\n");
            reply_text(req, 200, "OK", "text/plain", body);
        } else {
            evbuffer_add_printf(body, "not ready\n");
            reply_text(req, 503, "Service Unavailable", "text/plain", body);
        }
    } else {
        evbuffer_add_printf(body, "not found\n");
        reply_text(req, 404, "Not Found", "text/plain", body);
    }
    evbuffer_free(body);
}

static void on_resume(evutil_socket_t fd, short what, void *listener)
{
    (void)fd, (void)what;
    evconnlistener_enable(listener);
}

/* arg is evhttp's, not ours: everything needed comes from the listener. */
static void on_accept_error(struct evconnlistener *listener, void *arg)
{
    (void)arg;
    static struct log_limit accept_errors;
    log_limited(&accept_errors, LOG_WARN, "metrics: accept failed: %s; pausing",
                evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    evconnlistener_disable(listener);
    struct timeval pause = {.tv_sec = ACCEPT_PAUSE_MS / 1000};
    /* A one-shot timer of the loop's own (freed with the loop if still pending). */
    if (event_base_once(evconnlistener_get_base(listener), -1, EV_TIMEOUT, on_resume, listener,
                        &pause) < 0)
        evconnlistener_enable(listener);
}

struct admin_server *admin_server_new(struct event_base *base, const char *listen_addr,
                                      admin_metrics_fn *metrics, admin_ready_fn *ready, void *arg,
                                      char *err)
{
    struct admin_server *admin = xcalloc(1, sizeof(*admin));
    admin->http = xcheck(evhttp_new(base));
    admin->metrics = metrics;
    admin->ready = ready;
    admin->arg = arg;
    int fd = listen_socket(listen_addr, SOCK_STREAM, "metrics_listen_addr", err, STARLING_ERR_LEN);
    struct evhttp_bound_socket *bound =
        fd >= 0 ? evhttp_accept_socket_with_handle(admin->http, fd) : NULL;
    if (bound == NULL) {
        if (fd >= 0) {
            snprintf(err, STARLING_ERR_LEN, "metrics_listen_addr \"%s\": cannot serve",
                     listen_addr);
            close(fd);
        }
        admin_server_free(admin);
        return NULL;
    }
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(bound), on_accept_error);
    /* Scrapers poll every few seconds; a stuck one must not hold a socket for long. */
    evhttp_set_timeout(admin->http, 10);
    evhttp_set_max_headers_size(admin->http, 8192);
    evhttp_set_max_body_size(admin->http, 0);
    evhttp_set_gencb(admin->http, on_request, admin);
    char where[LISTEN_TEXT_LEN];
    listen_socket_text(fd, where);
    log_info("metrics listening on %s", where);
    return admin;
}

void admin_server_free(struct admin_server *admin)
{
    if (admin == NULL)
        return;
    if (admin->http != NULL)
        evhttp_free(admin->http);
    free(admin);
}
