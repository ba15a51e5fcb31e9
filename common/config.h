#ifndef STARLING_CONFIG_H
#define STARLING_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/torrent.h"

/* Room for every error message the config code writes. */
#define STARLING_ERR_LEN 256
#define CONFIG_MAX_LISTEN 16
#define CONFIG_MAX_PROXIES 64
#define CONFIG_ADDR_LEN 128
/* Seed addresses of a Redis Cluster (redis.cluster_nodes): any few nodes will do. */
#define REDIS_SEEDS_MAX 16
#define REDIS_HOST_LEN 256
/* Hard ceilings on what an operator may configure, so replies stay bounded. */
#define CONFIG_NUM_WANT_CEILING 1000
#define CONFIG_SCRAPE_HASHES_CEILING 1000
/* client_whitelist: entries, and bytes of one (a peer_id prefix: at most the whole id). */
#define CONFIG_MAX_CLIENTS 256
#define CONFIG_CLIENT_LEN 20
/* peer_cache_ttl: how old a reply's peers may be (the "about a second", with room). */
#define CONFIG_PEER_CACHE_TTL_MAX_MS 5000
/* peer_cache_swarms: memory is at most this x 2 x (max_num_want + 1) x 72 B
 * (frontend/peer_cache.h). */
#define CONFIG_PEER_CACHE_SWARMS_MAX (1u << 20)
/* local_subnet_cidrs: networks whose members count as each other's local peers (an ISP's
 * ranges); every announce with local_subnet_priority tests its addresses against each. */
#define CONFIG_MAX_LOCAL_CIDRS 64
/* recvmmsg/sendmmsg batches: past this the kernel's UIO_MAXIOV-sized loops stop paying. */
#define UDP_BATCH_MAX 1024
/*
 * A configured udp_secret (and udp_previous_secret) is at least this long. One connect
 * reply lets an attacker test guesses offline, so the secret must be out of reach of a
 * search: 16 random bytes (base64 of 32 is what README suggests).
 */
#define UDP_SECRET_MIN_LEN 16
#define UDP_SECRET_HOWTO "make one with: head -c 32 /dev/urandom | base64"

/* site_api_allow: source CIDRs the site update API is taken from. */
#define CONFIG_MAX_SITE_SOURCES 64

/* driver (Chihaya's key): where the aggregator hands private mode's accounting. */
enum backend_driver { DRIVER_NOOP, DRIVER_REDIS_STREAM, DRIVER_MYSQL };

/* access_list_mode: which torrents announces may name (the list is shared, in Redis). */
enum access_list_mode { ACCESS_LIST_OFF, ACCESS_LIST_ALLOW, ACCESS_LIST_DENY };

struct redis_seed {
    char host[REDIS_HOST_LEN];
    uint16_t port;
};

struct redis_config {
    char host[REDIS_HOST_LEN]; /* TCP host (default 127.0.0.1) */
    uint16_t port;             /* default 6379 */
    char unix_socket[256];     /* non-empty: connect here instead of host:port */
    char user[128];            /* ACL user; empty: AUTH with the password only */
    char password[256];        /* empty: no AUTH */
    uint32_t db;               /* SELECT db when non-zero */
    uint64_t connect_timeout_ms;
    uint64_t command_timeout_ms;
    uint32_t connections; /* connections per frontend; calls are spread round-robin */
    /* Calls outstanding on one connection; beyond it on every connection, a request is
     * refused at once ("storage busy") instead of queueing where it can only time out. */
    uint32_t max_in_flight;
    /* Non-empty: a Redis Cluster, whose slot map is read from the first of these that
     * answers (host and port are then not used). Empty: host:port, which may still turn
     * out to be a cluster node (INFO cluster). */
    struct redis_seed cluster_nodes[REDIS_SEEDS_MAX];
    size_t n_cluster_nodes;
};

