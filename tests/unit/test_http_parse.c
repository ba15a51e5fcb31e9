#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/http_parse.h"

/* The limit tests/integration/test_bad_input.py runs with. */
#define LIMIT 1024

/* A copy of exactly len bytes (no NUL after them), so a read past the end is caught. */
static char *exact(const char *raw, size_t len)
{
    char *p = malloc(len > 0 ? len : 1);
    assert_non_null(p);
    memcpy(p, raw, len);
    return p;
}

/* What the server does with one complete request head, as frontend/http.c decides it. */
struct outcome {
    int status; /* 200 for announce and scrape, 404, or the refusal */
    enum http_route route;
    bool keep_alive; /* before the status: a closing status closes anyway */
    bool closes;     /* after the reply, the connection is closed */
    char query[256];
    const char *real_ip; /* NULL, or the header value (copied into real_ip_text) */
    char real_ip_text[256];
};

static struct outcome decide_with(const char *raw, const char *real_ip_header)
{
    size_t len = strlen(raw);
    char *data = exact(raw, len);
    struct outcome o;
    struct http_head h;
    struct http_target t;
    memset(&o, 0, sizeof(o));
    /* Each case is one complete head and nothing after it. */
    assert_int_equal(http_head_length(data, len), len);
    if (http_parse_head(data, len, real_ip_header, &h) < 0) {
        o.status = 400;
    } else {
        o.keep_alive = http_keep_alive(&h);
        if (h.real_ip != NULL) {
            assert_true(h.real_ip_len < sizeof(o.real_ip_text));
            memcpy(o.real_ip_text, h.real_ip, h.real_ip_len);
            o.real_ip = o.real_ip_text;
        }
        o.status = http_route_request(&h, &t);
        if (o.status == 0) {
            o.route = t.route;
            o.status = t.route == HTTP_ROUTE_NOT_FOUND ? 404 : 200;
            assert_true(t.query_len < sizeof(o.query));
            memcpy(o.query, t.query, t.query_len);
        }
    }
    o.closes = !o.keep_alive || http_status_closes(o.status);
    free(data);
    return o;
}

static struct outcome decide(const char *raw)
{
    return decide_with(raw, "");
}

static void expect_status(const char *raw, int status)
{
    struct outcome o = decide(raw);
    if (o.status != status)
        fail_msg("%d, not %d, for \"%s\"", o.status, status, raw);
}

/* ---- finding the end of a head (framing, pipelining) ---- */

static void test_head_length(void **state)
{
    (void)state;
    static const struct {
        const char *raw;
        size_t len;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", 18},
        {"GET / HTTP/1.1\n\n", 16},   /* bare LFs */
        {"GET / HTTP/1.1\r\n\n", 17}, /* mixed */
        {"GET / HTTP/1.1\n\r\n", 17},
        {"GET / HTTP/1.1\r\nHost: t\r\n\r\n", 27},
        {"\r\n\r\n", 4},                                       /* empty: found, then refused */
        {"GET / HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n", 18}, /* pipelined: the first */
        {"GET / HTTP/1.1\r\n\r\nGET /x HT", 18},
        {"GET / HTTP/1.1\r\n\r\nhello", 18}, /* a body is not part of it */
        {"GET / HTTP/1.1\r\n\r", 0},         /* not yet */
        {"GET / HTTP/1.1\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: t\r\n", 0},
        {"GET / HTTP/1.1\r\n\r\r\n", 0}, /* CR CR LF is no blank line */
        {"GET /annou", 0},               /* test_shutdown's half line */
        {"GET /announce?info_hash=", 0}, /* test_http's slow client */
        {"", 0},
        {"\n", 0},
        {"\n\n", 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].raw);
        char *data = exact(cases[i].raw, len);
        size_t got = http_head_length(data, len);
        free(data);
        if (got != cases[i].len)
            fail_msg("%zu, not %zu, for case %zu", got, cases[i].len, i);
    }
}

