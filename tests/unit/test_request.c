#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "frontend/request.h"

/* Twenty bytes each, so a query built from these is valid. */
#define HASH_TEXT "aaaaaaaaaaaaaaaaaaaa"
#define PEER_TEXT "-XX0001-bbbbbbbbbbbb"
#define IH "info_hash=" HASH_TEXT
#define PID "peer_id=" PEER_TEXT
/* The smallest valid announce; with() replaces some of its parameters. */
#define REQ IH "&" PID "&port=6881&uploaded=0&downloaded=0&left=0"
#define STARTED_X10 "startedstartedstartedstartedstartedstartedstartedstartedstartedstarted"
/* One byte over ANNOUNCE_KEY_MAX. */
#define KEY_TOO_LONG "01234567890123456789012345678901234567890123456789012345678901234"
/* 20 bytes 0x00..0x13, percent-encoded. */
#define HASH_ESCAPED "%00%01%02%03%04%05%06%07%08%09%0a%0B%0c%0D%0e%0F%10%11%12%13"

/* Whether the "&"-separated params name the parameter name (as a plain, unescaped key). */
static bool names_param(const char *params, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = params; *p != '\0'; p += strcspn(p, "&"), p += *p == '&') {
        if (strncmp(p, name, n) == 0 && (p[n] == '=' || p[n] == '&' || p[n] == '\0'))
            return true;
    }
    return false;
}

/*
 * A valid announce with some parameters replaced: params first, then every parameter of REQ
 * that params does not name, so that no parameter is repeated (a repeated one is refused).
 * Returns a static buffer, overwritten by the next call.
 */
static const char *with(const char *params)
{
    static const char *const base[] = {IH,      PID, "port=6881", "uploaded=0", "downloaded=0",
                                       "left=0"};
    static char q[1024];
    size_t len = (size_t)snprintf(q, sizeof(q), "%s", params);
    for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
        char name[16];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(base[i], "="), base[i]);
        if (!names_param(params, name))
            len += (size_t)snprintf(q + len, sizeof(q) - len, "&%s", base[i]);
    }
    assert_true(len < sizeof(q));
    return q;
}

static struct announce_req announce_ok(const char *query)
{
    struct announce_req r;
    const char *reason = NULL;
    memset(&r, 0xa5, sizeof(r));
    if (request_parse_announce(query, strlen(query), &r, &reason) != 0)
        fail_msg("\"%s\" refused: %s", query, reason);
    return r;
}

/* Refused with exactly want, and the output left untouched. */
static void announce_bad(const char *query, const char *want)
{
    struct announce_req r, before;
    const char *reason = NULL;
    memset(&r, 0xa5, sizeof(r));
    before = r;
    assert_int_equal(request_parse_announce(query, strlen(query), &r, &reason), -1);
    if (reason == NULL || strcmp(reason, want) != 0)
        fail_msg("\"%s\": reason \"%s\", want \"%s\"", query, reason ? reason : "(null)", want);
    assert_memory_equal(&r, &before, sizeof(r));
}

static void test_minimal(void **state)
{
    (void)state;
    struct announce_req r = announce_ok(REQ);
    assert_memory_equal(r.info_hash, HASH_TEXT, INFO_HASH_LEN);
    assert_memory_equal(r.peer_id, PEER_TEXT, PEER_ID_LEN);
    assert_int_equal(r.port, 6881);
    assert_int_equal(r.uploaded, 0);
    assert_int_equal(r.downloaded, 0);
    assert_int_equal(r.left, 0);
    assert_int_equal(r.event, EVENT_NONE);
    assert_int_equal(r.numwant, -1);
    assert_true(r.compact);
    assert_false(r.no_peer_id);
    assert_int_equal(r.key_len, 0);
    assert_false(r.ip.present);
    assert_false(r.ipv4.present);
    assert_false(r.ipv6.present);
}

static void test_typical_client(void **state)
{
    (void)state;
    struct announce_req r =
        announce_ok("info_hash=" HASH_ESCAPED "&peer_id=-qB4650-%21%7Eabcdefghi%2A&port=51413"
                    "&uploaded=1024&downloaded=2048&left=4096&corrupt=0&key=1A2B3C4D&event=started"
                    "&numwant=200&compact=1&no_peer_id=1&supportcrypto=1&redundant=0");
    for (int i = 0; i < INFO_HASH_LEN; i++)
        assert_int_equal(r.info_hash[i], i);
    assert_memory_equal(r.peer_id, "-qB4650-!~abcdefghi*", PEER_ID_LEN);
    assert_int_equal(r.port, 51413);
    assert_int_equal(r.uploaded, 1024);
    assert_int_equal(r.downloaded, 2048);
    assert_int_equal(r.left, 4096);
    assert_int_equal(r.event, EVENT_STARTED);
    assert_int_equal(r.numwant, 200);
    assert_true(r.compact);
    assert_true(r.no_peer_id);
    assert_int_equal(r.key_len, 8);
    assert_memory_equal(r.key, "1A2B3C4D", 8);
}

