#ifndef STARLING_LOCAL_PEERS_H
#define STARLING_LOCAL_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/config.h"
#include "common/torrent.h"
#include "storage/swarm.h"

/*
 * local_subnet_priority: the peers of an announcer's own network first in its reply, so
 * clients on one LAN or ISP find each other. Pure: the tracker asks storage for
 * local_peers_window() peers instead of numwant, and local_peers_order() makes the reply.
 *
 * A peer is local when its IPv4 address shares local_subnet_v4_prefix leading bits with the
 * announcer's IPv4 address, or its IPv6 address local_subnet_v6_prefix bits with the
 * announcer's IPv6 address (a prefix of 0 matches nothing), or when one of its addresses lies
 * in a local_subnet_cidrs entry that holds the announcer's address of that family too.
 * The announcer's addresses are those it is listed under (frontend/peer_addr.h).
 */

/* How much wider than numwant the window read from storage is: more local peers to find, at
 * a bounded cost (Redis reads a member in about 0.6 us), never past max_num_want. */
#define LOCAL_PEERS_WIDEN 2

/* Peers local_peers_order() reads at most: a window is never wider than max_num_want. */
#define LOCAL_PEERS_IN_MAX CONFIG_NUM_WANT_CEILING

/* The announcer's networks: its own prefix of each family and the CIDRs holding it. */
#define LOCAL_PEERS_NETS_MAX (2 + CONFIG_MAX_LOCAL_CIDRS)
struct local_nets {
    struct cidr net[LOCAL_PEERS_NETS_MAX];
    size_t n;
};

/* How many peers to ask storage for, for a reply of numwant (<= max_num_want): numwant
 * when local_subnet_priority is off, else up to LOCAL_PEERS_WIDEN x numwant within
 * max_num_want. */
uint32_t local_peers_window(const struct config *cfg, uint32_t numwant);

/* The networks whose peers are local to an announcer listed under `own`. */
void local_peers_nets(const struct config *cfg, const struct peer_endpoints *own,
                      struct local_nets *out);

/* Whether p has an address in one of nets. */
bool local_peers_is_local(const struct local_nets *nets, const struct swarm_peer *p);

/*
 * Writes the reply's peers into out (room for numwant): the local ones of in[0 .. n) first,
 * then the others, each group in the order of in (the script's: a leecher's seeders before
 * its leechers), cut at numwant. No peer is dropped but past numwant, none repeated. Reads at
 * most LOCAL_PEERS_IN_MAX of in. Returns how many were written, *nlocal how many of them are
 * local.
 */
size_t local_peers_order(const struct local_nets *nets, const struct swarm_peer *in, size_t n,
                         size_t numwant, struct swarm_peer *out, size_t *nlocal);

#endif
