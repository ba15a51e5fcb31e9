#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "frontend/connid.h"

/* A time well inside a window, so "+60 s" is always the next window. */
#define T0 (1700000000ULL - 1700000000ULL % CONNID_WINDOW_S + 10)

static struct addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct addr x;
    memset(&x, 0, sizeof(x));
    x.family = AF_INET;
    x.bytes[0] = a;
    x.bytes[1] = b;
    x.bytes[2] = c;
    x.bytes[3] = d;
    return x;
}

static struct addr v6_doc(uint8_t last)
{
    struct addr x;
    memset(&x, 0, sizeof(x));
    x.family = AF_INET6;
    x.bytes[0] = 0x20;
    x.bytes[1] = 0x01;
    x.bytes[2] = 0x0d;
    x.bytes[3] = 0xb8;
    x.bytes[15] = last;
    return x;
}

static struct connid_keys keys_from(const char *current, const char *previous)
{
    struct connid_keys k;
    memset(&k, 0, sizeof(k));
    connid_key_from_secret(current, strlen(current), k.current);
    if (previous != NULL) {
        connid_key_from_secret(previous, strlen(previous), k.previous);
        k.has_previous = true;
    }
    return k;
}

/* The reference key 00 01 .. 0f of the SipHash paper. */
static void paper_key(uint8_t key[CONNID_KEY_LEN])
{
    for (int i = 0; i < CONNID_KEY_LEN; i++)
        key[i] = (uint8_t)i;
}

static void test_siphash_paper_vector(void **state)
{
    (void)state;
    uint8_t key[CONNID_KEY_LEN];
    uint8_t msg[15];
    paper_key(key);
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    assert_true(siphash24(key, msg, sizeof(msg)) == 0xa129ca6149be45e5ULL);
}

static void test_siphash_empty(void **state)
{
    (void)state;
    uint8_t key[CONNID_KEY_LEN];
    paper_key(key);
    assert_true(siphash24(key, "", 0) == 0x726fdb47dd0e0e31ULL);
}

/* Lengths that end exactly on a word and one past it, from the reference vectors.h. */
static void test_siphash_word_boundaries(void **state)
{
    (void)state;
    uint8_t key[CONNID_KEY_LEN];
    uint8_t msg[16];
    paper_key(key);
    for (int i = 0; i < 16; i++)
        msg[i] = (uint8_t)i;
    /* vectors_sip64[8] and [16], as little-endian 64-bit values */
    assert_true(siphash24(key, msg, 8) == 0x93f5f5799a932462ULL);
    assert_true(siphash24(key, msg, 16) == 0x3f2acc7f57c29bdbULL);
}

static void test_key_from_secret(void **state)
{
    (void)state;
    uint8_t a[CONNID_KEY_LEN], b[CONNID_KEY_LEN], c[CONNID_KEY_LEN];
    connid_key_from_secret("hunter2", 7, a);
    connid_key_from_secret("hunter2", 7, b);
    connid_key_from_secret("hunter3", 7, c);
    assert_memory_equal(a, b, CONNID_KEY_LEN);
    assert_memory_not_equal(a, c, CONNID_KEY_LEN);
    /* the two halves come from different fixed keys, so they differ */
    assert_memory_not_equal(a, a + 8, 8);
    /* the length counts, not a NUL */
    connid_key_from_secret("hunter2", 6, c);
    assert_memory_not_equal(a, c, CONNID_KEY_LEN);
}

/* The documented message, built independently: family, address, port BE, window LE. */
static uint64_t expected_id(const uint8_t key[CONNID_KEY_LEN], const struct addr *a, uint16_t port,
                            uint64_t window)
{
    uint8_t msg[27];
    size_t alen = a->family == AF_INET ? 4 : 16;
    size_t n = 0;
    msg[n++] = a->family == AF_INET ? 4 : 6;
    memcpy(msg + n, a->bytes, alen);
    n += alen;
    msg[n++] = (uint8_t)(port >> 8);
    msg[n++] = (uint8_t)port;
    for (int i = 0; i < 8; i++)
        msg[n++] = (uint8_t)(window >> (8 * i));
    return siphash24(key, msg, n);
}

static void test_message_layout(void **state)
{
    (void)state;
    struct connid_keys k = keys_from("secret", NULL);
    struct addr a = v4(192, 0, 2, 1);
    struct addr b = v6_doc(9);
    assert_true(connid_issue(&k, &a, 0x1ae1, T0) ==
                expected_id(k.current, &a, 0x1ae1, T0 / CONNID_WINDOW_S));
    assert_true(connid_issue(&k, &b, 0x1ae1, T0) ==
                expected_id(k.current, &b, 0x1ae1, T0 / CONNID_WINDOW_S));
}

static void test_accepted_this_and_next_window(void **state)
{
    (void)state;
    struct connid_keys k = keys_from("secret", NULL);
    struct addr a = v4(192, 0, 2, 1);
    uint64_t id = connid_issue(&k, &a, 6881, T0);

    assert_true(connid_check(&k, &a, 6881, T0, id));
    assert_true(connid_check(&k, &a, 6881, T0 + 49, id)); /* end of the same window */
    assert_true(connid_check(&k, &a, 6881, T0 + CONNID_WINDOW_S, id));
    assert_true(connid_check(&k, &a, 6881, T0 + 2 * CONNID_WINDOW_S - 11, id));
    assert_false(connid_check(&k, &a, 6881, T0 + 2 * CONNID_WINDOW_S, id));
    assert_false(connid_check(&k, &a, 6881, T0 + 10 * CONNID_WINDOW_S, id));
    /* an ID from the future is not accepted either */
    assert_false(connid_check(&k, &a, 6881, T0 - CONNID_WINDOW_S, id));
    assert_false(connid_check(&k, &a, 6881, T0, id ^ 1));
}

