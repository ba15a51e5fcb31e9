/* config.json: the table of keys, their types and limits, applied over a struct config. */
#include "common/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "common/config_internal.h"
#include "common/duration.h"

enum field_kind { FIELD_DURATION, FIELD_UINT, FIELD_BOOL, FIELD_STRING, FIELD_CUSTOM };

/* base is the struct the field lives in; path is the key path, for errors. */
typedef int custom_fn(void *base, json_t *val, const char *path, char *err);

/* One JSON key and where its value goes. */
struct field {
    const char *name;
    enum field_kind kind;
    size_t offset;               /* into struct config, or struct redis_config for "redis.*" */
    size_t size;                 /* integer width, or string capacity with its NUL */
    long long min, max;          /* FIELD_UINT */
    bool zero_ok;                /* FIELD_DURATION: "0s" allowed (it turns a feature off) */
    bool (*valid)(const char *); /* FIELD_STRING: optional extra check ... */
    const char *hint;            /* ... and what to say when it fails */
    custom_fn *custom;           /* FIELD_CUSTOM */
};

/* The members every table entry sets: key, kind and where the value goes. */
#define FIELD_AT(key, k, type, m)                                                                  \
    .name = (key), .kind = (k), .offset = offsetof(type, m), .size = sizeof(((type *)0)->m)

static int apply_duration(void *dst, const struct field *f, json_t *val, const char *path,
                          char *err)
{
    char reason[STARLING_ERR_LEN];
    uint64_t ms;

    if (!json_is_string(val))
        return config_err(err, "\"%s\": expected a duration string such as \"30s\"", path);
    int (*parse)(const char *, uint64_t *, char *, size_t) =
        f->zero_ok ? duration_parse_ms_or_zero : duration_parse_ms;
    if (parse(json_string_value(val), &ms, reason, sizeof(reason)) < 0) {
        config_reason_without_value(reason, json_string_value(val), "bad duration");
        return config_err(err, "\"%s\": %s", path, reason);
    }
    memcpy(dst, &ms, sizeof(ms));
    return 0;
}

static int apply_uint(void *dst, const struct field *f, json_t *val, const char *path, char *err)
{
    if (!json_is_integer(val))
        return config_err(err, "\"%s\": expected an integer", path);
    long long v = (long long)json_integer_value(val);
    if (v < f->min || v > f->max)
        return config_err(err, "\"%s\": out of range (%lld..%lld)", path, f->min, f->max);
    if (f->size == sizeof(uint16_t)) {
        uint16_t x = (uint16_t)v;
        memcpy(dst, &x, sizeof(x));
    } else {
        uint32_t x = (uint32_t)v;
        memcpy(dst, &x, sizeof(x));
    }
    return 0;
}

static int apply_bool(void *dst, json_t *val, const char *path, char *err)
{
    if (!json_is_boolean(val))
        return config_err(err, "\"%s\": expected true or false", path);
    bool b = json_is_true(val);
    memcpy(dst, &b, sizeof(b));
    return 0;
}

static int apply_string(char *dst, const struct field *f, json_t *val, const char *path, char *err)
{
    if (!json_is_string(val))
        return config_err(err, "\"%s\": expected a string", path);
    /* The loaders never pass JSON_ALLOW_NUL, so the length is also the C length. */
    const char *s = json_string_value(val);
    if (config_copy_str(dst, f->size, s, json_string_length(val)) < 0)
        return config_err(err, "\"%s\": too long (at most %zu bytes)", path, f->size - 1);
    if (f->valid != NULL && !f->valid(dst))
        return config_err(err, "\"%s\": bad value: %s", path, f->hint);
    return 0;
}

static int apply_field(void *base, const struct field *f, json_t *val, const char *path, char *err)
{
    char *dst = (char *)base + f->offset;

    switch (f->kind) {
    case FIELD_DURATION:
        return apply_duration(dst, f, val, path, err);
    case FIELD_UINT:
        return apply_uint(dst, f, val, path, err);
    case FIELD_BOOL:
        return apply_bool(dst, val, path, err);
    case FIELD_STRING:
        return apply_string(dst, f, val, path, err);
    case FIELD_CUSTOM:
        return f->custom(base, val, path, err);
    }
    return config_err(err, "\"%s\": internal error: bad field kind", path);
}

