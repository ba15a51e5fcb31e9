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
/* The smallest valid announce. Tests prepend a parameter to override one: the first wins. */
#define REQ IH "&" PID "&port=6881&uploaded=0&downloaded=0&left=0"
#define STARTED_X10 "startedstartedstartedstartedstartedstartedstartedstartedstartedstarted"
/* One byte over ANNOUNCE_KEY_MAX. */
#define KEY_TOO_LONG "01234567890123456789012345678901234567890123456789012345678901234"
/* 20 bytes 0x00..0x13, percent-encoded. */
#define HASH_ESCAPED "%00%01%02%03%04%05%06%07%08%09%0a%0B%0c%0D%0e%0F%10%11%12%13"

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
    struct announce_req r = announce_ok("peer_id=-XX0001-+++++bbbbbbb&key=a+b&" REQ);
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
    struct announce_req r = announce_ok("Port=1&EVENT=bogus&Numwant=x&" REQ);
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
    struct announce_req r = announce_ok("event&compact&no_peer_id&key&ip&ipv4&ipv6&" REQ);
    assert_int_equal(r.event, EVENT_NONE);
    assert_true(r.compact);
    assert_false(r.no_peer_id);
    assert_int_equal(r.key_len, 0);
    assert_false(r.ip.present);
    assert_false(r.ipv4.present);
    assert_false(r.ipv6.present);
    announce_bad("port&" REQ, "invalid port");
    announce_bad("info_hash&" REQ, "invalid info_hash");
    announce_bad("numwant&" REQ, "invalid numwant");
}

static void test_equals_in_value(void **state)
{
    (void)state;
    struct announce_req r = announce_ok("key=a=b&" REQ);
    assert_int_equal(r.key_len, 3);
    assert_memory_equal(r.key, "a=b", 3);
    announce_bad("port=68=81&" REQ, "invalid port");
}

static void test_first_wins(void **state)
{
    (void)state;
    struct announce_req r = announce_ok(REQ "&port=1&event=started&event=stopped&port=2");
    assert_int_equal(r.port, 6881);
    assert_int_equal(r.event, EVENT_STARTED);
    /* Later duplicates are never read, so their contents do not matter. */
    r = announce_ok("event=started&" REQ "&port=bogus&info_hash=short&event=%ZZ");
    assert_int_equal(r.port, 6881);
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
    announce_bad("left=x&event=x&numwant=x&key=" KEY_TOO_LONG "&" REQ, "invalid left");
    announce_bad("event=x&numwant=x&" REQ, "invalid event");
    announce_bad("numwant=x&key=" KEY_TOO_LONG "&" REQ, "invalid numwant");
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
    announce_bad("peer_id=%&" REQ, "malformed query");
    announce_bad("info_hash=%&" REQ, "malformed query");
}

static void test_malformed_key(void **state)
{
    (void)state;
    /* Every key is decoded (to be matched), so a bad escape in any key is malformed. */
    announce_bad(REQ "&unknown%ZZ=1", "malformed query");
    announce_bad(REQ "&%", "malformed query");
    announce_bad(REQ "&%=1", "malformed query");
    announce_bad(REQ "&x%4=1", "malformed query");
    announce_bad("info%5=x&" REQ, "malformed query");
    announce_bad(REQ "&a_very_long_parameter_name_%GG=1", "malformed query");
}

static void test_malformed_escapes_in_hash(void **state)
{
    (void)state;
    announce_bad("info_hash=%G1aaaaaaaaaaaaaaaaaaa&" REQ, "malformed query");
    announce_bad("info_hash=%1Gaaaaaaaaaaaaaaaaaaa&" REQ, "malformed query");
    announce_bad("info_hash=aaaaaaaaaaaaaaaaaaa%4&" REQ, "malformed query");
    announce_bad("info_hash=aaaaaaaaaaaaaaaaaaa%&" REQ, "malformed query");
    announce_bad("info_hash=aaaaaaaaaaaaaaaaaaa%+1&" REQ, "malformed query");
    announce_bad("info_hash=aaaaaaaaaaaaaaaaaaa% 1&" REQ, "malformed query");
    /* Truncated at the very end of the query. */
    announce_bad(PID "&port=1&uploaded=0&downloaded=0&left=0&info_hash=%4", "malformed query");
}

