#ifndef STARLING_HTTP_H
#define STARLING_HTTP_H

#include "config.h"
#include "tracker.h"

struct event_base;
struct http_server;

/*
 * Binds every http_listen_addr and serves /announce and /scrape through `tracker`.
 * cfg and tracker must outlive the server. Returns NULL with a reason in err
 * (STARLING_ERR_LEN bytes) when a listener cannot be set up.
 */
struct http_server *http_server_new(struct event_base *base, const struct config *cfg,
                                    struct tracker *tracker, char *err);

/* Closes the listeners and every connection (requests in flight are answered by storage
 * into the void: their connections are freed when the answer comes). */
void http_server_free(struct http_server *srv);

#endif
