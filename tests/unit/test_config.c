/* Unit tests for frontend/config.c: defaults, config.json, environment, redis URLs, checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"

static const char *const env_vars[] = {
    "STARLING_REDIS_URL",           "STARLING_REDIS_PASSWORD",  "STARLING_HTTP_LISTEN_ADDR",
    "STARLING_LOG_LEVEL",           "STARLING_LOG_FILE",        "STARLING_METRICS_LISTEN_ADDR",
    "STARLING_AGGREGATOR_INTERVAL", "STARLING_UDP_LISTEN_ADDR", "STARLING_UDP_SECRET",
    "STARLING_UDP_PREVIOUS_SECRET", "STARLING_SITE_PASSWORD",   "STARLING_REPORT_PASSWORD",
    "STARLING_MYSQL_PASSWORD",
};

/* Every test starts from the same bytes, so "unchanged" can be a memcmp. */
static void fresh(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    config_defaults(cfg);
}

/* The developer's shell may export these; no test may see them. */
static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
        unsetenv(env_vars[i]);
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void assert_starts_with(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
}

/* Loads json over the defaults and expects success; the result goes to *cfg. */
static void load_ok(const char *json, struct config *cfg)
{
    char err[STARLING_ERR_LEN] = "";

    fresh(cfg);
    if (config_load_string(json, cfg, err) != 0)
        fail_msg("%s: unexpected error: %s", json, err);
}

/*
 * Loads json over the defaults and expects -1, *cfg byte-for-byte unchanged, and an error
 * starting with prefix and containing also (if not NULL).
 */
static void load_fails2(const char *json, const char *prefix, const char *also)
{
    struct config cfg, before;
    char err[STARLING_ERR_LEN] = "";

    fresh(&cfg);
    before = cfg;
    if (config_load_string(json, &cfg, err) != -1)
        fail_msg("%s: loaded, expected an error starting %s", json, prefix);
    assert_memory_equal(&cfg, &before, sizeof(cfg));
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("%s: got \"%s\", want it to start with \"%s\"", json, err, prefix);
    if (also != NULL)
        assert_contains(err, also);
}

static void load_fails(const char *json, const char *prefix)
{
    load_fails2(json, prefix, NULL);
}

/* What tests put where a value goes: no error may show any part of it (README: errors name
 * the key, never the value). */
#define SECRET "hunter2"
#define SECRET_PART "unter"

static void assert_no_value(const char *what, const char *err, const char *value_part)
{
    if (strstr(err, value_part) != NULL)
        fail_msg("%s: the error shows the value: %s", what, err);
}

/* A document that must fail, with an error starting with prefix, never showing part. */
static void fails_hiding(const char *json, const char *prefix, const char *part)
{
    struct config cfg;
    char err[STARLING_ERR_LEN] = "";

    fresh(&cfg);
    if (config_load_string(json, &cfg, err) != -1)
        fail_msg("%s: loaded", json);
    assert_no_value(json, err, part);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("%s: got \"%s\", want it to start with \"%s\"", json, err, prefix);
}

/* Compares every field, as the structs' padding may differ after struct copies. */
static void assert_config_equal(const struct config *a, const struct config *b)
{
    assert_int_equal(a->announce_ms, b->announce_ms);
    assert_int_equal(a->min_announce_ms, b->min_announce_ms);
    assert_int_equal(a->default_num_want, b->default_num_want);
    assert_int_equal(a->max_num_want, b->max_num_want);
    assert_int_equal(a->allow_ip_spoofing, b->allow_ip_spoofing);
    assert_int_equal(a->dual_stacked_peers, b->dual_stacked_peers);
    assert_int_equal(a->respect_af, b->respect_af);
    assert_int_equal(a->purge_inactive_torrents, b->purge_inactive_torrents);
    assert_int_equal(a->allow_full_scrape, b->allow_full_scrape);
    assert_int_equal(a->max_scrape_hashes, b->max_scrape_hashes);
    assert_int_equal(a->peer_cache_ttl_ms, b->peer_cache_ttl_ms);
    assert_int_equal(a->announce_jitter_ms, b->announce_jitter_ms);
    assert_int_equal(a->client_whitelist_enabled, b->client_whitelist_enabled);
    assert_int_equal(a->access_list_mode, b->access_list_mode);
    assert_int_equal(a->n_client_whitelist, b->n_client_whitelist);
    for (size_t i = 0; i < a->n_client_whitelist; i++) {
        assert_int_equal(a->client_whitelist[i].len, b->client_whitelist[i].len);
        assert_memory_equal(a->client_whitelist[i].prefix, b->client_whitelist[i].prefix,
                            a->client_whitelist[i].len);
    }
    assert_int_equal(a->peer_cache_swarms, b->peer_cache_swarms);
    assert_int_equal(a->local_subnet_priority, b->local_subnet_priority);
    assert_int_equal(a->local_subnet_v4_prefix, b->local_subnet_v4_prefix);
    assert_int_equal(a->local_subnet_v6_prefix, b->local_subnet_v6_prefix);
    assert_int_equal(a->n_local_subnet_cidrs, b->n_local_subnet_cidrs);
    for (size_t i = 0; i < a->n_local_subnet_cidrs; i++)
        assert_memory_equal(&a->local_subnet_cidrs[i], &b->local_subnet_cidrs[i],
                            sizeof(struct cidr));
    assert_string_equal(a->log_file, b->log_file);
    assert_string_equal(a->metrics_listen_addr, b->metrics_listen_addr);
    assert_int_equal(a->shutdown_timeout_ms, b->shutdown_timeout_ms);
    assert_int_equal(a->aggregator.interval_ms, b->aggregator.interval_ms);
    assert_int_equal(a->aggregator.lock_ttl_ms, b->aggregator.lock_ttl_ms);
    assert_int_equal(a->aggregator.scan_count, b->aggregator.scan_count);
    assert_string_equal(a->aggregator.metrics_listen_addr, b->aggregator.metrics_listen_addr);
    assert_string_equal(a->real_ip_header, b->real_ip_header);
    assert_int_equal(a->n_trusted_proxies, b->n_trusted_proxies);
    for (size_t i = 0; i < a->n_trusted_proxies; i++)
        assert_memory_equal(&a->trusted_proxies[i], &b->trusted_proxies[i], sizeof(struct cidr));
    assert_int_equal(a->n_http_listen_addr, b->n_http_listen_addr);
    for (size_t i = 0; i < a->n_http_listen_addr; i++)
        assert_string_equal(a->http_listen_addr[i], b->http_listen_addr[i]);
    assert_int_equal(a->http_read_timeout_ms, b->http_read_timeout_ms);
    assert_int_equal(a->http_write_timeout_ms, b->http_write_timeout_ms);
    assert_int_equal(a->http_request_timeout_ms, b->http_request_timeout_ms);
    assert_int_equal(a->http_listen_limit, b->http_listen_limit);
    assert_int_equal(a->http_per_address_limit, b->http_per_address_limit);
    assert_int_equal(a->http_max_request_bytes, b->http_max_request_bytes);
    assert_string_equal(a->log_level, b->log_level);
    assert_string_equal(a->redis.host, b->redis.host);
    assert_int_equal(a->redis.port, b->redis.port);
    assert_string_equal(a->redis.unix_socket, b->redis.unix_socket);
    assert_string_equal(a->redis.user, b->redis.user);
    assert_string_equal(a->redis.password, b->redis.password);
    assert_int_equal(a->redis.db, b->redis.db);
    assert_int_equal(a->redis.connect_timeout_ms, b->redis.connect_timeout_ms);
    assert_int_equal(a->redis.command_timeout_ms, b->redis.command_timeout_ms);
    assert_int_equal(a->redis.connections, b->redis.connections);
    assert_int_equal(a->redis.max_in_flight, b->redis.max_in_flight);
    assert_int_equal(a->redis.n_cluster_nodes, b->redis.n_cluster_nodes);
    for (size_t i = 0; i < a->redis.n_cluster_nodes; i++) {
        assert_string_equal(a->redis.cluster_nodes[i].host, b->redis.cluster_nodes[i].host);
        assert_int_equal(a->redis.cluster_nodes[i].port, b->redis.cluster_nodes[i].port);
    }
}