/*
 * Applies every key of obj through fields (n entries) onto base. prefix ("" or "redis.")
 * makes the key paths in errors. Returns 0 or -1 with err; base may be half-written then.
 */
static int apply_object(void *base, const struct field *fields, size_t n, const char *prefix,
                        json_t *obj, char *err)
{
    const char *key;
    json_t *val;

    json_object_foreach(obj, key, val)
    {
        const struct field *f = NULL;
        char path[64];

        for (size_t i = 0; i < n && f == NULL; i++) {
            if (strcmp(fields[i].name, key) == 0)
                f = &fields[i];
        }
        if (f == NULL)
            return config_err(err, "unknown key \"%s%s\"", prefix, key);
        snprintf(path, sizeof(path), "%s%s", prefix, f->name);
        if (apply_field(base, f, val, path, err) < 0)
            return -1;
    }
    return 0;
}

/* An array of at most max CIDR strings into list and *n (replacing the list). */
static int apply_cidr_list(struct cidr *list, size_t *n, size_t max, json_t *val, const char *path,
                           char *err)
{
    char reason[STARLING_ERR_LEN];
    size_t i;
    json_t *item;

    if (!json_is_array(val))
        return config_err(err, "\"%s\": expected an array of CIDR strings", path);
    if (json_array_size(val) > max)
        return config_err(err, "\"%s\": at most %zu entries", path, max);
    json_array_foreach(val, i, item)
    {
        if (!json_is_string(item))
            return config_err(err, "\"%s[%zu]\": expected a string", path, i);
        const char *text = json_string_value(item);
        if (cidr_parse(text, &list[i], reason, sizeof(reason)) < 0) {
            config_reason_without_value(reason, text, "not a CIDR");
            return config_err(err, "\"%s[%zu]\": %s", path, i, reason);
        }
    }
    *n = json_array_size(val);
    return 0;
}

static int apply_trusted_proxies(void *base, json_t *val, const char *path, char *err)
{
    struct config *cfg = base;
    return apply_cidr_list(cfg->trusted_proxies, &cfg->n_trusted_proxies, CONFIG_MAX_PROXIES, val,
                           path, err);
}

static int apply_local_subnet_cidrs(void *base, json_t *val, const char *path, char *err)
{
    struct config *cfg = base;
    return apply_cidr_list(cfg->local_subnet_cidrs, &cfg->n_local_subnet_cidrs,
                           CONFIG_MAX_LOCAL_CIDRS, val, path, err);
}

static int apply_site_api_allow(void *base, json_t *val, const char *path, char *err)
{
    struct config *cfg = base;
    return apply_cidr_list(cfg->site_api_allow, &cfg->n_site_api_allow, CONFIG_MAX_SITE_SOURCES,
                           val, path, err);
}

