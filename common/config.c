#include "common/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config_internal.h"
#include "common/duration.h"
#include "common/text.h"

#define REDIS_DEFAULT_PORT 6379

#define SEC_MS UINT64_C(1000)
#define MIN_MS (60 * SEC_MS)

/* The names common/log.c knows; checked here so config does not depend on the logger. */
static const char *const log_levels[] = {"debug", "info", "warn", "error"};

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->announce_ms = 30 * MIN_MS;
    cfg->min_announce_ms = 15 * MIN_MS;
    cfg->default_num_want = 50;
    cfg->max_num_want = 200;
    cfg->allow_ip_spoofing = false;
    cfg->dual_stacked_peers = true;
    cfg->respect_af = false;
    cfg->purge_inactive_torrents = true;
    cfg->allow_full_scrape = false;
    /* Even fully %-escaped, 74 x "&info_hash=<60 bytes>" (~5.3 KB) fits an 8 KiB request. */
    cfg->max_scrape_hashes = 74;
    cfg->peer_cache_ttl_ms = SEC_MS;
    cfg->peer_cache_swarms = 1024;
    /* A home or office LAN behind one IPv4 address block; an IPv6 site (RFC 6177). */
    cfg->local_subnet_v4_prefix = 24;
    cfg->local_subnet_v6_prefix = 48;

    cfg->n_trusted_proxies = 0;
    snprintf(cfg->http_listen_addr[0], CONFIG_ADDR_LEN, "%s", "127.0.0.1:6969");
    cfg->n_http_listen_addr = 1;
    cfg->http_read_timeout_ms = 30 * SEC_MS;
    cfg->http_write_timeout_ms = 10 * SEC_MS;
    cfg->http_request_timeout_ms = 5 * SEC_MS;
    cfg->http_listen_limit = 4096;
    cfg->http_per_address_limit = 64;
    cfg->http_max_request_bytes = 8192;
    snprintf(cfg->udp_listen_addr[0], CONFIG_ADDR_LEN, "%s", "127.0.0.1:6969");
    cfg->n_udp_listen_addr = 1;
    cfg->udp_batch_size = 32;
    cfg->udp_reuseport = false;

    snprintf(cfg->log_level, sizeof(cfg->log_level), "%s", "info");
    snprintf(cfg->metrics_listen_addr, CONFIG_ADDR_LEN, "%s", "127.0.0.1:9100");
    cfg->shutdown_timeout_ms = 10 * SEC_MS;

    cfg->aggregator.interval_ms = MIN_MS;
    /* Ocelot flushes to the site's database every 3 s. */
    cfg->aggregator.accounting_interval_ms = 3 * SEC_MS;
    cfg->aggregator.lock_ttl_ms = 30 * SEC_MS;
    /* Small batches: each is a burst of pipelined calls that announces queue behind. */
    cfg->aggregator.scan_count = 250;
    snprintf(cfg->aggregator.metrics_listen_addr, CONFIG_ADDR_LEN, "%s", "127.0.0.1:9101");

    snprintf(cfg->mysql.host, sizeof(cfg->mysql.host), "%s", "127.0.0.1");
    cfg->mysql.port = 3306;
    snprintf(cfg->mysql.user, sizeof(cfg->mysql.user), "%s", "gazelle");
    snprintf(cfg->mysql.database, sizeof(cfg->mysql.database), "%s", "gazelle");
    cfg->mysql.flush_interval_ms = 3 * SEC_MS; /* Ocelot's */
    cfg->mysql.batch_size = 50000;
    cfg->mysql.statement_rows = 1000;
    cfg->mysql.reload_interval_ms = MIN_MS;
    cfg->mysql.connect_timeout_ms = 5 * SEC_MS;
    cfg->mysql.command_timeout_ms = 30 * SEC_MS;

    snprintf(cfg->redis.host, sizeof(cfg->redis.host), "%s", "127.0.0.1");
    cfg->redis.port = REDIS_DEFAULT_PORT;
    cfg->redis.db = 0;
    cfg->redis.connect_timeout_ms = SEC_MS;
    cfg->redis.command_timeout_ms = 500;
    cfg->redis.connections = 2;
    /* 2 x 4096 calls: about 290 ms of a healthy Redis's work (~35 us an announce), inside
     * command_timeout; ~1 KiB each, 8 MiB of frontend memory at most (README, Redis
     * failures). */
    cfg->redis.max_in_flight = 4096;
}