static void test_same_in_window(void **state)
{
    (void)state;
    struct connid_keys k = keys_from("secret", NULL);
    struct addr a = v4(192, 0, 2, 1);
    assert_true(connid_issue(&k, &a, 6881, T0) == connid_issue(&k, &a, 6881, T0 + 49));
    assert_true(connid_issue(&k, &a, 6881, T0) != connid_issue(&k, &a, 6881, T0 + 50));
}

static void test_bound_to_client(void **state)
{
    (void)state;
    struct connid_keys k = keys_from("secret", NULL);
    struct connid_keys other = keys_from("other secret", NULL);
    struct addr a = v4(192, 0, 2, 1);
    struct addr b = v4(192, 0, 2, 2);
    uint64_t id = connid_issue(&k, &a, 6881, T0);

    assert_false(connid_check(&k, &b, 6881, T0, id));
    assert_false(connid_check(&k, &a, 6882, T0, id));
    assert_false(connid_check(&other, &a, 6881, T0, id));

    /* the same bytes under the other family: the family byte keeps them apart */
    struct addr a6 = a;
    a6.family = AF_INET6;
    assert_false(connid_check(&k, &a6, 6881, T0, id));
}

/* Bytes past the first 4 of an IPv4 address are not part of it. */
static void test_v4_ignores_tail(void **state)
{
    (void)state;
    struct connid_keys k = keys_from("secret", NULL);
    struct addr a = v4(192, 0, 2, 1);
    struct addr junk = a;
    junk.bytes[10] = 0xff;
    assert_true(connid_issue(&k, &a, 6881, T0) == connid_issue(&k, &junk, 6881, T0));
}

static void test_v6(void **state)
{
    (void)state;
    struct connid_keys k = keys_from("secret", NULL);
    struct addr a = v6_doc(1);
    struct addr b = v6_doc(2);
    uint64_t id = connid_issue(&k, &a, 51413, T0);
    assert_true(connid_check(&k, &a, 51413, T0 + CONNID_WINDOW_S, id));
    assert_false(connid_check(&k, &b, 51413, T0, id));
}

static void test_previous_key_checks_only(void **state)
{
    (void)state;
    struct connid_keys old = keys_from("old", NULL);
    struct connid_keys rotated = keys_from("new", "old");
    struct connid_keys fresh = keys_from("new", NULL);
    struct addr a = v4(198, 51, 100, 7);
    uint64_t old_id = connid_issue(&old, &a, 6881, T0);

    /* an ID issued before the rotation still works, in both windows */
    assert_true(connid_check(&rotated, &a, 6881, T0, old_id));
    assert_true(connid_check(&rotated, &a, 6881, T0 + CONNID_WINDOW_S, old_id));
    assert_false(connid_check(&rotated, &a, 6881, T0 + 2 * CONNID_WINDOW_S, old_id));
    /* ... only while the previous key is kept */
    assert_false(connid_check(&fresh, &a, 6881, T0, old_id));
    rotated.has_previous = false;
    assert_false(connid_check(&rotated, &a, 6881, T0, old_id));
    rotated.has_previous = true;

    /* issuing always uses the current key */
    uint64_t new_id = connid_issue(&rotated, &a, 6881, T0);
    assert_true(new_id == connid_issue(&fresh, &a, 6881, T0));
    assert_true(new_id != old_id);
    assert_true(connid_check(&fresh, &a, 6881, T0, new_id));
}

/* In the first window there is no previous one: no wrap to window UINT64_MAX. */
static void test_first_window(void **state)
{
    (void)state;
    struct connid_keys k = keys_from("secret", "old");
    struct addr a = v4(192, 0, 2, 1);
    uint64_t id0 = connid_issue(&k, &a, 6881, 0);

    assert_true(connid_check(&k, &a, 6881, 0, id0));
    assert_true(connid_check(&k, &a, 6881, 59, id0));
    assert_true(connid_check(&k, &a, 6881, 60, id0));
    assert_true(connid_check(&k, &a, 6881, 119, id0));
    assert_false(connid_check(&k, &a, 6881, 120, id0));

    /* window 0 - 1 would wrap to UINT64_MAX, which no clock reaches: never accepted */
    uint64_t id_wrapped = expected_id(k.current, &a, 6881, UINT64_MAX);
    assert_false(connid_check(&k, &a, 6881, 0, id_wrapped));
    assert_false(connid_check(&k, &a, 6881, 59, id_wrapped));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_paper_vector),
        cmocka_unit_test(test_siphash_empty),
        cmocka_unit_test(test_siphash_word_boundaries),
        cmocka_unit_test(test_key_from_secret),
        cmocka_unit_test(test_message_layout),
        cmocka_unit_test(test_accepted_this_and_next_window),
        cmocka_unit_test(test_same_in_window),
        cmocka_unit_test(test_bound_to_client),
        cmocka_unit_test(test_v4_ignores_tail),
        cmocka_unit_test(test_v6),
        cmocka_unit_test(test_previous_key_checks_only),
        cmocka_unit_test(test_first_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
