#ifndef STARLING_LIVE_USERS_H
#define STARLING_LIVE_USERS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Private mode: the peers each user has live, for Ocelot's report (get=user). The
 * aggregator's pass counts them in every swarm it walks, from the accounting records
 * (lua/lib/live_users.lua), adds each swarm's up once however often the pass met it, and
 * publishes them with its totals: LIVE_USERS_KEY, replaced whole by each pass, so a count
 * is as fresh as the last pass. Memory: one user_tally (12 bytes) per user and swarm with
 * a live peer, held during a pass.
 */
struct user_tally {
    uint32_t user_id;
    uint32_t seeding, leeching;
};

struct user_tallies {
    struct user_tally *v;
    size_t n, cap;
};

void user_tallies_add(struct user_tallies *t, const struct user_tally *v, size_t n);

/* Appends the tallies of a script's reply ({user id, seeding, leeching, ...}). Returns 0, or
 * -1 when the reply is not of that form (nothing appended). Pure: unit tested. */
struct redisReply;
int user_tallies_add_reply(struct user_tallies *t, const struct redisReply *flat);

/* Sorts by user and adds up each user's tallies into one. */
void user_tallies_merge(struct user_tallies *t);

void user_tallies_free(struct user_tallies *t);

/* The fields of LIVE_USERS_KEY for a user: "<id>:seeding" and "<id>:leeching". */
#define LIVE_USERS_FIELD_LEN 24
size_t live_users_field(char *out, uint32_t user_id, int seeding);

/*
 * Writes the tallies (merged) to `key` on sc's node, replacing what it held, in HSETs of
 * at most LIVE_USERS_BATCH users, with a TTL of LIVE_USERS_NEXT_TTL_MS (lua/publish.lua
 * renames it to LIVE_USERS_KEY and drops the TTL; a writer that lost the leader lock leaves
 * one that expires). Returns 0, or -1 with err.
 */
struct sync_conn;
#define LIVE_USERS_BATCH 500
#define LIVE_USERS_NEXT_TTL_MS 3600000
int live_users_write(const struct user_tallies *t, struct sync_conn *sc, const char *key,
                     char *err);

#endif
