#ifndef STARLING_TRACKER_H
#define STARLING_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/config.h"
#include "storage/swarm.h"
#include "frontend/request.h"

struct redis_pool;

/*
 * The protocol-neutral tracker: HTTP and UDP parse a request, call these, and encode what
 * comes back. Tracker rules that do not depend on the wire format (numwant default and
 * cap, address policy, respect_af, local peers first, peer lifetime, intervals, failure
 * texts) live here; the protocols only say what their replies can carry (struct
 * tracker_wire).
 */
struct fullscrape_cache;
struct fullscrape_snapshot;
struct peer_cache;
struct tables;

struct tracker {
    const struct config *cfg;
    struct redis_pool *pool;
    struct fullscrape_cache *fullscrape; /* allow_full_scrape's shared snapshot */
    struct peer_cache *peer_cache;       /* hot swarms' peer windows; NULL: none */
    struct tables *tables;               /* the shared lists' replica; NULL: none needed */
};

/* Client-facing text for a storage failure: Redis down, slow or erroring ... */
extern const char TRACKER_STORAGE_FAILURE[];
/* ... or refused at once, every Redis connection having redis.max_in_flight calls out ... */
extern const char TRACKER_STORAGE_BUSY[];
/* ... or Redis at its maxmemory, refusing writes (an OOM error reply). */
extern const char TRACKER_STORAGE_FULL[];

/* An announce from a peer_id client_whitelist does not approve (Chihaya's text). */
extern const char TRACKER_CLIENT_NOT_APPROVED[];

/* An announce for a torrent access_list_mode refuses (opentracker's text). */
extern const char TRACKER_TORRENT_NOT_ALLOWED[];

/* Why an announce was refused before Redis was asked: the labels of
 * starling_announce_refusals_total. */
enum tracker_refusal {
    REFUSED_CLIENT,              /* client_whitelist */
    REFUSED_TORRENT_NOT_ALLOWED, /* access_list_mode */
    REFUSED_PASSKEY_REQUIRED,    /* private mode, a public path */
    REFUSED_UNKNOWN_PASSKEY,
    REFUSED_USER_DISABLED,
    REFUSED_LEECHING_FORBIDDEN, /* can_leech = 0 and left > 0 */
    REFUSED_UNREGISTERED,       /* private mode: a torrent the site never added, or deleted */
    TRACKER_REFUSALS
};
const char *tracker_refusal_name(enum tracker_refusal r);

/* Private mode's refusals (Ocelot's texts where Ocelot has one). */
extern const char TRACKER_PASSKEY_REQUIRED[];
extern const char TRACKER_UNKNOWN_PASSKEY[];

/* Unregistered torrent, with delete_torrent's reason (Ocelot's codes) for
 * TABLES_DELETED_KEEP_S after the deletion; "Unregistered torrent" otherwise. */
const char *tracker_unregistered_text(int32_t reason, uint64_t deleted_at_s, uint64_t now_s);

/* Whether the client whitelist (when enabled: client_whitelist and the shared entries in
 * Redis) approves peer_id (PEER_ID_LEN bytes): it starts with an entry, or is Azureus-style
 * ("-XX1234-...") and starts with one after the dash. */
bool tracker_client_approved(const struct config *cfg, const struct config_client *shared,
                             size_t nshared, const uint8_t *peer_id);

/*
 * Completion callbacks: the storage ones. reply NULL means storage failed; clients are then
 * told tracker_storage_failure(err).
 */
typedef swarm_announce_fn tracker_announce_fn;
typedef swarm_scrape_fn tracker_scrape_fn;

/* The client-facing text for a storage callback's err: TRACKER_STORAGE_FULL or
 * TRACKER_STORAGE_FAILURE (the detail of the others is for logs). */
const char *tracker_storage_failure(const char *err);

