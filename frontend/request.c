#include "frontend/request.h"

#include <string.h>

#include "common/text.h"

/* Longer than every parameter name we know (the site update API's included); a longer key
 * is simply unknown. */
#define PARAM_NAME_MAX 24
/* Room for a decimal number, an event name or an address (with brackets and port). */
#define VALUE_TEXT_MAX 64

/*
 * Parameters request_parse_announce() reads, each at most once: a repeated one is refused,
 * since which value the client meant is a guess (and two layers that pick differently,
 * say a cache and the tracker, would disagree about the request).
 */
#define ANNOUNCE_PARAMS(X)                                                                         \
    X(P_INFO_HASH, "info_hash")                                                                    \
    X(P_PEER_ID, "peer_id")                                                                        \
    X(P_PORT, "port")                                                                              \
    X(P_UPLOADED, "uploaded")                                                                      \
    X(P_DOWNLOADED, "downloaded")                                                                  \
    X(P_LEFT, "left")                                                                              \
    X(P_EVENT, "event")                                                                            \
    X(P_NUMWANT, "numwant")                                                                        \
    X(P_KEY, "key")                                                                                \
    X(P_COMPACT, "compact")                                                                        \
    X(P_NO_PEER_ID, "no_peer_id")                                                                  \
    X(P_IP, "ip")                                                                                  \
    X(P_IPV4, "ipv4")                                                                              \
    X(P_IPV6, "ipv6")

#define PARAM_ENUM(id, name) id,
#define PARAM_NAME(id, name) [id] = name,
#define PARAM_REPEATED(id, name) [id] = "repeated " name,

enum param { ANNOUNCE_PARAMS(PARAM_ENUM) P_COUNT };

static const char *const param_names[P_COUNT] = {ANNOUNCE_PARAMS(PARAM_NAME)};

/* The failure reasons are static strings, so each repetition has its own. */
static const char *const repeated_reasons[P_COUNT] = {ANNOUNCE_PARAMS(PARAM_REPEATED)};

/* A stretch of the query, still percent-encoded. */
struct slice {
    const char *p;
    size_t len;
};

static const char malformed[] = "malformed query";

/*
 * Steps to the next non-empty "key[=value]" pair from *pos. Returns false at the end.
 * Indices, not pointers, so an empty query may be NULL.
 */
static bool next_pair(const char *q, size_t len, size_t *pos, struct slice *key, struct slice *val)
{
    while (*pos < len && q[*pos] == '&')
        (*pos)++;
    if (*pos >= len)
        return false;
    size_t start = *pos, eq = 0;
    bool has_eq = false;
    while (*pos < len && q[*pos] != '&') {
        if (q[*pos] == '=' && !has_eq) {
            has_eq = true;
            eq = *pos;
        }
        (*pos)++;
    }
    size_t key_end = has_eq ? eq : *pos;
    *key = (struct slice){q + start, key_end - start};
    *val = has_eq ? (struct slice){q + eq + 1, *pos - eq - 1} : (struct slice){q + *pos, 0};
    return true;
}

/* Decodes a key into name (PARAM_NAME_MAX bytes). Returns its length, or -1 if malformed. */
static ssize_t decode_key(const struct slice *key, char *name)
{
    return percent_decode_measure(key->p, key->len, (uint8_t *)name, PARAM_NAME_MAX);
}

static bool key_is(const char *name, ssize_t n, const char *want)
{
    return (size_t)n == strlen(want) && memcmp(name, want, (size_t)n) == 0;
}

/* Which parameter a decoded name is, or P_COUNT for one we ignore. */
static enum param lookup_param(const char *name, ssize_t n)
{
    if (n > PARAM_NAME_MAX)
        return P_COUNT;
    for (int i = 0; i < P_COUNT; i++) {
        if (key_is(name, n, param_names[i]))
            return (enum param)i;
    }
    return P_COUNT;
}

/*
 * Collects the value of every parameter we read, checking its escapes (and every key's) up
 * front, so a malformed query is reported before anything else. Returns 0, or -1 with
 * *reason: "malformed query", else the first parameter seen twice.
 */
static int collect_params(const char *q, size_t len, struct slice vals[P_COUNT], bool seen[P_COUNT],
                          const char **reason)
{
    struct slice key, val;
    size_t pos = 0;
    char name[PARAM_NAME_MAX];
    const char *repeated = NULL;

    while (next_pair(q, len, &pos, &key, &val)) {
        ssize_t n = decode_key(&key, name);
        if (n < 0)
            goto malformed;
        enum param p = lookup_param(name, n);
        if (p == P_COUNT)
            continue;
        if (percent_decode_measure(val.p, val.len, NULL, 0) < 0)
            goto malformed;
        if (seen[p] && repeated == NULL)
            repeated = repeated_reasons[p];
        seen[p] = true;
        vals[p] = val;
    }
    if (repeated != NULL) {
        *reason = repeated;
        return -1;
    }
    return 0;
malformed:
    *reason = malformed;
    return -1;
}