static void test_param_order_free(void **state)
{
    (void)state;
    struct announce_req r =
        announce_ok("left=3&downloaded=2&uploaded=1&port=1&" PID "&" IH "&event=stopped");
    assert_int_equal(r.port, 1);
    assert_int_equal(r.uploaded, 1);
    assert_int_equal(r.downloaded, 2);
    assert_int_equal(r.left, 3);
    assert_int_equal(r.event, EVENT_STOPPED);
}

static void test_binary_hash_every_byte(void **state)
{
    (void)state;
    /* 0xff, 0x80, NUL and the delimiters must survive as bytes. */
    struct announce_req r = announce_ok("info_hash=%FF%80%00%26%3D%25%2B+aaaaaaaaaaaa&" PID
                                        "&port=1&uploaded=0&downloaded=0&left=0");
    const uint8_t want[INFO_HASH_LEN] = {0xff, 0x80, 0,   '&', '=', '%', '+', '+', 'a', 'a',
                                         'a',  'a',  'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'};
    assert_memory_equal(r.info_hash, want, INFO_HASH_LEN);
}

static void test_plus_is_literal(void **state)
{
    (void)state;
    struct announce_req r = announce_ok(with("peer_id=-XX0001-+++++bbbbbbb&key=a+b"));
    assert_memory_equal(r.peer_id, "-XX0001-+++++bbbbbbb", PEER_ID_LEN);
    assert_int_equal(r.key_len, 3);
    assert_memory_equal(r.key, "a+b", 3);
}

static void test_keys_decoded(void **state)
{
    (void)state;
    struct announce_req r =
        announce_ok("info%5Fhash=" HASH_TEXT "&peer%5fid=" PEER_TEXT
                    "&%70ort=7&uploaded=0&downloaded=0&left=0&%65vent=completed");
    assert_int_equal(r.port, 7);
    assert_int_equal(r.event, EVENT_COMPLETED);
}

static void test_keys_case_sensitive(void **state)
{
    (void)state;
    /* Only the exact lower-case names count; these are unknown and ignored. */
    struct announce_req r = announce_ok(with("Port=1&EVENT=bogus&Numwant=x"));
    assert_int_equal(r.port, 6881);
    assert_int_equal(r.event, EVENT_NONE);
    assert_int_equal(r.numwant, -1);
}

static void test_empty_pairs(void **state)
{
    (void)state;
    struct announce_req r = announce_ok("&&&" IH "&&" PID "&&port=6881&uploaded=0&&&downloaded=0"
                                        "&left=0&&&");
    assert_int_equal(r.port, 6881);
}

static void test_key_without_value(void **state)
{
    (void)state;
    struct announce_req r = announce_ok(with("event&compact&no_peer_id&key&ip&ipv4&ipv6"));
    assert_int_equal(r.event, EVENT_NONE);
    assert_true(r.compact);
    assert_false(r.no_peer_id);
    assert_int_equal(r.key_len, 0);
    assert_false(r.ip.present);
    assert_false(r.ipv4.present);
    assert_false(r.ipv6.present);
    announce_bad(with("port"), "invalid port");
    announce_bad(with("info_hash"), "invalid info_hash");
    announce_bad(with("numwant"), "invalid numwant");
}

static void test_equals_in_value(void **state)
{
    (void)state;
    struct announce_req r = announce_ok(with("key=a=b"));
    assert_int_equal(r.key_len, 3);
    assert_memory_equal(r.key, "a=b", 3);
    announce_bad(with("port=68=81"), "invalid port");
}

/* Every parameter an announce reads once; a second value would be a guess. */
static const char *const single_valued[] = {
    "info_hash", "peer_id", "port",    "uploaded",   "downloaded", "left", "event",
    "numwant",   "key",     "compact", "no_peer_id", "ip",         "ipv4", "ipv6",
};

