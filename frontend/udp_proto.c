#include "frontend/udp_proto.h"

#include <string.h>
#include <strings.h>

/* Offsets in a BEP 15 request: the header, then an announce's fields. */
#define OFF_CONNECTION_ID 0
#define OFF_ACTION 8
#define OFF_TRANSACTION_ID 12
#define UDP_HEADER_LEN 16
#define OFF_INFO_HASH 16
#define OFF_PEER_ID 36
#define OFF_DOWNLOADED 56
#define OFF_LEFT 64
#define OFF_UPLOADED 72
#define OFF_EVENT 80
#define OFF_IP 84
#define OFF_KEY 88
#define OFF_NUM_WANT 92
#define OFF_PORT 96
#define UDP_KEY_LEN 4

/* Reply headers: action + transaction id, then (announce) interval, leechers, seeders. */
#define REPLY_HEADER_LEN 8
#define ANNOUNCE_REPLY_HEADER_LEN 20
#define SCRAPE_ENTRY_LEN 12

/* BEP 15's event numbers. */
#define BEP15_EVENT_NONE 0
#define BEP15_EVENT_COMPLETED 1
#define BEP15_EVENT_STARTED 2
#define BEP15_EVENT_STOPPED 3

/* BEP 41 option types. */
#define OPT_END_OF_OPTIONS 0
#define OPT_NOP 1
#define OPT_URL_DATA 2

const char *udp_error_text(enum udp_parse_result r)
{
    switch (r) {
    case UDP_ERR_UNKNOWN_ACTION:
        return "unknown action";
    case UDP_ERR_SHORT_ANNOUNCE:
        return "malformed announce";
    case UDP_ERR_BAD_OPTIONS:
        return "malformed options";
    case UDP_ERR_BAD_PORT:
        return "invalid port";
    case UDP_ERR_BAD_EVENT:
        return "invalid event";
    case UDP_ERR_SCRAPE_COUNT:
        return "malformed scrape";
    case UDP_OK:
    case UDP_DROP_SHORT:
    case UDP_DROP_BAD_MAGIC:
        break;
    }
    return NULL;
}

/* Big-endian loads and stores, byte by byte: no alignment or host-order assumptions. */
static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static uint8_t *put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *put_be64(uint8_t *p, uint64_t v)
{
    p = put_be32(p, (uint32_t)(v >> 32));
    return put_be32(p, (uint32_t)v);
}

/* The wire's int64 counters are signed; a negative one is nonsense, taken as 0 rather
 * than refused, so a buggy client is still served. */
static uint64_t get_counter(const uint8_t *p)
{
    uint64_t v = get_be64(p);
    return v >> 63 ? 0 : v;
}

enum udp_parse_result udp_parse_header(const uint8_t *pkt, size_t len, struct udp_header *h)
{
    if (len < UDP_HEADER_LEN)
        return UDP_DROP_SHORT;
    h->connection_id = get_be64(pkt + OFF_CONNECTION_ID);
    h->action = get_be32(pkt + OFF_ACTION);
    h->transaction_id = get_be32(pkt + OFF_TRANSACTION_ID);
    /* The magic tells a BEP 15 connect from stray traffic; other actions carry an ID the
     * caller checks with connid_check(). */
    if (h->action == UDP_ACTION_CONNECT && h->connection_id != UDP_PROTOCOL_ID)
        return UDP_DROP_BAD_MAGIC;
    return UDP_OK;
}

/* BEP 15's event number as enum announce_event; -1 for anything past "stopped". */
static int map_event(uint32_t wire, enum announce_event *out)
{
    switch (wire) {
    case BEP15_EVENT_NONE:
        *out = EVENT_NONE;
        return 0;
    case BEP15_EVENT_COMPLETED:
        *out = EVENT_COMPLETED;
        return 0;
    case BEP15_EVENT_STARTED:
        *out = EVENT_STARTED;
        return 0;
    case BEP15_EVENT_STOPPED:
        *out = EVENT_STOPPED;
        return 0;
    default:
        return -1;
    }
}