/*
 * Decodes an (already checked) value into a NUL-terminated text. Returns -1 if too long or
 * if it holds a NUL (%00), which would end the text early: "6881%00junk" is no port.
 */
static ssize_t value_text(const struct slice *v, char text[VALUE_TEXT_MAX])
{
    ssize_t n = percent_decode_measure(v->p, v->len, (uint8_t *)text, VALUE_TEXT_MAX - 1);
    if (n < 0 || n > VALUE_TEXT_MAX - 1 || memchr(text, '\0', (size_t)n) != NULL)
        return -1;
    text[n] = '\0';
    return n;
}

/* Decodes a value that must be exactly len bytes (info_hash, peer_id). */
static int fixed_bytes(const struct slice *v, uint8_t *out, size_t len)
{
    return percent_decode_measure(v->p, v->len, out, len) == (ssize_t)len ? 0 : -1;
}

/* A NUL-terminated decimal text no larger than max. Returns 0 or -1. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    return decimal_parse(s, strlen(s), max, out);
}

static int parse_counter(const struct slice *v, uint64_t *out)
{
    char text[VALUE_TEXT_MAX];
    if (value_text(v, text) < 0)
        return -1;
    return parse_uint(text, INT64_MAX, out);
}

static int parse_announce_port(const struct slice *v, uint16_t *out)
{
    char text[VALUE_TEXT_MAX];
    uint64_t port;
    if (value_text(v, text) < 0 || parse_uint(text, UINT16_MAX, &port) < 0 || port == 0)
        return -1;
    *out = (uint16_t)port;
    return 0;
}

static int parse_event(const struct slice *v, enum announce_event *out)
{
    static const struct {
        const char *name;
        enum announce_event event;
    } events[] = {
        {"", EVENT_NONE},           {"empty", EVENT_NONE},          {"paused", EVENT_NONE},
        {"started", EVENT_STARTED}, {"completed", EVENT_COMPLETED}, {"stopped", EVENT_STOPPED},
    };
    char text[VALUE_TEXT_MAX];

    if (value_text(v, text) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        if (strcmp(text, events[i].name) == 0) {
            *out = events[i].event;
            return 0;
        }
    }
    return -1;
}

/*
 * Clients send -1 (or any negative) for "no preference"; a huge positive is clamped, since
 * the configured maximum caps it anyway.
 */
static int parse_numwant(const struct slice *v, int32_t *out)
{
    char text[VALUE_TEXT_MAX];
    const char *digits = text;
    uint64_t n;

    if (value_text(v, text) < 0)
        return -1;
    if (text[0] == '-')
        digits++;
    if (parse_uint(digits, UINT64_MAX, &n) < 0) {
        /* Too many digits to fit still counts as a number: check the characters alone. */
        if (*digits == '\0' || strspn(digits, "0123456789") != strlen(digits))
            return -1;
        n = UINT64_MAX;
    }
    if (digits != text && n > 0)
        *out = -1;
    else
        *out = n > INT32_MAX ? INT32_MAX : (int32_t)n;
    return 0;
}

/* ip= (BEP 3): a literal address or nothing; DNS names are never looked up. */
static void parse_ip(const struct slice *v, struct named_endpoint *out)
{
    char text[VALUE_TEXT_MAX];
    ssize_t n = value_text(v, text);
    out->present = n >= 0 && addr_parse(text, (size_t)n, &out->addr) == 0;
    out->port = 0;
}

/* ipv4= / ipv6= (BEP 7): an address of that family, maybe with a port; else ignored. */
static void parse_ip_family(const struct slice *v, int family, struct named_endpoint *out)
{
    char text[VALUE_TEXT_MAX];
    ssize_t n = value_text(v, text);
    out->present = n >= 0 && addr_parse_endpoint(text, (size_t)n, &out->addr, &out->port) == 0 &&
                   out->addr.family == family;
    if (!out->present)
        out->port = 0;
}

