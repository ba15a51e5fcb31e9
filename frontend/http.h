#ifndef STARLING_HTTP_H
#define STARLING_HTTP_H

#include <stdbool.h>

#include "common/config.h"
#include "frontend/tracker.h"

struct event_base;
struct http_server;

/*
 * Binds every http_listen_addr and serves /announce and /scrape through `tracker`.
 * cfg and tracker must outlive the server. Returns NULL with a reason in err
 * (STARLING_ERR_LEN bytes) when a listener cannot be set up.
 */
struct http_server *http_server_new(struct event_base *base, const struct config *cfg,
                                    struct tracker *tracker, char *err);

/*
 * Graceful shutdown, step one: stops accepting, closes idle connections, and lets each
 * connection that is answering a request finish it (with Connection: close). Calls
 * done(arg) from the event loop once no connection is left.
 */
void http_server_drain(struct http_server *srv, void (*done)(void *), void *arg);

bool http_server_draining(const struct http_server *srv);

/* Closes the listeners and every connection (requests in flight are answered by storage
 * into the void: their connections are freed when the answer comes). */
void http_server_free(struct http_server *srv);

#endif
