#ifndef STARLING_SWARM_INTERNAL_H
#define STARLING_SWARM_INTERNAL_H

/*
 * The decoders of the scripts' replies, apart from the I/O so the fuzzers (tests/fuzz/) can
 * feed them any redisReply hiredis's reader builds. Private to storage/ and the tests.
 */
#include <stddef.h>

#include "storage/swarm.h"

struct redisReply;

/*
 * An announce.lua reply: [complete, incomplete, member...]. At most cap members are read
 * into scratch (the rest are ignored: cap is the most any reply may ask for); a member of
 * no layout (storage/keys.h) is skipped. out->peers is scratch, whose pointers point into
 * r. Returns 0, or -1 (*out untouched) when r is not of that shape.
 */
int swarm_decode_announce(const struct redisReply *r, struct swarm_peer *scratch, size_t cap,
                          struct announce_reply *out);

/* A scrape.lua reply: [complete, incomplete, downloaded]. Returns 0, or -1 (*out untouched). */
int swarm_decode_scrape(const struct redisReply *r, struct scrape_counts *out);

#endif