/* test_http's test_pipelining: four requests in one write are four heads, in order. */
static void test_pipelined_heads(void **state)
{
    (void)state;
    const char *reqs[] = {
        "GET /announce?a=1 HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /announce?a=2 HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /scrape?info_hash=x HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n",
    };
    const enum http_route routes[] = {HTTP_ROUTE_ANNOUNCE, HTTP_ROUTE_ANNOUNCE, HTTP_ROUTE_SCRAPE,
                                      HTTP_ROUTE_NOT_FOUND};
    char all[512] = "";
    for (size_t i = 0; i < 4; i++)
        strcat(all, reqs[i]);
    size_t len = strlen(all), off = 0;
    char *data = exact(all, len);
    for (size_t i = 0; i < 4; i++) {
        size_t n = http_head_length(data + off, len - off);
        assert_int_equal(n, strlen(reqs[i]));
        struct http_head h;
        struct http_target t;
        assert_int_equal(http_parse_head(data + off, n, "", &h), 0);
        assert_int_equal(http_route_request(&h, &t), 0);
        assert_int_equal(t.route, routes[i]);
        assert_true(http_keep_alive(&h));
        off += n;
    }
    assert_int_equal(off, len);
    assert_int_equal(http_head_length(data + off, 0), 0);
    free(data);
}

/* test_http's test_request_split_into_small_writes: no prefix is taken for a request. */
static void test_every_prefix_incomplete(void **state)
{
    (void)state;
    const char *raw = "GET /announce?info_hash=a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    size_t len = strlen(raw);
    for (size_t n = 0; n < len; n++) {
        char *data = exact(raw, n);
        assert_int_equal(http_head_length(data, n), 0);
        free(data);
    }
    char *data = exact(raw, len);
    assert_int_equal(http_head_length(data, len), len);
    free(data);
}

/* ---- requests too large: 414 and 431 (test_bad_input) ---- */

static void fill(char *buf, size_t len, const char *prefix, char pad)
{
    size_t n = strlen(prefix);
    memcpy(buf, prefix, n);
    memset(buf + n, pad, len - n);
}

static void test_too_large(void **state)
{
    (void)state;
    char *buf = malloc(LIMIT);
    assert_non_null(buf);
    /* The request line alone is longer than the limit. */
    fill(buf, LIMIT, "GET /announce?pad=", 'a');
    assert_int_equal(http_head_length(buf, LIMIT), 0);
    assert_int_equal(http_too_large_status(buf, LIMIT), 414);
    /* One header is. */
    fill(buf, LIMIT, "GET /announce HTTP/1.1\r\nHost: t\r\nX-Pad: ", 'a');
    assert_int_equal(http_head_length(buf, LIMIT), 0);
    assert_int_equal(http_too_large_status(buf, LIMIT), 431);
    /* Many small ones are. */
    size_t off = (size_t)snprintf(buf, LIMIT, "GET /announce HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; off + 50 < LIMIT; i++)
        off += (size_t)snprintf(buf + off, LIMIT - off, "X-H%d: %040d\r\n", i, 0);
    memset(buf + off, 'v', LIMIT - off);
    assert_int_equal(http_head_length(buf, LIMIT), 0);
    assert_int_equal(http_too_large_status(buf, LIMIT), 431);
    /* A bare LF ends the request line too. */
    fill(buf, LIMIT, "GET / HTTP/1.1\nX: ", 'a');
    assert_int_equal(http_too_large_status(buf, LIMIT), 431);
    free(buf);
    assert_string_equal(http_refusal_reason(414), "request too large");
    assert_string_equal(http_refusal_reason(431), "request too large");
    assert_true(http_status_closes(414));
    assert_true(http_status_closes(431));
}

/* test_request_just_under_limit_is_served: a head under the limit is a request. */
static void test_just_under_limit(void **state)
{
    (void)state;
    char raw[LIMIT];
    const char *head = "GET /announce?info_hash=x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                       "X-Pad: ";
    size_t n = strlen(head);
    memcpy(raw, head, n);
    memset(raw + n, 'p', LIMIT - 16 - n);
    strcpy(raw + LIMIT - 16, "\r\n\r\n");
    assert_true(strlen(raw) < LIMIT);
    struct outcome o = decide(raw);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.route, HTTP_ROUTE_ANNOUNCE);
    assert_string_equal(o.query, "info_hash=x");
    assert_true(o.closes);
}

/* ---- the request line ---- */

