#include "common/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/text.h"

/* Longer than any literal inet_pton() accepts (45 characters), so nothing valid is cut. */
#define ADDR_INPUT_MAX 64
#define V4_BITS 32
#define V6_BITS 128
/* ::ffff:0:0/96: the IPv4 address sits in the last 32 bits. */
#define V4_MAPPED_PREFIX 96

static const uint8_t v4_mapped_head[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_v4_mapped(const uint8_t bytes[16])
{
    return memcmp(bytes, v4_mapped_head, sizeof(v4_mapped_head)) == 0;
}

/* Stores an IPv6 address, turning a v4-mapped one into the IPv4 address it stands for. */
static void set_v6(struct addr *out, const uint8_t bytes[16])
{
    memset(out, 0, sizeof(*out));
    if (is_v4_mapped(bytes)) {
        out->family = AF_INET;
        memcpy(out->bytes, bytes + 12, 4);
    } else {
        out->family = AF_INET6;
        memcpy(out->bytes, bytes, 16);
    }
}

static void set_v4(struct addr *out, const uint8_t bytes[4])
{
    memset(out, 0, sizeof(*out));
    out->family = AF_INET;
    memcpy(out->bytes, bytes, 4);
}

/*
 * inet_pton() wants a C string: copies len bytes into buf (cap bytes) and terminates it.
 * Refuses over-long input and embedded NULs, which would otherwise cut the text short.
 */
static int copy_cstr(const char *text, size_t len, char *buf, size_t cap)
{
    if (len >= cap || memchr(text, '\0', len) != NULL)
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return 0;
}

/*
 * Parses a literal without brackets into raw 16 (or 4) bytes, keeping v4-mapped addresses
 * as IPv6 so cidr_parse() can still see them. Returns the family, or -1.
 */
static int parse_raw(const char *text, size_t len, uint8_t bytes[16])
{
    char buf[ADDR_INPUT_MAX];

    if (copy_cstr(text, len, buf, sizeof(buf)) < 0)
        return -1;
    if (inet_pton(AF_INET, buf, bytes) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, buf, bytes) == 1)
        return AF_INET6;
    return -1;
}

int addr_parse(const char *text, size_t len, struct addr *out)
{
    uint8_t bytes[16];
    int family;

    /* Brackets only ever wrap IPv6 (RFC 3986 IP-literal). */
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        family = parse_raw(text + 1, len - 2, bytes);
        if (family != AF_INET6)
            return -1;
    } else {
        family = parse_raw(text, len, bytes);
    }
    if (family == AF_INET)
        set_v4(out, bytes);
    else if (family == AF_INET6)
        set_v6(out, bytes);
    else
        return -1;
    return 0;
}

/* Parses 1..5 decimal digits worth 0..65535. Returns 0 or -1. */
static int parse_port(const char *text, size_t len, uint16_t *port)
{
    uint64_t v;

    if (len > 5 || decimal_parse(text, len, UINT16_MAX, &v) < 0)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

static size_t count_char(const char *text, size_t len, char c)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += text[i] == c;
    return n;
}

/* An explicit ":0" reads as no port, which callers already treat as "use the default". */
int addr_parse_endpoint(const char *text, size_t len, struct addr *out, uint16_t *port)
{
    struct addr a;
    uint16_t p = 0;

    if (len > 0 && text[0] == '[') {
        const char *close = memchr(text, ']', len);
        if (close == NULL)
            return -1;
        size_t alen = (size_t)(close - text) + 1;
        if (addr_parse(text, alen, &a) < 0)
            return -1;
        if (alen < len) {
            if (text[alen] != ':' || parse_port(text + alen + 1, len - alen - 1, &p) < 0)
                return -1;
        }
    } else if (count_char(text, len, ':') == 1) {
        /* One colon can only be IPv4 plus port; IPv6 has at least two. */
        const char *colon = memchr(text, ':', len);
        size_t alen = (size_t)(colon - text);
        uint8_t bytes[16];
        if (parse_raw(text, alen, bytes) != AF_INET)
            return -1;
        set_v4(&a, bytes);
        if (parse_port(colon + 1, len - alen - 1, &p) < 0)
            return -1;
    } else if (addr_parse(text, len, &a) < 0) {
        return -1; /* a bare address; unbracketed IPv6 cannot carry a port */
    }
    *out = a;
    *port = p;
    return 0;
}

int addr_from_sockaddr(const struct sockaddr *sa, struct addr *out, uint16_t *port)
{
    uint16_t p;

    if (sa == NULL)
        return -1;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        set_v4(out, (const uint8_t *)&sin->sin_addr);
        p = ntohs(sin->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        set_v6(out, sin6->sin6_addr.s6_addr);
        p = ntohs(sin6->sin6_port);
    } else {
        return -1;
    }
    if (port != NULL)
        *port = p;
    return 0;
}