/*
 * Writes a reason into err (STARLING_ERR_LEN bytes; longer text is cut) and returns -1, so a
 * failure reads `return config_err(err, ...)`.
 */
__attribute__((format(printf, 2, 3))) int config_err(char *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, STARLING_ERR_LEN, fmt, ap);
    va_end(ap);
    return -1;
}

/* Removes from s (a NUL-terminated text) every occurrence of cut, unless cut was cut short. */
static void remove_all(char *s, const char *cut, int len, size_t cap)
{
    char *p;
    if (len <= 0 || (size_t)len >= cap)
        return;
    while ((p = strstr(s, cut)) != NULL)
        memmove(p, p + len, strlen(p + len) + 1);
}

void config_reason_without_value(char *reason, const char *text, const char *fallback)
{
    char cut[STARLING_ERR_LEN + 8];

    /* A text too long for cut was cut in reason too: the quote check below catches it. */
    remove_all(reason, cut, snprintf(cut, sizeof(cut), " in \"%s\"", text), sizeof(cut));
    remove_all(reason, cut, snprintf(cut, sizeof(cut), " \"%s\"", text), sizeof(cut));
    if (strchr(reason, '"') != NULL)
        snprintf(reason, STARLING_ERR_LEN, "%s", fallback);
}

/* Copies len bytes of src and a NUL into dst (cap bytes). Returns 0, or -1 if it won't fit. */
int config_copy_str(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        return -1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

bool config_is_log_level(const char *s)
{
    for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++) {
        if (strcmp(s, log_levels[i]) == 0)
            return true;
    }
    return false;
}

/* A listen address for an auxiliary server, or "" for none. */
bool config_is_listen_addr_or_empty(const char *s)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char reason[STARLING_ERR_LEN];
    return s[0] == '\0' || listen_addr_parse(s, &ss, &sslen, reason, sizeof(reason)) == 0;
}