static void test_repeated_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(single_valued) / sizeof(single_valued[0]); i++) {
        const char *name = single_valued[i];
        char q[512], want[32];
        snprintf(want, sizeof(want), "repeated %s", name);
        /* Two different values, two equal ones, and two without any. */
        snprintf(q, sizeof(q), "%s=1&%s=2", name, name);
        announce_bad(with(q), want);
        snprintf(q, sizeof(q), "%s=1&%s=1", name, name);
        announce_bad(with(q), want);
        snprintf(q, sizeof(q), "%s&%s", name, name);
        announce_bad(with(q), want);
        /* Far apart, around the rest of the query. */
        snprintf(q, sizeof(q), "%s=1&%s&%s=1", name, with(""), name);
        announce_bad(q, want);
    }
    /* The same name spelled with an escape is the same parameter. */
    announce_bad(with("port=1&%70ort=1"), "repeated port");
    announce_bad(REQ "&info%5Fhash=" HASH_TEXT, "repeated info_hash");
}

static void test_repeated_check_order(void **state)
{
    (void)state;
    /* A bad escape anywhere still comes first, also in the repeated value. */
    announce_bad(with("port=1&port=%ZZ"), "malformed query");
    announce_bad(with("event=started&event=stopped&x%G=1"), "malformed query");
    /* Then the repetition, before anything missing or invalid. */
    announce_bad("event=a&event=b", "repeated event");
    announce_bad(with("info_hash=short&info_hash=x"), "repeated info_hash");
    announce_bad(with("port=0&left=x&numwant=1&numwant=2"), "repeated numwant");
    /* The first parameter seen twice is named. */
    announce_bad(with("event=started&port=1&port=2&event=stopped"), "repeated port");
    announce_bad(with("key=a&event=started&key=b&event=stopped"), "repeated key");
    /* Unknown parameters may repeat: they are never read. */
    announce_ok(with("foo=1&foo=2&supportcrypto=1&supportcrypto=1"));
}

static void test_unknown_params_ignored(void **state)
{
    (void)state;
    announce_ok(REQ "&foo=bar&trackerid=%ZZ&corrupt=&=&=x&supportcrypto=1");
}

static void test_not_nul_terminated(void **state)
{
    (void)state;
    const char q[] = REQ "&port=1";
    struct announce_req r;
    const char *reason = NULL;
    /* Stop right after "left=0": the trailing "&port=1" is not part of the query. */
    assert_int_equal(request_parse_announce(q, strlen(REQ), &r, &reason), 0);
    assert_int_equal(r.port, 6881);
    /* Cut inside "left=0": the value is now empty. */
    assert_int_equal(request_parse_announce(q, strlen(REQ) - 1, &r, &reason), -1);
    assert_string_equal(reason, "invalid left");
}

static void test_empty_query(void **state)
{
    (void)state;
    announce_bad("", "missing info_hash");
    announce_bad("&&&", "missing info_hash");
    struct announce_req r;
    const char *reason = NULL;
    assert_int_equal(request_parse_announce(NULL, 0, &r, &reason), -1);
    assert_string_equal(reason, "missing info_hash");
}

static void test_missing(void **state)
{
    (void)state;
    announce_bad(PID "&port=6881&uploaded=0&downloaded=0&left=0", "missing info_hash");
    announce_bad(IH "&port=6881&uploaded=0&downloaded=0&left=0", "missing peer_id");
    announce_bad(IH "&" PID "&uploaded=0&downloaded=0&left=0", "missing port");
    announce_bad(IH "&" PID "&port=6881&downloaded=0&left=0", "missing uploaded");
    announce_bad(IH "&" PID "&port=6881&uploaded=0&left=0", "missing downloaded");
    announce_bad(IH "&" PID "&port=6881&uploaded=0&downloaded=0", "missing left");
}

static void test_check_order(void **state)
{
    (void)state;
    announce_bad("port=6881", "missing info_hash");
    announce_bad("peer_id=x&port=0", "missing info_hash");
    announce_bad("info_hash=x", "invalid info_hash");
    announce_bad(IH "&peer_id=x", "invalid peer_id");
    announce_bad(IH "&" PID "&port=0", "invalid port");
    announce_bad(IH "&" PID "&port=1&uploaded=-1&left=x", "invalid uploaded");
    announce_bad(IH "&" PID "&port=1&uploaded=1&downloaded=x", "invalid downloaded");
    announce_bad(IH "&" PID "&port=1&uploaded=1&downloaded=1", "missing left");
    announce_bad(with("left=x&event=x&numwant=x&key=" KEY_TOO_LONG), "invalid left");
    announce_bad(with("event=x&numwant=x"), "invalid event");
    announce_bad(with("numwant=x&key=" KEY_TOO_LONG), "invalid numwant");
}