void addr_format(const struct addr *a, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (len > (socklen_t)-1)
        len = (socklen_t)-1;
    if (inet_ntop(a->family, a->bytes, buf, (socklen_t)len) == NULL)
        buf[0] = '\0';
}

static size_t addr_size(int family)
{
    return family == AF_INET ? 4 : 16;
}

bool addr_equal(const struct addr *a, const struct addr *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, addr_size(a->family)) == 0;
}

/* True when bits from prefix on are all zero in the first nbits of bytes. */
static bool host_bits_clear(const uint8_t *bytes, unsigned prefix, unsigned nbits)
{
    for (unsigned bit = prefix; bit < nbits; bit++) {
        if (bytes[bit / 8] & (0x80u >> (bit % 8)))
            return false;
    }
    return true;
}

static int cidr_fail(char *err, size_t errlen, const char *text, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s in \"%s\"", why, text);
    return -1;
}

/* Parses 1..3 digits into *prefix. Returns 0 or -1. */
static int parse_prefix(const char *text, unsigned *prefix)
{
    size_t len = strlen(text);
    uint64_t v;

    if (len > 3 || decimal_parse(text, len, 999, &v) < 0)
        return -1;
    *prefix = (unsigned)v;
    return 0;
}

int cidr_parse(const char *text, struct cidr *out, char *err, size_t errlen)
{
    const char *slash = strchr(text, '/');
    size_t alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
    uint8_t bytes[16];
    int family = parse_raw(text, alen, bytes);
    unsigned nbits = family == AF_INET ? V4_BITS : V6_BITS;
    unsigned prefix = nbits;

    if (family < 0)
        return cidr_fail(err, errlen, text, "not an address");
    if (slash != NULL && (parse_prefix(slash + 1, &prefix) < 0 || prefix > nbits))
        return cidr_fail(err, errlen, text, "bad prefix length");
    if (!host_bits_clear(bytes, prefix, nbits))
        return cidr_fail(err, errlen, text, "host bits set");

    struct cidr c;
    if (family == AF_INET) {
        set_v4(&c.net, bytes);
    } else if (is_v4_mapped(bytes)) {
        /* Below /96 the ffff bits would be host bits, refused above; so this is an IPv4 net. */
        set_v4(&c.net, bytes + 12);
        prefix -= V4_MAPPED_PREFIX;
    } else {
        set_v6(&c.net, bytes);
    }
    c.prefix = prefix;
    *out = c;
    return 0;
}

bool cidr_contains(const struct cidr *c, const struct addr *a)
{
    unsigned whole = c->prefix / 8, rest = c->prefix % 8;

    if (a->family != c->net.family || c->prefix > addr_size(a->family) * 8)
        return false;
    if (memcmp(a->bytes, c->net.bytes, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (a->bytes[whole] & mask) == (c->net.bytes[whole] & mask);
}

static int listen_fail(char *err, size_t errlen, const char *text, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s in listen address \"%s\"", why, text);
    return -1;
}

/* Fills ss from an address and port. */
static socklen_t fill_sockaddr(const struct addr *a, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, a->bytes, 4);
        return sizeof(*sin);
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    memcpy(&sin6->sin6_addr, a->bytes, 16);
    return sizeof(*sin6);
}

int listen_addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *sslen, char *err,
                      size_t errlen)
{
    /* The port always follows the last colon; a bracketed IPv6 keeps its own colons inside. */
    const char *colon = strrchr(text, ':');
    const char *close = strchr(text, ']');
    struct addr a;
    uint16_t port;

    if (colon == NULL || (close != NULL && colon < close))
        return listen_fail(err, errlen, text, "missing port");
    size_t alen = (size_t)(colon - text);
    if (alen == 0) {
        memset(&a, 0, sizeof(a)); /* ":6969": every IPv4 interface, 0.0.0.0 */
        a.family = AF_INET;
    } else if (text[0] != '[' && memchr(text, ':', alen) != NULL) {
        return listen_fail(err, errlen, text, "bad address (IPv6 needs [brackets])");
    } else if (addr_parse(text, alen, &a) < 0) {
        return listen_fail(err, errlen, text, "bad address");
    }
    if (colon[1] == '\0')
        return listen_fail(err, errlen, text, "missing port");
    if (parse_port(colon + 1, strlen(colon + 1), &port) < 0)
        return listen_fail(err, errlen, text, "bad port");
    *sslen = fill_sockaddr(&a, port, ss);
    return 0;
}