/* Only token characters real header names use, so the value can never smuggle a CR or ':'. */
bool config_is_header_name(const char *s)
{
    for (; *s != '\0'; s++) {
        char c = *s;
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

bool config_is_path_key_or_empty(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return true;
    if (n != PASSKEY_LEN)
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
            return false;
    return true;
}

/* ---- redis URLs ---------------------------------------------------------------------- */

/* Returns s past prefix, or NULL if s does not start with it. */
static const char *skip_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/*
 * Decodes %XX escapes of len bytes at src into dst (cap bytes, NUL-terminated), as a
 * password may hold '@', ':' or '/'. what names the part in errors; the text itself never
 * appears there, since it may be a secret. Returns 0 or -1 with err.
 */
static int url_part_decode(char *dst, size_t cap, const char *src, size_t len, const char *what,
                           char *err)
{
    ssize_t n = percent_decode(src, len, (uint8_t *)dst, cap - 1);
    if (n < 0)
        return config_err(err, "bad %%-escape in %s, or %s too long (at most %zu bytes)", what,
                          what, cap - 1);
    if (memchr(dst, '\0', (size_t)n) != NULL)
        return config_err(err, "bad %%-escape in %s", what);
    dst[n] = '\0';
    return 0;
}

/* "user:password" or, as redis-cli reads it, "password" alone. */
static int parse_userinfo(const char *s, size_t len, struct redis_config *rc, char *err)
{
    const char *colon = memchr(s, ':', len);

    if (colon == NULL)
        return url_part_decode(rc->password, sizeof(rc->password), s, len, "password", err);
    size_t ulen = (size_t)(colon - s);
    if (url_part_decode(rc->user, sizeof(rc->user), s, ulen, "user", err) < 0)
        return -1;
    return url_part_decode(rc->password, sizeof(rc->password), colon + 1, len - ulen - 1,
                           "password", err);
}

int config_parse_host_port(const char *s, size_t len, struct redis_seed *seed, char *err)
{
    const char *host = s, *rest;
    size_t hlen;

    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return config_err(err, "missing ']' after IPv6 host");
        host = s + 1;
        hlen = (size_t)(close - host);
        rest = close + 1;
    } else {
        const char *colon = memchr(s, ':', len);
        hlen = colon != NULL ? (size_t)(colon - s) : len;
        rest = s + hlen;
        if (colon != NULL && memchr(colon + 1, ':', len - hlen - 1) != NULL)
            return config_err(err, "IPv6 host needs [brackets]");
    }
    if (hlen == 0)
        return config_err(err, "missing host");
    if (config_copy_str(seed->host, sizeof(seed->host), host, hlen) < 0)
        return config_err(err, "host too long (at most %zu bytes)", sizeof(seed->host) - 1);

    size_t rlen = len - (size_t)(rest - s);
    uint64_t port = REDIS_DEFAULT_PORT;
    if (rlen > 0 && (rest[0] != ':' || decimal_parse(rest + 1, rlen - 1, 65535, &port) < 0))
        return config_err(err, "bad port (1..65535)");
    if (port == 0)
        return config_err(err, "bad port (1..65535)");
    seed->port = (uint16_t)port;
    return 0;
}

static int parse_host_port(const char *s, size_t len, struct redis_config *rc, char *err)
{
    struct redis_seed hp;
    if (config_parse_host_port(s, len, &hp, err) < 0)
        return -1;
    memcpy(rc->host, hp.host, sizeof(rc->host));
    rc->port = hp.port;
    return 0;
}

static int parse_db(const char *s, size_t len, struct redis_config *rc, char *err)
{
    uint64_t db;

    if (decimal_parse(s, len, REDIS_DB_MAX, &db) < 0)
        return config_err(err, "bad db (0..%d)", REDIS_DB_MAX);
    rc->db = (uint32_t)db;
    return 0;
}

int config_set_cluster_nodes(struct redis_config *rc, const char *list, const char *label,
                             char *err)
{
    struct redis_seed seeds[REDIS_SEEDS_MAX];
    size_t n = 0;
    char reason[STARLING_ERR_LEN];

    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (n == REDIS_SEEDS_MAX)
            return config_err(err, "%s: at most %d addresses", label, REDIS_SEEDS_MAX);
        if (config_parse_host_port(p, len, &seeds[n], reason) < 0)
            return config_err(err, "%s: address %zu: %s", label, n + 1, reason);
        n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    memcpy(rc->cluster_nodes, seeds, n * sizeof(seeds[0]));
    rc->n_cluster_nodes = n;
    return 0;
}

/* What follows "redis://": [[[user]:]password@]host[:port][/db]. */
static int parse_tcp_url(const char *s, struct redis_config *rc, char *err)
{
    /* The last '@': an unescaped '@' or '/' in a password still parses as meant. */
    const char *at = strrchr(s, '@');
    const char *hp = at != NULL ? at + 1 : s;
    const char *slash = strchr(hp, '/');
    size_t hplen = slash != NULL ? (size_t)(slash - hp) : strlen(hp);

    rc->user[0] = '\0';
    rc->password[0] = '\0';
    rc->unix_socket[0] = '\0';
    rc->db = 0;
    if (at != NULL && parse_userinfo(s, (size_t)(at - s), rc, err) < 0)
        return -1;
    if (parse_host_port(hp, hplen, rc, err) < 0)
        return -1;
    if (slash != NULL && slash[1] != '\0')
        return parse_db(slash + 1, strlen(slash + 1), rc, err);
    return 0;
}

/*
 * What follows "unix://": /path[?db=N]. Like a redis:// URL it resets user, password and db
 * (it carries none); the TCP host and port stay, as the socket takes precedence anyway.
 */
static int parse_unix_url(const char *s, struct redis_config *rc, char *err)
{
    const char *query = strchr(s, '?');
    size_t plen = query != NULL ? (size_t)(query - s) : strlen(s);
    const char *db;

    if (s[0] != '/')
        return config_err(err, "socket path must be absolute (unix:///path)");
    if (config_copy_str(rc->unix_socket, sizeof(rc->unix_socket), s, plen) < 0)
        return config_err(err, "socket path too long (at most %zu bytes)",
                          sizeof(rc->unix_socket) - 1);
    rc->user[0] = '\0';
    rc->password[0] = '\0';
    rc->db = 0;
    if (query == NULL)
        return 0;
    db = skip_prefix(query + 1, "db=");
    if (db == NULL)
        return config_err(err, "unknown query (only ?db=N)");
    return parse_db(db, strlen(db), rc, err);
}

int config_parse_redis_url(const char *url, struct redis_config *rc, char *err)
{
    struct redis_config tmp = *rc;
    const char *rest;
    int r;

    if ((rest = skip_prefix(url, "redis://")) != NULL)
        r = parse_tcp_url(rest, &tmp, err);
    else if ((rest = skip_prefix(url, "unix://")) != NULL)
        r = parse_unix_url(rest, &tmp, err);
    else
        r = config_err(err, "expected redis://host:port or unix:///path");
    if (r == 0)
        *rc = tmp;
    return r;
}

/* ---- http_listen_addr ---------------------------------------------------------------- */

/*
 * Appends one listen address (len bytes, blanks around it ignored) to cfg after checking it.
 * label starts each error: a quoted key path or an environment variable.
 */
int config_add_listen_addr(char (*list)[CONFIG_ADDR_LEN], size_t *n, const char *s, size_t len,
                           const char *label, char *err)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char reason[STARLING_ERR_LEN];

    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0)
        return config_err(err, "%s: empty address", label);
    if (*n >= CONFIG_MAX_LISTEN)
        return config_err(err, "%s: at most %d addresses", label, CONFIG_MAX_LISTEN);
    char *slot = list[*n];
    if (config_copy_str(slot, CONFIG_ADDR_LEN, s, len) < 0)
        return config_err(err, "%s: address too long (at most %d bytes)", label,
                          CONFIG_ADDR_LEN - 1);
    if (listen_addr_parse(slot, &ss, &sslen, reason, sizeof(reason)) < 0) {
        config_reason_without_value(reason, slot, "bad listen address");
        return config_err(err, "%s: %s", label, reason);
    }
    (*n)++;
    return 0;
}

