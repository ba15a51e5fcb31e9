#include "frontend/connid.h"

#include <string.h>

/*
 * The fixed keys connid_key_from_secret() hashes the operator's secret under: the ASCII
 * text "starling connid1" and "starling connid2". Any two distinct constants would do;
 * they are fixed so that every frontend given the same secret derives the same key.
 * Changing them invalidates every ID in flight, like changing the secret.
 */
static const uint8_t derive_key_lo[CONNID_KEY_LEN] = {'s', 't', 'a', 'r', 'l', 'i', 'n', 'g',
                                                      ' ', 'c', 'o', 'n', 'n', 'i', 'd', '1'};
static const uint8_t derive_key_hi[CONNID_KEY_LEN] = {'s', 't', 'a', 'r', 'l', 'i', 'n', 'g',
                                                      ' ', 'c', 'o', 'n', 'n', 'i', 'd', '2'};

/* family (1) + IPv6 address (16) + port (2) + window (8): the longest message hashed. */
#define CONNID_MSG_MAX 27
#define FAMILY_TAG_V4 4
#define FAMILY_TAG_V6 6

/* Little-endian loads and stores, byte by byte: the paper's byte order on any host. */
static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t rotl64(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl64(v[1], 13);
    v[1] ^= v[0];
    v[0] = rotl64(v[0], 32);
    v[2] += v[3];
    v[3] = rotl64(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = rotl64(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = rotl64(v[1], 17);
    v[1] ^= v[2];
    v[2] = rotl64(v[2], 32);
}

/* One message word: two compression rounds (the "2" of SipHash-2-4). */
static void sip_absorb(uint64_t v[4], uint64_t m)
{
    v[3] ^= m;
    sip_round(v);
    sip_round(v);
    v[0] ^= m;
}

uint64_t siphash24(const uint8_t key[CONNID_KEY_LEN], const void *data, size_t len)
{
    const uint8_t *in = data;
    uint64_t k0 = load_le64(key);
    uint64_t k1 = load_le64(key + 8);
    /* "somepseudorandomlygeneratedbytes", as in the paper */
    uint64_t v[4] = {
        k0 ^ 0x736f6d6570736575ULL,
        k1 ^ 0x646f72616e646f6dULL,
        k0 ^ 0x6c7967656e657261ULL,
        k1 ^ 0x7465646279746573ULL,
    };
    size_t full = len - len % 8;
    size_t i;

    for (i = 0; i < full; i += 8)
        sip_absorb(v, load_le64(in + i));

    /* The last word: the remaining 0..7 bytes, with len mod 256 in the top byte. */
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t j = 0; i + j < len; j++)
        last |= (uint64_t)in[i + j] << (8 * j);
    sip_absorb(v, last);

    /* Four finalization rounds (the "4"). */
    v[2] ^= 0xff;
    for (int r = 0; r < 4; r++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

void connid_key_from_secret(const char *secret, size_t len, uint8_t out[CONNID_KEY_LEN])
{
    store_le64(out, siphash24(derive_key_lo, secret, len));
    store_le64(out + 8, siphash24(derive_key_hi, secret, len));
}

/*
 * Serializes family || address || port (big-endian) || window (little-endian) into msg
 * (room for CONNID_MSG_MAX) by hand, so no struct padding or host order leaks into the
 * hash and every frontend computes the same bytes. Anything not AF_INET is hashed as
 * IPv6: struct addr holds only those two. Returns the length.
 */
static size_t connid_message(const struct addr *a, uint16_t port, uint64_t window,
                             uint8_t msg[CONNID_MSG_MAX])
{
    size_t addr_len = a->family == AF_INET ? 4 : 16;
    size_t n = 0;

    msg[n++] = a->family == AF_INET ? FAMILY_TAG_V4 : FAMILY_TAG_V6;
    memcpy(msg + n, a->bytes, addr_len);
    n += addr_len;
    msg[n++] = (uint8_t)(port >> 8);
    msg[n++] = (uint8_t)port;
    store_le64(msg + n, window);
    return n + 8;
}

static uint64_t connid_for_window(const uint8_t key[CONNID_KEY_LEN], const struct addr *a,
                                  uint16_t port, uint64_t window)
{
    uint8_t msg[CONNID_MSG_MAX];
    size_t len = connid_message(a, port, window, msg);
    return siphash24(key, msg, len);
}

uint64_t connid_issue(const struct connid_keys *keys, const struct addr *a, uint16_t port,
                      uint64_t now_s)
{
    return connid_for_window(keys->current, a, port, now_s / CONNID_WINDOW_S);
}

/* Whether id matches window w or w-1 under key; in the very first window there is no w-1. */
static bool matches_key(const uint8_t key[CONNID_KEY_LEN], const struct addr *a, uint16_t port,
                        uint64_t window, uint64_t id)
{
    if (connid_for_window(key, a, port, window) == id)
        return true;
    return window > 0 && connid_for_window(key, a, port, window - 1) == id;
}

bool connid_check(const struct connid_keys *keys, const struct addr *a, uint16_t port,
                  uint64_t now_s, uint64_t id)
{
    uint64_t window = now_s / CONNID_WINDOW_S;

    if (matches_key(keys->current, a, port, window, id))
        return true;
    return keys->has_previous && matches_key(keys->previous, a, port, window, id);
}
