#ifndef STARLING_ADDR_H
#define STARLING_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An IP address without a port. IPv4-mapped IPv6 addresses are always stored as IPv4. */
struct addr {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t bytes[16]; /* network order; the first 4 for AF_INET */
};

struct cidr {
    struct addr net; /* host bits cleared */
    unsigned prefix; /* 0..32 or 0..128 */
};

/* Longest text addr_format() writes, NUL included (INET6_ADDRSTRLEN). */
#define ADDR_TEXT_LEN 46

/*
 * Parses a literal IPv4 or IPv6 address (len bytes, not NUL-terminated), optionally in
 * brackets ("[::1]"). "::ffff:1.2.3.4" becomes IPv4. No host names. Returns 0 or -1.
 */
int addr_parse(const char *text, size_t len, struct addr *out);

/*
 * Parses "<addr>:<port>", "[<v6>]:<port>" or a bare address (port then 0), as BEP 7's
 * ipv4=/ipv6= values may carry one. Returns 0 or -1.
 */
int addr_parse_endpoint(const char *text, size_t len, struct addr *out, uint16_t *port);

/* From a socket address (AF_INET or AF_INET6, v4-mapped unmapped). Returns 0 or -1. */
int addr_from_sockaddr(const struct sockaddr *sa, struct addr *out, uint16_t *port);

/* Writes the usual text form into buf (at least ADDR_TEXT_LEN bytes). */
void addr_format(const struct addr *a, char *buf, size_t len);

bool addr_equal(const struct addr *a, const struct addr *b);

/*
 * Parses "10.0.0.0/8", "fd00::/8" or a bare address (a host route). Host bits set in
 * the network part are refused, as that is nearly always a typo. "::ffff:a.b.c.d/N" with
 * N >= 96 becomes the IPv4 network a.b.c.d/(N-96). Returns 0 or -1 with a reason in err.
 */
int cidr_parse(const char *text, struct cidr *out, char *err, size_t errlen);

bool cidr_contains(const struct cidr *c, const struct addr *a);

/*
 * Parses a listen address: "127.0.0.1:6969", "[::1]:6969", "0.0.0.0:6969", "[::]:6969"
 * or ":6969" (all IPv4 interfaces). Port 0 asks the kernel for one. Returns 0 or -1
 * with a reason in err.
 */
int listen_addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *sslen, char *err,
                      size_t errlen);

#endif