/* Writes text to a new temp file; its path goes to path (PATH_LEN bytes). */
#define PATH_LEN 64
static void write_temp(char *path, const char *text)
{
    snprintf(path, PATH_LEN, "/tmp/test_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* ---- defaults -------------------------------------------------------------------------- */

static void test_defaults(void **state)
{
    struct config cfg;
    char err[STARLING_ERR_LEN] = "";
    (void)state;

    fresh(&cfg);
    assert_int_equal(cfg.announce_ms, 30 * 60 * 1000);
    assert_int_equal(cfg.min_announce_ms, 15 * 60 * 1000);
    assert_int_equal(cfg.default_num_want, 50);
    assert_int_equal(cfg.max_num_want, 200);
    assert_false(cfg.allow_ip_spoofing);
    assert_true(cfg.dual_stacked_peers);
    assert_false(cfg.respect_af);
    assert_true(cfg.purge_inactive_torrents);
    assert_false(cfg.allow_full_scrape);
    assert_int_equal(cfg.max_scrape_hashes, 74);
    assert_int_equal(cfg.peer_cache_ttl_ms, 1000);
    assert_int_equal(cfg.announce_jitter_ms, 0);
    assert_false(cfg.client_whitelist_enabled);
    assert_int_equal(cfg.access_list_mode, ACCESS_LIST_OFF);
    assert_int_equal(cfg.n_client_whitelist, 0);
    assert_int_equal(cfg.peer_cache_swarms, 1024);
    assert_false(cfg.local_subnet_priority);
    assert_int_equal(cfg.local_subnet_v4_prefix, 24);
    assert_int_equal(cfg.local_subnet_v6_prefix, 48);
    assert_int_equal(cfg.n_local_subnet_cidrs, 0);
    assert_string_equal(cfg.real_ip_header, "");
    assert_int_equal(cfg.n_trusted_proxies, 0);
    assert_int_equal(cfg.n_http_listen_addr, 1);
    assert_string_equal(cfg.http_listen_addr[0], "127.0.0.1:6969");
    assert_int_equal(cfg.http_read_timeout_ms, 30000);
    assert_int_equal(cfg.http_write_timeout_ms, 10000);
    assert_int_equal(cfg.http_request_timeout_ms, 5000);
    assert_int_equal(cfg.http_listen_limit, 4096);
    assert_int_equal(cfg.http_per_address_limit, 64);
    assert_int_equal(cfg.http_max_request_bytes, 8192);
    assert_string_equal(cfg.log_level, "info");
    assert_string_equal(cfg.redis.host, "127.0.0.1");
    assert_int_equal(cfg.redis.port, 6379);
    assert_string_equal(cfg.redis.unix_socket, "");
    assert_string_equal(cfg.redis.user, "");
    assert_string_equal(cfg.redis.password, "");
    assert_int_equal(cfg.redis.db, 0);
    assert_int_equal(cfg.redis.connect_timeout_ms, 1000);
    assert_int_equal(cfg.redis.command_timeout_ms, 500);
    assert_int_equal(cfg.redis.connections, 2);
    assert_int_equal(cfg.redis.max_in_flight, 4096);
    assert_string_equal(cfg.log_file, "");
    assert_string_equal(cfg.metrics_listen_addr, "127.0.0.1:9100");
    assert_int_equal(cfg.shutdown_timeout_ms, 10000);
    assert_int_equal(cfg.aggregator.interval_ms, 60000);
    assert_int_equal(cfg.aggregator.lock_ttl_ms, 30000);
    assert_int_equal(cfg.aggregator.scan_count, 250);
    assert_string_equal(cfg.aggregator.metrics_listen_addr, "127.0.0.1:9101");
    assert_int_equal(config_validate(&cfg, err), 0);
}

/* The repo's config.json documents the defaults: it must repeat them exactly. */
static void test_repo_config_json_is_defaults(void **state)
{
    char path[4096];
    const char *src = getenv("STARLING_SOURCE_DIR");
    struct config loaded, defaults;
    char err[STARLING_ERR_LEN] = "";
    (void)state;

    if (src != NULL && src[0] != '\0') {
        snprintf(path, sizeof(path), "%s/config.json", src);
    } else {
        /* This file is <root>/tests/unit/test_config.c: three path components up. */
        snprintf(path, sizeof(path), "%s", __FILE__);
        for (int i = 0; i < 3; i++) {
            char *slash = strrchr(path, '/');
            if (slash == NULL) {
                snprintf(path, sizeof(path), ".");
                break;
            }
            *slash = '\0';
        }
        strncat(path, "/config.json", sizeof(path) - strlen(path) - 1);
    }
    /* Zeroes, not defaults, underneath: a key missing from the file shows up as a 0. */
    memset(&loaded, 0, sizeof(loaded));
    if (config_load_file(path, &loaded, err) != 0)
        fail_msg("%s", err);
    fresh(&defaults);
    assert_config_equal(&loaded, &defaults);
}

/* ---- good files ------------------------------------------------------------------------ */

static const char full_json[] =
    "{\n"
    "  \"announce\": \"1h\",\n"
    "  \"min_announce\": \"20m\",\n"
    "  \"default_num_want\": 30,\n"
    "  \"max_num_want\": 1000,\n"
    "  \"allow_ip_spoofing\": true,\n"
    "  \"dual_stacked_peers\": false,\n"
    "  \"respect_af\": true,\n"
    "  \"purge_inactive_torrents\": false,\n"
    "  \"allow_full_scrape\": true,\n"
    "  \"max_scrape_hashes\": 1000,\n"
    "  \"real_ip_header\": \"X-Forwarded-For\",\n"
    "  \"trusted_proxies\": [\"10.0.0.0/8\", \"fd00::/8\", \"192.168.1.1\"],\n"
    "  \"local_subnet_priority\": true,\n"
    "  \"local_subnet_v4_prefix\": 16,\n"
    "  \"local_subnet_v6_prefix\": 0,\n"
    "  \"local_subnet_cidrs\": [\"100.64.0.0/10\", \"2001:db8::/32\"],\n"
    "  \"http_listen_addr\": [\"0.0.0.0:80\", \"[::]:80\", \":8080\"],\n"
    "  \"http_read_timeout\": \"1m30s\",\n"
    "  \"http_write_timeout\": \"2s\",\n"
    "  \"http_request_timeout\": \"1.5s\",\n"
    "  \"http_listen_limit\": 100000,\n"
    "  \"http_per_address_limit\": 500,\n"
    "  \"http_max_request_bytes\": 1048576,\n"
    "  \"log_level\": \"debug\",\n"
    "  \"redis\": {\n"
    "    \"host\": \"redis.internal\",\n"
    "    \"port\": 7000,\n"
    "    \"unix_socket\": \"/run/redis/redis.sock\",\n"
    "    \"user\": \"tracker\",\n"
    "    \"password\": \"s3cret\",\n"
    "    \"db\": 42,\n"
    "    \"connect_timeout\": \"250ms\",\n"
    "    \"command_timeout\": \"2s\",\n"
    "    \"connections\": 64,\n"
    "    \"max_in_flight\": 100\n"
    "  }\n"
    "}\n";

static void check_full(const struct config *cfg)
{
    char err[STARLING_ERR_LEN] = "";

    assert_int_equal(cfg->announce_ms, 3600000);
    assert_int_equal(cfg->min_announce_ms, 1200000);
    assert_int_equal(cfg->default_num_want, 30);
    assert_int_equal(cfg->max_num_want, 1000);
    assert_true(cfg->allow_ip_spoofing);
    assert_false(cfg->dual_stacked_peers);
    assert_true(cfg->respect_af);
    assert_false(cfg->purge_inactive_torrents);
    assert_true(cfg->allow_full_scrape);
    assert_int_equal(cfg->max_scrape_hashes, 1000);
    assert_string_equal(cfg->real_ip_header, "X-Forwarded-For");
    assert_int_equal(cfg->n_trusted_proxies, 3);
    assert_int_equal(cfg->trusted_proxies[0].net.family, AF_INET);
    assert_int_equal(cfg->trusted_proxies[0].prefix, 8);
    assert_int_equal(cfg->trusted_proxies[0].net.bytes[0], 10);
    assert_int_equal(cfg->trusted_proxies[1].net.family, AF_INET6);
    assert_int_equal(cfg->trusted_proxies[1].prefix, 8);
    assert_int_equal(cfg->trusted_proxies[1].net.bytes[0], 0xfd);
    assert_int_equal(cfg->trusted_proxies[2].prefix, 32);
    assert_true(cfg->local_subnet_priority);
    assert_int_equal(cfg->local_subnet_v4_prefix, 16);
    assert_int_equal(cfg->local_subnet_v6_prefix, 0);
    assert_int_equal(cfg->n_local_subnet_cidrs, 2);
    assert_int_equal(cfg->local_subnet_cidrs[0].net.family, AF_INET);
    assert_int_equal(cfg->local_subnet_cidrs[0].prefix, 10);
    assert_int_equal(cfg->local_subnet_cidrs[0].net.bytes[0], 100);
    assert_int_equal(cfg->local_subnet_cidrs[1].net.family, AF_INET6);
    assert_int_equal(cfg->local_subnet_cidrs[1].prefix, 32);
    assert_int_equal(cfg->n_http_listen_addr, 3);
    assert_string_equal(cfg->http_listen_addr[0], "0.0.0.0:80");
    assert_string_equal(cfg->http_listen_addr[1], "[::]:80");
    assert_string_equal(cfg->http_listen_addr[2], ":8080");
    assert_int_equal(cfg->http_read_timeout_ms, 90000);
    assert_int_equal(cfg->http_write_timeout_ms, 2000);
    assert_int_equal(cfg->http_request_timeout_ms, 1500);
    assert_int_equal(cfg->http_listen_limit, 100000);
    assert_int_equal(cfg->http_per_address_limit, 500);
    assert_int_equal(cfg->http_max_request_bytes, 1048576);
    assert_string_equal(cfg->log_level, "debug");
    assert_string_equal(cfg->redis.host, "redis.internal");
    assert_int_equal(cfg->redis.port, 7000);
    assert_string_equal(cfg->redis.unix_socket, "/run/redis/redis.sock");
    assert_string_equal(cfg->redis.user, "tracker");
    assert_string_equal(cfg->redis.password, "s3cret");
    assert_int_equal(cfg->redis.db, 42);
    assert_int_equal(cfg->redis.connect_timeout_ms, 250);
    assert_int_equal(cfg->redis.command_timeout_ms, 2000);
    assert_int_equal(cfg->redis.connections, 64);
    assert_int_equal(cfg->redis.max_in_flight, 100);
    assert_int_equal(config_validate(cfg, err), 0);
}

static void test_full_string(void **state)
{
    struct config cfg;
    (void)state;

    load_ok(full_json, &cfg);
    check_full(&cfg);
}

static void test_full_file(void **state)
{
    struct config cfg;
    char path[PATH_LEN], err[STARLING_ERR_LEN] = "";
    (void)state;

    write_temp(path, full_json);
    fresh(&cfg);
    int rc = config_load_file(path, &cfg, err);
    unlink(path);
    if (rc != 0)
        fail_msg("%s", err);
    check_full(&cfg);
}

/* Keys left out keep whatever *cfg held. */
static void test_partial_keeps_rest(void **state)
{
    struct config cfg, want;
    (void)state;

    load_ok("{\"announce\": \"45m\", \"redis\": {\"port\": 6380}}", &cfg);
    fresh(&want);
    want.announce_ms = 2700000; /* 45m */
    want.redis.port = 6380;
    assert_config_equal(&cfg, &want);

    load_ok("{}", &cfg);
    fresh(&want);
    assert_config_equal(&cfg, &want);
}

static void test_listen_addr_forms(void **state)
{
    struct config cfg;
    (void)state;

    load_ok("{\"http_listen_addr\": \"[::1]:6969\"}", &cfg);
    assert_int_equal(cfg.n_http_listen_addr, 1);
    assert_string_equal(cfg.http_listen_addr[0], "[::1]:6969");

    load_ok("{\"http_listen_addr\": \"127.0.0.1:1, [::1]:2 ,:3\"}", &cfg);
    assert_int_equal(cfg.n_http_listen_addr, 3);
    assert_string_equal(cfg.http_listen_addr[0], "127.0.0.1:1");
    assert_string_equal(cfg.http_listen_addr[1], "[::1]:2");
    assert_string_equal(cfg.http_listen_addr[2], ":3");

    /* Exactly the maximum is fine. */
    char json[2048];
    size_t n = (size_t)snprintf(json, sizeof(json), "{\"http_listen_addr\": [");
    for (int i = 0; i < CONFIG_MAX_LISTEN; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\"127.0.0.1:%d\"", i ? "," : "",
                              7000 + i);
    snprintf(json + n, sizeof(json) - n, "]}");
    load_ok(json, &cfg);
    assert_int_equal(cfg.n_http_listen_addr, CONFIG_MAX_LISTEN);
    assert_string_equal(cfg.http_listen_addr[CONFIG_MAX_LISTEN - 1], "127.0.0.1:7015");
}

static void test_string_values(void **state)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    struct config cfg;
    char json[128];
    (void)state;

    for (size_t i = 0; i < 4; i++) {
        snprintf(json, sizeof(json), "{\"log_level\": \"%s\"}", levels[i]);
        load_ok(json, &cfg);
        assert_string_equal(cfg.log_level, levels[i]);
    }
    load_ok("{\"real_ip_header\": \"X-Real-IP\"}", &cfg);
    assert_string_equal(cfg.real_ip_header, "X-Real-IP");
    load_ok("{\"real_ip_header\": \"\"}", &cfg);
    assert_string_equal(cfg.real_ip_header, "");

    fails_hiding("{\"log_level\": \"verbose\"}", "\"log_level\": bad value: expected debug",
                 "verbose");
    load_fails("{\"log_level\": \"INFO\"}", "\"log_level\": bad value");
    load_fails("{\"real_ip_header\": \"X_Real_IP\"}", "\"real_ip_header\": bad value");
    load_fails("{\"real_ip_header\": \"X-Real-IP:\"}", "\"real_ip_header\": bad value");
    load_fails("{\"real_ip_header\": \"X Real\"}", "\"real_ip_header\": bad value");
}

/* Integers at both ends of their ranges are taken. */
static void test_int_bounds_ok(void **state)
{
    struct config cfg;
    (void)state;

    load_ok("{\"max_scrape_hashes\": 1, \"http_max_request_bytes\": 256, \"http_listen_limit\": 1,"
            " \"default_num_want\": 0, \"max_num_want\": 0, \"http_per_address_limit\": 0,"
            " \"redis\": {\"port\": 1, \"db\": 0, \"connections\": 1, \"max_in_flight\": 1}}",
            &cfg);
    assert_int_equal(cfg.max_scrape_hashes, 1);
    assert_int_equal(cfg.http_max_request_bytes, 256);
    assert_int_equal(cfg.http_listen_limit, 1);
    assert_int_equal(cfg.http_per_address_limit, 0);
    assert_int_equal(cfg.redis.port, 1);
    assert_int_equal(cfg.redis.connections, 1);
    assert_int_equal(cfg.redis.max_in_flight, 1);

    load_ok("{\"max_scrape_hashes\": 1000, \"http_max_request_bytes\": 1048576,"
            " \"http_listen_limit\": 2147483647, \"default_num_want\": 1000,"
            " \"max_num_want\": 1000,"
            " \"redis\": {\"port\": 65535, \"db\": 2147483647, \"connections\": 64,"
            " \"max_in_flight\": 1000000}}",
            &cfg);
    assert_int_equal(cfg.max_scrape_hashes, 1000);
    assert_int_equal(cfg.http_max_request_bytes, 1048576);
    assert_int_equal(cfg.http_listen_limit, 2147483647);
    assert_int_equal(cfg.default_num_want, 1000);
    assert_int_equal(cfg.redis.port, 65535);
    /* Not limited to Redis' default 16 databases. */
    assert_int_equal(cfg.redis.db, 2147483647);
    assert_int_equal(cfg.redis.connections, 64);
    assert_int_equal(cfg.redis.max_in_flight, 1000000);
}

/* ---- bad files ------------------------------------------------------------------------- */

static void test_unknown_keys(void **state)
{
    (void)state;
    load_fails("{\"foo\": 1}", "unknown key \"foo\"");
    load_fails("{\"announce\": \"1h\", \"Announce\": \"1h\"}", "unknown key \"Announce\"");
    load_fails("{\"redis\": {\"foo\": 1}}", "unknown key \"redis.foo\"");
    load_fails("{\"redis\": {\"port\": 1, \"announce\": \"1h\"}}",
               "unknown key \"redis.announce\"");
    /* The URL is applied first, but an unknown key beside it still fails the whole load. */
    load_fails("{\"redis\": {\"url\": \"redis://h\", \"foo\": 1}}", "unknown key \"redis.foo\"");
}

static void test_wrong_types(void **state)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"[]", "expected a JSON object"},
        {"{\"announce\": 1800}", "\"announce\": expected a duration string"},
        {"{\"min_announce\": null}", "\"min_announce\": expected a duration string"},
        {"{\"http_read_timeout\": [\"1s\"]}", "\"http_read_timeout\": expected a duration string"},
        {"{\"max_num_want\": 1.5}", "\"max_num_want\": expected an integer"},
        {"{\"max_num_want\": 200.0}", "\"max_num_want\": expected an integer"},
        {"{\"max_num_want\": \"5\"}", "\"max_num_want\": expected an integer"},
        {"{\"default_num_want\": true}", "\"default_num_want\": expected an integer"},
        {"{\"http_listen_limit\": null}", "\"http_listen_limit\": expected an integer"},
        {"{\"allow_ip_spoofing\": 1}", "\"allow_ip_spoofing\": expected true or false"},
        {"{\"respect_af\": \"true\"}", "\"respect_af\": expected true or false"},
        {"{\"dual_stacked_peers\": null}", "\"dual_stacked_peers\": expected true or false"},
        {"{\"real_ip_header\": 5}", "\"real_ip_header\": expected a string"},
        {"{\"log_level\": [\"info\"]}", "\"log_level\": expected a string"},
        {"{\"trusted_proxies\": \"10.0.0.0/8\"}", "\"trusted_proxies\": expected an array"},
        {"{\"trusted_proxies\": [\"10.0.0.0/8\", 10]}",
         "\"trusted_proxies[1]\": expected a string"},
        {"{\"http_listen_addr\": 6969}", "\"http_listen_addr\": expected a string or an array"},
        {"{\"http_listen_addr\": {}}", "\"http_listen_addr\": expected a string or an array"},
        {"{\"http_listen_addr\": [\":1\", 2]}", "\"http_listen_addr[1]\": expected a string"},
        {"{\"redis\": \"redis://h\"}", "\"redis\": expected an object"},
        {"{\"redis\": {\"url\": 5}}", "\"redis.url\": expected a string"},
        {"{\"redis\": {\"host\": 5}}", "\"redis.host\": expected a string"},
        {"{\"redis\": {\"port\": \"6379\"}}", "\"redis.port\": expected an integer"},
        {"{\"redis\": {\"db\": 1.0}}", "\"redis.db\": expected an integer"},
        {"{\"redis\": {\"connect_timeout\": 1}}", "\"redis.connect_timeout\": expected a duration"},
        {"{\"redis\": {\"password\": null}}", "\"redis.password\": expected a string"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        load_fails(cases[i].json, cases[i].want);
}

