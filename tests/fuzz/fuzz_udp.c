/*
 * BEP 15 datagrams (frontend/udp_proto.c) as frontend/udp.c reads them: the header, then
 * an announce with its BEP 41 options or a scrape; and the error reply a refusal gets.
 */
#include <string.h>

#include "frontend/udp_proto.h"
#include "fuzz.h"

/* udp.c drops anything larger before parsing. */
#define DATAGRAM_MAX 2048

static void check_error_reply(enum udp_parse_result r, uint32_t txid)
{
    uint8_t out[DATAGRAM_MAX];
    const char *text = udp_error_text(r);
    if (r == UDP_OK || r == UDP_DROP_SHORT || r == UDP_DROP_BAD_MAGIC) {
        FUZZ_CHECK(text == NULL);
        return;
    }
    FUZZ_CHECK(text != NULL);
    size_t n = udp_build_error(out, sizeof(out), txid, text);
    FUZZ_CHECK(n > 8 && n <= sizeof(out));
}

static void check_announce(const uint8_t *pkt, size_t len, uint32_t txid)
{
    struct announce_req req;
    char url[UDP_URL_DATA_MAX + 1];
    size_t url_len = 999;
    enum udp_parse_result r = udp_parse_announce(pkt, len, &req, url, &url_len);
    FUZZ_CHECK(url_len <= UDP_URL_DATA_MAX && url[url_len] == '\0');
    if (r == UDP_OK) {
        FUZZ_CHECK(len >= UDP_ANNOUNCE_LEN && req.port != 0 && req.compact);
        FUZZ_CHECK(req.key_len <= ANNOUNCE_KEY_MAX);
    }
    check_error_reply(r, txid);
}

static void check_scrape(const uint8_t *pkt, size_t len, uint32_t txid)
{
    const uint8_t *hashes;
    size_t count;
    enum udp_parse_result r = udp_parse_scrape(pkt, len, &hashes, &count);
    if (r == UDP_OK) {
        FUZZ_CHECK(count >= 1 && count <= UDP_SCRAPE_MAX_HASHES);
        FUZZ_CHECK(fuzz_within(hashes, count * INFO_HASH_LEN, pkt, len));
        fuzz_touch(hashes, count * INFO_HASH_LEN);
        /* The reply: three counts per hash, which must fit one datagram. */
        static uint32_t counts[UDP_SCRAPE_MAX_HASHES][3];
        uint8_t out[DATAGRAM_MAX];
        FUZZ_CHECK(udp_build_scrape(out, sizeof(out), txid, counts, count) > 0);
    }
    check_error_reply(r, txid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct udp_header h;

    if (size > DATAGRAM_MAX)
        return 0;
    enum udp_parse_result r = udp_parse_header(data, size, &h);
    if (r != UDP_OK) {
        check_error_reply(r, 0);
        return 0;
    }
    /* Each parser, whatever the action says: udp.c picks one, but each must hold alone. */
    check_announce(data, size, h.transaction_id);
    check_scrape(data, size, h.transaction_id);
    if (h.action == UDP_ACTION_CONNECT) {
        uint8_t out[16];
        FUZZ_CHECK(udp_build_connect(out, sizeof(out), h.transaction_id, 1) == 16);
    }
    return 0;
}
