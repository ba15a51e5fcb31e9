/*
 * The config loader (common/config_json.c, common/config.c): any text as config.json, and
 * as a Redis URL. A refusal leaves the config untouched and, whatever the text, never
 * repeats a value: a key named "hunter2" may be named, a value "hunter2" never.
 */
#include <string.h>

#include "common/config.h"
#include "fuzz.h"

#define MARKER "hunter2"

static void check_load(const char *text)
{
    static struct config cfg, before;
    char err[STARLING_ERR_LEN];

    config_defaults(&cfg);
    memcpy(&before, &cfg, sizeof(cfg));
    memset(err, 0, sizeof(err));
    if (config_load_string(text, &cfg, err) == 0) {
        FUZZ_CHECK(cfg.n_http_listen_addr <= CONFIG_MAX_LISTEN);
        FUZZ_CHECK(cfg.n_udp_listen_addr <= CONFIG_MAX_LISTEN);
        FUZZ_CHECK(cfg.n_trusted_proxies <= CONFIG_MAX_PROXIES);
        FUZZ_CHECK(memchr(cfg.udp_secret, '\0', sizeof(cfg.udp_secret)) != NULL);
        config_validate(&cfg, err);
        return;
    }
    FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
    FUZZ_CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0);
    /* Keys are named in "unknown key ..." only. */
    if (strstr(err, MARKER) != NULL)
        FUZZ_CHECK(strncmp(err, "unknown key ", 12) == 0);
}

static void check_redis_url(const char *text)
{
    struct redis_config rc;
    char err[STARLING_ERR_LEN];
    memset(&rc, 0, sizeof(rc));
    if (config_parse_redis_url(text, &rc, err) < 0) {
        FUZZ_CHECK(strstr(err, MARKER) == NULL);
        return;
    }
    FUZZ_CHECK(memchr(rc.host, '\0', sizeof(rc.host)) != NULL);
    FUZZ_CHECK(memchr(rc.password, '\0', sizeof(rc.password)) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    check_load(text);
    check_redis_url(text);
    free(text);
    return 0;
}