static void test_bad_durations(void **state)
{
    (void)state;
    /* duration_parse_ms() words the reason; the key is named, the text never is. */
    fails_hiding("{\"announce\": \"5x\"}", "\"announce\": bad duration: unknown unit", "5x");
    fails_hiding("{\"announce\": \"30\"}", "\"announce\": bad duration: missing unit", "30");
    fails_hiding("{\"min_announce\": \"-1s\"}", "\"min_announce\": bad duration: must be positive",
                 "-1s");
    fails_hiding("{\"http_write_timeout\": \"0s\"}",
                 "\"http_write_timeout\": bad duration: must be at least 1ms", "0s");
    load_fails("{\"http_request_timeout\": \"\"}", "\"http_request_timeout\": bad duration: empty");
    /* Zero turns these off; still no negative, no empty. */
    struct config cfg;
    char err[STARLING_ERR_LEN];
    fresh(&cfg);
    assert_int_equal(
        config_load_string("{\"peer_cache_ttl\": \"0s\", \"announce_jitter\": \"0ms\"}", &cfg, err),
        0);
    assert_int_equal(cfg.peer_cache_ttl_ms, 0);
    assert_int_equal(cfg.announce_jitter_ms, 0);
    fails_hiding("{\"announce_jitter\": \"-3m\"}",
                 "\"announce_jitter\": bad duration: must be positive", "-3m");
    fails_hiding("{\"redis\": {\"command_timeout\": \"1 s\"}}",
                 "\"redis.command_timeout\": bad duration: ", "1 s");
}

static void test_bad_trusted_proxies(void **state)
{
    char json[4096];
    size_t n;
    (void)state;

    fails_hiding("{\"trusted_proxies\": [\"10.0.0.0/8\", \"10.0.0.1/8\"]}",
                 "\"trusted_proxies[1]\": host bits set", "10.0.0.1");
    fails_hiding("{\"trusted_proxies\": [\"nonsense\"]}", "\"trusted_proxies[0]\": not an address",
                 "nonsense");
    fails_hiding("{\"trusted_proxies\": [\"10.0.0.0/33\"]}",
                 "\"trusted_proxies[0]\": bad prefix length", "/33");

    n = (size_t)snprintf(json, sizeof(json), "{\"trusted_proxies\": [");
    for (int i = 0; i <= CONFIG_MAX_PROXIES; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\"10.0.%d.0/24\"", i ? "," : "", i);
    snprintf(json + n, sizeof(json) - n, "]}");
    load_fails(json, "\"trusted_proxies\": at most 64 entries");
}

static void test_bad_local_subnet(void **state)
{
    char json[4096];
    size_t n;
    (void)state;

    load_fails("{\"local_subnet_priority\": 1}",
               "\"local_subnet_priority\": expected true or false");
    load_fails("{\"local_subnet_v4_prefix\": 33}",
               "\"local_subnet_v4_prefix\": out of range (0..32)");
    load_fails("{\"local_subnet_v4_prefix\": -1}",
               "\"local_subnet_v4_prefix\": out of range (0..32)");
    load_fails("{\"local_subnet_v6_prefix\": 129}",
               "\"local_subnet_v6_prefix\": out of range (0..128)");
    load_fails("{\"local_subnet_cidrs\": \"10.0.0.0/8\"}",
               "\"local_subnet_cidrs\": expected an array of CIDR strings");
    load_fails("{\"local_subnet_cidrs\": [\"10.0.0.0/8\", 10]}",
               "\"local_subnet_cidrs[1]\": expected a string");
    fails_hiding("{\"local_subnet_cidrs\": [\"100.64.0.1/10\"]}",
                 "\"local_subnet_cidrs[0]\": host bits set", "100.64.0.1");
    fails_hiding("{\"local_subnet_cidrs\": [\"isp\"]}", "\"local_subnet_cidrs[0]\": not an address",
                 "isp");
    fails_hiding("{\"local_subnet_cidrs\": [\"fd00::/129\"]}",
                 "\"local_subnet_cidrs[0]\": bad prefix length", "/129");

    n = (size_t)snprintf(json, sizeof(json), "{\"local_subnet_cidrs\": [");
    for (int i = 0; i <= CONFIG_MAX_LOCAL_CIDRS; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\"10.%d.0.0/16\"", i ? "," : "", i);
    snprintf(json + n, sizeof(json) - n, "]}");
    load_fails(json, "\"local_subnet_cidrs\": at most 64 entries");
}

