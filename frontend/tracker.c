#include "frontend/tracker.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/mem.h"
#include "common/random.h"
#include "storage/redis.h"
#include "storage/tables.h"
#include "frontend/fullscrape.h"
#include "frontend/local_peers.h"
#include "frontend/peer_addr.h"
#include "frontend/peer_cache.h"
#include "frontend/stats.h"

const char TRACKER_STORAGE_FAILURE[] = "storage unavailable, retry later";
const char TRACKER_STORAGE_BUSY[] = "storage busy, retry later";
const char TRACKER_STORAGE_FULL[] = "storage full, retry later";
const char TRACKER_CLIENT_NOT_APPROVED[] = "client is not approved";
const char TRACKER_TORRENT_NOT_ALLOWED[] =
    "Requested download is not authorized for use with this tracker.";
const char TRACKER_PASSKEY_REQUIRED[] =
    "This is a private tracker: announce and scrape at /<passkey>/announce and /<passkey>/scrape";
const char TRACKER_UNKNOWN_PASSKEY[] = "Passkey not found";
static const char user_disabled[] = "Your account is disabled";
static const char leeching_forbidden[] = "Access denied, leeching forbidden";
static const char unregistered[] = "Unregistered torrent";

static const char *const refusal_names[TRACKER_REFUSALS] = {
    [REFUSED_CLIENT] = "client_not_approved",
    [REFUSED_TORRENT_NOT_ALLOWED] = "torrent_not_allowed",
    [REFUSED_PASSKEY_REQUIRED] = "passkey_required",
    [REFUSED_UNKNOWN_PASSKEY] = "unknown_passkey",
    [REFUSED_USER_DISABLED] = "user_disabled",
    [REFUSED_LEECHING_FORBIDDEN] = "leeching_forbidden",
    [REFUSED_UNREGISTERED] = "unregistered_torrent",
};

const char *tracker_refusal_name(enum tracker_refusal r)
{
    return refusal_names[r];
}

/* delete_torrent's reason codes, as Ocelot (and so Gazelle) numbers them. */
static const char *const deleted_texts[] = {
    "Unregistered torrent: Dupe",
    "Unregistered torrent: Trump",
    "Unregistered torrent: Bad File Names",
    "Unregistered torrent: Bad Folder Names",
    "Unregistered torrent: Bad Tags",
    "Unregistered torrent: Disallowed Format",
    "Unregistered torrent: Discs Missing",
    "Unregistered torrent: Discography",
    "Unregistered torrent: Edited Log",
    "Unregistered torrent: Inaccurate Bitrate",
    "Unregistered torrent: Low Bitrate",
    "Unregistered torrent: Mutt Rip",
    "Unregistered torrent: Disallowed Source",
    "Unregistered torrent: Encode Errors",
    "Unregistered torrent: Specifically Banned",
    "Unregistered torrent: Tracks Missing",
    "Unregistered torrent: Transcode",
    "Unregistered torrent: Unapproved Cassette",
    "Unregistered torrent: Unsplit Album",
    "Unregistered torrent: User Compilation",
    "Unregistered torrent: Wrong Format",
    "Unregistered torrent: Wrong Media",
    "Unregistered torrent: Audience Recording",
};

const char *tracker_unregistered_text(int32_t reason, uint64_t deleted_at_s, uint64_t now_s)
{
    bool recent = deleted_at_s != 0 && now_s - deleted_at_s < TABLES_DELETED_KEEP_S;
    if (!recent || reason < 0 || (size_t)reason >= sizeof(deleted_texts) / sizeof(deleted_texts[0]))
        return unregistered;
    return deleted_texts[reason];
}

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

uint64_t tracker_site_announce_ms(const struct tracker *t)
{
    return tables_announce_ms(t->tables);
}

uint64_t tracker_peer_ttl_ms(const struct config *cfg, uint64_t site_ms)
{
    /* The longest interval a reply gives (announce_jitter on top), or gave before the site
     * shortened it. */
    uint64_t a = site_ms > cfg->announce_ms ? site_ms : cfg->announce_ms;
    a = a > UINT64_MAX - cfg->announce_jitter_ms ? UINT64_MAX : a + cfg->announce_jitter_ms;

    /* Saturate rather than wrap to a tiny TTL on an absurd interval. */
    if (a > UINT64_MAX - a / 2)
        return UINT64_MAX;
    return a + a / 2;
}