/* num_want is an int32 on the wire; 0 and negatives (clients send -1) ask for the default. */
static int32_t map_num_want(uint32_t wire)
{
    int32_t v = (int32_t)wire;
    return v <= 0 ? -1 : v;
}

/* The fixed 98 bytes of an announce into req (already zeroed); event and port checked. */
static enum udp_parse_result parse_announce_fields(const uint8_t *pkt, struct announce_req *req)
{
    memcpy(req->info_hash, pkt + OFF_INFO_HASH, INFO_HASH_LEN);
    memcpy(req->peer_id, pkt + OFF_PEER_ID, PEER_ID_LEN);
    req->downloaded = get_counter(pkt + OFF_DOWNLOADED);
    req->left = get_counter(pkt + OFF_LEFT);
    req->uploaded = get_counter(pkt + OFF_UPLOADED);
    if (get_be32(pkt + OFF_IP) != 0) {
        /* Kept as named; peer_addr.c decides whether to honour it. */
        req->ip.present = true;
        req->ip.addr.family = AF_INET;
        memcpy(req->ip.addr.bytes, pkt + OFF_IP, 4);
        req->ip.port = 0;
    }
    memcpy(req->key, pkt + OFF_KEY, UDP_KEY_LEN);
    req->key_len = UDP_KEY_LEN;
    req->numwant = map_num_want(get_be32(pkt + OFF_NUM_WANT));
    req->port = get_be16(pkt + OFF_PORT);
    req->compact = true;
    req->no_peer_id = false;
    if (map_event(get_be32(pkt + OFF_EVENT), &req->event) < 0)
        return UDP_ERR_BAD_EVENT;
    if (req->port == 0)
        return UDP_ERR_BAD_PORT;
    return UDP_OK;
}

/* Appends n bytes to url_data (*len kept so far), silently dropping what passes the cap. */
static void append_url_data(char *url_data, size_t *len, const uint8_t *p, size_t n)
{
    size_t room = UDP_URL_DATA_MAX - *len;
    if (n > room)
        n = room;
    memcpy(url_data + *len, p, n);
    *len += n;
    url_data[*len] = '\0';
}

/*
 * Walks the BEP 41 options in pkt[pos..len): type byte, then for types past NOP a length
 * byte and that many bytes. URLData payloads are concatenated into url_data.
 */
static enum udp_parse_result parse_options(const uint8_t *pkt, size_t len, size_t pos,
                                           char *url_data, size_t *url_data_len)
{
    while (pos < len) {
        uint8_t type = pkt[pos++];
        if (type == OPT_END_OF_OPTIONS)
            break;
        if (type == OPT_NOP)
            continue;
        if (pos >= len)
            return UDP_ERR_BAD_OPTIONS; /* no length byte */
        size_t opt_len = pkt[pos++];
        if (opt_len > len - pos)
            return UDP_ERR_BAD_OPTIONS;
        if (type == OPT_URL_DATA)
            append_url_data(url_data, url_data_len, pkt + pos, opt_len);
        pos += opt_len; /* unknown types are skipped by their length */
    }
    return UDP_OK;
}

enum udp_parse_result udp_parse_announce(const uint8_t *pkt, size_t len, struct announce_req *req,
                                         char *url_data, size_t *url_data_len)
{
    enum udp_parse_result r;

    memset(req, 0, sizeof(*req));
    url_data[0] = '\0';
    *url_data_len = 0;
    if (len < UDP_ANNOUNCE_LEN)
        return UDP_ERR_SHORT_ANNOUNCE;
    r = parse_announce_fields(pkt, req);
    if (r != UDP_OK)
        return r;
    return parse_options(pkt, len, UDP_ANNOUNCE_LEN, url_data, url_data_len);
}