static void test_bad_listen_addr(void **state)
{
    char json[2048];
    size_t n;
    (void)state;

    load_fails("{\"http_listen_addr\": []}", "\"http_listen_addr\": at least one");
    load_fails("{\"http_listen_addr\": \"\"}", "\"http_listen_addr\": empty address");
    load_fails("{\"http_listen_addr\": \":1,,:2\"}", "\"http_listen_addr\": empty address");
    load_fails("{\"http_listen_addr\": \":1,\"}", "\"http_listen_addr\": empty address");
    load_fails("{\"http_listen_addr\": [\" \"]}", "\"http_listen_addr[0]\": empty address");
    fails_hiding("{\"http_listen_addr\": [\":1\", \"localhost:80\"]}",
                 "\"http_listen_addr[1]\": bad address in listen address", "localhost");
    fails_hiding("{\"http_listen_addr\": \":1, ::1:80\"}",
                 "\"http_listen_addr\": bad address (IPv6 needs [brackets]) in listen address",
                 "::1:80");
    fails_hiding("{\"http_listen_addr\": \"127.0.0.1\"}",
                 "\"http_listen_addr\": missing port in listen address", "127.0.0.1");
    fails_hiding("{\"http_listen_addr\": [\"127.0.0.1:99999\"]}",
                 "\"http_listen_addr[0]\": bad port in listen address", "99999");
    /* A comma inside one array element is not a list. */
    load_fails("{\"http_listen_addr\": [\":1,:2\"]}", "\"http_listen_addr[0]\": ");

    n = (size_t)snprintf(json, sizeof(json), "{\"http_listen_addr\": [");
    for (int i = 0; i <= CONFIG_MAX_LISTEN; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\":%d\"", i ? "," : "", 7000 + i);
    snprintf(json + n, sizeof(json) - n, "]}");
    load_fails(json, "\"http_listen_addr[16]\": at most 16 addresses");

    n = (size_t)snprintf(json, sizeof(json), "{\"http_listen_addr\": \"");
    for (int i = 0; i <= CONFIG_MAX_LISTEN; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n, "%s:%d", i ? "," : "", 7000 + i);
    snprintf(json + n, sizeof(json) - n, "\"}");
    load_fails(json, "\"http_listen_addr\": at most 16 addresses");

    /* An element longer than a slot: "[" + 200 x "1" + "]:1". */
    n = (size_t)snprintf(json, sizeof(json), "{\"http_listen_addr\": [\"[");
    memset(json + n, '1', 200);
    snprintf(json + n + 200, sizeof(json) - n - 200, "]:1\"]}");
    load_fails(json, "\"http_listen_addr[0]\": address too long");
}

static void test_out_of_range(void **state)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"default_num_want\": -1}", "\"default_num_want\": out of range (0..1000)"},
        {"{\"default_num_want\": 1001}", "\"default_num_want\": out of range (0..1000)"},
        {"{\"max_num_want\": 1001}", "\"max_num_want\": out of range (0..1000)"},
        {"{\"max_num_want\": 4294967496}", "\"max_num_want\": out of range"},
        {"{\"access_list_mode\": \"on\"}",
         "\"access_list_mode\": expected \"off\", \"allow\" or \"deny\""},
        {"{\"access_list_mode\": true}",
         "\"access_list_mode\": expected \"off\", \"allow\" or \"deny\""},
        {"{\"client_whitelist\": [\"\"]}",
         "\"client_whitelist[0]\": a peer_id prefix is 1..20 bytes"},
        {"{\"client_whitelist\": [\"123456789012345678901\"]}",
         "\"client_whitelist[0]\": a peer_id prefix is 1..20 bytes"},
        {"{\"client_whitelist\": \"-qB4\"}",
         "\"client_whitelist\": expected an array of peer_id prefixes"},
        {"{\"peer_cache_swarms\": 1048577}", "\"peer_cache_swarms\": out of range (0..1048576)"},
        {"{\"max_scrape_hashes\": 0}", "\"max_scrape_hashes\": out of range (1..1000)"},
        {"{\"max_scrape_hashes\": 1001}", "\"max_scrape_hashes\": out of range (1..1000)"},
        {"{\"http_listen_limit\": 0}", "\"http_listen_limit\": out of range (1..2147483647)"},
        {"{\"http_listen_limit\": -5}", "\"http_listen_limit\": out of range"},
        {"{\"http_per_address_limit\": -1}", "\"http_per_address_limit\": out of range"},
        {"{\"http_per_address_limit\": 2147483648}",
         "\"http_per_address_limit\": out of range (0..2147483647)"},
        {"{\"http_max_request_bytes\": 255}",
         "\"http_max_request_bytes\": out of range (256..1048576)"},
        {"{\"http_max_request_bytes\": 1048577}",
         "\"http_max_request_bytes\": out of range (256..1048576)"},
        {"{\"redis\": {\"port\": 0}}", "\"redis.port\": out of range (1..65535)"},
        {"{\"redis\": {\"port\": 65536}}", "\"redis.port\": out of range (1..65535)"},
        {"{\"redis\": {\"db\": -1}}", "\"redis.db\": out of range (0..2147483647)"},
        {"{\"redis\": {\"db\": 2147483648}}", "\"redis.db\": out of range (0..2147483647)"},
        {"{\"redis\": {\"connections\": 0}}", "\"redis.connections\": out of range (1..64)"},
        {"{\"redis\": {\"connections\": 65}}", "\"redis.connections\": out of range (1..64)"},
        {"{\"redis\": {\"max_in_flight\": 0}}",
         "\"redis.max_in_flight\": out of range (1..1000000)"},
        {"{\"redis\": {\"max_in_flight\": 1000001}}",
         "\"redis.max_in_flight\": out of range (1..1000000)"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        load_fails(cases[i].json, cases[i].want);
}

/* Builds {"<outer>": {"<key>": "<n x 'a'>"}} (or without outer) into json. */
static void long_string_json(char *json, size_t cap, const char *outer, const char *key, size_t n)
{
    size_t len;

    if (outer != NULL)
        len = (size_t)snprintf(json, cap, "{\"%s\": {\"%s\": \"", outer, key);
    else
        len = (size_t)snprintf(json, cap, "{\"%s\": \"", key);
    assert_true(len + n + 8 < cap);
    memset(json + len, 'a', n);
    snprintf(json + len + n, cap - len - n, "\"}%s", outer != NULL ? "}" : "");
}

static void test_long_strings(void **state)
{
    static const struct {
        const char *outer, *key, *want;
        size_t cap;
    } cases[] = {
        {NULL, "real_ip_header", "\"real_ip_header\": too long (at most 63 bytes)", 64},
        {NULL, "log_level", "\"log_level\": too long (at most 15 bytes)", 16},
        {"redis", "host", "\"redis.host\": too long (at most 255 bytes)", 256},
        {"redis", "unix_socket", "\"redis.unix_socket\": too long (at most 255 bytes)", 256},
        {"redis", "user", "\"redis.user\": too long (at most 127 bytes)", 128},
        {"redis", "password", "\"redis.password\": too long (at most 255 bytes)", 256},
    };
    char json[1024];
    struct config cfg;
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long_string_json(json, sizeof(json), cases[i].outer, cases[i].key, cases[i].cap);
        load_fails(json, cases[i].want);
    }
    /* One byte less fits exactly (log_level would still fail its name check). */
    long_string_json(json, sizeof(json), "redis", "password", 255);
    load_ok(json, &cfg);
    assert_int_equal(strlen(cfg.redis.password), 255);
    long_string_json(json, sizeof(json), NULL, "real_ip_header", 63);
    load_ok(json, &cfg);
    assert_int_equal(strlen(cfg.real_ip_header), 63);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    /* Where (line:column) and what, in our words. */
    load_fails("{\"announce\": }", "<string>:1:14: unexpected character");
    load_fails("{\n\"announce\": \"1h\",\n}",
               "<string>:3:1: a key in double quotes or '}' expected");
    load_fails("", "<string>:1:0: expected a JSON object");
    /* Only an object or an array gets past jansson; the array is refused by config.c. */
    load_fails("\"x\"", "<string>:1:3: expected a JSON object");
    load_fails("{\"announce\": \"1h\"} x", "<string>:1:20: more text after the top-level object");
    load_fails("{\"announce\": \"1h\"", "<string>:1:17: ',' or '}' expected");
    /* jansson refuses \u0000 unless asked, so strings stay C strings. */
    load_fails("{\"log_level\": \"in\\u0000fo\"}", "<string>:1:26: \\u0000 in a string");
    /* A repeated key is refused rather than silently last-one-wins. */
    load_fails("{\"announce\": \"1h\", \"announce\": \"2h\"}", "<string>:1:29: duplicate key");
    load_fails("{\"redis\": {\"port\": 1, \"port\": 2}}", "<string>:1:28: duplicate key");
}

static void test_file_errors(void **state)
{
    struct config cfg, before;
    char path[PATH_LEN], want[PATH_LEN + 64], err[STARLING_ERR_LEN] = "";
    (void)state;

    write_temp(path, "{\n  \"announce\": \"1h\",\n  \"min_announce\" \"2m\"\n}\n");
    fresh(&cfg);
    before = cfg;
    assert_int_equal(config_load_file(path, &cfg, err), -1);
    snprintf(want, sizeof(want), "%s:3:21: ':' expected after a key", path);
    assert_string_equal(err, want);
    assert_memory_equal(&cfg, &before, sizeof(cfg));
    unlink(path);

    /* Gone now: the error still starts with the path. */
    assert_int_equal(config_load_file(path, &cfg, err), -1);
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
    assert_string_equal(err, want);
    assert_memory_equal(&cfg, &before, sizeof(cfg));

    /* A well-formed file with a bad key: the file and the key error, *cfg untouched. */
    write_temp(path, "{\"announce\": \"1h\", \"redis\": {\"port\": 70000}}");
    assert_int_equal(config_load_file(path, &cfg, err), -1);
    unlink(path);
    snprintf(want, sizeof(want), "%s: \"redis.port\": out of range (1..65535)", path);
    assert_string_equal(err, want);
    assert_memory_equal(&cfg, &before, sizeof(cfg));
}

/* Good keys before a bad one must not leak into *cfg. */
static void test_unchanged_after_late_error(void **state)
{
    struct config cfg, before;
    char err[STARLING_ERR_LEN] = "";
    (void)state;

    fresh(&cfg);
    assert_int_equal(config_load_string("{\"log_level\": \"warn\"}", &cfg, err), 0);
    before = cfg;
    assert_int_equal(config_load_string("{\"announce\": \"1h\", \"http_listen_addr\": \":1,:2\","
                                        " \"trusted_proxies\": [\"10.0.0.0/8\"],"
                                        " \"redis\": {\"url\": \"redis://u:p@h:1/2\","
                                        " \"port\": 1, \"bogus\": 2}}",
                                        &cfg, err),
                     -1);
    assert_string_equal(err, "unknown key \"redis.bogus\"");
    assert_memory_equal(&cfg, &before, sizeof(cfg));
    assert_string_equal(cfg.log_level, "warn");
    assert_int_equal(cfg.announce_ms, 30 * 60 * 1000);
}