/* The required parameters, in the order their failures are reported. */
static const char *parse_required(const struct slice vals[P_COUNT], const bool seen[P_COUNT],
                                  struct announce_req *req)
{
    if (!seen[P_INFO_HASH])
        return "missing info_hash";
    if (fixed_bytes(&vals[P_INFO_HASH], req->info_hash, INFO_HASH_LEN) < 0)
        return "invalid info_hash";
    if (!seen[P_PEER_ID])
        return "missing peer_id";
    if (fixed_bytes(&vals[P_PEER_ID], req->peer_id, PEER_ID_LEN) < 0)
        return "invalid peer_id";
    if (!seen[P_PORT])
        return "missing port";
    if (parse_announce_port(&vals[P_PORT], &req->port) < 0)
        return "invalid port";
    const struct {
        enum param p;
        uint64_t *out;
        const char *missing, *invalid;
    } counters[] = {
        {P_UPLOADED, &req->uploaded, "missing uploaded", "invalid uploaded"},
        {P_DOWNLOADED, &req->downloaded, "missing downloaded", "invalid downloaded"},
        {P_LEFT, &req->left, "missing left", "invalid left"},
    };
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        if (!seen[counters[i].p])
            return counters[i].missing;
        if (parse_counter(&vals[counters[i].p], counters[i].out) < 0)
            return counters[i].invalid;
    }
    return NULL;
}

/* The optional parameters; only event, numwant and key can fail. */
static const char *parse_optional(const struct slice vals[P_COUNT], const bool seen[P_COUNT],
                                  struct announce_req *req)
{
    if (seen[P_EVENT] && parse_event(&vals[P_EVENT], &req->event) < 0)
        return "invalid event";
    if (seen[P_NUMWANT] && parse_numwant(&vals[P_NUMWANT], &req->numwant) < 0)
        return "invalid numwant";
    if (seen[P_KEY]) {
        ssize_t n =
            percent_decode_measure(vals[P_KEY].p, vals[P_KEY].len, req->key, ANNOUNCE_KEY_MAX);
        if (n < 0 || n > ANNOUNCE_KEY_MAX)
            return "invalid key";
        req->key_len = (size_t)n;
    }
    if (seen[P_COMPACT]) {
        char text[VALUE_TEXT_MAX];
        req->compact = !(value_text(&vals[P_COMPACT], text) == 1 && text[0] == '0');
    }
    if (seen[P_NO_PEER_ID]) {
        char text[VALUE_TEXT_MAX];
        req->no_peer_id = value_text(&vals[P_NO_PEER_ID], text) == 1 && text[0] == '1';
    }
    if (seen[P_IP])
        parse_ip(&vals[P_IP], &req->ip);
    if (seen[P_IPV4])
        parse_ip_family(&vals[P_IPV4], AF_INET, &req->ipv4);
    if (seen[P_IPV6])
        parse_ip_family(&vals[P_IPV6], AF_INET6, &req->ipv6);
    return NULL;
}

int request_parse_announce(const char *query, size_t len, struct announce_req *out,
                           const char **reason)
{
    struct slice vals[P_COUNT];
    bool seen[P_COUNT] = {false};
    struct announce_req req;
    const char *why;

    if (collect_params(query, len, vals, seen, reason) < 0)
        return -1;
    memset(&req, 0, sizeof(req));
    req.numwant = -1;
    req.compact = true;
    why = parse_required(vals, seen, &req);
    if (why == NULL)
        why = parse_optional(vals, seen, &req);
    if (why != NULL) {
        *reason = why;
        return -1;
    }
    *out = req;
    return 0;
}

int request_parse_scrape(const char *query, size_t len, uint8_t (*hashes)[INFO_HASH_LEN],
                         size_t max, size_t *count, const char **reason)
{
    struct slice key, val;
    size_t pos = 0, n_hashes = 0;
    char name[PARAM_NAME_MAX];

    while (next_pair(query, len, &pos, &key, &val)) {
        ssize_t n = decode_key(&key, name);
        if (n < 0) {
            *reason = malformed;
            return -1;
        }
        if (lookup_param(name, n) != P_INFO_HASH)
            continue;
        if (n_hashes == max) {
            *reason = "too many info_hash values";
            return -1;
        }
        ssize_t got = percent_decode_measure(val.p, val.len, hashes[n_hashes], INFO_HASH_LEN);
        if (got != INFO_HASH_LEN) {
            *reason = got < 0 ? malformed : "invalid info_hash";
            return -1;
        }
        n_hashes++;
    }
    *count = n_hashes;
    return 0;
}

ssize_t request_query_value(const char *query, size_t len, const char *name, uint8_t *out,
                            size_t cap)
{
    struct slice key, val;
    size_t pos = 0;
    char decoded[PARAM_NAME_MAX];
    while (next_pair(query, len, &pos, &key, &val)) {
        ssize_t n = decode_key(&key, decoded);
        if (n < 0 || n > PARAM_NAME_MAX || !key_is(decoded, n, name))
            continue;
        ssize_t got = percent_decode_measure(val.p, val.len, out, cap);
        return got < 0 || (size_t)got > cap ? -2 : got;
    }
    return -1;
}