static void test_invalid_info_hash(void **state)
{
    (void)state;
    announce_bad("info_hash=&" REQ, "invalid info_hash");
    announce_bad("info_hash=aaaaaaaaaaaaaaaaaaa&" REQ, "invalid info_hash");
    announce_bad("info_hash=aaaaaaaaaaaaaaaaaaaaa&" REQ, "invalid info_hash");
    /* 20 characters, but 19 bytes once decoded. */
    announce_bad("info_hash=%41aaaaaaaaaaaaaaaaa&" REQ, "invalid info_hash");
    /* 60 characters decoding to 20 bytes is fine. */
    announce_ok("info_hash=" HASH_ESCAPED "&" REQ);
    /* A long hex hash is not accepted in place of raw bytes. */
    announce_bad("info_hash=0123456789abcdef0123456789abcdef01234567&" REQ, "invalid info_hash");
}

static void test_invalid_peer_id(void **state)
{
    (void)state;
    announce_bad("peer_id=&" REQ, "invalid peer_id");
    announce_bad("peer_id=-XX0001-bbbbbbbbbbb&" REQ, "invalid peer_id");
    announce_bad("peer_id=-XX0001-bbbbbbbbbbbbb&" REQ, "invalid peer_id");
    struct announce_req r = announce_ok("peer_id=" HASH_ESCAPED "&" REQ);
    assert_int_equal(r.peer_id[19], 0x13);
}

static void test_port(void **state)
{
    (void)state;
    assert_int_equal(announce_ok("port=1&" REQ).port, 1);
    assert_int_equal(announce_ok("port=65535&" REQ).port, 65535);
    assert_int_equal(announce_ok("port=006881&" REQ).port, 6881);
    assert_int_equal(announce_ok("port=%36%38%38%31&" REQ).port, 6881);
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
        snprintf(q, sizeof(q), "port=%s&" REQ, bad[i]);
        announce_bad(q, "invalid port");
    }
}

static void test_counters(void **state)
{
    (void)state;
    struct announce_req r = announce_ok("uploaded=9223372036854775807&downloaded=00012"
                                        "&left=%31%30&" REQ);
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
            snprintf(q, sizeof(q), "%s=%s&" REQ, names[n], bad[i]);
            announce_bad(q, want);
        }
    }
}

static void test_event(void **state)
{
    (void)state;
    assert_int_equal(announce_ok("event=started&" REQ).event, EVENT_STARTED);
    assert_int_equal(announce_ok("event=completed&" REQ).event, EVENT_COMPLETED);
    assert_int_equal(announce_ok("event=stopped&" REQ).event, EVENT_STOPPED);
    assert_int_equal(announce_ok("event=&" REQ).event, EVENT_NONE);
    assert_int_equal(announce_ok("event=empty&" REQ).event, EVENT_NONE);
    assert_int_equal(announce_ok("event=paused&" REQ).event, EVENT_NONE);
    assert_int_equal(announce_ok("event=%73tarted&" REQ).event, EVENT_STARTED);
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
        snprintf(q, sizeof(q), "event=%s&" REQ, bad[i]);
        announce_bad(q, "invalid event");
    }
}

static void test_numwant(void **state)
{
    (void)state;
    assert_int_equal(announce_ok("numwant=50&" REQ).numwant, 50);
    assert_int_equal(announce_ok("numwant=0&" REQ).numwant, 0);
    assert_int_equal(announce_ok("numwant=-0&" REQ).numwant, 0);
    assert_int_equal(announce_ok("numwant=-1&" REQ).numwant, -1);
    assert_int_equal(announce_ok("numwant=-200&" REQ).numwant, -1);
    assert_int_equal(announce_ok("numwant=-99999999999999999999999&" REQ).numwant, -1);
    assert_int_equal(announce_ok("numwant=2147483647&" REQ).numwant, INT32_MAX);
    assert_int_equal(announce_ok("numwant=2147483648&" REQ).numwant, INT32_MAX);
    assert_int_equal(announce_ok("numwant=18446744073709551616&" REQ).numwant, INT32_MAX);
    assert_int_equal(announce_ok("numwant=99999999999999999999999999999&" REQ).numwant, INT32_MAX);
    assert_int_equal(announce_ok("numwant=%35%30&" REQ).numwant, 50);
}

static void test_invalid_numwant(void **state)
{
    (void)state;
    const char *bad[] = {"",    "-",  "+5", "x",    "5x",  "-x",   "-5x",
                         "1.5", " 5", "5 ", "0x10", "--1", "5%00", "1e3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char q[256];
        snprintf(q, sizeof(q), "numwant=%s&" REQ, bad[i]);
        announce_bad(q, "invalid numwant");
    }
}

static void test_compact(void **state)
{
    (void)state;
    assert_false(announce_ok("compact=0&" REQ).compact);
    assert_false(announce_ok("compact=%30&" REQ).compact);
    assert_true(announce_ok("compact=1&" REQ).compact);
    assert_true(announce_ok("compact=&" REQ).compact);
    assert_true(announce_ok("compact=00&" REQ).compact);
    assert_true(announce_ok("compact=false&" REQ).compact);
    assert_true(announce_ok("compact=0%00&" REQ).compact);
}