/* ---- errors never echo a value ---------------------------------------------------------- */

/* jansson's own text quotes the token it stopped at: it is never passed on. */
static void test_syntax_errors_hide_values(void **state)
{
    static const struct {
        const char *json, *want, *part;
    } cases[] = {
        {"{\"udp_secret\": \"" SECRET "\n\"}", "<string>:1:23: line break inside a string",
         SECRET_PART},
        {"{\"udp_secret\": \"" SECRET "\001\"}", "<string>:1:23: control character inside a string",
         SECRET_PART},
        {"{\"udp_secret\": \"" SECRET "\\q\"}", "<string>:1:25: bad escape in a string",
         SECRET_PART},
        {"{\"udp_secret\": \"" SECRET "\\uD800\"}", "<string>:1:30: bad \\u escape in a string",
         "D800"},
        {"{\"udp_secret\": \"" SECRET "\377\"}", "<string>:1:", SECRET_PART},
        {"{\"udp_secret\": \"" SECRET, "<string>:1:", SECRET_PART},
        {"{\"redis\": {\"password\": " SECRET "}}", "<string>:1:", SECRET_PART},
        {"{\"udp_secret\": \"x\" \"" SECRET "\"}", "<string>:1:", SECRET_PART},
        {"{\"udp_secret\": \"x\"} " SECRET, "<string>:1:", SECRET_PART},
        {"{\"max_num_want\": 123456789012345678901234567890}", "<string>:1:", "12345"},
        {"{\"udp_secret\": \"" SECRET "\", \"udp_secret\": \"" SECRET "\"}",
         "<string>:1:", SECRET_PART},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        fails_hiding(cases[i].json, cases[i].want, cases[i].part);
}

/* Values the other parsers refuse: the key and the reason, not the text. */
static void test_value_errors_hide_values(void **state)
{
    static const struct {
        const char *json, *want, *part;
    } cases[] = {
        {"{\"log_level\": \"" SECRET "\"}", "\"log_level\": bad value: expected debug",
         SECRET_PART},
        {"{\"real_ip_header\": \"" SECRET "!\"}", "\"real_ip_header\": bad value: ", SECRET_PART},
        {"{\"metrics_listen_addr\": \"" SECRET "\"}",
         "\"metrics_listen_addr\": bad value: ", SECRET_PART},
        {"{\"aggregator\": {\"metrics_listen_addr\": \"" SECRET "\"}}",
         "\"aggregator.metrics_listen_addr\": bad value: ", SECRET_PART},
        {"{\"announce\": \"" SECRET "\"}", "\"announce\": bad duration: ", SECRET_PART},
        {"{\"announce\": \"5x\"}", "\"announce\": bad duration: unknown unit", "5x"},
        {"{\"redis\": {\"command_timeout\": \"1 s\"}}",
         "\"redis.command_timeout\": bad duration: ", "1 s"},
        {"{\"trusted_proxies\": [\"" SECRET "\"]}", "\"trusted_proxies[0]\": not an address",
         SECRET_PART},
        {"{\"trusted_proxies\": [\"10.0.0.1/8\"]}", "\"trusted_proxies[0]\": host bits set",
         "10.0.0.1"},
        {"{\"http_listen_addr\": \"" SECRET "\"}", "\"http_listen_addr\": ", SECRET_PART},
        {"{\"http_listen_addr\": [\":1\", \"" SECRET ":80\"]}",
         "\"http_listen_addr[1]\": bad address in listen address", SECRET_PART},
        {"{\"udp_listen_addr\": \"127.0.0.1:99999\"}",
         "\"udp_listen_addr\": bad port in listen address", "99999"},
        {"{\"redis\": {\"url\": \"redis://:" SECRET "@h:99999\"}}", "\"redis.url\": bad port",
         SECRET_PART},
        {"{\"redis\": {\"url\": \"" SECRET "\"}}", "\"redis.url\": expected redis://", SECRET_PART},
    };
    char json[1024];
    size_t n;
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        fails_hiding(cases[i].json, cases[i].want, cases[i].part);
    /* A duration longer than the error buffer: a cut quote must not leak either. */
    n = (size_t)snprintf(json, sizeof(json), "{\"announce\": \"");
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(json + n, sizeof(json) - n, SECRET);
    snprintf(json + n, sizeof(json) - n, "\"}");
    fails_hiding(json, "\"announce\": bad ", SECRET_PART);
}

/* A file: its path, then the line and column (syntax) or the key (values). */
static void test_file_errors_hide_values(void **state)
{
    char path[PATH_LEN], want[PATH_LEN + 64], err[STARLING_ERR_LEN] = "";
    struct config cfg;
    (void)state;

    fresh(&cfg);
    write_temp(path, "{\n  \"udp_secret\": \"" SECRET "\n\"\n}\n");
    assert_int_equal(config_load_file(path, &cfg, err), -1);
    unlink(path);
    snprintf(want, sizeof(want), "%s:2:24: line break inside a string", path);
    assert_string_equal(err, want);

    write_temp(path, "{\"log_level\": \"" SECRET "\"}");
    assert_int_equal(config_load_file(path, &cfg, err), -1);
    unlink(path);
    snprintf(want, sizeof(want), "%s: \"log_level\": bad value: ", path);
    assert_starts_with(err, want);
    assert_no_value(path, err, SECRET_PART);
}

static void env_fails_hiding(const char *name, const char *value, const char *part)
{
    struct config cfg;
    char err[STARLING_ERR_LEN] = "", prefix[64];

    clear_env();
    setenv(name, value, 1);
    fresh(&cfg);
    int rc = config_apply_env(&cfg, err);
    clear_env();
    if (rc != -1)
        fail_msg("%s=%s: accepted", name, value);
    assert_no_value(name, err, part);
    snprintf(prefix, sizeof(prefix), "%s: ", name);
    assert_starts_with(err, prefix);
}

static void test_env_errors_hide_values(void **state)
{
    (void)state;
    env_fails_hiding("STARLING_LOG_LEVEL", SECRET, SECRET_PART);
    env_fails_hiding("STARLING_METRICS_LISTEN_ADDR", SECRET, SECRET_PART);
    env_fails_hiding("STARLING_AGGREGATOR_INTERVAL", SECRET, SECRET_PART);
    env_fails_hiding("STARLING_HTTP_LISTEN_ADDR", SECRET, SECRET_PART);
    env_fails_hiding("STARLING_UDP_LISTEN_ADDR", ":1," SECRET ":1", SECRET_PART);
    env_fails_hiding("STARLING_REDIS_URL", "redis://:" SECRET "@h:0", SECRET_PART);
    env_fails_hiding("STARLING_REDIS_URL", SECRET, SECRET_PART);
}

/* ---- redis.url in the file ------------------------------------------------------------- */

static void test_file_redis_url(void **state)
{
    struct config cfg;
    (void)state;

    /* The URL applies first, whatever the key order; the keys beside it win. */
    load_ok("{\"redis\": {\"port\": 7000, \"url\": \"redis://u:p@cache:6380/2\", \"db\": 5}}",
            &cfg);
    assert_string_equal(cfg.redis.host, "cache");
    assert_int_equal(cfg.redis.port, 7000);
    assert_int_equal(cfg.redis.db, 5);
    assert_string_equal(cfg.redis.user, "u");
    assert_string_equal(cfg.redis.password, "p");

    load_ok("{\"redis\": {\"url\": \"unix:///tmp/r.sock?db=3\"}}", &cfg);
    assert_string_equal(cfg.redis.unix_socket, "/tmp/r.sock");
    assert_int_equal(cfg.redis.db, 3);
    assert_string_equal(cfg.redis.host, "127.0.0.1");

    load_fails("{\"redis\": {\"url\": \"http://h\"}}",
               "\"redis.url\": expected redis://host:port or unix:///path");
    load_fails("{\"redis\": {\"url\": \"redis://h:0\"}}", "\"redis.url\": bad port");
}

/* ---- environment ----------------------------------------------------------------------- */

static void test_env_none(void **state)
{
    struct config cfg, before;
    char err[STARLING_ERR_LEN] = "";
    (void)state;

    clear_env();
    fresh(&cfg);
    before = cfg;
    assert_int_equal(config_apply_env(&cfg, err), 0);
    assert_config_equal(&cfg, &before);

    /* Set but empty reads as unset. */
    for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
        setenv(env_vars[i], "", 1);
    assert_int_equal(config_apply_env(&cfg, err), 0);
    assert_config_equal(&cfg, &before);
    clear_env();
}

static void test_env_overrides(void **state)
{
    struct config cfg;
    char err[STARLING_ERR_LEN] = "";
    (void)state;

    clear_env();
    fresh(&cfg);
    setenv("STARLING_REDIS_URL", "redis://bob:fromurl@10.1.2.3:6400/4", 1);
    setenv("STARLING_REDIS_PASSWORD", "fromenv", 1);
    setenv("STARLING_HTTP_LISTEN_ADDR", "0.0.0.0:80,[::]:80", 1);
    setenv("STARLING_LOG_LEVEL", "error", 1);
    if (config_apply_env(&cfg, err) != 0)
        fail_msg("%s", err);
    clear_env();
    assert_string_equal(cfg.redis.host, "10.1.2.3");
    assert_int_equal(cfg.redis.port, 6400);
    assert_int_equal(cfg.redis.db, 4);
    assert_string_equal(cfg.redis.user, "bob");
    /* STARLING_REDIS_PASSWORD beats the password inside STARLING_REDIS_URL. */
    assert_string_equal(cfg.redis.password, "fromenv");
    assert_int_equal(cfg.n_http_listen_addr, 2);
    assert_string_equal(cfg.http_listen_addr[0], "0.0.0.0:80");
    assert_string_equal(cfg.http_listen_addr[1], "[::]:80");
    assert_string_equal(cfg.log_level, "error");
    /* Untouched by the environment. */
    assert_int_equal(cfg.announce_ms, 30 * 60 * 1000);
    assert_int_equal(cfg.redis.connections, 2);
}

/* main loads the file, then the environment: the environment wins. */
static void test_env_beats_file(void **state)
{
    struct config cfg;
    char err[STARLING_ERR_LEN] = "";
    (void)state;

    clear_env();
    load_ok("{\"log_level\": \"debug\", \"http_listen_addr\": [\":1\", \":2\", \":3\"],"
            " \"redis\": {\"unix_socket\": \"/run/r.sock\", \"password\": \"infile\","
            " \"connections\": 8}}",
            &cfg);
    setenv("STARLING_LOG_LEVEL", "warn", 1);
    setenv("STARLING_REDIS_PASSWORD", "inenv", 1);
    setenv("STARLING_HTTP_LISTEN_ADDR", "127.0.0.1:9000", 1);
    setenv("STARLING_REDIS_URL", "redis://redis.svc", 1);
    if (config_apply_env(&cfg, err) != 0)
        fail_msg("%s", err);
    clear_env();
    assert_string_equal(cfg.log_level, "warn");
    assert_string_equal(cfg.redis.password, "inenv");
    assert_int_equal(cfg.n_http_listen_addr, 1);
    assert_string_equal(cfg.http_listen_addr[0], "127.0.0.1:9000");
    /* A redis:// URL means TCP: the socket from the file no longer applies. */
    assert_string_equal(cfg.redis.unix_socket, "");
    assert_string_equal(cfg.redis.host, "redis.svc");
    assert_int_equal(cfg.redis.port, 6379);
    assert_int_equal(cfg.redis.connections, 8);
    assert_int_equal(config_validate(&cfg, err), 0);
}

/* Sets name=value (others cleared, one good variable too) and expects failure, *cfg intact. */
static void env_fails(const char *name, const char *value, const char *prefix)
{
    struct config cfg, before;
    char err[STARLING_ERR_LEN] = "";

    clear_env();
    setenv("STARLING_LOG_LEVEL", "debug", 1);
    setenv(name, value, 1);
    fresh(&cfg);
    before = cfg;
    int rc = config_apply_env(&cfg, err);
    clear_env();
    if (rc != -1)
        fail_msg("%s=%s: accepted", name, value);
    assert_memory_equal(&cfg, &before, sizeof(cfg));
    assert_starts_with(err, prefix);
}

static void test_env_errors(void **state)
{
    char longpw[300];
    (void)state;

    env_fails("STARLING_REDIS_URL", "localhost:6379",
              "STARLING_REDIS_URL: expected redis://host:port or unix:///path");
    env_fails("STARLING_REDIS_URL", "redis://h:99999", "STARLING_REDIS_URL: bad port");
    env_fails("STARLING_HTTP_LISTEN_ADDR", ":1,nonsense", "STARLING_HTTP_LISTEN_ADDR: ");
    env_fails("STARLING_HTTP_LISTEN_ADDR", ":1,", "STARLING_HTTP_LISTEN_ADDR: empty address");
    env_fails("STARLING_LOG_LEVEL", "trace", "STARLING_LOG_LEVEL: bad value: expected debug");
    memset(longpw, 'p', 256);
    longpw[256] = '\0';
    env_fails("STARLING_REDIS_PASSWORD", longpw,
              "STARLING_REDIS_PASSWORD: too long (at most 255 bytes)");
}

/* ---- redis URLs ------------------------------------------------------------------------ */

/* A redis_config with every field away from what a URL would produce. */
static void dirty_redis(struct redis_config *rc)
{
    memset(rc, 0, sizeof(*rc));
    snprintf(rc->host, sizeof(rc->host), "oldhost");
    rc->port = 1111;
    snprintf(rc->unix_socket, sizeof(rc->unix_socket), "/old.sock");
    snprintf(rc->user, sizeof(rc->user), "olduser");
    snprintf(rc->password, sizeof(rc->password), "oldpass");
    rc->db = 9;
    rc->connect_timeout_ms = 123;
    rc->command_timeout_ms = 456;
    rc->connections = 7;
}

static void url_ok(const char *url, struct redis_config *rc)
{
    char err[STARLING_ERR_LEN] = "";

    dirty_redis(rc);
    if (config_parse_redis_url(url, rc, err) != 0)
        fail_msg("%s: %s", url, err);
    /* A URL never touches the timeouts or the pool size. */
    assert_int_equal(rc->connect_timeout_ms, 123);
    assert_int_equal(rc->command_timeout_ms, 456);
    assert_int_equal(rc->connections, 7);
}

static void test_redis_url_tcp(void **state)
{
    struct redis_config rc;
    (void)state;

    url_ok("redis://cache", &rc);
    assert_string_equal(rc.host, "cache");
    assert_int_equal(rc.port, 6379);
    assert_string_equal(rc.unix_socket, "");
    assert_string_equal(rc.user, "");
    assert_string_equal(rc.password, "");
    assert_int_equal(rc.db, 0);

    url_ok("redis://tracker:s3cret@10.0.0.5:6380/3", &rc);
    assert_string_equal(rc.host, "10.0.0.5");
    assert_int_equal(rc.port, 6380);
    assert_string_equal(rc.user, "tracker");
    assert_string_equal(rc.password, "s3cret");
    assert_int_equal(rc.db, 3);

    /* Password only, the form `requirepass` needs. */
    url_ok("redis://:only@h", &rc);
    assert_string_equal(rc.user, "");
    assert_string_equal(rc.password, "only");
    /* No colon: a password, as redis-cli -u reads it. */
    url_ok("redis://only@h", &rc);
    assert_string_equal(rc.user, "");
    assert_string_equal(rc.password, "only");

    /* Percent-escapes; and a raw '@' or '/' in a password still works (last '@' splits). */
    url_ok("redis://us%65r:p%40ss%3Aw%2Fd@h", &rc);
    assert_string_equal(rc.user, "user");
    assert_string_equal(rc.password, "p@ss:w/d");
    url_ok("redis://u:a@b/c@h:7/1", &rc);
    assert_string_equal(rc.password, "a@b/c");
    assert_string_equal(rc.host, "h");
    assert_int_equal(rc.port, 7);
    assert_int_equal(rc.db, 1);

    url_ok("redis://[::1]:7000/15", &rc);
    assert_string_equal(rc.host, "::1");
    assert_int_equal(rc.port, 7000);
    assert_int_equal(rc.db, 15);
    url_ok("redis://[fd00::1]", &rc);
    assert_string_equal(rc.host, "fd00::1");
    assert_int_equal(rc.port, 6379);

    url_ok("redis://h:65535/", &rc);
    assert_int_equal(rc.port, 65535);
    assert_int_equal(rc.db, 0);
    url_ok("redis://h/2147483647", &rc);
    assert_int_equal(rc.db, 2147483647);
}

static void test_redis_url_unix(void **state)
{
    struct redis_config rc;
    (void)state;

    url_ok("unix:///run/redis/redis.sock", &rc);
    assert_string_equal(rc.unix_socket, "/run/redis/redis.sock");
    assert_int_equal(rc.db, 0);
    assert_string_equal(rc.user, "");
    assert_string_equal(rc.password, "");
    /* The TCP settings stay, for a later switch back. */
    assert_string_equal(rc.host, "oldhost");
    assert_int_equal(rc.port, 1111);

    url_ok("unix:///tmp/r.sock?db=12", &rc);
    assert_string_equal(rc.unix_socket, "/tmp/r.sock");
    assert_int_equal(rc.db, 12);
}

static void test_redis_url_bad(void **state)
{
    static const struct {
        const char *url, *want;
    } cases[] = {
        {"", "expected redis://host:port or unix:///path"},
        {"localhost:6379", "expected redis://host:port or unix:///path"},
        {"http://h", "expected redis://host:port or unix:///path"},
        {"rediss://h", "expected redis://host:port or unix:///path"},
        {"REDIS://h", "expected redis://host:port or unix:///path"},
        {"redis://", "missing host"},
        {"redis:///3", "missing host"},
        {"redis://:p@", "missing host"},
        {"redis://:6379", "missing host"},
        {"redis://[]:1", "missing host"},
        {"redis://h:", "bad port"},
        {"redis://h:0", "bad port"},
        {"redis://h:65536", "bad port"},
        {"redis://h:-1", "bad port"},
        {"redis://h:80x", "bad port"},
        {"redis://[::1]x", "bad port"},
        {"redis://::1", "IPv6 host needs [brackets]"},
        {"redis://::1:6379", "IPv6 host needs [brackets]"},
        {"redis://[::1:6379", "missing ']'"},
        {"redis://h/x", "bad db"},
        {"redis://h/-1", "bad db"},
        {"redis://h/2147483648", "bad db"},
        {"redis://h/1?timeout=1", "bad db"},
        {"redis://h/1/2", "bad db"},
        {"redis://u:p%zz@h", "bad %-escape in password"},
        {"redis://u:p%4@h", "bad %-escape in password"},
        {"redis://u:p%@h", "bad %-escape in password"},
        {"redis://u%00:p@h", "bad %-escape in user"},
        {"unix://", "socket path must be absolute"},
        {"unix://run/r.sock", "socket path must be absolute"},
        {"unix:///r.sock?db=x", "bad db"},
        {"unix:///r.sock?db=", "bad db"},
        {"unix:///r.sock?password=x", "unknown query"},
    };
    struct redis_config rc, before;
    char err[STARLING_ERR_LEN];
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dirty_redis(&rc);
        before = rc;
        err[0] = '\0';
        if (config_parse_redis_url(cases[i].url, &rc, err) != -1)
            fail_msg("%s: accepted", cases[i].url);
        assert_memory_equal(&rc, &before, sizeof(rc));
        if (strstr(err, cases[i].want) == NULL)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].url, err, cases[i].want);
    }
}

