#ifndef STARLING_SCRIPTS_H
#define STARLING_SCRIPTS_H

#include <stdbool.h>
#include <stddef.h>

struct redisReply;

/* A script's name in Redis: the SHA1 of its body, in lowercase hex. */
#define LUA_SHA_LEN 40

/* Which connections load a script with SCRIPT LOAD (the "--! loaded-by:" line of its file). */
enum lua_loader {
    LUA_FRONTEND,   /* every connection of a frontend's pool (storage/redis.c) */
    LUA_AGGREGATOR, /* the aggregator's (storage/sync.c) */
};

/* A Redis Lua script from lua/, assembled and compiled in by lua/embed.cmake. */
struct lua_script {
    const char *name; /* its file's, without ".lua" */
    const char *body;
    size_t len;
    char sha[LUA_SHA_LEN + 1]; /* SHA1 of the body: Redis's name for it, for EVALSHA */
    enum lua_loader loader;
};

/* lua_<name> for every lua/<name>.lua, and LUA_SCRIPT_COUNT. */
#include "generated/lua_scripts.h"

/* Every script, by file name. */
extern const struct lua_script *const lua_scripts[LUA_SCRIPT_COUNT];

/* The words of one call of a script: EVALSHA <sha> (or EVAL <body>) <numkeys> <args>. */
#define LUA_CALL_MAX_ARGS 125
struct lua_call {
    const char *argv[3 + LUA_CALL_MAX_ARGS];
    size_t lens[3 + LUA_CALL_MAX_ARGS];
    int argc;
    char numkeys[12];
};

/*
 * Fills c (argv points into it and into args) for a call of s by its sha, or by_body with
 * its body (EVAL), with the first nkeys of the nargs args as KEYS and the rest as ARGV.
 * Returns 0, or -1 for more than LUA_CALL_MAX_ARGS args.
 */
int lua_call_fill(struct lua_call *c, const struct lua_script *s, bool by_body, int nkeys,
                  int nargs, const char *const *args, const size_t *lens);

/*
 * Checks a reply to SCRIPT LOAD of s that is not an error: the name Redis gave the body
 * must be s->sha, which every EVALSHA of s uses. Returns 0, or -1 with why in err.
 */
int lua_script_check_load(const struct lua_script *s, const struct redisReply *r, char *err,
                          size_t errlen);

#endif
