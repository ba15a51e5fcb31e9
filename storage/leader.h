#ifndef STARLING_LEADER_H
#define STARLING_LEADER_H

#include <stdint.h>

#include "storage/keys.h" /* LEADER_LOCK_KEY, held by the replica that runs passes */
#include "storage/sync.h"

/*
 * Takes the lock (SET NX PX ttl), or renews it if it is already ours. Returns 1 when we
 * hold it now, 0 when another replica does, -1 on a Redis failure.
 */
int leader_acquire(struct sync_conn *sc, const char *id, uint64_t ttl_ms);

/* Extends the lock if it is still ours (lua/lock_renew.lua). 1 renewed, 0 lost, -1 error. */
int leader_renew(struct sync_conn *sc, const char *id, uint64_t ttl_ms);

/* Deletes the lock if it is still ours (lua/lock_release.lua). */
void leader_release(struct sync_conn *sc, const char *id);

#endif