static void test_redis_url_limits(void **state)
{
    struct redis_config rc;
    char url[1024], err[STARLING_ERR_LEN];
    size_t n;
    (void)state;

    /* A 255-byte host fits, 256 does not. */
    n = (size_t)snprintf(url, sizeof(url), "redis://");
    memset(url + n, 'h', 255);
    url[n + 255] = '\0';
    url_ok(url, &rc);
    assert_int_equal(strlen(rc.host), 255);
    memset(url + n, 'h', 256);
    url[n + 256] = '\0';
    assert_int_equal(config_parse_redis_url(url, &rc, err), -1);
    assert_contains(err, "host too long");

    n = (size_t)snprintf(url, sizeof(url), "redis://:");
    memset(url + n, 'p', 256);
    snprintf(url + n + 256, sizeof(url) - n - 256, "@h");
    assert_int_equal(config_parse_redis_url(url, &rc, err), -1);
    assert_contains(err, "password too long");
    /* Escapes count decoded: 255 x "%41" is 255 bytes. */
    n = (size_t)snprintf(url, sizeof(url), "redis://:");
    for (int i = 0; i < 255; i++)
        n += (size_t)snprintf(url + n, sizeof(url) - n, "%%41");
    snprintf(url + n, sizeof(url) - n, "@h");
    url_ok(url, &rc);
    assert_int_equal(strlen(rc.password), 255);

    n = (size_t)snprintf(url, sizeof(url), "redis://");
    memset(url + n, 'u', 128);
    snprintf(url + n + 128, sizeof(url) - n - 128, ":p@h");
    assert_int_equal(config_parse_redis_url(url, &rc, err), -1);
    assert_contains(err, "user too long");

    n = (size_t)snprintf(url, sizeof(url), "unix:///");
    memset(url + n, 's', 255);
    url[n + 255] = '\0';
    assert_int_equal(config_parse_redis_url(url, &rc, err), -1);
    assert_contains(err, "socket path too long");
}

