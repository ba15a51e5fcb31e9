#include "frontend/tracker.h"

#include "common/clock.h"
#include "frontend/peer_addr.h"

const char TRACKER_STORAGE_FAILURE[] = "storage unavailable, retry later";

uint64_t tracker_now_ms(void)
{
    return clock_wall_ms();
}

static uint32_t effective_numwant(const struct config *cfg, int32_t asked)
{
    uint32_t n = asked < 0 ? cfg->default_num_want : (uint32_t)asked;
    return n > cfg->max_num_want ? cfg->max_num_want : n;
}

int tracker_announce(struct tracker *t, const struct announce_req *req, const struct addr *client,
                     bool own_family_only, tracker_announce_fn *done, void *arg,
                     const char **failure)
{
    const struct config *cfg = t->cfg;
    struct peer_addr_policy policy = {
        .allow_ip_spoofing = cfg->allow_ip_spoofing,
        .dual_stacked_peers = cfg->dual_stacked_peers,
    };
    struct swarm_announce_args a = {
        .info_hash = req->info_hash,
        .peer_id = req->peer_id,
        .seeding = req->left == 0,
        .event = req->event,
        .numwant = effective_numwant(cfg, req->numwant),
        .family = SWARM_ANY,
        .now_ms = tracker_now_ms(),
        .peer_ttl_ms = config_peer_ttl_ms(cfg),
        .purge = cfg->purge_inactive_torrents,
    };
    if (peer_addr_resolve(client, req, &policy, &a.endpoints) < 0) {
        *failure = "invalid peer address";
        return -1;
    }
    if (cfg->respect_af || own_family_only)
        a.family = client->family == AF_INET ? SWARM_V4_ONLY : SWARM_V6_ONLY;
    if (swarm_announce(t->pool, &a, done, arg) < 0) {
        *failure = TRACKER_STORAGE_FAILURE;
        return -1;
    }
    return 0;
}

int tracker_full_scrape(struct tracker *t, tracker_fullscrape_fn *done, void *arg,
                        const char **failure)
{
    if (swarm_full_scrape(t->pool, done, arg) < 0) {
        *failure = TRACKER_STORAGE_FAILURE;
        return -1;
    }
    return 0;
}

int tracker_scrape(struct tracker *t, const uint8_t (*hashes)[INFO_HASH_LEN], size_t n,
                   tracker_scrape_fn *done, void *arg, const char **failure)
{
    if (swarm_scrape(t->pool, hashes, n, tracker_now_ms(), done, arg) < 0) {
        *failure = TRACKER_STORAGE_FAILURE;
        return -1;
    }
    return 0;
}
