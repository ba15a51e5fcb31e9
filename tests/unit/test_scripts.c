/*
 * Unit tests for the Lua scripts compiled in (lua/embed.cmake, storage/scripts.h):
 * the registry is the folder lua/, each script is loaded by the side its file names, the
 * bodies are assembled completely, and the layout numbers they carry are C's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/keys.h"
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

/* The integer #defines of storage/keys.h, which a script carries as "<value> --[[NAME]]". */
static const struct {
    const char *name;
    long value;
} constants[] = {
    {"SWARM_TAG_LEN", SWARM_TAG_LEN},
    {"MEMBER_ID_LEN", MEMBER_ID_LEN},
    {"MEMBER_V4_LEN", MEMBER_V4_LEN},
    {"MEMBER_V6_LEN", MEMBER_V6_LEN},
    {"MEMBER_DUAL_LEN", MEMBER_DUAL_LEN},
    {"MEMBER_ENDPOINTS_MAX", MEMBER_ENDPOINTS_MAX},
    {"COUNTERS_RETIRE_MS", COUNTERS_RETIRE_MS},
    {"COUNTERS_RETIRE_BATCH", COUNTERS_RETIRE_BATCH},
    {"TABLE_CHANGES_MAXLEN", TABLE_CHANGES_MAXLEN},
    {"ACCT_PENDING_MAX", ACCT_PENDING_MAX},
    {"ACCT_DELTAS_MAXLEN", ACCT_DELTAS_MAXLEN},
};
#define NCONSTANTS (sizeof(constants) / sizeof(constants[0]))

/*
 * Checks every constant s carries against C, and counts in uses[] how often each is
 * carried. Fails on a name C does not define, or on a value other than C's.
 */
static void check_constants(const struct lua_script *s, unsigned *uses)
{
    memset(uses, 0, NCONSTANTS * sizeof(*uses));
    for (const char *p = strstr(s->body, " --[["); p != NULL; p = strstr(p + 1, " --[[")) {
        const char *digits = p;
        while (digits > s->body && digits[-1] >= '0' && digits[-1] <= '9')
            digits--;
        const char *name = p + 5, *end = strstr(name, "]]");
        assert_non_null(end);
        assert_true(digits < p); /* "--[[NAME]]" comes after a number only */
        size_t i = 0;
        while (i < NCONSTANTS && !(strlen(constants[i].name) == (size_t)(end - name) &&
                                   memcmp(constants[i].name, name, end - name) == 0))
            i++;
        if (i == NCONSTANTS)
            fail_msg("%s.lua carries %.*s, which the test does not know", s->name,
                     (int)(end - name), name);
        if (strtol(digits, NULL, 10) != constants[i].value)
            fail_msg("%s.lua carries %s = %ld, C has %ld", s->name, constants[i].name,
                     strtol(digits, NULL, 10), constants[i].value);
        uses[i]++;
    }
}

static unsigned uses_of(const unsigned *uses, const char *name)
{
    for (size_t i = 0; i < NCONSTANTS; i++)
        if (strcmp(constants[i].name, name) == 0)
            return uses[i];
    fail_msg("no constant %s", name);
    return 0;
}

/* How often text occurs in the body of s. */
static unsigned occurrences(const struct lua_script *s, const char *text)
{
    unsigned n = 0;
    for (const char *p = strstr(s->body, text); p != NULL; p = strstr(p + 1, text))
        n++;
    return n;
}

static bool word_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '.';
}

/* How often the number stands in the body of s as a word of its own, not carried. */
static unsigned bare(const struct lua_script *s, long value)
{
    char text[24];
    int len = snprintf(text, sizeof(text), "%ld", value);
    unsigned n = 0;
    for (const char *p = strstr(s->body, text); p != NULL; p = strstr(p + 1, text)) {
        bool alone = (p == s->body || !word_char(p[-1])) && !word_char(p[len]);
        if (alone && strncmp(p + len, " --[[", 5) != 0)
            n++;
    }
    return n;
}

static void test_layout_constants(void **state)
{
    (void)state;
    unsigned uses[NCONSTANTS];
    for (size_t i = 0; i < LUA_SCRIPT_COUNT; i++) {
        const struct lua_script *s = lua_scripts[i];
        check_constants(s, uses);
        /* A member length written by hand, not carried from C, stands alone. */
        assert_int_equal(bare(s, MEMBER_V4_LEN), 0);
        assert_int_equal(bare(s, MEMBER_V6_LEN), 0);
        assert_int_equal(bare(s, MEMBER_DUAL_LEN), 0);
    }
    /* Where the layout is used, it comes from C. */
    check_constants(&lua_announce, uses);
    assert_true(uses_of(uses, "MEMBER_ID_LEN") > 0); /* prune */
    assert_true(uses_of(uses, "MEMBER_V4_LEN") > 0); /* the family filter */
    assert_true(uses_of(uses, "MEMBER_V6_LEN") > 0);
    check_constants(&lua_purge, uses);
    assert_true(uses_of(uses, "MEMBER_ID_LEN") > 0);
    assert_true(uses_of(uses, "MEMBER_V4_LEN") > 0);
    assert_true(uses_of(uses, "MEMBER_V6_LEN") > 0);
    check_constants(&lua_family, uses);
    assert_true(uses_of(uses, "MEMBER_ID_LEN") > 0); /* live_users */
    assert_true(uses_of(uses, "MEMBER_V4_LEN") > 0);
    assert_true(uses_of(uses, "MEMBER_V6_LEN") > 0);
}

static void test_shared_parts(void **state)
{
    (void)state;
    /* lua/lib/prune.lua and lua/lib/families.lua, once each where they are used. */
    assert_int_equal(occurrences(&lua_announce, "local function prune("), 1);
    assert_int_equal(occurrences(&lua_purge, "local function prune("), 1);
    assert_int_equal(occurrences(&lua_purge, "local function count_families("), 1);
    assert_int_equal(occurrences(&lua_family, "local function count_families("), 1);
    assert_int_equal(occurrences(&lua_purge, "local function count_users("), 1);
    assert_int_equal(occurrences(&lua_family, "local function count_users("), 1);
    assert_int_equal(occurrences(&lua_scrape, "local function"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_is_the_folder),
        cmocka_unit_test(test_loaders),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_layout_constants),
        cmocka_unit_test(test_shared_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
