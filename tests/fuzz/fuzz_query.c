/*
 * Query strings (frontend/request.c) and the text codecs under them (common/text.c):
 * percent-decoding, decimal numbers, hex.
 */
#include <string.h>

#include "common/text.h"
#include "frontend/request.h"
#include "fuzz.h"

static void check_requests(const char *q, size_t len)
{
    struct announce_req req;
    const char *reason = NULL;
    if (request_parse_announce(q, len, &req, &reason) < 0) {
        FUZZ_CHECK(reason != NULL && reason[0] != '\0');
    } else {
        FUZZ_CHECK(req.key_len <= ANNOUNCE_KEY_MAX);
        FUZZ_CHECK(req.port != 0);
    }

    /* 74 rows, as the default max_scrape_hashes; 0 rows, as a scrape with no room. */
    static uint8_t hashes[74][INFO_HASH_LEN];
    size_t n = 999;
    reason = NULL;
    if (request_parse_scrape(q, len, hashes, 74, &n, &reason) < 0)
        FUZZ_CHECK(reason != NULL);
    else
        FUZZ_CHECK(n <= 74);
    n = 999;
    if (request_parse_scrape(q, len, NULL, 0, &n, &reason) == 0)
        FUZZ_CHECK(n == 0);
}

/* Every output byte takes one input byte, or three (%XX); a prefix of the full result is
 * written when outcap is short. */
static void check_percent(const char *in, size_t len, uint8_t *out)
{
    ssize_t n = percent_decode_measure(in, len, out, len);
    if (n < 0) {
        FUZZ_CHECK(memchr(in, '%', len) != NULL);
        FUZZ_CHECK(percent_decode(in, len, out, len) == -1);
        return;
    }
    FUZZ_CHECK((size_t)n <= len && (size_t)n * 3 >= len);
    FUZZ_CHECK(percent_decode(in, len, out, len) == n);
    if (n > 0) {
        uint8_t first = out[0];
        FUZZ_CHECK(percent_decode_measure(in, len, out, 1) == n && out[0] == first);
        FUZZ_CHECK(percent_decode(in, len, out, (size_t)n - 1) == -1);
    }
}

/* Any bytes, each written as %XX, decode back to themselves. */
static void check_percent_round_trip(const uint8_t *data, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *enc = malloc(3 * len + 1);
    uint8_t *dec = malloc(len + 1);
    FUZZ_CHECK(enc != NULL && dec != NULL);
    for (size_t i = 0; i < len; i++) {
        enc[3 * i] = '%';
        enc[3 * i + 1] = hex[data[i] >> 4];
        enc[3 * i + 2] = hex[data[i] & 15];
    }
    FUZZ_CHECK(percent_decode(enc, 3 * len, dec, len) == (ssize_t)len);
    FUZZ_CHECK(len == 0 || memcmp(dec, data, len) == 0);
    free(enc);
    free(dec);
}

static void check_numbers(const char *s, size_t len, uint8_t *out)
{
    uint64_t v = 0, small = 0;
    if (decimal_parse(s, len, UINT64_MAX, &v) == 0) {
        FUZZ_CHECK(len > 0);
        for (size_t i = 0; i < len; i++)
            FUZZ_CHECK(s[i] >= '0' && s[i] <= '9');
        /* Under a smaller maximum: the same value, or refused exactly when it is above. */
        if (decimal_parse(s, len, 65535, &small) == 0)
            FUZZ_CHECK(small == v && v <= 65535);
        else
            FUZZ_CHECK(v > 65535);
    }
    /* hex_decode reads 2 * n digits. */
    if (len >= 2 && hex_decode(s, len / 2, out) == 0) {
        char *back = malloc(len + 1);
        FUZZ_CHECK(back != NULL);
        hex_encode(out, len / 2, back);
        for (size_t i = 0; i < len / 2 * 2; i++)
            FUZZ_CHECK(hex_digit_value(back[i]) == hex_digit_value(s[i]));
        free(back);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *q = (const char *)data;
    uint8_t *out = malloc(size + 1);
    FUZZ_CHECK(out != NULL);
    check_requests(q, size);
    check_percent(q, size, out);
    check_percent_round_trip(data, size);
    check_numbers(q, size, out);
    free(out);
    return 0;
}
