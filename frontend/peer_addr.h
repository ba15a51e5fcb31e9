#ifndef STARLING_PEER_ADDR_H
#define STARLING_PEER_ADDR_H

#include <stdbool.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/torrent.h"

struct peer_addr_policy {
    bool allow_ip_spoofing;  /* honour ip=, ipv4=, ipv6= */
    bool dual_stacked_peers; /* a peer may keep an IPv4 and an IPv6 address at once */
};

/*
 * Decides where other peers reach this one: `client` is the connection's address (already
 * taken from real_ip_header when the connection came from a trusted proxy). Without
 * allow_ip_spoofing only `client` counts. With it, ip=/ipv4=/ipv6= replace the address of
 * their family. Without dual_stacked_peers only one address is kept: the one of the
 * client's own family when present, else the other. Ports: the announce's port unless an
 * honoured ipv4=/ipv6= named one. Returns 0, or -1 (out zeroed) when client is neither
 * IPv4 nor IPv6.
 */
int peer_addr_resolve(const struct addr *client, const struct announce_req *req,
                      const struct peer_addr_policy *policy, struct peer_endpoints *out);

#endif
