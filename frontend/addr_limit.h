#ifndef STARLING_ADDR_LIMIT_H
#define STARLING_ADDR_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/addr.h"

/*
 * Open connections per client address, for http_per_address_limit: a hash table holding
 * only addresses with a connection open, so it never has more entries than connections are
 * open. Keyed SipHash (a random key per process): addresses a client picks, as anyone with
 * an IPv6 prefix can, cannot pile up in one chain.
 */
struct addr_limit;

/* A table allowing `limit` connections per address, for at most max_addresses addresses
 * (the connection limit: each entry has one open). It grows as addresses come, up to
 * 2 x the power of two >= max_addresses slots of 24 bytes. */
struct addr_limit *addr_limit_new(uint32_t limit, uint32_t max_addresses);

/* Counts a new connection from a. False (nothing counted) when a has `limit` open, or the
 * table is full. */
bool addr_limit_take(struct addr_limit *t, const struct addr *a);

/* Uncounts a connection from a that addr_limit_take() counted. */
void addr_limit_release(struct addr_limit *t, const struct addr *a);

/* Addresses with a connection open. */
uint32_t addr_limit_addresses(const struct addr_limit *t);

/* Open connections counted for a. */
uint32_t addr_limit_count(const struct addr_limit *t, const struct addr *a);

void addr_limit_free(struct addr_limit *t);

#endif