/* Errors may be logged: they must never echo a password. */
static void test_redis_url_errors_hide_secrets(void **state)
{
    static const char *const urls[] = {
        "redis://u:topsecret@h:99999",
        "redis://u:topsecret%zz@h",
        "redis://topsecret@/0",
        "redis://u:topsecret@h/nodb",
    };
    struct redis_config rc;
    char err[STARLING_ERR_LEN];
    (void)state;

    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        dirty_redis(&rc);
        assert_int_equal(config_parse_redis_url(urls[i], &rc, err), -1);
        if (strstr(err, "topsecret") != NULL)
            fail_msg("%s: error leaks the password: %s", urls[i], err);
    }
}

/* ---- config_validate ------------------------------------------------------------------- */

static void validate_fails(const struct config *cfg, const char *want)
{
    char err[STARLING_ERR_LEN] = "";

    assert_int_equal(config_validate(cfg, err), -1);
    assert_contains(err, want);
}

static void test_validate(void **state)
{
    struct config cfg;
    char err[STARLING_ERR_LEN] = "";
    (void)state;

    fresh(&cfg);
    cfg.min_announce_ms = cfg.announce_ms;
    assert_int_equal(config_validate(&cfg, err), 0);
    cfg.min_announce_ms = cfg.announce_ms + 1;
    validate_fails(&cfg, "min_announce must not exceed announce");

    fresh(&cfg);
    cfg.announce_jitter_ms = cfg.announce_ms / 2;
    assert_int_equal(config_validate(&cfg, err), 0);
    cfg.announce_jitter_ms = cfg.announce_ms / 2 + 1;
    validate_fails(&cfg, "announce_jitter must not exceed half of announce");

    fresh(&cfg);
    cfg.default_num_want = cfg.max_num_want;
    assert_int_equal(config_validate(&cfg, err), 0);
    cfg.default_num_want = cfg.max_num_want + 1;
    validate_fails(&cfg, "default_num_want must not exceed max_num_want");

    fresh(&cfg);
    cfg.max_num_want = CONFIG_NUM_WANT_CEILING + 1;
    validate_fails(&cfg, "max_num_want must not exceed 1000");

    fresh(&cfg);
    cfg.local_subnet_v4_prefix = 32;
    cfg.local_subnet_v6_prefix = 128;
    assert_int_equal(config_validate(&cfg, err), 0);
    cfg.local_subnet_v6_prefix = 129;
    validate_fails(&cfg, "local_subnet_v4_prefix must be 0..32, local_subnet_v6_prefix 0..128");
    fresh(&cfg);
    cfg.n_local_subnet_cidrs = CONFIG_MAX_LOCAL_CIDRS + 1;
    validate_fails(&cfg, "at most 64 local_subnet_cidrs");

    fresh(&cfg);
    cfg.peer_cache_ttl_ms = CONFIG_PEER_CACHE_TTL_MAX_MS;
    assert_int_equal(config_validate(&cfg, err), 0);
    cfg.peer_cache_ttl_ms = CONFIG_PEER_CACHE_TTL_MAX_MS + 1;
    validate_fails(&cfg, "peer_cache_ttl must not exceed 5000ms");

    fresh(&cfg);
    cfg.n_http_listen_addr = 0;
    validate_fails(&cfg, "at least one http_listen_addr");
    cfg.n_http_listen_addr = CONFIG_MAX_LISTEN + 1;
    validate_fails(&cfg, "http_listen_addr");

    fresh(&cfg);
    cfg.n_trusted_proxies = CONFIG_MAX_PROXIES + 1;
    validate_fails(&cfg, "trusted_proxies");

    fresh(&cfg);
    cfg.max_scrape_hashes = 0;
    validate_fails(&cfg, "max_scrape_hashes");

    fresh(&cfg);
    snprintf(cfg.log_level, sizeof(cfg.log_level), "loud");
    validate_fails(&cfg, "log_level");

    fresh(&cfg);
    cfg.redis.host[0] = '\0';
    validate_fails(&cfg, "redis");
    snprintf(cfg.redis.unix_socket, sizeof(cfg.redis.unix_socket), "/run/r.sock");
    assert_int_equal(config_validate(&cfg, err), 0);

    fresh(&cfg);
    cfg.redis.connections = 0;
    validate_fails(&cfg, "redis.connections");

    fresh(&cfg);
    cfg.redis.max_in_flight = 0;
    validate_fails(&cfg, "redis.max_in_flight");

    /* 2 x 36 < 74: a largest scrape could never be admitted whole. */
    fresh(&cfg);
    cfg.redis.max_in_flight = 36;
    validate_fails(&cfg, "max_scrape_hashes (74)");
    cfg.redis.max_in_flight = 37;
    assert_int_equal(config_validate(&cfg, err), 0);

    /* A header with no proxy to trust it from is allowed; it is simply never read. */
    fresh(&cfg);
    snprintf(cfg.real_ip_header, sizeof(cfg.real_ip_header), "X-Real-IP");
    assert_int_equal(config_validate(&cfg, err), 0);
}

/* The loaders leave the cross-field checks to config_validate(). */
/* A secret of n bytes ('Q', in no message) into dst, as a file or the environment gives it. */
static void set_secret(char *dst, size_t cap, size_t n)
{
    assert_true(n < cap);
    memset(dst, 'Q', n);
    dst[n] = '\0';
}

/* udp_secret keys every connection ID; README: at least 16 bytes, or "" for a random one. */
static void test_udp_secret_strength(void **state)
{
    struct config cfg;
    char err[STARLING_ERR_LEN] = "";
    (void)state;

    fresh(&cfg);
    assert_int_equal(config_validate(&cfg, err), 0);
    set_secret(cfg.udp_secret, sizeof(cfg.udp_secret), 16);
    assert_int_equal(config_validate(&cfg, err), 0);
    set_secret(cfg.udp_secret, sizeof(cfg.udp_secret), 255);
    assert_int_equal(config_validate(&cfg, err), 0);
    for (size_t n = 1; n < 16; n++) {
        set_secret(cfg.udp_secret, sizeof(cfg.udp_secret), n);
        assert_int_equal(config_validate(&cfg, err), -1);
        assert_starts_with(err, "udp_secret: shorter than 16 bytes");
        /* It says how to make one, and never shows this one. */
        assert_contains(err, "head -c 32 /dev/urandom | base64");
        assert_null(strstr(err, cfg.udp_secret));
    }

    fresh(&cfg);
    set_secret(cfg.udp_secret, sizeof(cfg.udp_secret), 16);
    set_secret(cfg.udp_previous_secret, sizeof(cfg.udp_previous_secret), 16);
    assert_int_equal(config_validate(&cfg, err), 0);
    set_secret(cfg.udp_previous_secret, sizeof(cfg.udp_previous_secret), 15);
    validate_fails(&cfg, "udp_previous_secret: shorter than 16 bytes");

    /* From the environment too: config_load() validates what the variables set. */
    clear_env();
    setenv("STARLING_UDP_SECRET", "only-15-bytes!!", 1);
    assert_int_equal(config_load(NULL, &cfg, err), -1);
    assert_contains(err, "udp_secret: shorter than 16 bytes");
    setenv("STARLING_UDP_SECRET", "exactly-16-bytes", 1);
    assert_int_equal(config_load(NULL, &cfg, err), 0);
    setenv("STARLING_UDP_PREVIOUS_SECRET", "short", 1);
    assert_int_equal(config_load(NULL, &cfg, err), -1);
    assert_contains(err, "udp_previous_secret: shorter than 16 bytes");
    clear_env();
}

static void test_load_does_not_validate(void **state)
{
    struct config cfg;
    char err[STARLING_ERR_LEN] = "";
    (void)state;

    load_ok("{\"announce\": \"1m\", \"min_announce\": \"1h\", \"default_num_want\": 900}", &cfg);
    assert_int_equal(config_validate(&cfg, err), -1);
}

/* The operations keys (issue 3): metrics addresses, shutdown, the aggregator object. */
static void test_operations_keys(void **state)
{
    struct config cfg;
    char err[STARLING_ERR_LEN] = "";
    (void)state;

    load_ok("{\"metrics_listen_addr\": \"[::1]:0\", \"shutdown_timeout\": \"2s\", "
            "\"log_file\": \"/tmp/x.log\", \"aggregator\": {\"interval\": \"5s\", "
            "\"lock_ttl\": \"3s\", \"scan_count\": 50, \"metrics_listen_addr\": \"\"}}",
            &cfg);
    assert_string_equal(cfg.metrics_listen_addr, "[::1]:0");
    assert_int_equal(cfg.shutdown_timeout_ms, 2000);
    assert_string_equal(cfg.log_file, "/tmp/x.log");
    assert_int_equal(cfg.aggregator.interval_ms, 5000);
    assert_int_equal(cfg.aggregator.lock_ttl_ms, 3000);
    assert_int_equal(cfg.aggregator.scan_count, 50);
    assert_string_equal(cfg.aggregator.metrics_listen_addr, "");
    assert_int_equal(config_validate(&cfg, err), 0);

    load_fails("{\"metrics_listen_addr\": \"nowhere\"}", "\"metrics_listen_addr\": bad value");
    load_fails("{\"aggregator\": {\"bogus\": 1}}", "unknown key \"aggregator.bogus\"");
    load_fails("{\"aggregator\": {\"scan_count\": 0}}", "\"aggregator.scan_count\": out of range");
    load_fails("{\"aggregator\": {\"interval\": \"soon\"}}", "\"aggregator.interval\":");
    load_fails("{\"aggregator\": 5}", "\"aggregator\": expected an object");
    load_fails("{\"shutdown_timeout\": 10}", "\"shutdown_timeout\": expected a duration");

    load_ok("{\"aggregator\": {\"lock_ttl\": \"500ms\"}}", &cfg);
    assert_int_equal(config_validate(&cfg, err), -1);
    assert_contains(err, "aggregator.lock_ttl");
}

