#include "frontend/peer_addr.h"

#include <string.h>

/* One candidate address per family while deciding; index 0 is IPv4, 1 is IPv6. */
struct slot {
    bool set;
    struct addr addr;
    uint16_t port;
};

static int slot_index(int family)
{
    if (family == AF_INET)
        return 0;
    if (family == AF_INET6)
        return 1;
    return -1;
}

static void put(struct slot slots[2], const struct addr *a, uint16_t port)
{
    int i = slot_index(a->family);
    if (i < 0)
        return;
    slots[i] = (struct slot){true, *a, port};
}

/* An honoured ip=/ipv4=/ipv6= takes its family's slot; no port of its own means the announce's. */
static void put_named(struct slot slots[2], const struct named_endpoint *ep, int family,
                      uint16_t default_port)
{
    if (!ep->present || (family != AF_UNSPEC && ep->addr.family != family))
        return;
    put(slots, &ep->addr, ep->port != 0 ? ep->port : default_port);
}

/* Compact form (BEP 23 / BEP 7): the address bytes, then the port in network order. */
static void write_compact(uint8_t *out, const struct slot *s, size_t addr_len)
{
    memcpy(out, s->addr.bytes, addr_len);
    out[addr_len] = (uint8_t)(s->port >> 8);
    out[addr_len + 1] = (uint8_t)(s->port & 0xff);
}

int peer_addr_resolve(const struct addr *client, const struct announce_req *req,
                      const struct peer_addr_policy *policy, struct peer_endpoints *out)
{
    struct slot slots[2] = {{false}, {false}};
    int own = slot_index(client->family);

    memset(out, 0, sizeof(*out));
    put(slots, client, req->port);
    if (policy->allow_ip_spoofing) {
        /* ip= names either family; BEP 7's ipv4=/ipv6= then have the last word on theirs. */
        put_named(slots, &req->ip, AF_UNSPEC, req->port);
        put_named(slots, &req->ipv4, AF_INET, req->port);
        put_named(slots, &req->ipv6, AF_INET6, req->port);
    }
    if (!policy->dual_stacked_peers) {
        int keep = own >= 0 && slots[own].set ? own : (slots[0].set ? 0 : 1);
        slots[1 - keep].set = false;
    }
    if (!slots[0].set && !slots[1].set)
        return -1; /* only when client is neither IPv4 nor IPv6 */
    out->has_v4 = slots[0].set;
    out->has_v6 = slots[1].set;
    if (out->has_v4)
        write_compact(out->v4, &slots[0], 4);
    if (out->has_v6)
        write_compact(out->v6, &slots[1], 16);
    return 0;
}