/* Replaces a listen list with the comma-separated addresses in text ("" for none only when
 * allow_empty). */
int config_set_listen_list(char (*list)[CONFIG_ADDR_LEN], size_t *n, const char *text,
                           bool allow_empty, const char *label, char *err)
{
    const char *p = text;

    *n = 0;
    if (allow_empty && text[strspn(text, " \t")] == '\0')
        return 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (config_add_listen_addr(list, n, p, len, label, err) < 0)
            return -1;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

/* ---- environment --------------------------------------------------------------------- */

/* Unset and empty read alike, so `VAR= starling` clears nothing by accident. */
static const char *env_value(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

int config_apply_env(struct config *cfg, char *err)
{
    struct config tmp = *cfg;
    char reason[STARLING_ERR_LEN];
    const char *v;

    /* The URL before the password, so the password variable wins over one in the URL. */
    if ((v = env_value("STARLING_REDIS_URL")) != NULL &&
        config_parse_redis_url(v, &tmp.redis, reason) < 0)
        return config_err(err, "STARLING_REDIS_URL: %s", reason);
    if ((v = env_value("STARLING_REDIS_PASSWORD")) != NULL &&
        config_copy_str(tmp.redis.password, sizeof(tmp.redis.password), v, strlen(v)) < 0)
        return config_err(err, "STARLING_REDIS_PASSWORD: too long (at most %zu bytes)",
                          sizeof(tmp.redis.password) - 1);
    if ((v = env_value("STARLING_REDIS_CLUSTER_NODES")) != NULL &&
        config_set_cluster_nodes(&tmp.redis, v, "STARLING_REDIS_CLUSTER_NODES", err) < 0)
        return -1;
    if ((v = env_value("STARLING_HTTP_LISTEN_ADDR")) != NULL &&
        config_set_listen_list(tmp.http_listen_addr, &tmp.n_http_listen_addr, v, false,
                               "STARLING_HTTP_LISTEN_ADDR", err) < 0)
        return -1;
    /* Set but empty is "unset" for every variable; "none" switches UDP off. */
    if ((v = env_value("STARLING_UDP_LISTEN_ADDR")) != NULL &&
        config_set_listen_list(tmp.udp_listen_addr, &tmp.n_udp_listen_addr,
                               strcmp(v, "none") == 0 ? "" : v, true, "STARLING_UDP_LISTEN_ADDR",
                               err) < 0)
        return -1;
    /* The site's secrets are better kept out of a config file in a repository. */
    if ((v = env_value("STARLING_SITE_PASSWORD")) != NULL) {
        if (!config_is_path_key_or_empty(v))
            return config_err(err, "STARLING_SITE_PASSWORD: bad value: %s", PATH_KEY_HINT);
        snprintf(tmp.site_password, sizeof(tmp.site_password), "%s", v);
    }
    if ((v = env_value("STARLING_REPORT_PASSWORD")) != NULL) {
        if (!config_is_path_key_or_empty(v))
            return config_err(err, "STARLING_REPORT_PASSWORD: bad value: %s", PATH_KEY_HINT);
        snprintf(tmp.report_password, sizeof(tmp.report_password), "%s", v);
    }
    if ((v = env_value("STARLING_MYSQL_PASSWORD")) != NULL &&
        config_copy_str(tmp.mysql.password, sizeof(tmp.mysql.password), v, strlen(v)) < 0)
        return config_err(err, "STARLING_MYSQL_PASSWORD: too long (at most %zu bytes)",
                          sizeof(tmp.mysql.password) - 1);
    if ((v = env_value("STARLING_UDP_SECRET")) != NULL &&
        config_copy_str(tmp.udp_secret, sizeof(tmp.udp_secret), v, strlen(v)) < 0)
        return config_err(err, "STARLING_UDP_SECRET: too long (at most %zu bytes)",
                          sizeof(tmp.udp_secret) - 1);
    if ((v = env_value("STARLING_UDP_PREVIOUS_SECRET")) != NULL &&
        config_copy_str(tmp.udp_previous_secret, sizeof(tmp.udp_previous_secret), v, strlen(v)) < 0)
        return config_err(err, "STARLING_UDP_PREVIOUS_SECRET: too long (at most %zu bytes)",
                          sizeof(tmp.udp_previous_secret) - 1);
    /* Each binary serves its own metrics: the variable sets the address of whichever
     * reads it (the frontend's metrics_listen_addr, the aggregator's own). */
    if ((v = env_value("STARLING_METRICS_LISTEN_ADDR")) != NULL) {
        if (strlen(v) >= CONFIG_ADDR_LEN || !config_is_listen_addr_or_empty(v))
            return config_err(err, "STARLING_METRICS_LISTEN_ADDR: bad value: %s", LISTEN_ADDR_HINT);
        snprintf(tmp.metrics_listen_addr, CONFIG_ADDR_LEN, "%s", v);
        snprintf(tmp.aggregator.metrics_listen_addr, CONFIG_ADDR_LEN, "%s", v);
    }
    if ((v = env_value("STARLING_AGGREGATOR_INTERVAL")) != NULL &&
        duration_parse_ms(v, &tmp.aggregator.interval_ms, reason, sizeof(reason)) < 0) {
        config_reason_without_value(reason, v, "bad duration");
        return config_err(err, "STARLING_AGGREGATOR_INTERVAL: %s", reason);
    }
    if ((v = env_value("STARLING_LOG_FILE")) != NULL &&
        config_copy_str(tmp.log_file, sizeof(tmp.log_file), v, strlen(v)) < 0)
        return config_err(err, "STARLING_LOG_FILE: too long (at most %zu bytes)",
                          sizeof(tmp.log_file) - 1);
    if ((v = env_value("STARLING_LOG_LEVEL")) != NULL) {
        if (!config_is_log_level(v))
            return config_err(err, "STARLING_LOG_LEVEL: bad value: %s", LOG_LEVEL_HINT);
        snprintf(tmp.log_level, sizeof(tmp.log_level), "%s", v);
    }
    *cfg = tmp;
    return 0;
}

/* ---- checks -------------------------------------------------------------------------- */

int config_validate(const struct config *cfg, char *err)
{
    const struct redis_config *rc = &cfg->redis;

    if (cfg->min_announce_ms > cfg->announce_ms)
        return config_err(err, "min_announce must not exceed announce");
    if (cfg->announce_jitter_ms > cfg->announce_ms / 2)
        return config_err(err, "announce_jitter must not exceed half of announce");
    if (cfg->max_num_want > CONFIG_NUM_WANT_CEILING)
        return config_err(err, "max_num_want must not exceed %d", CONFIG_NUM_WANT_CEILING);
    if (cfg->default_num_want > cfg->max_num_want)
        return config_err(err, "default_num_want must not exceed max_num_want");
    if (cfg->max_scrape_hashes < 1 || cfg->max_scrape_hashes > CONFIG_SCRAPE_HASHES_CEILING)
        return config_err(err, "max_scrape_hashes must be 1..%d", CONFIG_SCRAPE_HASHES_CEILING);
    if (cfg->peer_cache_ttl_ms > CONFIG_PEER_CACHE_TTL_MAX_MS)
        return config_err(err, "peer_cache_ttl must not exceed %dms", CONFIG_PEER_CACHE_TTL_MAX_MS);
    if (cfg->peer_cache_swarms > CONFIG_PEER_CACHE_SWARMS_MAX)
        return config_err(err, "peer_cache_swarms must not exceed %u",
                          CONFIG_PEER_CACHE_SWARMS_MAX);
    if (cfg->n_http_listen_addr < 1)
        return config_err(err, "at least one http_listen_addr is needed");
    /* The counts index fixed arrays: a struct built by hand must not send readers past them. */
    if (cfg->n_http_listen_addr > CONFIG_MAX_LISTEN)
        return config_err(err, "at most %d http_listen_addr entries", CONFIG_MAX_LISTEN);
    if (cfg->n_udp_listen_addr > CONFIG_MAX_LISTEN)
        return config_err(err, "at most %d udp_listen_addr entries", CONFIG_MAX_LISTEN);
    if (cfg->udp_batch_size < 1 || cfg->udp_batch_size > UDP_BATCH_MAX)
        return config_err(err, "udp_batch_size must be 1..%d", UDP_BATCH_MAX);
    if (cfg->n_client_whitelist > CONFIG_MAX_CLIENTS)
        return config_err(err, "at most %d client_whitelist entries", CONFIG_MAX_CLIENTS);
    if (cfg->n_trusted_proxies > CONFIG_MAX_PROXIES)
        return config_err(err, "at most %d trusted_proxies", CONFIG_MAX_PROXIES);
    if (cfg->n_site_api_allow > CONFIG_MAX_SITE_SOURCES)
        return config_err(err, "at most %d site_api_allow entries", CONFIG_MAX_SITE_SOURCES);
    if (!config_is_path_key_or_empty(cfg->site_password) ||
        !config_is_path_key_or_empty(cfg->report_password))
        return config_err(err, "site_password, report_password: %s", PATH_KEY_HINT);
    /* The same key for both would let the report's key change the tracker. */
    if (cfg->site_password[0] != '\0' && strcmp(cfg->site_password, cfg->report_password) == 0)
        return config_err(err, "site_password and report_password must differ");
    if (cfg->private_udp_enabled && !cfg->private_enabled)
        return config_err(err, "private_udp_enabled needs private_enabled");
    if (cfg->driver == DRIVER_MYSQL && !cfg->private_enabled)
        return config_err(err, "driver \"mysql\" needs private_enabled");
    if (cfg->local_subnet_v4_prefix > 32 || cfg->local_subnet_v6_prefix > 128)
        return config_err(err, "local_subnet_v4_prefix must be 0..32, local_subnet_v6_prefix "
                               "0..128");
    if (cfg->n_local_subnet_cidrs > CONFIG_MAX_LOCAL_CIDRS)
        return config_err(err, "at most %d local_subnet_cidrs", CONFIG_MAX_LOCAL_CIDRS);
    if (!config_is_log_level(cfg->log_level))
        return config_err(err, "log_level: %s", LOG_LEVEL_HINT);
    if (rc->unix_socket[0] == '\0' && rc->host[0] == '\0')
        return config_err(err, "redis: a host or a unix_socket is needed");
    if (rc->n_cluster_nodes > REDIS_SEEDS_MAX)
        return config_err(err, "at most %d redis.cluster_nodes", REDIS_SEEDS_MAX);
    /* Redis Cluster has database 0 only (SELECT fails there). */
    if (rc->n_cluster_nodes > 0 && rc->db != 0)
        return config_err(err, "redis.db must be 0 with redis.cluster_nodes (Redis Cluster has "
                               "one database)");
    if (rc->connections < 1 || rc->connections > REDIS_CONNECTIONS_MAX)
        return config_err(err, "redis.connections must be 1..%d", REDIS_CONNECTIONS_MAX);
    if (rc->max_in_flight < 1 || rc->max_in_flight > REDIS_IN_FLIGHT_MAX)
        return config_err(err, "redis.max_in_flight must be 1..%d", REDIS_IN_FLIGHT_MAX);
    /* A scrape is admitted whole or refused: a largest one must fit an idle pool. */
    if ((uint64_t)rc->max_in_flight * rc->connections < cfg->max_scrape_hashes)
        return config_err(err,
                          "redis.max_in_flight x redis.connections must be at least "
                          "max_scrape_hashes (%u), or such a scrape is always refused",
                          cfg->max_scrape_hashes);
    if (cfg->aggregator.lock_ttl_ms < 1000)
        return config_err(err, "aggregator.lock_ttl must be at least 1s");
    /* Empty is allowed: a random per-process secret (udp.c warns that it is one node's). */
    if (cfg->udp_secret[0] != '\0' && strlen(cfg->udp_secret) < UDP_SECRET_MIN_LEN)
        return config_err(err, "udp_secret: shorter than %d bytes; %s", UDP_SECRET_MIN_LEN,
                          UDP_SECRET_HOWTO);
    if (cfg->udp_previous_secret[0] != '\0' &&
        strlen(cfg->udp_previous_secret) < UDP_SECRET_MIN_LEN)
        return config_err(err, "udp_previous_secret: shorter than %d bytes; %s", UDP_SECRET_MIN_LEN,
                          UDP_SECRET_HOWTO);
    /* real_ip_header without trusted_proxies is allowed: the header is then never honoured. */
    return 0;
}

int config_load(const char *path, struct config *cfg, char *err)
{
    config_defaults(cfg);
    if (path != NULL && config_load_file(path, cfg, err) < 0)
        return -1;
    if (config_apply_env(cfg, err) < 0 || config_validate(cfg, err) < 0)
        return -1;
    return 0;
}

const char *config_path_from_env(void)
{
    return env_value("STARLING_CONFIG");
}
