#include "storage/scripts.h"

/* Every script the storage layer loads on connect (the bodies are generated from lua/). */
const struct lua_script *const lua_scripts[] = {&lua_announce, &lua_scrape, &lua_counters};
const size_t lua_script_count = sizeof(lua_scripts) / sizeof(lua_scripts[0]);
