#include "storage/scripts.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

int lua_call_fill(struct lua_call *c, const struct lua_script *s, bool by_body, int nkeys,
                  int nargs, const char *const *args, const size_t *lens)
{
    if (nargs > LUA_CALL_MAX_ARGS)
        return -1;
    c->argv[0] = by_body ? "EVAL" : "EVALSHA";
    c->lens[0] = strlen(c->argv[0]);
    c->argv[1] = by_body ? s->body : s->sha;
    c->lens[1] = by_body ? s->len : LUA_SHA_LEN;
    c->argv[2] = c->numkeys;
    c->lens[2] = (size_t)snprintf(c->numkeys, sizeof(c->numkeys), "%d", nkeys);
    for (int i = 0; i < nargs; i++)
        c->argv[3 + i] = args[i], c->lens[3 + i] = lens[i];
    c->argc = 3 + nargs;
    return 0;
}

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
