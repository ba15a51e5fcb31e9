#ifndef STARLING_ADMIN_H
#define STARLING_ADMIN_H

#include <stdbool.h>

struct event_base;
struct evbuffer;
struct admin_server;

/* Appends the Prometheus text exposition of the process's metrics to out. */
typedef void admin_metrics_fn(struct evbuffer *out, void *arg);
/* Whether the process can do its job now (/readyz). */
typedef bool admin_ready_fn(void *arg);

/*
 * The operators' HTTP endpoint of a binary, on its own listen address (libevent's evhttp:
 * a few requests a minute need nothing faster): GET /metrics, /healthz (200 while the
 * process runs its loop), /readyz (200 when ready() says so, else 503). Returns NULL with
 * a reason in err (STARLING_ERR_LEN bytes). Logs "metrics listening on ADDR:PORT".
 */
struct admin_server *admin_server_new(struct event_base *base, const char *listen_addr,
                                      admin_metrics_fn *metrics, admin_ready_fn *ready, void *arg,
                                      char *err);

void admin_server_free(struct admin_server *admin);

#endif