/* driver "mysql": a Gazelle site's MariaDB/MySQL database (storage/gazelle_db.h). */
struct mysql_config {
    char host[REDIS_HOST_LEN]; /* TCP host (default 127.0.0.1) */
    uint16_t port;             /* default 3306 */
    char unix_socket[256];     /* non-empty: connect here instead of host:port */
    char user[128];
    char password[256]; /* STARLING_MYSQL_PASSWORD overrides; never logged */
    char database[128];
    uint64_t flush_interval_ms;  /* the accounting cycle with this driver */
    uint32_t batch_size;         /* most peer entries one flush takes */
    uint32_t statement_rows;     /* most rows one SQL statement carries */
    uint64_t reload_interval_ms; /* users, torrents, tokens and whitelist loaded this often */
    uint64_t connect_timeout_ms;
    uint64_t command_timeout_ms; /* each read and write of a statement */
};

/* starling-aggregator: the purge/stats process (aggregator/). */
struct aggregator_config {
    uint64_t interval_ms;                      /* a pass every this long */
    uint64_t accounting_interval_ms;           /* private mode: deltas drained this often */
    uint64_t lock_ttl_ms;                      /* leader lock; a dead leader's lasts this */
    uint32_t scan_count;                       /* SCAN ... COUNT per batch */
    char metrics_listen_addr[CONFIG_ADDR_LEN]; /* its /metrics; "" disables */
};

struct config {
    /* Tracker behaviour; names and meanings follow Chihaya's config. */
    uint64_t announce_ms;        /* `interval` given to clients */
    uint64_t min_announce_ms;    /* `min interval` given to clients */
    uint64_t announce_jitter_ms; /* each reply's `interval` within announce +- this; 0: none */
    uint32_t default_num_want;
    uint32_t max_num_want;
    bool allow_ip_spoofing;
    bool dual_stacked_peers;
    bool respect_af;
    bool purge_inactive_torrents;
    bool allow_full_scrape;
    uint32_t max_scrape_hashes; /* info_hash values accepted in one scrape */
    enum access_list_mode access_list_mode;
    /* Chihaya's client whitelist: announces only from peer_ids that start with an entry
     * (or, Azureus-style "-XX1234-", whose part after the dash does). */
    bool client_whitelist_enabled;
    struct config_client {
        char prefix[CONFIG_CLIENT_LEN];
        size_t len;
    } client_whitelist[CONFIG_MAX_CLIENTS];
    size_t n_client_whitelist;
    /* Hot swarms' peer windows kept by each frontend (frontend/peer_cache.h): how long a
     * window serves (0: no cache) and how many swarms' windows at most. */
    uint64_t peer_cache_ttl_ms;
    uint32_t peer_cache_swarms;
    /* Peers in the announcer's own network first in its reply (frontend/local_peers.h):
     * the same /v4_prefix or /v6_prefix (0: no such match), or a local_subnet_cidrs entry
     * holding the announcer too. */
    bool local_subnet_priority;
    uint32_t local_subnet_v4_prefix;
    uint32_t local_subnet_v6_prefix;
    struct cidr local_subnet_cidrs[CONFIG_MAX_LOCAL_CIDRS];
    size_t n_local_subnet_cidrs;

    /* Private tracker, Gazelle/Ocelot-compatible: /<passkey>/announce, users and registered
     * torrents from the shared tables, the site's update API at /<site_password>/update
     * and its report at /<report_password>/report ("" turns either off). */
    bool private_enabled;
    bool private_udp_enabled; /* UDP announces with BEP 41 URL data "/<passkey>/announce" */
    char site_password[PASSKEY_LEN + 1];
    char report_password[PASSKEY_LEN + 1]; /* /<report_password>/report; "": none */
    char site_url[256]; /* http://host[:port][/path] of the site's tools.php; "": not called */
    struct cidr site_api_allow[CONFIG_MAX_SITE_SOURCES]; /* none: from anywhere */
    size_t n_site_api_allow;
    enum backend_driver driver;