static void test_malformed_first(void **state)
{
    (void)state;
    /* A bad escape in any parameter we read wins over every other failure. */
    announce_bad("port=%ZZ", "malformed query");
    announce_bad("left=%4", "malformed query");
    announce_bad(REQ "&event=%G1", "malformed query");
    announce_bad(REQ "&numwant=%", "malformed query");
    announce_bad(REQ "&compact=%1", "malformed query");
    announce_bad(REQ "&no_peer_id=%x1", "malformed query");
    announce_bad(REQ "&key=%zz", "malformed query");
    announce_bad(REQ "&ip=1.2.3.4%", "malformed query");
    announce_bad(REQ "&ipv4=%%", "malformed query");
    announce_bad(REQ "&ipv6=%-1", "malformed query");
    announce_bad(with("peer_id=%"), "malformed query");
    announce_bad(with("info_hash=%"), "malformed query");
}

static void test_malformed_key(void **state)
{
    (void)state;
    /* Every key is decoded (to be matched), so a bad escape in any key is malformed. */
    announce_bad(REQ "&unknown%ZZ=1", "malformed query");
    announce_bad(REQ "&%", "malformed query");
    announce_bad(REQ "&%=1", "malformed query");
    announce_bad(REQ "&x%4=1", "malformed query");
    announce_bad(with("info%5=x"), "malformed query");
    announce_bad(REQ "&a_very_long_parameter_name_%GG=1", "malformed query");
}

static void test_malformed_escapes_in_hash(void **state)
{
    (void)state;
    announce_bad(with("info_hash=%G1aaaaaaaaaaaaaaaaaaa"), "malformed query");
    announce_bad(with("info_hash=%1Gaaaaaaaaaaaaaaaaaaa"), "malformed query");
    announce_bad(with("info_hash=aaaaaaaaaaaaaaaaaaa%4"), "malformed query");
    announce_bad(with("info_hash=aaaaaaaaaaaaaaaaaaa%"), "malformed query");
    announce_bad(with("info_hash=aaaaaaaaaaaaaaaaaaa%+1"), "malformed query");
    announce_bad(with("info_hash=aaaaaaaaaaaaaaaaaaa% 1"), "malformed query");
    /* Truncated at the very end of the query. */
    announce_bad(PID "&port=1&uploaded=0&downloaded=0&left=0&info_hash=%4", "malformed query");
}

static void test_invalid_info_hash(void **state)
{
    (void)state;
    announce_bad(with("info_hash="), "invalid info_hash");
    announce_bad(with("info_hash=aaaaaaaaaaaaaaaaaaa"), "invalid info_hash");
    announce_bad(with("info_hash=aaaaaaaaaaaaaaaaaaaaa"), "invalid info_hash");
    /* 20 characters, but 19 bytes once decoded. */
    announce_bad(with("info_hash=%41aaaaaaaaaaaaaaaaa"), "invalid info_hash");
    /* 60 characters decoding to 20 bytes is fine. */
    announce_ok(with("info_hash=" HASH_ESCAPED));
    /* A long hex hash is not accepted in place of raw bytes. */
    announce_bad(with("info_hash=0123456789abcdef0123456789abcdef01234567"), "invalid info_hash");
}

static void test_invalid_peer_id(void **state)
{
    (void)state;
    announce_bad(with("peer_id="), "invalid peer_id");
    announce_bad(with("peer_id=-XX0001-bbbbbbbbbbb"), "invalid peer_id");
    announce_bad(with("peer_id=-XX0001-bbbbbbbbbbbbb"), "invalid peer_id");
    struct announce_req r = announce_ok(with("peer_id=" HASH_ESCAPED));
    assert_int_equal(r.peer_id[19], 0x13);
}

static void test_port(void **state)
{
    (void)state;
    assert_int_equal(announce_ok(with("port=1")).port, 1);
    assert_int_equal(announce_ok(with("port=65535")).port, 65535);
    assert_int_equal(announce_ok(with("port=006881")).port, 6881);
    assert_int_equal(announce_ok(with("port=%36%38%38%31")).port, 6881);
}

static void test_invalid_port(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "0",
                         "00",
                         "65536",
                         "99999",
                         "4294967297",
                         "18446744073709551617",
                         "-1",
                         "+1",
                         "-0",
                         " 1",
                         "1 ",
                         "0x10",
                         "1.0",
                         "abc",
                         "6881x",
                         "\357\274\226881",
                         "1%00",
                         "%006881"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char q[256];
        snprintf(q, sizeof(q), "port=%s", bad[i]);
        announce_bad(with(q), "invalid port");
    }
}