static void test_operations_env(void **state)
{
    struct config cfg, before;
    char err[STARLING_ERR_LEN] = "";
    (void)state;

    clear_env();
    fresh(&cfg);
    setenv("STARLING_METRICS_LISTEN_ADDR", "127.0.0.1:7777", 1);
    setenv("STARLING_AGGREGATOR_INTERVAL", "15s", 1);
    setenv("STARLING_LOG_FILE", "/var/log/starling.log", 1);
    assert_int_equal(config_apply_env(&cfg, err), 0);
    assert_string_equal(cfg.metrics_listen_addr, "127.0.0.1:7777");
    assert_string_equal(cfg.aggregator.metrics_listen_addr, "127.0.0.1:7777");
    assert_int_equal(cfg.aggregator.interval_ms, 15000);
    assert_string_equal(cfg.log_file, "/var/log/starling.log");
    clear_env();

    fresh(&cfg);
    before = cfg;
    setenv("STARLING_METRICS_LISTEN_ADDR", "no-port", 1);
    assert_int_equal(config_apply_env(&cfg, err), -1);
    assert_starts_with(err, "STARLING_METRICS_LISTEN_ADDR:");
    assert_memory_equal(&cfg, &before, sizeof(cfg));
    clear_env();
    setenv("STARLING_AGGREGATOR_INTERVAL", "-1s", 1);
    assert_int_equal(config_apply_env(&cfg, err), -1);
    assert_starts_with(err, "STARLING_AGGREGATOR_INTERVAL:");
    clear_env();
}

static void test_cluster_nodes(void **state)
{
    (void)state;
    struct config cfg;
    char err[STARLING_ERR_LEN];

    config_defaults(&cfg);
    assert_int_equal(cfg.redis.n_cluster_nodes, 0);
    assert_int_equal(config_load_string("{\"redis\": {\"cluster_nodes\": [\"10.0.0.1:7000\", "
                                        "\"[::1]:7001\", \"redis-0\"]}}",
                                        &cfg, err),
                     0);
    assert_int_equal(cfg.redis.n_cluster_nodes, 3);
    assert_string_equal(cfg.redis.cluster_nodes[0].host, "10.0.0.1");
    assert_int_equal(cfg.redis.cluster_nodes[0].port, 7000);
    assert_string_equal(cfg.redis.cluster_nodes[1].host, "::1");
    assert_int_equal(cfg.redis.cluster_nodes[1].port, 7001);
    assert_string_equal(cfg.redis.cluster_nodes[2].host, "redis-0");
    assert_int_equal(cfg.redis.cluster_nodes[2].port, 6379);
    /* A string is a comma-separated list too, and replaces the list. */
    assert_int_equal(config_load_string("{\"redis\": {\"cluster_nodes\": \"a:1,b:2\"}}", &cfg, err),
                     0);
    assert_int_equal(cfg.redis.n_cluster_nodes, 2);
    assert_string_equal(cfg.redis.cluster_nodes[1].host, "b");

    config_defaults(&cfg);
    assert_int_equal(config_load_string("{\"redis\": {\"cluster_nodes\": [\"a:0\"]}}", &cfg, err),
                     -1);
    assert_string_equal(err, "\"redis.cluster_nodes[0]\": bad port (1..65535)");
    assert_int_equal(cfg.redis.n_cluster_nodes, 0);
    assert_int_equal(config_load_string("{\"redis\": {\"cluster_nodes\": [7000]}}", &cfg, err), -1);
    assert_string_equal(err, "\"redis.cluster_nodes[0]\": expected a string");
    assert_int_equal(
        config_load_string("{\"redis\": {\"cluster_nodes\": \"a:1,,b:2\"}}", &cfg, err), -1);
    assert_string_equal(err, "\"redis.cluster_nodes\": address 2: missing host");

    /* Redis Cluster has database 0 only. */
    config_defaults(&cfg);
    assert_int_equal(config_set_cluster_nodes(&cfg.redis, "a:1", "x", err), 0);
    cfg.redis.db = 3;
    assert_int_equal(config_validate(&cfg, err), -1);
    assert_non_null(strstr(err, "redis.db must be 0"));
}

static void test_cluster_nodes_env(void **state)
{
    (void)state;
    struct config cfg;
    char err[STARLING_ERR_LEN];

    config_defaults(&cfg);
    setenv("STARLING_REDIS_CLUSTER_NODES", "127.0.0.1:7000,127.0.0.1:7001", 1);
    assert_int_equal(config_apply_env(&cfg, err), 0);
    assert_int_equal(cfg.redis.n_cluster_nodes, 2);
    assert_int_equal(cfg.redis.cluster_nodes[1].port, 7001);
    setenv("STARLING_REDIS_CLUSTER_NODES", "127.0.0.1:x", 1);
    assert_int_equal(config_apply_env(&cfg, err), -1);
    assert_string_equal(err, "STARLING_REDIS_CLUSTER_NODES: address 1: bad port (1..65535)");
    assert_int_equal(cfg.redis.n_cluster_nodes, 2);
    unsetenv("STARLING_REDIS_CLUSTER_NODES");
}

static void test_private_mode(void **state)
{
    struct config cfg;
    char err[STARLING_ERR_LEN] = "";
    (void)state;
    const char *site = "abcdefghijklmnopqrstuvwxyz012345";

    fresh(&cfg);
    assert_false(cfg.private_enabled);
    assert_false(cfg.private_udp_enabled);
    assert_string_equal(cfg.site_password, "");
    load_ok("{\"private_enabled\": true, \"private_udp_enabled\": true, \"site_password\": "
            "\"abcdefghijklmnopqrstuvwxyz012345\", \"site_api_allow\": [\"10.0.0.0/8\", "
            "\"::1/128\"]}",
            &cfg);
    assert_true(cfg.private_enabled && cfg.private_udp_enabled);
    assert_string_equal(cfg.site_password, site);
    assert_int_equal(cfg.n_site_api_allow, 2);
    assert_int_equal(config_validate(&cfg, err), 0);

    /* A password is 32 of [0-9A-Za-z] (it stands where a passkey does), never shown. */
    load_fails("{\"site_password\": \"short-and-secret\"}", "\"site_password\": bad value");
    load_fails("{\"site_password\": \"abcdefghijklmnopqrstuvwxyz01234/\"}",
               "\"site_password\": bad value");
    load_fails("{\"site_api_allow\": [\"10.0.0.0/33\"]}", "\"site_api_allow[0]\"");

    fresh(&cfg);
    cfg.private_udp_enabled = true;
    validate_fails(&cfg, "private_udp_enabled needs private_enabled");
    fresh(&cfg);
    snprintf(cfg.site_password, sizeof(cfg.site_password), "%s", "not-32-characters");
    validate_fails(&cfg, "site_password, report_password: 32 characters");
    fresh(&cfg);
    snprintf(cfg.site_password, sizeof(cfg.site_password), "%s", site);
    snprintf(cfg.report_password, sizeof(cfg.report_password), "%s", site);
    validate_fails(&cfg, "must differ");
    load_fails("{\"report_password\": \"abcdefghijklmnopqrstuvwxyz01234/\"}",
               "\"report_password\": bad value");

    /* From the environment, checked the same way and never echoed. */
    clear_env();
    setenv("STARLING_SITE_PASSWORD", site, 1);
    assert_int_equal(config_load(NULL, &cfg, err), 0);
    assert_string_equal(cfg.site_password, site);
    setenv("STARLING_SITE_PASSWORD", "not-a-key", 1);
    assert_int_equal(config_load(NULL, &cfg, err), -1);
    assert_starts_with(err, "STARLING_SITE_PASSWORD: bad value");
    assert_null(strstr(err, "not-a-key"));
    clear_env();
}

/* driver "mysql": its section, its password from the environment, site_url's form. */
static void test_mysql_driver(void **state)
{
    struct config cfg;
    (void)state;

    load_ok("{\"private_enabled\": true, \"driver\": \"mysql\", \"site_url\": "
            "\"http://site.internal:8080/gazelle/\", \"mysql\": {\"host\": \"db\", \"port\": "
            "3307, \"user\": \"tracker\", \"database\": \"ops\", \"flush_interval\": \"5s\", "
            "\"batch_size\": 1000, \"statement_rows\": 200, \"reload_interval\": \"45s\"}}",
            &cfg);
    assert_int_equal(cfg.driver, DRIVER_MYSQL);
    assert_string_equal(cfg.mysql.host, "db");
    assert_int_equal(cfg.mysql.port, 3307);
    assert_string_equal(cfg.mysql.database, "ops");
    assert_int_equal(cfg.mysql.flush_interval_ms, 5000);
    assert_int_equal(cfg.mysql.statement_rows, 200);
    assert_int_equal(cfg.mysql.reload_interval_ms, 45000);
    assert_string_equal(cfg.site_url, "http://site.internal:8080/gazelle/");
    fresh(&cfg);
    cfg.driver = DRIVER_MYSQL;
    validate_fails(&cfg, "driver \"mysql\" needs private_enabled");
    load_fails("{\"driver\": \"postgres\"}", "\"driver\": expected \"noop\"");
    load_fails("{\"site_url\": \"https://site\"}", "\"site_url\": bad value");
    load_fails("{\"site_url\": \"http://site/x?key=1\"}", "\"site_url\": bad value");
    load_fails("{\"mysql\": {\"statement_rows\": 0}}", "\"mysql.statement_rows\": out of range");
    load_fails("{\"mysql\": {\"pasword\": \"x\"}}", "unknown key \"mysql.pasword\"");
    /* The password from the environment wins, and no error shows it. */
    char err[STARLING_ERR_LEN] = "";
    fresh(&cfg);
    setenv("STARLING_MYSQL_PASSWORD", SECRET, 1);
    assert_int_equal(config_apply_env(&cfg, err), 0);
    unsetenv("STARLING_MYSQL_PASSWORD");
    assert_string_equal(cfg.mysql.password, SECRET);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_operations_keys),
        cmocka_unit_test(test_operations_env),
        cmocka_unit_test(test_repo_config_json_is_defaults),
        cmocka_unit_test(test_full_string),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_partial_keeps_rest),
        cmocka_unit_test(test_listen_addr_forms),
        cmocka_unit_test(test_string_values),
        cmocka_unit_test(test_int_bounds_ok),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_bad_durations),
        cmocka_unit_test(test_bad_trusted_proxies),
        cmocka_unit_test(test_bad_local_subnet),
        cmocka_unit_test(test_mysql_driver),
        cmocka_unit_test(test_bad_listen_addr),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_long_strings),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_unchanged_after_late_error),
        cmocka_unit_test(test_syntax_errors_hide_values),
        cmocka_unit_test(test_value_errors_hide_values),
        cmocka_unit_test(test_file_errors_hide_values),
        cmocka_unit_test(test_env_errors_hide_values),
        cmocka_unit_test(test_file_redis_url),
        cmocka_unit_test(test_env_none),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_env_beats_file),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_redis_url_tcp),
        cmocka_unit_test(test_redis_url_unix),
        cmocka_unit_test(test_redis_url_bad),
        cmocka_unit_test(test_redis_url_limits),
        cmocka_unit_test(test_redis_url_errors_hide_secrets),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_cluster_nodes),
        cmocka_unit_test(test_cluster_nodes_env),
        cmocka_unit_test(test_udp_secret_strength),
        cmocka_unit_test(test_load_does_not_validate),
        cmocka_unit_test(test_private_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