static void test_no_peer_id(void **state)
{
    (void)state;
    assert_true(announce_ok("no_peer_id=1&" REQ).no_peer_id);
    assert_true(announce_ok("no_peer_id=%31&" REQ).no_peer_id);
    assert_false(announce_ok("no_peer_id=0&" REQ).no_peer_id);
    assert_false(announce_ok("no_peer_id=&" REQ).no_peer_id);
    assert_false(announce_ok("no_peer_id=true&" REQ).no_peer_id);
    assert_false(announce_ok("no_peer_id=11&" REQ).no_peer_id);
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
    assert_int_equal(announce_ok("key=&" REQ).key_len, 0);
    r = announce_ok("key=%00%FF&" REQ);
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
    struct announce_req r = announce_ok("ip=192.0.2.5&" REQ);
    assert_true(r.ip.present);
    assert_int_equal(r.ip.addr.family, AF_INET);
    const uint8_t v4[4] = {192, 0, 2, 5};
    assert_memory_equal(r.ip.addr.bytes, v4, 4);
    assert_int_equal(r.ip.port, 0);

    r = announce_ok("ip=2001%3Adb8%3A%3A1&" REQ);
    assert_true(r.ip.present);
    assert_int_equal(r.ip.addr.family, AF_INET6);
    r = announce_ok("ip=2001:db8::1&" REQ);
    assert_true(r.ip.present);
    assert_int_equal(r.ip.addr.family, AF_INET6);
    r = announce_ok("ip=[::1]&" REQ);
    assert_true(r.ip.present);
    assert_int_equal(r.ip.addr.family, AF_INET6);
    r = announce_ok("ip=::ffff:192.0.2.5&" REQ);
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
        snprintf(q, sizeof(q), "ip=%s&" REQ, ignored[i]);
        struct announce_req r = announce_ok(q);
        if (r.ip.present)
            fail_msg("ip=%s honoured", ignored[i]);
    }
}

static void test_ipv4(void **state)
{
    (void)state;
    const uint8_t v4[4] = {198, 51, 100, 7};
    struct announce_req r = announce_ok("ipv4=198.51.100.7&" REQ);
    assert_true(r.ipv4.present);
    assert_int_equal(r.ipv4.addr.family, AF_INET);
    assert_memory_equal(r.ipv4.addr.bytes, v4, 4);
    assert_int_equal(r.ipv4.port, 0);

    r = announce_ok("ipv4=198.51.100.7%3A6882&" REQ);
    assert_true(r.ipv4.present);
    assert_int_equal(r.ipv4.port, 6882);
    r = announce_ok("ipv4=198.51.100.7:6883&" REQ);
    assert_int_equal(r.ipv4.port, 6883);
    /* A v4-mapped address is IPv4. */
    r = announce_ok("ipv4=::ffff:198.51.100.7&" REQ);
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
        snprintf(q, sizeof(q), "ipv4=%s&" REQ, ignored[i]);
        struct announce_req r = announce_ok(q);
        if (r.ipv4.present || r.ipv4.port != 0)
            fail_msg("ipv4=%s honoured", ignored[i]);
    }
}

static void test_ipv6(void **state)
{
    (void)state;
    struct addr want;
    assert_int_equal(addr_parse("2001:db8::9", 11, &want), 0);
    struct announce_req r = announce_ok("ipv6=2001:db8::9&" REQ);
    assert_true(r.ipv6.present);
    assert_true(addr_equal(&r.ipv6.addr, &want));
    assert_int_equal(r.ipv6.port, 0);

    r = announce_ok("ipv6=%5B2001%3Adb8%3A%3A9%5D%3A6884&" REQ);
    assert_true(r.ipv6.present);
    assert_true(addr_equal(&r.ipv6.addr, &want));
    assert_int_equal(r.ipv6.port, 6884);
    r = announce_ok("ipv6=[2001:db8::9]&" REQ);
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
        snprintf(q, sizeof(q), "ipv6=%s&" REQ, ignored[i]);
        struct announce_req r = announce_ok(q);
        if (r.ipv6.present || r.ipv6.port != 0)
            fail_msg("ipv6=%s honoured", ignored[i]);
    }
}

static void test_all_addresses_together(void **state)
{
    (void)state;
    struct announce_req r = announce_ok("ip=192.0.2.1&ipv4=198.51.100.1:1&ipv6=[::2]:2&" REQ);
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
        cmocka_unit_test(test_first_wins),
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