static void test_counters(void **state)
{
    (void)state;
    struct announce_req r = announce_ok(with("uploaded=9223372036854775807&downloaded=00012"
                                             "&left=%31%30"));
    assert_true(r.uploaded == INT64_MAX);
    assert_int_equal(r.downloaded, 12);
    assert_int_equal(r.left, 10);
}

static void test_invalid_counters(void **state)
{
    (void)state;
    const char *names[] = {"uploaded", "downloaded", "left"};
    const char *bad[] = {"", "-1", "-0", "+1", "x", "1x", "1.5", "1e5", " 1", "1 ", "0x1",
                         "9223372036854775808", "18446744073709551615", "18446744073709551616",
                         "99999999999999999999999999999999", "1%00",
                         /* Longer than any number, too. */
                         "00000000000000000000000000000000000000000000000000000000000000001"};
    for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
        char want[32];
        snprintf(want, sizeof(want), "invalid %s", names[n]);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char q[512];
            snprintf(q, sizeof(q), "%s=%s", names[n], bad[i]);
            announce_bad(with(q), want);
        }
    }
}

static void test_event(void **state)
{
    (void)state;
    assert_int_equal(announce_ok(with("event=started")).event, EVENT_STARTED);
    assert_int_equal(announce_ok(with("event=completed")).event, EVENT_COMPLETED);
    assert_int_equal(announce_ok(with("event=stopped")).event, EVENT_STOPPED);
    assert_int_equal(announce_ok(with("event=")).event, EVENT_NONE);
    assert_int_equal(announce_ok(with("event=empty")).event, EVENT_NONE);
    assert_int_equal(announce_ok(with("event=paused")).event, EVENT_NONE);
    assert_int_equal(announce_ok(with("event=%73tarted")).event, EVENT_STARTED);
}

static void test_invalid_event(void **state)
{
    (void)state;
    const char *bad[] = {"Started", "STOPPED", "start", "startedx", "started%00", "stopped+",
                         " stopped", "0", "1", "none", "update",
                         /* Longer than any value we decode into text. */
                         STARTED_X10};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char q[512];
        snprintf(q, sizeof(q), "event=%s", bad[i]);
        announce_bad(with(q), "invalid event");
    }
}

static void test_numwant(void **state)
{
    (void)state;
    assert_int_equal(announce_ok(with("numwant=50")).numwant, 50);
    assert_int_equal(announce_ok(with("numwant=0")).numwant, 0);
    assert_int_equal(announce_ok(with("numwant=-0")).numwant, 0);
    assert_int_equal(announce_ok(with("numwant=-1")).numwant, -1);
    assert_int_equal(announce_ok(with("numwant=-200")).numwant, -1);
    assert_int_equal(announce_ok(with("numwant=-99999999999999999999999")).numwant, -1);
    assert_int_equal(announce_ok(with("numwant=2147483647")).numwant, INT32_MAX);
    assert_int_equal(announce_ok(with("numwant=2147483648")).numwant, INT32_MAX);
    assert_int_equal(announce_ok(with("numwant=18446744073709551616")).numwant, INT32_MAX);
    assert_int_equal(announce_ok(with("numwant=99999999999999999999999999999")).numwant, INT32_MAX);
    assert_int_equal(announce_ok(with("numwant=%35%30")).numwant, 50);
}

static void test_invalid_numwant(void **state)
{
    (void)state;
    const char *bad[] = {"",    "-",  "+5", "x",    "5x",  "-x",   "-5x",
                         "1.5", " 5", "5 ", "0x10", "--1", "5%00", "1e3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char q[256];
        snprintf(q, sizeof(q), "numwant=%s", bad[i]);
        announce_bad(with(q), "invalid numwant");
    }
}

static void test_compact(void **state)
{
    (void)state;
    assert_false(announce_ok(with("compact=0")).compact);
    assert_false(announce_ok(with("compact=%30")).compact);
    assert_true(announce_ok(with("compact=1")).compact);
    assert_true(announce_ok(with("compact=")).compact);
    assert_true(announce_ok(with("compact=00")).compact);
    assert_true(announce_ok(with("compact=false")).compact);
    assert_true(announce_ok(with("compact=0%00")).compact);
}

static void test_no_peer_id(void **state)
{
    (void)state;
    assert_true(announce_ok(with("no_peer_id=1")).no_peer_id);
    assert_true(announce_ok(with("no_peer_id=%31")).no_peer_id);
    assert_false(announce_ok(with("no_peer_id=0")).no_peer_id);
    assert_false(announce_ok(with("no_peer_id=")).no_peer_id);
    assert_false(announce_ok(with("no_peer_id=true")).no_peer_id);
    assert_false(announce_ok(with("no_peer_id=11")).no_peer_id);
}