uint64_t tracker_interval_s(const struct config *cfg, uint64_t site_ms)
{
    uint64_t ms = site_ms != 0 ? site_ms : cfg->announce_ms;
    if (ms < cfg->min_announce_ms)
        ms = cfg->min_announce_ms;
    /* (Validated for announce; a site's shorter interval gets half of its own at most.) */
    uint64_t j = cfg->announce_jitter_ms < ms / 2 ? cfg->announce_jitter_ms : ms / 2;
    if (j > 0) {
        /* Uniform in the interval +- jitter, never below min_announce: clients that started
         * together spread out. */
        ms = ms - j + random_u64() % (2 * j + 1);
        if (ms < cfg->min_announce_ms)
            ms = cfg->min_announce_ms;
    }
    return ms / 1000;
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

/* Whether entry c approves peer_id: a prefix of it, or of what follows an Azureus-style
 * id's dash ("-qB4650-..." by "qB4650"), as Chihaya's client IDs were. */
static bool client_matches(const struct config_client *c, const uint8_t *peer_id)
{
    return memcmp(peer_id, c->prefix, c->len) == 0 || (peer_id[0] == '-' && c->len < PEER_ID_LEN &&
                                                       memcmp(peer_id + 1, c->prefix, c->len) == 0);
}

bool tracker_client_approved(const struct config *cfg, const struct config_client *shared,
                             size_t nshared, const uint8_t *peer_id)
{
    if (!cfg->client_whitelist_enabled)
        return true;
    for (size_t i = 0; i < cfg->n_client_whitelist; i++)
        if (client_matches(&cfg->client_whitelist[i], peer_id))
            return true;
    for (size_t i = 0; i < nshared; i++)
        if (client_matches(&shared[i], peer_id))
            return true;
    return false;
}

/* A refusal: counted by reason, and its client-facing text returned. */
static const char *refused(enum tracker_refusal r, const char *text)
{
    frontend_stats.refusals[r]++;
    return text;
}

/* Private mode's user rule: NULL when passkey (PASSKEY_LEN bytes, or NULL) names a known,
 * enabled user (into *user), else the client-facing reason. */
static const char *user_refusal(const struct tracker *t, const char *passkey,
                                struct table_user *user)
{
    if (passkey == NULL)
        return refused(REFUSED_PASSKEY_REQUIRED, TRACKER_PASSKEY_REQUIRED);
    if (!tables_user(t->tables, passkey, user))
        return refused(REFUSED_UNKNOWN_PASSKEY, TRACKER_UNKNOWN_PASSKEY);
    if (!user->enabled)
        return refused(REFUSED_USER_DISABLED, user_disabled);
    return NULL;
}

/* The access, whitelist and private-mode rules, before Redis is asked anything: NULL when
 * the announce may go on (in private mode with *acct filled in), else its client-facing
 * reason. */
static const char *refusal_of(const struct tracker *t, const struct announce_req *req,
                              struct swarm_acct *acct)
{
    const struct config *cfg = t->cfg;
    if (t->tables != NULL && !tables_loaded(t->tables))
        return TRACKER_STORAGE_FAILURE; /* the shared lists are not known yet */
    struct table_user user;
    const char *why;
    if (cfg->private_enabled &&
        (why = user_refusal(t, req->has_passkey ? req->passkey : NULL, &user)) != NULL)
        return why;
    size_t nshared;
    const struct config_client *shared = tables_clients(t->tables, &nshared);
    if (!tracker_client_approved(cfg, shared, nshared, req->peer_id))
        return refused(REFUSED_CLIENT, TRACKER_CLIENT_NOT_APPROVED);
    if (cfg->access_list_mode != ACCESS_LIST_OFF &&
        tables_has_torrent(t->tables, req->info_hash) !=
            (cfg->access_list_mode == ACCESS_LIST_ALLOW))
        return refused(REFUSED_TORRENT_NOT_ALLOWED, TRACKER_TORRENT_NOT_ALLOWED);
    if (cfg->private_enabled) {
        struct table_torrent tor;
        bool known = tables_registered(t->tables, req->info_hash, &tor);
        if (!known || tor.deleted_at != 0)
            return refused(REFUSED_UNREGISTERED,
                           known ? tracker_unregistered_text(tor.reason, tor.deleted_at,
                                                             tracker_now_ms() / 1000)
                                 : unregistered);
        /* A stopped leecher may still say goodbye: it takes nothing from anyone. */
        if (!user.can_leech && req->left > 0 && req->event != EVENT_STOPPED)
            return refused(REFUSED_LEECHING_FORBIDDEN, leeching_forbidden);
        *acct = (struct swarm_acct){
            .user_id = user.id,
            .torrent_id = tor.id,
            .freetorrent = tor.free,
            .token = tables_has_token(t->tables, req->info_hash, user.id),
            .visible = user.visible,
            .uploaded = req->uploaded,
            .downloaded = req->downloaded,
            .left = req->left,
            .user_agent = req->user_agent,
            .user_agent_len = req->user_agent_len,
        };
    }
    return NULL;
}

/* An announce planned by the peer cache: what it asked for, and whose it is. */
struct cached_announce {
    struct peer_cache *cache;
    struct peer_cache_entry *entry; /* pinned by FILL and HIT; BYPASS: NULL */
    enum peer_cache_plan plan;
    uint64_t planned_ms;
    struct peer_cache_want want;
    uint8_t peer_id[PEER_ID_LEN]; /* want.peer_id */
    uint8_t info_hash[INFO_HASH_LEN];
    tracker_announce_fn *done;
    void *arg;
};

/* The peers of the reply being delivered: used during the callback only (see swarm.c). */
static struct swarm_peer served[CONFIG_NUM_WANT_CEILING];

/* BYPASS: the reply is Redis's, and tells the cache whether the swarm is worth an entry.
 * FILL and HIT: Redis recorded the announce and counted (a fill also read the windows); the
 * peers come from the entry. */
static void on_cached_announce(void *arg, const struct announce_reply *r, const char *err)
{
    struct cached_announce *ca = arg;
    bool fill = ca->plan == PEER_CACHE_FILL;
    if (ca->plan == PEER_CACHE_BYPASS) {
        if (r != NULL)
            peer_cache_saw(ca->cache, ca->info_hash, r->complete + r->incomplete, ca->want.numwant,
                           ca->planned_ms);
        ca->done(ca->arg, r, err);
        free(ca);
        return;
    }
    if (r == NULL) {
        ca->done(ca->arg, NULL, err);
    } else {
        if (fill)
            peer_cache_store(ca->entry, r, ca->planned_ms);
        struct announce_reply out = {
            .complete = r->complete,
            .incomplete = r->incomplete,
            .peers = served,
            .npeers = peer_cache_serve(ca->entry, &ca->want, served, CONFIG_NUM_WANT_CEILING),
        };
        ca->done(ca->arg, &out, NULL);
    }
    peer_cache_release(ca->entry, fill && r == NULL);
    free(ca);
}

/* An announce whose reply lists local peers first (local_subnet_priority). */
struct local_announce {
    const struct config *cfg;
    struct peer_endpoints own; /* where the announcer is listed: its networks */
    uint32_t numwant;          /* of the reply; storage was asked for a wider window */
    tracker_announce_fn *done;
    void *arg;
};

/* The reply being delivered, reordered: used during the callback only, as `served`. */
static struct swarm_peer ordered[CONFIG_NUM_WANT_CEILING];

static void on_local_announce(void *arg, const struct announce_reply *r, const char *err)
{
    struct local_announce *la = arg;
    if (r == NULL) {
        la->done(la->arg, NULL, err);
    } else {
        struct local_nets nets;
        local_peers_nets(la->cfg, &la->own, &nets);
        struct announce_reply out = *r;
        out.peers = ordered;
        size_t nlocal;
        out.npeers = local_peers_order(&nets, r->peers, r->npeers, la->numwant, ordered, &nlocal);
        frontend_stats.local_peers += nlocal;
        la->done(la->arg, &out, NULL);
    }
    free(la);
}

/*
 * Sends a, with the peer cache's plan for it: BYPASS as is, HIT recording and counting only,
 * FILL reading both windows. Returns swarm_announce()'s code.
 */
static int announce_through_cache(struct tracker *t, struct swarm_announce_args *a,
                                  tracker_announce_fn *done, void *arg)
{
    struct peer_cache_want want = {
        .peer_id = a->peer_id,
        .seeding = a->seeding,
        .family = a->family,
        .numwant = a->numwant,
    };
    uint64_t now_ms = clock_monotonic_us() / 1000;
    struct peer_cache_entry *entry = NULL;
    enum peer_cache_plan plan = peer_cache_plan(t->peer_cache, a->info_hash, &want, now_ms, &entry);
    frontend_stats.peer_cache[plan]++;

    const struct config *cfg = t->cfg;
    struct cached_announce *ca = xmalloc(sizeof(*ca));
    *ca = (struct cached_announce){t->peer_cache, entry, plan, now_ms, want, {0}, {0}, done, arg};
    memcpy(ca->peer_id, a->peer_id, PEER_ID_LEN);
    memcpy(ca->info_hash, a->info_hash, INFO_HASH_LEN);
    ca->want.peer_id = ca->peer_id;
    if (plan == PEER_CACHE_HIT) {
        a->numwant = 0;
    } else if (plan == PEER_CACHE_FILL) {
        /* Windows others can use too: at least default_num_want, one more so a member of
         * the window still gets as many, and members live until the entry's last use (its
         * ttl, then a reply as late as Redis may take). */
        if (a->numwant < cfg->default_num_want)
            a->numwant = cfg->default_num_want;
        a->numwant++;
        a->fill_horizon_ms = a->now_ms + cfg->peer_cache_ttl_ms + cfg->redis.command_timeout_ms;
    }
    int rc = swarm_announce(t->pool, a, on_cached_announce, ca);
    if (rc != REDIS_SENT) {
        if (entry != NULL)
            peer_cache_release(entry, plan == PEER_CACHE_FILL);
        free(ca);
    }
    return rc;
}

int tracker_announce(struct tracker *t, const struct announce_req *req, const struct addr *client,
                     const struct tracker_wire *wire, struct tracker_reply_peers *peers,
                     tracker_announce_fn *done, void *arg, const char **failure)
{
    const struct config *cfg = t->cfg;
    struct swarm_acct acct;
    if ((*failure = refusal_of(t, req, &acct)) != NULL)
        return -1;
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
        .peer_ttl_ms = tracker_peer_ttl_ms(cfg, tracker_site_announce_ms(t)),
        .purge = cfg->purge_inactive_torrents,
        .acct = cfg->private_enabled ? &acct : NULL,
    };
    if (peer_addr_resolve(client, req, &policy, &a.endpoints) < 0) {
        *failure = "invalid peer address";
        return -1;
    }
    /* Only replies with peers gain from the cache or an order (a stopped event's has none). */
    bool has_peers = a.numwant > 0 && a.event != EVENT_STOPPED;
    struct local_announce *la = NULL;
    if (cfg->local_subnet_priority && has_peers) {
        la = xmalloc(sizeof(*la));
        *la = (struct local_announce){cfg, a.endpoints, a.numwant, done, arg};
        a.numwant = local_peers_window(cfg, a.numwant);
        done = on_local_announce;
        arg = la;
    }
    bool cacheable = t->peer_cache != NULL && has_peers;
    int rc = cacheable ? announce_through_cache(t, &a, done, arg)
                       : swarm_announce(t->pool, &a, done, arg);
    if (rc != REDIS_SENT) {
        free(la);
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

long tracker_scrape_private(struct tracker *t, const char *passkey,
                            uint8_t (*hashes)[INFO_HASH_LEN], size_t n, const char **failure)
{
    if (!t->cfg->private_enabled)
        return (long)n;
    struct table_user user;
    if (!tables_loaded(t->tables)) {
        *failure = TRACKER_STORAGE_FAILURE;
        return -1;
    }
    if ((*failure = user_refusal(t, passkey, &user)) != NULL)
        return -1;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        struct table_torrent tor;
        if (tables_registered(t->tables, hashes[i], &tor) && tor.deleted_at == 0)
            memmove(hashes[kept++], hashes[i], INFO_HASH_LEN);
    }
    return (long)kept;
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
