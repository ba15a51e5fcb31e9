/*
 * HTTP request heads (frontend/http_parse.c), as frontend/http.c feeds them: framed one by
 * one from the received bytes (pipelining), parsed, routed, and the query handed to the
 * announce or scrape parser (frontend/request.c) as http_handler.c does.
 */
#include <string.h>

#include "frontend/http_parse.h"
#include "frontend/request.h"
#include "fuzz.h"

/* The default max_scrape_hashes: the handler's array has that many rows. */
#define SCRAPE_MAX 74

static void check_head(const char *data, size_t len)
{
    struct http_head h;
    struct http_target t;

    if (http_parse_head(data, len, "X-Forwarded-For", &h) < 0)
        return;
    FUZZ_CHECK(fuzz_within(h.method, h.method_len, data, len));
    FUZZ_CHECK(fuzz_within(h.target, h.target_len, data, len));
    if (h.real_ip != NULL) {
        struct addr a;
        FUZZ_CHECK(fuzz_within(h.real_ip, h.real_ip_len, data, len));
        http_real_ip(h.real_ip, h.real_ip_len, &a);
    }
    http_keep_alive(&h);
    int status = http_route_request(&h, &t);
    if (status != 0) {
        FUZZ_CHECK(http_refusal_reason(status) != NULL);
        FUZZ_CHECK(http_status_closes(status));
        return;
    }
    FUZZ_CHECK(fuzz_within(t.query, t.query_len, data, len));
    const char *reason = NULL;
    if (t.route == HTTP_ROUTE_ANNOUNCE) {
        struct announce_req req;
        if (request_parse_announce(t.query, t.query_len, &req, &reason) < 0)
            FUZZ_CHECK(reason != NULL && reason[0] != '\0');
    } else if (t.route == HTTP_ROUTE_SCRAPE) {
        static uint8_t hashes[SCRAPE_MAX][INFO_HASH_LEN];
        size_t n = 0;
        if (request_parse_scrape(t.query, t.query_len, hashes, SCRAPE_MAX, &n, &reason) < 0)
            FUZZ_CHECK(reason != NULL && reason[0] != '\0');
        else
            FUZZ_CHECK(n <= SCRAPE_MAX);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    const char *data = (const char *)bytes;
    size_t head;

    while ((head = http_head_length(data, size)) > 0) {
        FUZZ_CHECK(head <= size);
        check_head(data, head);
        data += head;
        size -= head;
    }
    /* What is left is an unfinished head: the refusal if it reached the size limit. */
    int status = http_too_large_status(data, size);
    FUZZ_CHECK(status == 414 || status == 431);
    return 0;
}