/* A key= of n characters 'k' (n < 200). */
static struct announce_req with_key_len(size_t n, const char *want_reason)
{
    char q[512] = "key=";
    memset(q + 4, 'k', n);
    snprintf(q + 4 + n, sizeof(q) - 4 - n, "&%s", REQ);
    if (want_reason != NULL) {
        announce_bad(q, want_reason);
        return (struct announce_req){0};
    }
    return announce_ok(q);
}

static void test_key(void **state)
{
    (void)state;
    struct announce_req r = with_key_len(ANNOUNCE_KEY_MAX, NULL);
    assert_int_equal(r.key_len, ANNOUNCE_KEY_MAX);
    assert_int_equal(r.key[ANNOUNCE_KEY_MAX - 1], 'k');
    assert_int_equal(with_key_len(1, NULL).key_len, 1);
    assert_int_equal(announce_ok(with("key=")).key_len, 0);
    r = announce_ok(with("key=%00%FF"));
    assert_int_equal(r.key_len, 2);
    assert_int_equal(r.key[0], 0);
    assert_int_equal(r.key[1], 0xff);
}

static void test_key_escaped_at_limit(void **state)
{
    (void)state;
    /* 64 bytes written as 192 characters: the limit is on decoded bytes. */
    char q[512] = "key=";
    size_t len = 4;
    for (int i = 0; i < ANNOUNCE_KEY_MAX; i++)
        len += (size_t)snprintf(q + len, sizeof(q) - len, "%%41");
    snprintf(q + len, sizeof(q) - len, "&%s", REQ);
    struct announce_req r = announce_ok(q);
    assert_int_equal(r.key_len, ANNOUNCE_KEY_MAX);
    assert_int_equal(r.key[0], 'A');
}

static void test_invalid_key(void **state)
{
    (void)state;
    with_key_len(ANNOUNCE_KEY_MAX + 1, "invalid key");
    with_key_len(150, "invalid key");
}

static void test_ip(void **state)
{
    (void)state;
    struct announce_req r = announce_ok(with("ip=192.0.2.5"));
    assert_true(r.ip.present);
    assert_int_equal(r.ip.addr.family, AF_INET);
    const uint8_t v4[4] = {192, 0, 2, 5};
    assert_memory_equal(r.ip.addr.bytes, v4, 4);
    assert_int_equal(r.ip.port, 0);

    r = announce_ok(with("ip=2001%3Adb8%3A%3A1"));
    assert_true(r.ip.present);
    assert_int_equal(r.ip.addr.family, AF_INET6);
    r = announce_ok(with("ip=2001:db8::1"));
    assert_true(r.ip.present);
    assert_int_equal(r.ip.addr.family, AF_INET6);
    r = announce_ok(with("ip=[::1]"));
    assert_true(r.ip.present);
    assert_int_equal(r.ip.addr.family, AF_INET6);
    r = announce_ok(with("ip=::ffff:192.0.2.5"));
    assert_true(r.ip.present);
    assert_int_equal(r.ip.addr.family, AF_INET);
    assert_memory_equal(r.ip.addr.bytes, v4, 4);
}

static void test_ip_ignored(void **state)
{
    (void)state;
    const char *ignored[] = {"",
                             "tracker.example.com",
                             "localhost",
                             "192.0.2.5:6881",
                             "[::1]:6881",
                             "1.2.3",
                             "256.0.0.1",
                             "192.0.2.5%00",
                             "2001:db8:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:1"};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        char q[512];
        snprintf(q, sizeof(q), "ip=%s", ignored[i]);
        struct announce_req r = announce_ok(with(q));
        if (r.ip.present)
            fail_msg("ip=%s honoured", ignored[i]);
    }
}

static void test_ipv4(void **state)
{
    (void)state;
    const uint8_t v4[4] = {198, 51, 100, 7};
    struct announce_req r = announce_ok(with("ipv4=198.51.100.7"));
    assert_true(r.ipv4.present);
    assert_int_equal(r.ipv4.addr.family, AF_INET);
    assert_memory_equal(r.ipv4.addr.bytes, v4, 4);
    assert_int_equal(r.ipv4.port, 0);

    r = announce_ok(with("ipv4=198.51.100.7%3A6882"));
    assert_true(r.ipv4.present);
    assert_int_equal(r.ipv4.port, 6882);
    r = announce_ok(with("ipv4=198.51.100.7:6883"));
    assert_int_equal(r.ipv4.port, 6883);
    /* A v4-mapped address is IPv4. */
    r = announce_ok(with("ipv4=::ffff:198.51.100.7"));
    assert_true(r.ipv4.present);
    assert_memory_equal(r.ipv4.addr.bytes, v4, 4);
}

