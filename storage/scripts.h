#ifndef STARLING_SCRIPTS_H
#define STARLING_SCRIPTS_H

#include <stddef.h>

/* A Redis Lua script from lua/, compiled into the binary (see CMakeLists.txt). */
struct lua_script {
    const char *name;
    const char *body;
    size_t len;
};

extern const struct lua_script lua_announce;
extern const struct lua_script lua_scrape;
extern const struct lua_script lua_counters;
/* The aggregator's (not loaded by frontends). */
extern const struct lua_script lua_purge;
extern const struct lua_script lua_family;
extern const struct lua_script lua_lock_renew;
extern const struct lua_script lua_lock_release;

/* The frontend's scripts, loaded with SCRIPT LOAD on every connection of its pool. */
extern const struct lua_script *const lua_scripts[];
extern const size_t lua_script_count;

#endif
