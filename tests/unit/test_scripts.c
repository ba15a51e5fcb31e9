/*
 * Unit tests for the Lua scripts compiled in (cmake/lua_scripts.cmake, storage/scripts.h):
 * the registry is the folder lua/, each script is loaded by the side its file names, and
 * the bodies are assembled completely.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "storage/scripts.h"

static const struct lua_script *find(const char *name)
{
    for (size_t i = 0; i < LUA_SCRIPT_COUNT; i++)
        if (strcmp(lua_scripts[i]->name, name) == 0)
            return lua_scripts[i];
    return NULL;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_registry_is_the_folder(void **state)
{
    (void)state;
    DIR *d = opendir(STARLING_SOURCE_DIR "/lua");
    assert_non_null(d);
    char *names[64];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".lua") == 0 && n < 64)
            names[n++] = strndup(e->d_name, len - 4);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), by_name);
    assert_int_equal(n, LUA_SCRIPT_COUNT);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(lua_scripts[i]->name, names[i]);
        free(names[i]);
    }
    /* Each file's symbol is its entry. */
    assert_ptr_equal(find("announce"), &lua_announce);
    assert_ptr_equal(find("scrape"), &lua_scrape);
    assert_ptr_equal(find("counters"), &lua_counters);
    assert_ptr_equal(find("purge"), &lua_purge);
    assert_ptr_equal(find("family"), &lua_family);
    assert_ptr_equal(find("lock_renew"), &lua_lock_renew);
    assert_ptr_equal(find("lock_release"), &lua_lock_release);
}

static void test_loaders(void **state)
{
    (void)state;
    /* A frontend loads what it calls; the aggregator the rest. */
    assert_int_equal(lua_announce.loader, LUA_FRONTEND);
    assert_int_equal(lua_scrape.loader, LUA_FRONTEND);
    assert_int_equal(lua_counters.loader, LUA_FRONTEND);
    assert_int_equal(lua_purge.loader, LUA_AGGREGATOR);
    assert_int_equal(lua_family.loader, LUA_AGGREGATOR);
    assert_int_equal(lua_lock_renew.loader, LUA_AGGREGATOR);
    assert_int_equal(lua_lock_release.loader, LUA_AGGREGATOR);
}

static void test_bodies(void **state)
{
    (void)state;
    for (size_t i = 0; i < LUA_SCRIPT_COUNT; i++) {
        const struct lua_script *s = lua_scripts[i];
        assert_int_equal(strlen(s->body), s->len);
        /* Every build directive was applied. */
        assert_null(strstr(s->body, "--!"));
        assert_null(strchr(s->body, '@'));
        /* The sha: 40 lowercase hex digits, one per body (its SHA1 against a real Redis:
         * tests/integration/test_redis_failures.py). */
        assert_int_equal(strlen(s->sha), LUA_SHA_LEN);
        assert_int_equal(strspn(s->sha, "0123456789abcdef"), LUA_SHA_LEN);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(lua_scripts[j]->sha, s->sha);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_is_the_folder),
        cmocka_unit_test(test_loaders),
        cmocka_unit_test(test_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