/* What one protocol's announce reply can carry. */
struct tracker_wire {
    bool one_family;       /* only peers of the client's family (a BEP 15 reply has one list) */
    uint32_t max_peers_v4; /* peers that fit one reply listing IPv4 peers only, ... */
    uint32_t max_peers_v6; /* ... IPv6 peers only (both: the smaller); UINT32_MAX: no limit */
};

/* The peers an announce's reply carries: how many storage is asked for, and which
 * addresses the reply lists (a dual-stacked peer may be listed under both). */
struct tracker_reply_peers {
    uint32_t numwant;
    bool v4, v6;
};

/* The announce interval a private site set (update_announce_interval), in ms; 0: none,
 * the config's announce holds. */
uint64_t tracker_site_announce_ms(const struct tracker *t);

/* Peer lifetime in Redis: 1.5 x the longest announce interval a reply gives (announce, or
 * the site's interval when longer, + announce_jitter), so one late announce is forgiven
 * (saturating, never wrapping to a tiny TTL). site_ms: tracker_site_announce_ms(). */
uint64_t tracker_peer_ttl_ms(const struct config *cfg, uint64_t site_ms);

/* The `interval` and `min interval` clients are told, in whole seconds; the interval (the
 * site's when set, else announce; not below min_announce) drawn afresh for each reply
 * within +- announce_jitter (at most half of it). */
uint64_t tracker_interval_s(const struct config *cfg, uint64_t site_ms);
uint64_t tracker_min_interval_s(const struct config *cfg);

/*
 * The one numwant and address-family rule: the asked numwant (negative: default_num_want)
 * capped by max_num_want and by what fits the wire; with respect_af or a one-family wire,
 * only the client's family. Pure; tracker_announce() applies it.
 */
void tracker_decide_peers(const struct config *cfg, int32_t numwant, int client_family,
                          const struct tracker_wire *wire, struct tracker_reply_peers *out);

/*
 * Records the announce and asks for peers. `client` is the address the request came from
 * (after trusted-proxy handling). *peers is set to what the reply carries (see
 * tracker_decide_peers()) before done can be called; with local_subnet_priority the
 * reply's peers of the announcer's network come first (frontend/local_peers.h). Returns 0
 * when done will be called later, or -1 with a client-facing reason in *failure (done not
 * called).
 */
int tracker_announce(struct tracker *t, const struct announce_req *req, const struct addr *client,
                     const struct tracker_wire *wire, struct tracker_reply_peers *peers,
                     tracker_announce_fn *done, void *arg, const char **failure);

/* Counts for n (> 0) distinct hashes; same return convention as tracker_announce(). */
int tracker_scrape(struct tracker *t, const uint8_t (*hashes)[INFO_HASH_LEN], size_t n,
                   tracker_scrape_fn *done, void *arg, const char **failure);

/*
 * Private mode's scrape rules: passkey (PASSKEY_LEN bytes, or NULL for a public path) must
 * be a known, enabled user's, and only registered torrents are answered: the others are
 * removed from hashes[0..n), keeping the order. Returns how many remain, or -1 with a
 * client-facing reason in *failure. Public mode: n, hashes untouched.
 */
long tracker_scrape_private(struct tracker *t, const char *passkey,
                            uint8_t (*hashes)[INFO_HASH_LEN], size_t n, const char **failure);

/* The snapshot, borrowed for the call (NULL on failure: clients are then told
 * TRACKER_STORAGE_FAILURE). */
typedef void tracker_fullscrape_fn(void *arg, struct fullscrape_snapshot *s, const char *err);

/*
 * Every swarm, as of the aggregator's last pass (frontend/fullscrape.h): 1 with *now set
 * (a reference for the caller; done not called) when the shared snapshot is at hand, 0 when
 * done will be called later, or < 0 with a client-facing reason in *failure.
 */
int tracker_full_scrape(struct tracker *t, struct fullscrape_snapshot **now,
                        tracker_fullscrape_fn *done, void *arg, const char **failure);

/* Wall clock in ms since the epoch: the time base of peer expiry in Redis. */
uint64_t tracker_now_ms(void);

#endif
