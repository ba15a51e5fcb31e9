/* local_subnet_priority: which peers are the announcer's neighbours, and the reply's order. */
#include "frontend/local_peers.h"

#include <string.h>

uint32_t local_peers_window(const struct config *cfg, uint32_t numwant)
{
    if (!cfg->local_subnet_priority)
        return numwant;
    uint64_t wide = (uint64_t)numwant * LOCAL_PEERS_WIDEN;
    if (wide > cfg->max_num_want)
        wide = cfg->max_num_want;
    return wide > numwant ? (uint32_t)wide : numwant;
}

/* The network of `prefix` bits around bytes (4 or 16 of them), host bits cleared. */
static struct cidr network_of(int family, const uint8_t *bytes, unsigned prefix)
{
    struct cidr c = {.net.family = family, .prefix = prefix};
    size_t len = family == AF_INET ? 4 : 16;
    unsigned whole = prefix / 8, rest = prefix % 8;
    memcpy(c.net.bytes, bytes, whole);
    if (rest != 0 && whole < len)
        c.net.bytes[whole] = (uint8_t)(bytes[whole] & (0xffu << (8 - rest)));
    return c;
}

static struct addr addr_of(int family, const uint8_t *compact)
{
    struct addr a = {.family = family};
    memcpy(a.bytes, compact, family == AF_INET ? 4 : 16);
    return a;
}

void local_peers_nets(const struct config *cfg, const struct peer_endpoints *own,
                      struct local_nets *out)
{
    struct addr v4 = addr_of(AF_INET, own->v4), v6 = addr_of(AF_INET6, own->v6);
    out->n = 0;
    if (own->has_v4 && cfg->local_subnet_v4_prefix > 0)
        out->net[out->n++] = network_of(AF_INET, own->v4, cfg->local_subnet_v4_prefix);
    if (own->has_v6 && cfg->local_subnet_v6_prefix > 0)
        out->net[out->n++] = network_of(AF_INET6, own->v6, cfg->local_subnet_v6_prefix);
    for (size_t i = 0; i < cfg->n_local_subnet_cidrs && i < CONFIG_MAX_LOCAL_CIDRS; i++) {
        const struct cidr *c = &cfg->local_subnet_cidrs[i];
        if ((own->has_v4 && cidr_contains(c, &v4)) || (own->has_v6 && cidr_contains(c, &v6)))
            out->net[out->n++] = *c;
    }
}

bool local_peers_is_local(const struct local_nets *nets, const struct swarm_peer *p)
{
    struct addr v4, v6;
    if (p->v4 != NULL)
        v4 = addr_of(AF_INET, p->v4);
    if (p->v6 != NULL)
        v6 = addr_of(AF_INET6, p->v6);
    for (size_t i = 0; i < nets->n; i++) {
        const struct cidr *c = &nets->net[i];
        if (c->net.family == AF_INET ? p->v4 != NULL && cidr_contains(c, &v4)
                                     : p->v6 != NULL && cidr_contains(c, &v6))
            return true;
    }
    return false;
}

size_t local_peers_order(const struct local_nets *nets, const struct swarm_peer *in, size_t n,
                         size_t numwant, struct swarm_peer *out, size_t *nlocal)
{
    bool local[LOCAL_PEERS_IN_MAX];
    size_t k = 0;
    if (n > LOCAL_PEERS_IN_MAX)
        n = LOCAL_PEERS_IN_MAX;
    /* One test per peer: the locals are written as found, the others in a second walk. */
    for (size_t i = 0; i < n; i++) {
        local[i] = local_peers_is_local(nets, &in[i]);
        if (local[i] && k < numwant)
            out[k++] = in[i];
    }
    *nlocal = k;
    for (size_t i = 0; i < n && k < numwant; i++)
        if (!local[i])
            out[k++] = in[i];
    return k;
}