static void test_bad_request_lines(void **state)
{
    (void)state;
    const char *bad[] = {
        "GARBAGE\r\n\r\n",                      /* test_bad_input */
        "GET /announce HTTP/1.1 extra\r\n\r\n", /* test_bad_input */
        "NOT A REQUEST LINE\r\n\r\n",           /* test_metrics */
        "\r\n\r\n",
        "\r\nGET / HTTP/1.1\r\n\r\n", /* no empty line is skipped before the request line */
        "GET /\r\n\r\n",              /* HTTP/0.9 */
        "GET / \r\n\r\n",
        " / HTTP/1.1\r\n\r\n",     /* empty method */
        "GET  HTTP/1.1\r\n\r\n",   /* empty target */
        "GET  / HTTP/1.1\r\n\r\n", /* two spaces */
        "GET / HTTP/1.1 \r\n\r\n", /* trailing space */
        "GET\t/ HTTP/1.1\r\n\r\n", /* tabs are no separators */
        "get / HTTP/1.1\r\n\r\n",  /* methods are upper case */
        "Get / HTTP/1.1\r\n\r\n",
        "G3T / HTTP/1.1\r\n\r\n",
        "GE-T / HTTP/1.1\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n", /* versions */
        "GET / HTTP/1.x\r\n\r\n",
        "GET / HTTP/1.10\r\n\r\n",
        "GET / HTTP/1.\r\n\r\n",
        "GET / HTTP/1\r\n\r\n",
        "GET / http/1.1\r\n\r\n",
        "GET / HTTPS/1.1\r\n\r\n",
        "GET / HTTP/0.9\r\n\r\n",
        "GET / XTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct outcome o = decide(bad[i]);
        if (o.status != 400)
            fail_msg("%d, not 400, for \"%s\"", o.status, bad[i]);
        assert_true(o.closes);
    }
    assert_string_equal(http_refusal_reason(400), "bad request");
    assert_true(http_status_closes(400));
}

static void test_versions(void **state)
{
    (void)state;
    struct http_head h;
    const char *raw = "GET /announce HTTP/1.9\r\n\r\n";
    char *data = exact(raw, strlen(raw));
    assert_int_equal(http_parse_head(data, strlen(raw), "", &h), 0);
    assert_int_equal(h.minor_version, 9);
    assert_int_equal(h.method_len, 3);
    assert_memory_equal(h.method, "GET", 3);
    assert_int_equal(h.target_len, 9);
    assert_memory_equal(h.target, "/announce", 9);
    free(data);
    expect_status("GET /announce HTTP/1.0\r\n\r\n", 200);
    expect_status("GET /announce HTTP/1.1\r\n\r\n", 200);
    /* A bare LF ends lines as well as CRLF. */
    expect_status("GET /announce HTTP/1.1\nHost: t\n\n", 200);
}