enum udp_parse_result udp_parse_scrape(const uint8_t *pkt, size_t len, const uint8_t **hashes,
                                       size_t *count)
{
    size_t n;

    *hashes = NULL;
    *count = 0;
    if (len < UDP_SCRAPE_MIN_LEN || (len - UDP_HEADER_LEN) % INFO_HASH_LEN != 0)
        return UDP_ERR_SCRAPE_COUNT;
    n = (len - UDP_HEADER_LEN) / INFO_HASH_LEN;
    if (n > UDP_SCRAPE_MAX_HASHES)
        return UDP_ERR_SCRAPE_COUNT;
    *hashes = pkt + UDP_HEADER_LEN;
    *count = n;
    return UDP_OK;
}

/* Writes action and transaction id, the start of every reply; returns the end. */
static uint8_t *put_reply_header(uint8_t *p, uint32_t action, uint32_t transaction_id)
{
    p = put_be32(p, action);
    return put_be32(p, transaction_id);
}

size_t udp_build_connect(uint8_t *out, size_t cap, uint32_t transaction_id, uint64_t connection_id)
{
    if (cap < UDP_CONNECT_LEN)
        return 0;
    uint8_t *p = put_reply_header(out, UDP_ACTION_CONNECT, transaction_id);
    put_be64(p, connection_id);
    return UDP_CONNECT_LEN;
}

size_t udp_build_announce(uint8_t *out, size_t cap, uint32_t transaction_id, uint32_t interval_s,
                          uint32_t leechers, uint32_t seeders, const uint8_t *const *peers,
                          size_t n, size_t entry_len)
{
    /* Division rather than n * entry_len, which could wrap. */
    if (cap < ANNOUNCE_REPLY_HEADER_LEN ||
        (entry_len != 0 && n > (cap - ANNOUNCE_REPLY_HEADER_LEN) / entry_len))
        return 0;
    uint8_t *p = put_reply_header(out, UDP_ACTION_ANNOUNCE, transaction_id);
    p = put_be32(p, interval_s);
    p = put_be32(p, leechers);
    p = put_be32(p, seeders);
    for (size_t i = 0; i < n; i++, p += entry_len)
        memcpy(p, peers[i], entry_len);
    return (size_t)(p - out);
}

size_t udp_build_scrape(uint8_t *out, size_t cap, uint32_t transaction_id,
                        const uint32_t (*counts)[3], size_t n)
{
    if (cap < REPLY_HEADER_LEN || n > (cap - REPLY_HEADER_LEN) / SCRAPE_ENTRY_LEN)
        return 0;
    uint8_t *p = put_reply_header(out, UDP_ACTION_SCRAPE, transaction_id);
    for (size_t i = 0; i < n; i++) {
        p = put_be32(p, counts[i][0]); /* seeders */
        p = put_be32(p, counts[i][1]); /* completed */
        p = put_be32(p, counts[i][2]); /* leechers */
    }
    return (size_t)(p - out);
}

size_t udp_build_error(uint8_t *out, size_t cap, uint32_t transaction_id, const char *message)
{
    size_t len = strlen(message);

    if (cap < REPLY_HEADER_LEN || len > cap - REPLY_HEADER_LEN)
        return 0;
    uint8_t *p = put_reply_header(out, UDP_ACTION_ERROR, transaction_id);
    memcpy(p, message, len); /* BEP 15: the message runs to the end of the datagram */
    return REPLY_HEADER_LEN + len;
}

bool udp_url_passkey(const char *url_data, size_t len, char passkey[PASSKEY_LEN])
{
    static const char action[] = "/announce";
    size_t path_len = len;
    const char *q = memchr(url_data, '?', len);
    if (q != NULL)
        path_len = (size_t)(q - url_data);
    if (path_len != 1 + PASSKEY_LEN + sizeof(action) - 1 || url_data[0] != '/' ||
        memchr(url_data + 1, '/', PASSKEY_LEN) != NULL ||
        strncasecmp(url_data + 1 + PASSKEY_LEN, action, sizeof(action) - 1) != 0)
        return false;
    memcpy(passkey, url_data + 1, PASSKEY_LEN);
    return true;
}
