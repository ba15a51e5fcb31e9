#ifndef STARLING_AGGREGATOR_ACCOUNTING_H
#define STARLING_AGGREGATOR_ACCOUNTING_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

/*
 * Private mode's accounting in the aggregator process: the driver chosen by `driver`, the
 * cycle that drains the accounting to it (storage/acct.h), and with driver "mysql" the
 * reload of the site's tables (at start, every mysql.reload_interval, and on SIGUSR1, as
 * Ocelot reloads). Everything runs only on the leader: leads(arg) says whether it is one.
 */
struct accounting;
struct cluster;
struct event_base;
struct evbuffer;

struct accounting *accounting_new(struct event_base *base, const struct config *cfg,
                                  struct cluster *cl, bool (*leads)(void *arg), void *arg);
void accounting_free(struct accounting *a);

/* A pass was published: with driver "mysql", torrents' Seeders and Leechers are written
 * from its entries (sorted by info_hash), and zeros for the swarms gone since. */
struct fullscrape_entry;
void accounting_pass_published(struct accounting *a, const struct fullscrape_entry *entries,
                               size_t n);

/* Its families of /metrics (zeros when a is NULL: public mode; the mysql driver's only
 * with that driver). */
void accounting_render_metrics(const struct accounting *a, struct evbuffer *out);

#endif
