#ifndef STARLING_UDP_H
#define STARLING_UDP_H

#include <stdint.h>

#include "common/config.h"
#include "frontend/tracker.h"

struct event_base;
struct udp_server;

/*
 * The BEP 15 tracker on every udp_listen_addr: connect, announce and scrape over the same
 * protocol-neutral tracker calls as HTTP. Datagrams are read and written in batches
 * (recvmmsg/sendmmsg, udp_batch_size), and the storage calls of a batch go out together,
 * pipelined on the Redis connections. cfg and tracker must outlive the server. Returns NULL
 * with a reason in err (STARLING_ERR_LEN bytes); with no udp_listen_addr, a server that
 * does nothing.
 */
struct udp_server *udp_server_new(struct event_base *base, const struct config *cfg,
                                  struct tracker *tracker, char *err);

/* Graceful shutdown: stop reading datagrams (answers to requests in flight still go out). */
void udp_server_stop_reading(struct udp_server *srv);

/* Closes the sockets. Free the Redis pool first: storage answers need the sockets. */
void udp_server_free(struct udp_server *srv);

#endif