static void test_ipv4_ignored(void **state)
{
    (void)state;
    const char *ignored[] = {"",          "2001:db8::1",   "[2001:db8::1]:6881", "::1",
                             "host:6881", "198.51.100.7:", "198.51.100.7:65536", "198.51.100.7:x",
                             "198.51.100"};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        char q[512];
        snprintf(q, sizeof(q), "ipv4=%s", ignored[i]);
        struct announce_req r = announce_ok(with(q));
        if (r.ipv4.present || r.ipv4.port != 0)
            fail_msg("ipv4=%s honoured", ignored[i]);
    }
}

static void test_ipv6(void **state)
{
    (void)state;
    struct addr want;
    assert_int_equal(addr_parse("2001:db8::9", 11, &want), 0);
    struct announce_req r = announce_ok(with("ipv6=2001:db8::9"));
    assert_true(r.ipv6.present);
    assert_true(addr_equal(&r.ipv6.addr, &want));
    assert_int_equal(r.ipv6.port, 0);

    r = announce_ok(with("ipv6=%5B2001%3Adb8%3A%3A9%5D%3A6884"));
    assert_true(r.ipv6.present);
    assert_true(addr_equal(&r.ipv6.addr, &want));
    assert_int_equal(r.ipv6.port, 6884);
    r = announce_ok(with("ipv6=[2001:db8::9]"));
    assert_true(r.ipv6.present);
    assert_int_equal(r.ipv6.port, 0);
}

static void test_ipv6_ignored(void **state)
{
    (void)state;
    const char *ignored[] = {"",
                             "198.51.100.7",
                             "198.51.100.7:6881",
                             "::ffff:198.51.100.7",
                             "[::ffff:198.51.100.7]:6881",
                             "[2001:db8::9]:",
                             "[2001:db8::9]:x",
                             "2001:db8::9:",
                             "fe80::1%25eth0",
                             "host"};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        char q[512];
        snprintf(q, sizeof(q), "ipv6=%s", ignored[i]);
        struct announce_req r = announce_ok(with(q));
        if (r.ipv6.present || r.ipv6.port != 0)
            fail_msg("ipv6=%s honoured", ignored[i]);
    }
}

static void test_all_addresses_together(void **state)
{
    (void)state;
    struct announce_req r = announce_ok(with("ip=192.0.2.1&ipv4=198.51.100.1:1&ipv6=[::2]:2"));
    assert_true(r.ip.present);
    assert_true(r.ipv4.present);
    assert_true(r.ipv6.present);
    assert_int_equal(r.ipv4.port, 1);
    assert_int_equal(r.ipv6.port, 2);
}

/* Scrape: parses into room for max hashes; returns rc, with *count and reason. */
static int scrape(const char *query, size_t max, uint8_t (*hashes)[INFO_HASH_LEN], size_t *count,
                  const char **reason)
{
    *count = 999;
    *reason = NULL;
    return request_parse_scrape(query, strlen(query), hashes, max, count, reason);
}

static void scrape_bad(const char *query, size_t max, const char *want)
{
    uint8_t hashes[8][INFO_HASH_LEN];
    size_t count;
    const char *reason;
    assert_int_equal(scrape(query, max, hashes, &count, &reason), -1);
    if (reason == NULL || strcmp(reason, want) != 0)
        fail_msg("\"%s\": reason \"%s\", want \"%s\"", query, reason ? reason : "(null)", want);
    assert_int_equal(count, 999);
}

static void test_scrape_none(void **state)
{
    (void)state;
    uint8_t hashes[8][INFO_HASH_LEN];
    size_t count;
    const char *reason;
    assert_int_equal(scrape("", 8, hashes, &count, &reason), 0);
    assert_int_equal(count, 0);
    assert_int_equal(scrape("foo=bar&&peer_id=x", 8, hashes, &count, &reason), 0);
    assert_int_equal(count, 0);
    count = 5;
    assert_int_equal(request_parse_scrape(NULL, 0, NULL, 0, &count, &reason), 0);
    assert_int_equal(count, 0);
}

static void test_scrape_in_order(void **state)
{
    (void)state;
    uint8_t hashes[8][INFO_HASH_LEN];
    size_t count;
    const char *reason;
    assert_int_equal(scrape("info_hash=" HASH_TEXT "&x=%ZZ&info_hash=" HASH_ESCAPED
                            "&&info%5Fhash=bbbbbbbbbbbbbbbbbbbb",
                            8, hashes, &count, &reason),
                     0);
    assert_int_equal(count, 3);
    assert_memory_equal(hashes[0], HASH_TEXT, INFO_HASH_LEN);
    for (int i = 0; i < INFO_HASH_LEN; i++)
        assert_int_equal(hashes[1][i], i);
    assert_memory_equal(hashes[2], "bbbbbbbbbbbbbbbbbbbb", INFO_HASH_LEN);
}