    /* Client address behind a load balancer. */
    char real_ip_header[64]; /* empty: never read */
    struct cidr trusted_proxies[CONFIG_MAX_PROXIES];
    size_t n_trusted_proxies;

    /* HTTP server. */
    char http_listen_addr[CONFIG_MAX_LISTEN][CONFIG_ADDR_LEN];
    size_t n_http_listen_addr;
    uint64_t http_read_timeout_ms;    /* idle connection: nothing to write, no request */
    uint64_t http_write_timeout_ms;   /* client taking no byte of its replies */
    uint64_t http_request_timeout_ms; /* from a request's first byte to its last header */
    uint32_t http_listen_limit;       /* concurrent connections per frontend */
    uint32_t http_per_address_limit;  /* ... from one client address; 0: no limit */
    uint32_t http_max_request_bytes;  /* request line + headers */

    /* UDP tracker protocol (BEP 15). */
    char udp_listen_addr[CONFIG_MAX_LISTEN][CONFIG_ADDR_LEN];
    size_t n_udp_listen_addr;      /* 0: no UDP */
    char udp_secret[256];          /* connection-ID key; "" = random per process */
    char udp_previous_secret[256]; /* accepted for checking only, during a rotation */
    uint32_t udp_batch_size;       /* datagrams per recvmmsg/sendmmsg */
    bool udp_reuseport;            /* SO_REUSEPORT: several processes share the ports */

    char log_level[16]; /* debug, info, warn, error */
    char log_file[256]; /* "" logs to stderr; reopened on SIGHUP */

    /* Operations. */
    char metrics_listen_addr[CONFIG_ADDR_LEN]; /* /metrics, /healthz, /readyz; "" disables */
    uint64_t shutdown_timeout_ms; /* SIGTERM: in-flight requests get this long to finish */

    struct aggregator_config aggregator;
    struct mysql_config mysql;

    struct redis_config redis;
};

/* Fills in every default (the values README documents and config.json repeats). */
void config_defaults(struct config *cfg);

/*
 * Applies a config.json over cfg. Unknown keys, wrong types, bad durations and bad CIDRs
 * are errors naming the key. On failure: -1, *cfg untouched, a reason in err
 * (STARLING_ERR_LEN bytes).
 */
int config_load_file(const char *path, struct config *cfg, char *err);

/* The same, from a JSON text already in memory (for tests and --check-config). */
int config_load_string(const char *json, struct config *cfg, char *err);

/*
 * Applies the STARLING_* environment overrides (README lists them) over cfg.
 * On failure: -1, *cfg untouched, a reason naming the variable in err.
 */
int config_apply_env(struct config *cfg, char *err);

/*
 * Parses redis://[user:password@]host[:port][/db] or unix:///path[?db=N] into rc,
 * replacing host, port, unix_socket, user, password and db. Returns 0 or -1 with err.
 */
int config_parse_redis_url(const char *url, struct redis_config *rc, char *err);

/*
 * "host:port", "host" (port 6379), "[v6]" or "[v6]:port", len bytes, into seed. Returns 0
 * or -1 with err.
 */
int config_parse_host_port(const char *s, size_t len, struct redis_seed *seed, char *err);

/* A comma-separated list of host:port into rc's cluster_nodes (replacing them). label names
 * the source in errors. Returns 0 or -1 with err. */
int config_set_cluster_nodes(struct redis_config *rc, const char *list, const char *label,
                             char *err);

/* Cross-field checks (min_announce <= announce, default_num_want <= max_num_want, ...). */
int config_validate(const struct config *cfg, char *err);

/*
 * What both binaries do at start: defaults, then the file at path (none when NULL), then
 * the environment, then config_validate(). Returns 0 or -1 with a reason in err.
 */
int config_load(const char *path, struct config *cfg, char *err);

/* $STARLING_CONFIG, or NULL when unset or empty (--config beats it). */
const char *config_path_from_env(void);

#endif