/* One of n names (a string) into *out as its index; hint lists them for the error. */
static int apply_name(json_t *val, const char *path, const char *const *names, size_t n,
                      const char *hint, int *out, char *err)
{
    for (size_t i = 0; json_is_string(val) && i < n; i++) {
        if (strcmp(json_string_value(val), names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return config_err(err, "\"%s\": expected %s", path, hint);
}

/* site_url: plain HTTP (Ocelot's calls to the site are), or nothing. */
static bool is_http_url_or_empty(const char *s)
{
    return s[0] == '\0' || (strncmp(s, "http://", 7) == 0 && s[7] != '\0' && s[7] != '/' &&
                            strpbrk(s, " \t\r\n?#") == NULL);
}

static int apply_driver(void *base, json_t *val, const char *path, char *err)
{
    static const char *const names[] = {
        [DRIVER_NOOP] = "noop", [DRIVER_REDIS_STREAM] = "redis-stream", [DRIVER_MYSQL] = "mysql"};
    struct config *cfg = base;
    int i = 0;
    if (apply_name(val, path, names, 3, "\"noop\", \"redis-stream\" or \"mysql\"", &i, err) < 0)
        return -1;
    cfg->driver = (enum backend_driver)i;
    return 0;
}

static int apply_access_list_mode(void *base, json_t *val, const char *path, char *err)
{
    static const char *const modes[] = {
        [ACCESS_LIST_OFF] = "off", [ACCESS_LIST_ALLOW] = "allow", [ACCESS_LIST_DENY] = "deny"};
    struct config *cfg = base;
    int i = 0;
    if (apply_name(val, path, modes, 3, "\"off\", \"allow\" or \"deny\"", &i, err) < 0)
        return -1;
    cfg->access_list_mode = (enum access_list_mode)i;
    return 0;
}

/* An array of peer_id prefixes, 1..CONFIG_CLIENT_LEN bytes each; replaces the list. */
static int apply_client_whitelist(void *base, json_t *val, const char *path, char *err)
{
    struct config *cfg = base;
    size_t i;
    json_t *item;

    if (!json_is_array(val))
        return config_err(err, "\"%s\": expected an array of peer_id prefixes", path);
    if (json_array_size(val) > CONFIG_MAX_CLIENTS)
        return config_err(err, "\"%s\": at most %d entries", path, CONFIG_MAX_CLIENTS);
    json_array_foreach(val, i, item)
    {
        if (!json_is_string(item))
            return config_err(err, "\"%s[%zu]\": expected a string", path, i);
        size_t len = json_string_length(item);
        if (len < 1 || len > CONFIG_CLIENT_LEN)
            return config_err(err, "\"%s[%zu]\": a peer_id prefix is 1..%d bytes", path, i,
                              CONFIG_CLIENT_LEN);
        memcpy(cfg->client_whitelist[i].prefix, json_string_value(item), len);
        cfg->client_whitelist[i].len = len;
    }
    cfg->n_client_whitelist = json_array_size(val);
    return 0;
}

/* A string, maybe "a,b", or an array of strings; either way it replaces the whole list. */
static int apply_address_list(char (*list)[CONFIG_ADDR_LEN], size_t *n, bool allow_empty,
                              json_t *val, const char *path, char *err)
{
    char label[64];
    size_t i;
    json_t *item;

    if (json_is_string(val)) {
        snprintf(label, sizeof(label), "\"%s\"", path);
        return config_set_listen_list(list, n, json_string_value(val), allow_empty, label, err);
    }
    if (!json_is_array(val))
        return config_err(err, "\"%s\": expected a string or an array of strings", path);
    if (json_array_size(val) == 0 && !allow_empty)
        return config_err(err, "\"%s\": at least one address is needed", path);
    *n = 0;
    json_array_foreach(val, i, item)
    {
        snprintf(label, sizeof(label), "\"%s[%zu]\"", path, i);
        if (!json_is_string(item))
            return config_err(err, "%s: expected a string", label);
        const char *s = json_string_value(item);
        if (config_add_listen_addr(list, n, s, strlen(s), label, err) < 0)
            return -1;
    }
    return 0;
}

static int apply_listen_addr(void *base, json_t *val, const char *path, char *err)
{
    struct config *cfg = base;
    return apply_address_list(cfg->http_listen_addr, &cfg->n_http_listen_addr, false, val, path,
                              err);
}

/* UDP may be switched off: an empty list (or "") is allowed. */
static int apply_udp_listen_addr(void *base, json_t *val, const char *path, char *err)
{
    struct config *cfg = base;
    return apply_address_list(cfg->udp_listen_addr, &cfg->n_udp_listen_addr, true, val, path, err);
}

/* "redis.url" is applied before the other keys by apply_redis(); here it is only skipped. */
static int skip_redis_url(void *base, json_t *val, const char *path, char *err)
{
    (void)base, (void)val, (void)path, (void)err;
    return 0;
}

/* A string "host:port,host:port" or an array of "host:port" strings; replaces the list. */
static int apply_cluster_nodes(void *base, json_t *val, const char *path, char *err)
{
    struct redis_config *rc = base;
    struct redis_config tmp = *rc;
    char label[64], reason[STARLING_ERR_LEN];
    size_t i;
    json_t *item;

    snprintf(label, sizeof(label), "\"%s\"", path);
    if (json_is_string(val))
        return config_set_cluster_nodes(rc, json_string_value(val), label, err);
    if (!json_is_array(val))
        return config_err(err, "\"%s\": expected an array of \"host:port\" strings", path);
    if (json_array_size(val) > REDIS_SEEDS_MAX)
        return config_err(err, "\"%s\": at most %d addresses", path, REDIS_SEEDS_MAX);
    json_array_foreach(val, i, item)
    {
        if (!json_is_string(item))
            return config_err(err, "\"%s[%zu]\": expected a string", path, i);
        const char *s = json_string_value(item);
        if (config_parse_host_port(s, strlen(s), &tmp.cluster_nodes[i], reason) < 0)
            return config_err(err, "\"%s[%zu]\": %s", path, i, reason);
    }
    tmp.n_cluster_nodes = json_array_size(val);
    *rc = tmp;
    return 0;
}

static const struct field redis_fields[] = {
    {.name = "url", .kind = FIELD_CUSTOM, .custom = skip_redis_url},
    {FIELD_AT("host", FIELD_STRING, struct redis_config, host)},
    {FIELD_AT("port", FIELD_UINT, struct redis_config, port), .min = 1, .max = 65535},
    {FIELD_AT("unix_socket", FIELD_STRING, struct redis_config, unix_socket)},
    {FIELD_AT("user", FIELD_STRING, struct redis_config, user)},
    {FIELD_AT("password", FIELD_STRING, struct redis_config, password)},
    {FIELD_AT("db", FIELD_UINT, struct redis_config, db), .min = 0, .max = REDIS_DB_MAX},
    {FIELD_AT("connect_timeout", FIELD_DURATION, struct redis_config, connect_timeout_ms)},
    {FIELD_AT("command_timeout", FIELD_DURATION, struct redis_config, command_timeout_ms)},
    {FIELD_AT("connections", FIELD_UINT, struct redis_config, connections), .min = 1,
     .max = REDIS_CONNECTIONS_MAX},
    {FIELD_AT("max_in_flight", FIELD_UINT, struct redis_config, max_in_flight), .min = 1,
     .max = REDIS_IN_FLIGHT_MAX},
    {.name = "cluster_nodes", .kind = FIELD_CUSTOM, .custom = apply_cluster_nodes},
};

static const struct field aggregator_fields[] = {
    {FIELD_AT("interval", FIELD_DURATION, struct aggregator_config, interval_ms)},
    {FIELD_AT("accounting_interval", FIELD_DURATION, struct aggregator_config,
              accounting_interval_ms)},
    {FIELD_AT("lock_ttl", FIELD_DURATION, struct aggregator_config, lock_ttl_ms)},
    {FIELD_AT("scan_count", FIELD_UINT, struct aggregator_config, scan_count), .min = 1,
     .max = SCAN_COUNT_MAX},
    {FIELD_AT("metrics_listen_addr", FIELD_STRING, struct aggregator_config, metrics_listen_addr),
     .valid = config_is_listen_addr_or_empty, .hint = LISTEN_ADDR_HINT},
};

static const struct field mysql_fields[] = {
    {FIELD_AT("host", FIELD_STRING, struct mysql_config, host)},
    {FIELD_AT("port", FIELD_UINT, struct mysql_config, port), .min = 1, .max = 65535},
    {FIELD_AT("unix_socket", FIELD_STRING, struct mysql_config, unix_socket)},
    {FIELD_AT("user", FIELD_STRING, struct mysql_config, user)},
    {FIELD_AT("password", FIELD_STRING, struct mysql_config, password)},
    {FIELD_AT("database", FIELD_STRING, struct mysql_config, database)},
    {FIELD_AT("flush_interval", FIELD_DURATION, struct mysql_config, flush_interval_ms)},
    {FIELD_AT("batch_size", FIELD_UINT, struct mysql_config, batch_size), .min = 1, .max = 1000000},
    {FIELD_AT("statement_rows", FIELD_UINT, struct mysql_config, statement_rows), .min = 1,
     .max = 10000},
    {FIELD_AT("reload_interval", FIELD_DURATION, struct mysql_config, reload_interval_ms)},
    {FIELD_AT("connect_timeout", FIELD_DURATION, struct mysql_config, connect_timeout_ms)},
    {FIELD_AT("command_timeout", FIELD_DURATION, struct mysql_config, command_timeout_ms)},
};

/* A nested object ("redis", "aggregator", "mysql"): its keys, named "path.key" in errors. */
static int apply_section(void *section, const struct field *fields, size_t n, json_t *val,
                         const char *path, char *err)
{
    char prefix[32];

    if (!json_is_object(val))
        return config_err(err, "\"%s\": expected an object", path);
    snprintf(prefix, sizeof(prefix), "%s.", path);
    return apply_object(section, fields, n, prefix, val, err);
}

static int apply_aggregator(void *base, json_t *val, const char *path, char *err)
{
    struct config *cfg = base;
    return apply_section(&cfg->aggregator, aggregator_fields,
                         sizeof(aggregator_fields) / sizeof(aggregator_fields[0]), val, path, err);
}

static int apply_mysql(void *base, json_t *val, const char *path, char *err)
{
    struct config *cfg = base;
    return apply_section(&cfg->mysql, mysql_fields, sizeof(mysql_fields) / sizeof(mysql_fields[0]),
                         val, path, err);
}

/* The URL goes first, whatever the key order, so explicit keys beside it win. */
static int apply_redis(void *base, json_t *val, const char *path, char *err)
{
    struct config *cfg = base;
    char reason[STARLING_ERR_LEN];
    json_t *url = json_is_object(val) ? json_object_get(val, "url") : NULL;

    if (url != NULL) {
        if (!json_is_string(url))
            return config_err(err, "\"%s.url\": expected a string", path);
        if (config_parse_redis_url(json_string_value(url), &cfg->redis, reason) < 0)
            return config_err(err, "\"%s.url\": %s", path, reason);
    }
    return apply_section(&cfg->redis, redis_fields, sizeof(redis_fields) / sizeof(redis_fields[0]),
                         val, path, err);
}

static const struct field config_fields[] = {
    {FIELD_AT("announce", FIELD_DURATION, struct config, announce_ms)},
    {FIELD_AT("min_announce", FIELD_DURATION, struct config, min_announce_ms)},
    {FIELD_AT("default_num_want", FIELD_UINT, struct config, default_num_want), .min = 0,
     .max = CONFIG_NUM_WANT_CEILING},
    {FIELD_AT("max_num_want", FIELD_UINT, struct config, max_num_want), .min = 0,
     .max = CONFIG_NUM_WANT_CEILING},
    {FIELD_AT("allow_ip_spoofing", FIELD_BOOL, struct config, allow_ip_spoofing)},
    {FIELD_AT("dual_stacked_peers", FIELD_BOOL, struct config, dual_stacked_peers)},
    {FIELD_AT("respect_af", FIELD_BOOL, struct config, respect_af)},
    {FIELD_AT("purge_inactive_torrents", FIELD_BOOL, struct config, purge_inactive_torrents)},
    {FIELD_AT("allow_full_scrape", FIELD_BOOL, struct config, allow_full_scrape)},
    {FIELD_AT("max_scrape_hashes", FIELD_UINT, struct config, max_scrape_hashes), .min = 1,
     .max = CONFIG_SCRAPE_HASHES_CEILING},
    {.name = "access_list_mode", .kind = FIELD_CUSTOM, .custom = apply_access_list_mode},
    {FIELD_AT("client_whitelist_enabled", FIELD_BOOL, struct config, client_whitelist_enabled)},
    {.name = "client_whitelist", .kind = FIELD_CUSTOM, .custom = apply_client_whitelist},
    {FIELD_AT("peer_cache_ttl", FIELD_DURATION, struct config, peer_cache_ttl_ms), .zero_ok = true},
    {FIELD_AT("announce_jitter", FIELD_DURATION, struct config, announce_jitter_ms),
     .zero_ok = true},
    {FIELD_AT("peer_cache_swarms", FIELD_UINT, struct config, peer_cache_swarms), .min = 0,
     .max = CONFIG_PEER_CACHE_SWARMS_MAX},
    {FIELD_AT("private_enabled", FIELD_BOOL, struct config, private_enabled)},
    {.name = "driver", .kind = FIELD_CUSTOM, .custom = apply_driver},
    {FIELD_AT("private_udp_enabled", FIELD_BOOL, struct config, private_udp_enabled)},
    {FIELD_AT("site_password", FIELD_STRING, struct config, site_password),
     .valid = config_is_path_key_or_empty, .hint = PATH_KEY_HINT},
    {FIELD_AT("report_password", FIELD_STRING, struct config, report_password),
     .valid = config_is_path_key_or_empty, .hint = PATH_KEY_HINT},
    {.name = "site_api_allow", .kind = FIELD_CUSTOM, .custom = apply_site_api_allow},
    {FIELD_AT("site_url", FIELD_STRING, struct config, site_url), .valid = is_http_url_or_empty,
     .hint = "\"http://host[:port][/path]\" or \"\""},
    {FIELD_AT("local_subnet_priority", FIELD_BOOL, struct config, local_subnet_priority)},
    {FIELD_AT("local_subnet_v4_prefix", FIELD_UINT, struct config, local_subnet_v4_prefix),
     .min = 0, .max = 32},
    {FIELD_AT("local_subnet_v6_prefix", FIELD_UINT, struct config, local_subnet_v6_prefix),
     .min = 0, .max = 128},
    {.name = "local_subnet_cidrs", .kind = FIELD_CUSTOM, .custom = apply_local_subnet_cidrs},
    {FIELD_AT("real_ip_header", FIELD_STRING, struct config, real_ip_header),
     .valid = config_is_header_name, .hint = "letters, digits and '-' only"},
    {.name = "trusted_proxies", .kind = FIELD_CUSTOM, .custom = apply_trusted_proxies},
    {.name = "http_listen_addr", .kind = FIELD_CUSTOM, .custom = apply_listen_addr},
    {FIELD_AT("http_read_timeout", FIELD_DURATION, struct config, http_read_timeout_ms)},
    {FIELD_AT("http_write_timeout", FIELD_DURATION, struct config, http_write_timeout_ms)},
    {FIELD_AT("http_request_timeout", FIELD_DURATION, struct config, http_request_timeout_ms)},
    {FIELD_AT("http_listen_limit", FIELD_UINT, struct config, http_listen_limit), .min = 1,
     .max = INT32_MAX},
    {FIELD_AT("http_per_address_limit", FIELD_UINT, struct config, http_per_address_limit),
     .min = 0, .max = INT32_MAX},
    {FIELD_AT("http_max_request_bytes", FIELD_UINT, struct config, http_max_request_bytes),
     .min = HTTP_REQUEST_BYTES_MIN, .max = HTTP_REQUEST_BYTES_MAX},
    {FIELD_AT("log_level", FIELD_STRING, struct config, log_level), .valid = config_is_log_level,
     .hint = LOG_LEVEL_HINT},
    {.name = "udp_listen_addr", .kind = FIELD_CUSTOM, .custom = apply_udp_listen_addr},
    {FIELD_AT("udp_secret", FIELD_STRING, struct config, udp_secret)},
    {FIELD_AT("udp_previous_secret", FIELD_STRING, struct config, udp_previous_secret)},
    {FIELD_AT("udp_batch_size", FIELD_UINT, struct config, udp_batch_size), .min = 1,
     .max = UDP_BATCH_MAX},
    {FIELD_AT("udp_reuseport", FIELD_BOOL, struct config, udp_reuseport)},
    {FIELD_AT("log_file", FIELD_STRING, struct config, log_file)},
    {FIELD_AT("metrics_listen_addr", FIELD_STRING, struct config, metrics_listen_addr),
     .valid = config_is_listen_addr_or_empty, .hint = LISTEN_ADDR_HINT},
    {FIELD_AT("shutdown_timeout", FIELD_DURATION, struct config, shutdown_timeout_ms)},
    {.name = "redis", .kind = FIELD_CUSTOM, .custom = apply_redis},
    {.name = "aggregator", .kind = FIELD_CUSTOM, .custom = apply_aggregator},
    {.name = "mysql", .kind = FIELD_CUSTOM, .custom = apply_mysql},
};

/*
 * Applies a parsed document (root, borrowed) over *cfg. On failure: -1, *cfg untouched, a
 * reason in err.
 */
static int apply_root(struct config *cfg, json_t *root, char *err)
{
    struct config tmp = *cfg;

    if (!json_is_object(root))
        return config_err(err, "expected a JSON object at the top level");
    if (apply_object(&tmp, config_fields, sizeof(config_fields) / sizeof(config_fields[0]), "",
                     root, err) < 0)
        return -1;
    *cfg = tmp;
    return 0;
}

/* A repeated key is nearly always a mistake, and silently taking the last one hides it. */
#define CONFIG_JSON_FLAGS JSON_REJECT_DUPLICATES

/*
 * jansson's error text quotes the token it stopped at (`unexpected newline near
 * '"hunter2'`), which may be a secret, and some of its messages hold a byte of it. So only
 * the start of its text, a fixed wording, is matched, and ours is written instead.
 */
static const struct {
    const char *jansson, *ours;
} json_reasons[] = {
    {"unexpected newline", "line break inside a string"},
    {"control character", "control character inside a string"},
    {"invalid escape", "bad escape in a string"},
    {"invalid Unicode", "bad \\u escape in a string"},
    {"\\u0000 is not allowed", "\\u0000 in a string"},
    {"NUL byte in object key", "\\u0000 in a key"},
    {"unable to decode byte", "not UTF-8"},
    {"premature end of input", "the text ends inside a string"},
    {"end of file expected", "more text after the top-level object"},
    {"'[' or '{' expected", "expected a JSON object"},
    {"string or '}' expected", "a key in double quotes or '}' expected"},
    {"':' expected", "':' expected after a key"},
    {"'}' expected", "',' or '}' expected"},
    {"']' expected", "',' or ']' expected"},
    {"invalid token", "not a JSON value (strings take double quotes)"},
    {"unexpected token", "unexpected character"},
    {"duplicate object key", "duplicate key"},
    {"too big", "integer too large"},
    {"real number overflow", "number too large"},
    {"maximum parsing depth", "nested too deeply"},
};

/* A document jansson refused: where (source:line:column), and what, never the text. */
static int json_error(char *err, const char *source, const json_error_t *e)
{
    const char *why = "not valid JSON";

    for (size_t i = 0; i < sizeof(json_reasons) / sizeof(json_reasons[0]); i++) {
        if (strncmp(e->text, json_reasons[i].jansson, strlen(json_reasons[i].jansson)) == 0) {
            why = json_reasons[i].ours;
            break;
        }
    }
    if (e->line < 1)
        return config_err(err, "%s: %s", source, why);
    return config_err(err, "%s:%d:%d: %s", source, e->line, e->column, why);
}

int config_load_file(const char *path, struct config *cfg, char *err)
{
    char reason[STARLING_ERR_LEN];
    json_error_t jerr;
    FILE *f = fopen(path, "rb");
    json_t *root;

    if (f == NULL)
        return config_err(err, "%s: cannot open: %s", path, strerror(errno));
    root = json_loadf(f, CONFIG_JSON_FLAGS, &jerr);
    fclose(f);
    if (root == NULL)
        return json_error(err, path, &jerr);
    /* Errors about values name the file too: several may be in play (--config, env). */
    if (apply_root(cfg, root, reason) < 0) {
        json_decref(root);
        return config_err(err, "%s: %s", path, reason);
    }
    json_decref(root);
    return 0;
}

int config_load_string(const char *json, struct config *cfg, char *err)
{
    json_error_t jerr;
    json_t *root = json_loads(json, CONFIG_JSON_FLAGS, &jerr);
    int rc;

    if (root == NULL)
        return json_error(err, "<string>", &jerr);
    rc = apply_root(cfg, root, err);
    json_decref(root);
    return rc;
}
