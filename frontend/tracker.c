#include "frontend/tracker.h"

#include "common/clock.h"
#include "storage/redis.h"
#include "frontend/fullscrape.h"
#include "frontend/peer_addr.h"

const char TRACKER_STORAGE_FAILURE[] = "storage unavailable, retry later";
const char TRACKER_STORAGE_BUSY[] = "storage busy, retry later";
const char TRACKER_STORAGE_FULL[] = "storage full, retry later";

const char *tracker_storage_failure(const char *err)
{
    return err == REDIS_ERR_FULL   ? TRACKER_STORAGE_FULL
           : err == REDIS_ERR_BUSY ? TRACKER_STORAGE_BUSY
                                   : TRACKER_STORAGE_FAILURE;
}

/* The client-facing text of a storage call refused at once (redis_pool_eval()'s code). */
static const char *refusal(int rc)
{
    return rc == REDIS_BUSY ? TRACKER_STORAGE_BUSY : TRACKER_STORAGE_FAILURE;
}

uint64_t tracker_now_ms(void)
{
    return clock_wall_ms();
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

uint64_t tracker_peer_ttl_ms(const struct config *cfg)
{
    uint64_t a = cfg->announce_ms;

    /* Saturate rather than wrap to a tiny TTL on an absurd interval. */
    if (a > UINT64_MAX - a / 2)
        return UINT64_MAX;
    return a + a / 2;
}

uint64_t tracker_interval_s(const struct config *cfg)
{
    return cfg->announce_ms / 1000;
}

uint64_t tracker_min_interval_s(const struct config *cfg)
{
    return cfg->min_announce_ms / 1000;
}

void tracker_decide_peers(const struct config *cfg, int32_t numwant, int client_family,
                          const struct tracker_wire *wire, struct tracker_reply_peers *out)
{
    bool own_family_only = cfg->respect_af || wire->one_family;
    out->v4 = !own_family_only || client_family == AF_INET;
    out->v6 = !own_family_only || client_family != AF_INET;
    uint32_t fits = out->v4 && out->v6 ? min_u32(wire->max_peers_v4, wire->max_peers_v6)
                    : out->v4          ? wire->max_peers_v4
                                       : wire->max_peers_v6;
    uint32_t asked = numwant < 0 ? cfg->default_num_want : (uint32_t)numwant;
    out->numwant = min_u32(min_u32(asked, cfg->max_num_want), fits);
}

int tracker_announce(struct tracker *t, const struct announce_req *req, const struct addr *client,
                     const struct tracker_wire *wire, struct tracker_reply_peers *peers,
                     tracker_announce_fn *done, void *arg, const char **failure)
{
    const struct config *cfg = t->cfg;
    struct peer_addr_policy policy = {
        .allow_ip_spoofing = cfg->allow_ip_spoofing,
        .dual_stacked_peers = cfg->dual_stacked_peers,
    };
    tracker_decide_peers(cfg, req->numwant, client->family, wire, peers);
    struct swarm_announce_args a = {
        .info_hash = req->info_hash,
        .peer_id = req->peer_id,
        .seeding = req->left == 0,
        .event = req->event,
        .numwant = peers->numwant,
        .family = peers->v4 && peers->v6 ? SWARM_ANY
                  : peers->v4            ? SWARM_V4_ONLY
                                         : SWARM_V6_ONLY,
        .now_ms = tracker_now_ms(),
        .peer_ttl_ms = tracker_peer_ttl_ms(cfg),
        .purge = cfg->purge_inactive_torrents,
    };
    if (peer_addr_resolve(client, req, &policy, &a.endpoints) < 0) {
        *failure = "invalid peer address";
        return -1;
    }
    int rc = swarm_announce(t->pool, &a, done, arg);
    if (rc != REDIS_SENT) {
        *failure = refusal(rc);
        return -1;
    }
    return 0;
}

int tracker_full_scrape(struct tracker *t, struct fullscrape_snapshot **now,
                        tracker_fullscrape_fn *done, void *arg, const char **failure)
{
    int rc = fullscrape_get(t->fullscrape, tracker_now_ms(), now, done, arg);
    if (rc < 0)
        *failure = refusal(rc);
    return rc;
}

int tracker_scrape(struct tracker *t, const uint8_t (*hashes)[INFO_HASH_LEN], size_t n,
                   tracker_scrape_fn *done, void *arg, const char **failure)
{
    int rc = swarm_scrape(t->pool, hashes, n, tracker_now_ms(), done, arg);
    if (rc != REDIS_SENT) {
        *failure = refusal(rc);
        return -1;
    }
    return 0;
}