static void test_scrape_duplicates_kept(void **state)
{
    (void)state;
    uint8_t hashes[8][INFO_HASH_LEN];
    size_t count;
    const char *reason;
    assert_int_equal(scrape(IH "&" IH, 8, hashes, &count, &reason), 0);
    assert_int_equal(count, 2);
}

static void test_scrape_max(void **state)
{
    (void)state;
    uint8_t hashes[2][INFO_HASH_LEN];
    size_t count;
    const char *reason;
    assert_int_equal(scrape(IH "&" IH, 2, hashes, &count, &reason), 0);
    assert_int_equal(count, 2);
    scrape_bad(IH "&" IH "&" IH, 2, "too many info_hash values");
    scrape_bad(IH, 0, "too many info_hash values");
}

static void test_scrape_not_nul_terminated(void **state)
{
    (void)state;
    uint8_t hashes[2][INFO_HASH_LEN];
    size_t count = 0;
    const char *reason = NULL;
    const char q[] = IH "&info_hash=short";
    assert_int_equal(request_parse_scrape(q, strlen(IH), hashes, 2, &count, &reason), 0);
    assert_int_equal(count, 1);
}

static void test_scrape_invalid(void **state)
{
    (void)state;
    scrape_bad("info_hash=", 8, "invalid info_hash");
    scrape_bad("info_hash", 8, "invalid info_hash");
    scrape_bad("info_hash=aaaaaaaaaaaaaaaaaaa", 8, "invalid info_hash");
    scrape_bad("info_hash=aaaaaaaaaaaaaaaaaaaaa", 8, "invalid info_hash");
    scrape_bad(IH "&info_hash=short", 8, "invalid info_hash");
}

static void test_scrape_malformed(void **state)
{
    (void)state;
    scrape_bad("info_hash=%ZZaaaaaaaaaaaaaaaaaaa", 8, "malformed query");
    scrape_bad("info_hash=aaaaaaaaaaaaaaaaaaa%4", 8, "malformed query");
    scrape_bad("info_hash=aaaaaaaaaaaaaaaaaaa%", 8, "malformed query");
    scrape_bad(IH "&info%ZZhash=x", 8, "malformed query");
    scrape_bad(IH "&%", 8, "malformed query");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_typical_client),
        cmocka_unit_test(test_param_order_free),
        cmocka_unit_test(test_binary_hash_every_byte),
        cmocka_unit_test(test_plus_is_literal),
        cmocka_unit_test(test_keys_decoded),
        cmocka_unit_test(test_keys_case_sensitive),
        cmocka_unit_test(test_empty_pairs),
        cmocka_unit_test(test_key_without_value),
        cmocka_unit_test(test_equals_in_value),
        cmocka_unit_test(test_repeated_refused),
        cmocka_unit_test(test_repeated_check_order),
        cmocka_unit_test(test_unknown_params_ignored),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_empty_query),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_check_order),
        cmocka_unit_test(test_malformed_first),
        cmocka_unit_test(test_malformed_key),
        cmocka_unit_test(test_malformed_escapes_in_hash),
        cmocka_unit_test(test_invalid_info_hash),
        cmocka_unit_test(test_invalid_peer_id),
        cmocka_unit_test(test_port),
        cmocka_unit_test(test_invalid_port),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_invalid_counters),
        cmocka_unit_test(test_event),
        cmocka_unit_test(test_invalid_event),
        cmocka_unit_test(test_numwant),
        cmocka_unit_test(test_invalid_numwant),
        cmocka_unit_test(test_compact),
        cmocka_unit_test(test_no_peer_id),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_key_escaped_at_limit),
        cmocka_unit_test(test_invalid_key),
        cmocka_unit_test(test_ip),
        cmocka_unit_test(test_ip_ignored),
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv4_ignored),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_ipv6_ignored),
        cmocka_unit_test(test_all_addresses_together),
        cmocka_unit_test(test_scrape_none),
        cmocka_unit_test(test_scrape_in_order),
        cmocka_unit_test(test_scrape_duplicates_kept),
        cmocka_unit_test(test_scrape_max),
        cmocka_unit_test(test_scrape_not_nul_terminated),
        cmocka_unit_test(test_scrape_invalid),
        cmocka_unit_test(test_scrape_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
