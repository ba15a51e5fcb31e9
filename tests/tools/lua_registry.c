/*
 * lua_registry: prints the Lua scripts compiled into starling, one a line:
 * "<name> <frontend|aggregator> <sha> <body in hex>", for tests that check them against a
 * real Redis (tests/integration/test_redis_failures.py).
 */
#include <stdio.h>

#include "storage/scripts.h"

int main(void)
{
    for (size_t i = 0; i < LUA_SCRIPT_COUNT; i++) {
        const struct lua_script *s = lua_scripts[i];
        printf("%s %s %s ", s->name, s->loader == LUA_FRONTEND ? "frontend" : "aggregator", s->sha);
        for (size_t j = 0; j < s->len; j++)
            printf("%02x", (unsigned char)s->body[j]);
        printf("\n");
    }
    return ferror(stdout) ? 1 : 0;
}
