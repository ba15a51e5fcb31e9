#include "storage/scripts.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

int lua_script_check_load(const struct lua_script *s, const struct redisReply *r, char *err,
                          size_t errlen)
{
    if (r->type == REDIS_REPLY_STRING && r->len == LUA_SHA_LEN &&
        memcmp(r->str, s->sha, LUA_SHA_LEN) == 0)
        return 0;
    if (r->type == REDIS_REPLY_STRING)
        snprintf(err, errlen, "SCRIPT LOAD %s: Redis names it %.*s, built in as %s", s->name,
                 (int)r->len, r->str, s->sha);
    else
        snprintf(err, errlen, "SCRIPT LOAD %s: unexpected reply type %d", s->name, r->type);
    return -1;
}
