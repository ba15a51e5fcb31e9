#include "storage/leader.h"

#include <string.h>

#include <hiredis/hiredis.h>

#include "common/numtext.h"

int leader_acquire(struct sync_conn *sc, const char *id, uint64_t ttl_ms)
{
    char ttl[21];
    size_t ttl_len = (size_t)(put_uint(ttl, ttl_ms) - ttl);
    const char *argv[] = {"SET", LEADER_LOCK_KEY, id, "NX", "PX", ttl};
    size_t lens[] = {3, strlen(LEADER_LOCK_KEY), strlen(id), 2, 2, ttl_len};
    redisReply *r = sync_command(sc, 6, argv, lens);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    bool taken = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return taken ? 1 : leader_renew(sc, id, ttl_ms);
}

int leader_renew(struct sync_conn *sc, const char *id, uint64_t ttl_ms)
{
    char ttl[21];
    size_t ttl_len = (size_t)(put_uint(ttl, ttl_ms) - ttl);
    const char *args[] = {LEADER_LOCK_KEY, id, ttl};
    size_t lens[] = {strlen(LEADER_LOCK_KEY), strlen(id), ttl_len};
    redisReply *r = sync_eval(sc, &lua_lock_renew, 1, 3, args, lens);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    int renewed = r->integer == 1;
    freeReplyObject(r);
    return renewed;
}

void leader_release(struct sync_conn *sc, const char *id)
{
    const char *args[] = {LEADER_LOCK_KEY, id};
    size_t lens[] = {strlen(LEADER_LOCK_KEY), strlen(id)};
    redisReply *r = sync_eval(sc, &lua_lock_release, 1, 2, args, lens);
    if (r != NULL)
        freeReplyObject(r);
}