static void test_methods(void **state)
{
    (void)state;
    /* test_bad_input's test_post_405: the method is refused before the body is looked at. */
    expect_status("POST /announce?x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405);
    expect_status("POST /announce HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 405);
    expect_status("PUT /scrape HTTP/1.1\r\nHost: t\r\n\r\n", 405);
    expect_status("HEAD /announce HTTP/1.1\r\n\r\n", 405);
    expect_status("GETS /announce HTTP/1.1\r\n\r\n", 405);
    expect_status("GE /announce HTTP/1.1\r\n\r\n", 405);
    expect_status("DELETE /nothing HTTP/1.1\r\n\r\n", 405); /* before routing */
    expect_status("OPTIONS * HTTP/1.1\r\n\r\n", 405);
    assert_string_equal(http_refusal_reason(405), "method not allowed");
    assert_true(http_status_closes(405));
    assert_true(decide("PUT /scrape HTTP/1.1\r\n\r\n").closes);
}

/* ---- targets and routes ---- */

static void expect_route(const char *raw, enum http_route route, const char *query)
{
    struct outcome o = decide(raw);
    if (o.status == 400 || o.status == 405)
        fail_msg("refused with %d: \"%s\"", o.status, raw);
    assert_int_equal(o.route, route);
    assert_string_equal(o.query, query);
}

static void test_routes(void **state)
{
    (void)state;
    expect_route("GET /announce HTTP/1.1\r\n\r\n", HTTP_ROUTE_ANNOUNCE, "");
    expect_route("GET /announce? HTTP/1.1\r\n\r\n", HTTP_ROUTE_ANNOUNCE, "");
    expect_route("GET /announce?a=1&b=2 HTTP/1.1\r\n\r\n", HTTP_ROUTE_ANNOUNCE, "a=1&b=2");
    expect_route("GET /announce?a=?&b HTTP/1.1\r\n\r\n", HTTP_ROUTE_ANNOUNCE, "a=?&b");
    expect_route("GET /scrape HTTP/1.1\r\n\r\n", HTTP_ROUTE_SCRAPE, "");
    expect_route("GET /scrape?info_hash=x HTTP/1.1\r\n\r\n", HTTP_ROUTE_SCRAPE, "info_hash=x");
    /* Paths are compared without regard to case. */
    expect_route("GET /ANNOUNCE?x HTTP/1.1\r\n\r\n", HTTP_ROUTE_ANNOUNCE, "x");
    expect_route("GET /Scrape HTTP/1.1\r\n\r\n", HTTP_ROUTE_SCRAPE, "");
    /* absolute-form */
    expect_route("GET http://tracker.example/announce?x=1 HTTP/1.1\r\n\r\n", HTTP_ROUTE_ANNOUNCE,
                 "x=1");
    expect_route("GET HTTP://t:6969/scrape HTTP/1.1\r\n\r\n", HTTP_ROUTE_SCRAPE, "");
    expect_route("GET http://t/ HTTP/1.1\r\n\r\n", HTTP_ROUTE_NOT_FOUND, "");
}

/* User-Agent is kept (the last one), for a private site's peer records. */
static void test_user_agent(void **state)
{
    (void)state;
    struct http_head h;
    const char *raw = "GET /announce HTTP/1.1\r\nuser-agent:  qBittorrent/4.6.5 \r\n"
                      "User-Agent: Transmission/4.0\r\n\r\n";
    assert_int_equal(http_parse_head(raw, strlen(raw), "", &h), 0);
    assert_int_equal(h.user_agent_len, strlen("Transmission/4.0"));
    assert_memory_equal(h.user_agent, "Transmission/4.0", h.user_agent_len);
    raw = "GET /announce HTTP/1.1\r\n\r\n";
    assert_int_equal(http_parse_head(raw, strlen(raw), "", &h), 0);
    assert_null(h.user_agent);
}

/* Private mode's /<key>/<action>: the key (any 32 bytes but '/') is handed on unchecked. */
static void test_keyed_routes(void **state)
{
    (void)state;
    const char *key = "0123456789abcdefABCDEF0123456789";
    static const struct {
        const char *action;
        enum http_route route;
    } cases[] = {{"announce", HTTP_ROUTE_ANNOUNCE},
                 {"scrape", HTTP_ROUTE_SCRAPE},
                 {"update", HTTP_ROUTE_UPDATE},
                 {"report", HTTP_ROUTE_REPORT},
                 {"Announce", HTTP_ROUTE_ANNOUNCE}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char raw[160];
        snprintf(raw, sizeof(raw), "GET /%s/%s?a=1 HTTP/1.1\r\n\r\n", key, cases[i].action);
        struct http_head h;
        struct http_target t;
        assert_int_equal(http_parse_head(raw, strlen(raw), "", &h), 0);
        assert_int_equal(http_route_request(&h, &t), 0);
        assert_int_equal(t.route, cases[i].route);
        assert_non_null(t.key);
        assert_memory_equal(t.key, key, PASSKEY_LEN);
        assert_int_equal(t.query_len, 3);
    }
    /* Keyless public paths carry no key; other shapes are not found. */
    struct http_head h;
    struct http_target t;
    const char *raw = "GET /announce HTTP/1.1\r\n\r\n";
    assert_int_equal(http_parse_head(raw, strlen(raw), "", &h), 0);
    assert_int_equal(http_route_request(&h, &t), 0);
    assert_null(t.key);
    const char *bad[] = {
        "/0123456789abcdefABCDEF012345678/announce",   /* 31 */
        "/0123456789abcdefABCDEF01234567890/announce", /* 33 */
        "/0123456789abcdef/BCDEF0123456789/announce",  /* a slash inside */
        "/0123456789abcdefABCDEF0123456789/reports",   "/0123456789abcdefABCDEF0123456789/update/x",
        "/0123456789abcdefABCDEF0123456789/",          "/update",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char req[160];
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n\r\n", bad[i]);
        assert_int_equal(http_parse_head(req, strlen(req), "", &h), 0);
        assert_int_equal(http_route_request(&h, &t), 0);
        if (t.route != HTTP_ROUTE_NOT_FOUND)
            fail_msg("%s routed", bad[i]);
        assert_null(t.key);
    }
}

/* test_bad_input's test_unknown_path_404_keeps_connection. */
static void test_not_found(void **state)
{
    (void)state;
    const char *paths[] = {
        "/nothing", "/",          "/announce/x",  "/announce/",          "/announc",
        "/scrapes", "//announce", "/announce%3F", "/nothing?info_hash=x"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char raw[128];
        snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", paths[i]);
        struct outcome o = decide(raw);
        if (o.status != 404)
            fail_msg("%d, not 404, for %s", o.status, paths[i]);
        assert_false(o.closes);
    }
    assert_false(http_status_closes(404));
    assert_false(http_status_closes(200));
}

static void test_bad_targets(void **state)
{
    (void)state;
    expect_status("GET announce HTTP/1.1\r\n\r\n", 400);
    expect_status("GET * HTTP/1.1\r\n\r\n", 400);
    expect_status("GET ?x=1 HTTP/1.1\r\n\r\n", 400);
    expect_status("GET http://tracker.example HTTP/1.1\r\n\r\n", 400); /* no path */
    /* The path starts at the first '/' after the scheme, even one in the query. */
    expect_status("GET http://tracker.example?x=/ HTTP/1.1\r\n\r\n", 404);
    expect_status("GET http:// HTTP/1.1\r\n\r\n", 400);
    expect_status("GET https://t/announce HTTP/1.1\r\n\r\n", 400);
    expect_status("GET ftp://t/announce HTTP/1.1\r\n\r\n", 400);
}

/* ---- headers ---- */

static void test_bad_headers(void **state)
{
    (void)state;
    const char *bad[] = {
        "GET /announce HTTP/1.1\r\nno colon here\r\n\r\n", /* test_bad_input */
        "GET /announce HTTP/1.1\r\n: empty name\r\n\r\n",
        "GET /announce HTTP/1.1\r\nX Y: space in the name\r\n\r\n",
        "GET /announce HTTP/1.1\r\nHost : t\r\n\r\n",
        "GET /announce HTTP/1.1\r\nX\tY: tab in the name\r\n\r\n",
        "GET /announce HTTP/1.1\r\nX\001Y: control byte\r\n\r\n",
        "GET /announce HTTP/1.1\r\nX\177: DEL\r\n\r\n",
        "GET /announce HTTP/1.1\r\nX\200: high byte\r\n\r\n",
        /* Obsolete line folding (RFC 9112 5.2), with a space or a tab. */
        "GET /announce HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
        "GET /announce HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n",
        "GET /announce HTTP/1.1\r\n Host: t\r\n\r\n",
        "GET /announce HTTP/1.1\r\nX-A: a\r\n\tX-B: b\r\n\r\n",
        "GET /announce HTTP/1.1\r\nHost: t\r\ngarbage\n\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_status(bad[i], 400);
}

static void test_header_values(void **state)
{
    (void)state;
    /* Values may be empty and hold anything; names may hold any visible byte. */
    expect_status("GET /announce HTTP/1.1\r\nX-Empty:\r\n\r\n", 200);
    expect_status("GET /announce HTTP/1.1\r\nX-Empty:   \r\n\r\n", 200);
    expect_status("GET /announce HTTP/1.1\r\nX-A: a: b, \"c\"\r\n\r\n", 200);
    expect_status("GET /announce HTTP/1.1\r\nX-!#$%&'*+.^_`|~: v\r\n\r\n", 200);
    expect_status("GET /announce HTTP/1.1\r\nX-A:\tv\t\r\n\r\n", 200);
}

static void test_content_length(void **state)
{
    (void)state;
    const char *ok[] = {"0", "00", "000000", "", " 0 ", "\t0"};
    const char *body[] = {"5", "1", "01", "10", "99999999999999999999999"};
    const char *bad[] = {"-1", "+5", "1.5", "abc", "5 5", "0x5", "5,5", "0, 0"};
    char raw[256];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(raw, sizeof(raw), "GET /announce HTTP/1.1\r\nContent-Length:%s\r\n\r\n", ok[i]);
        expect_status(raw, 200);
    }
    /* test_bad_input's test_get_with_body_400: a GET with a body is refused. */
    for (size_t i = 0; i < sizeof(body) / sizeof(body[0]); i++) {
        snprintf(raw, sizeof(raw), "GET /announce HTTP/1.1\r\ncontent-length: %s\r\n\r\n", body[i]);
        struct outcome o = decide(raw);
        assert_int_equal(o.status, 400);
        assert_true(o.closes);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(raw, sizeof(raw), "GET /announce HTTP/1.1\r\nContent-Length: %s\r\n\r\n", bad[i]);
        struct http_head h;
        char *data = exact(raw, strlen(raw));
        if (http_parse_head(data, strlen(raw), "", &h) != -1)
            fail_msg("Content-Length \"%s\" parsed", bad[i]);
        free(data);
    }
    /* Any body is refused, even on a path that would be a 404. */
    expect_status("GET /nothing HTTP/1.1\r\nContent-Length: 1\r\n\r\n", 400);
}

static void test_transfer_encoding(void **state)
{
    (void)state;
    /* test_bad_input's chunked GET; any Transfer-Encoding announces a body. */
    expect_status("GET /announce HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    expect_status("GET /announce HTTP/1.1\r\ntransfer-encoding: identity\r\n\r\n", 400);
    expect_status("GET /announce HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 400);
    expect_status("GET /announce HTTP/1.1\r\nTransfer-Encodings: chunked\r\n\r\n", 200);
}

/* ---- keep-alive ---- */

static void expect_keep_alive(const char *version, const char *headers, bool keep)
{
    char raw[256];
    snprintf(raw, sizeof(raw), "GET /announce %s\r\n%s\r\n", version, headers);
    struct outcome o = decide(raw);
    assert_int_equal(o.status, 200);
    if (o.keep_alive != keep || o.closes == keep)
        fail_msg("keep-alive %d, not %d, for %s with \"%s\"", o.keep_alive, keep, version, headers);
}

static void test_keep_alive(void **state)
{
    (void)state;
    /* test_keep_alive, test_http10_closes, test_http10_keep_alive, test_connection_close */
    expect_keep_alive("HTTP/1.1", "", true);
    expect_keep_alive("HTTP/1.1", "Host: t\r\n", true);
    expect_keep_alive("HTTP/1.0", "", false);
    expect_keep_alive("HTTP/1.0", "Connection: keep-alive\r\n", true);
    expect_keep_alive("HTTP/1.1", "Connection: close\r\n", false);
    expect_keep_alive("HTTP/1.1", "Connection: Close\r\n", false);
    /* Tokens, in any case, among others, in any Connection header. */
    expect_keep_alive("HTTP/1.1", "connection: CLOSE\r\n", false);
    expect_keep_alive("HTTP/1.1", "Connection: TE, close\r\n", false);
    expect_keep_alive("HTTP/1.1", "Connection: close,TE\r\n", false);
    expect_keep_alive("HTTP/1.1", "Connection: , ,\t close \t, \r\n", false);
    expect_keep_alive("HTTP/1.1", "Connection: TE\r\nConnection: close\r\n", false);
    expect_keep_alive("HTTP/1.1", "Connection: keep-alive\r\nConnection: close\r\n", false);
    expect_keep_alive("HTTP/1.0", "Connection: Keep-Alive\r\n", true);
    expect_keep_alive("HTTP/1.0", "Connection: TE, keep-alive\r\n", true);
    expect_keep_alive("HTTP/1.0", "Connection: close, keep-alive\r\n", true);
    /* Not the tokens. */
    expect_keep_alive("HTTP/1.1", "Connection: closed\r\n", true);
    expect_keep_alive("HTTP/1.1", "Connection: \"close\"\r\n", true);
    expect_keep_alive("HTTP/1.1", "Connection: close keep\r\n", true);
    expect_keep_alive("HTTP/1.1", "Connection:\r\n", true);
    expect_keep_alive("HTTP/1.1", "X-Connection: close\r\n", true);
    expect_keep_alive("HTTP/1.0", "Connection: keep-alived\r\n", false);
    expect_keep_alive("HTTP/1.0", "Keep-Alive: timeout=5\r\n", false);
    /* A refusal closes whatever was asked. */
    struct outcome o = decide("GET /announce HTTP/1.1\r\nContent-Length: 1\r\n\r\n");
    assert_true(o.keep_alive);
    assert_true(o.closes);
}

/* ---- real_ip_header ---- */

static void test_real_ip_header(void **state)
{
    (void)state;
    struct outcome o;
    o = decide_with("GET /announce HTTP/1.1\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n",
                    "X-Forwarded-For");
    assert_string_equal(o.real_ip, "10.1.2.3");
    /* Any case; blanks around the value trimmed. */
    o = decide_with("GET /announce HTTP/1.1\r\nx-forwarded-for: \t10.1.2.5 \r\n\r\n",
                    "X-Forwarded-For");
    assert_string_equal(o.real_ip, "10.1.2.5");
    /* The last such header counts. */
    o = decide_with("GET /announce HTTP/1.1\r\nX-Real-IP: 1.1.1.1\r\nHost: t\r\n"
                    "X-Real-IP: 2.2.2.2\r\n\r\n",
                    "X-Real-IP");
    assert_string_equal(o.real_ip, "2.2.2.2");
    /* Present but empty. */
    o = decide_with("GET /announce HTTP/1.1\r\nX-Real-IP:\r\n\r\n", "X-Real-IP");
    assert_non_null(o.real_ip);
    assert_string_equal(o.real_ip, "");
    /* Other names, a longer or shorter one, or none configured. */
    o = decide_with("GET /announce HTTP/1.1\r\nX-Forwarded-For-X: 10.1.2.3\r\n"
                    "X-Forwarded: 10.1.2.3\r\n\r\n",
                    "X-Forwarded-For");
    assert_null(o.real_ip);
    o = decide_with("GET /announce HTTP/1.1\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n", "");
    assert_null(o.real_ip);
}

static void expect_real_ip(const char *value, int family, const char *text)
{
    struct addr a = {.family = 12345};
    char *data = exact(value, strlen(value));
    int rc = http_real_ip(data, strlen(value), &a);
    free(data);
    if (text == NULL) {
        if (rc != -1 || a.family != 12345)
            fail_msg("\"%s\" taken for an address", value);
        return;
    }
    if (rc != 0)
        fail_msg("\"%s\" refused", value);
    uint8_t want[16];
    assert_int_equal(a.family, family);
    assert_int_equal(inet_pton(family, text, want), 1);
    assert_memory_equal(a.bytes, want, family == AF_INET ? 4 : 16);
}

static void test_real_ip(void **state)
{
    (void)state;
    /* test_http's TrustedProxyTest cases. */
    expect_real_ip("10.1.2.3", AF_INET, "10.1.2.3");
    expect_real_ip("192.0.2.9, 10.1.2.4", AF_INET, "10.1.2.4");
    expect_real_ip("2001:db8::7", AF_INET6, "2001:db8::7");
    expect_real_ip("::ffff:10.1.2.6", AF_INET, "10.1.2.6");
    /* The last entry, blanks trimmed; whatever the earlier ones are. */
    expect_real_ip("garbage,\t 10.0.0.1 \t", AF_INET, "10.0.0.1");
    expect_real_ip("1.1.1.1,2.2.2.2,3.3.3.3", AF_INET, "3.3.3.3");
    expect_real_ip("[2001:db8::8]", AF_INET6, "2001:db8::8");
    /* No address there: the socket peer stays. */
    expect_real_ip("", 0, NULL);
    expect_real_ip(" ", 0, NULL);
    expect_real_ip("10.1.2.3,", 0, NULL);
    expect_real_ip("10.1.2.3, ", 0, NULL);
    expect_real_ip("10.1.2.3, unknown", 0, NULL);
    expect_real_ip("tracker.example", 0, NULL);
    expect_real_ip("10.1.2.3:6881", 0, NULL);
    expect_real_ip("10.1.2.3 10.1.2.4", 0, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_length),
        cmocka_unit_test(test_pipelined_heads),
        cmocka_unit_test(test_every_prefix_incomplete),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_just_under_limit),
        cmocka_unit_test(test_bad_request_lines),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_keyed_routes),
        cmocka_unit_test(test_user_agent),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_bad_targets),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_header_values),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_transfer_encoding),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_real_ip_header),
        cmocka_unit_test(test_real_ip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
