#ifndef STARLING_SITE_API_H
#define STARLING_SITE_API_H

#include <stdbool.h>
#include <stddef.h>

#include "common/addr.h"
#include "common/config.h"

/*
 * The site -> tracker update API of a private tracker, as Ocelot answers it for Gazelle:
 * GET /<site_password>/update?action=...&... Each action becomes changes to the shared
 * tables (storage/tables.h), applied atomically per call of lua/table_change.lua and seen
 * by every frontend within about TABLES_POLL_MS.
 */
struct redis_pool;

/* Whether key (PASSKEY_LEN bytes) is the configured password ("" never matches), compared
 * in constant time. */
bool site_key_matches(const char *configured, const char *key);

/* Whether the update API takes calls from client (site_api_allow; empty: from anywhere). */
bool site_source_allowed(const struct config *cfg, const struct addr *client);

/* failure: NULL when the update was applied ("success"), else its text. */
typedef void site_update_fn(void *arg, const char *failure);

/*
 * Parses one update call's query and sends its changes. Returns 0 when done will be called,
 * or -1 with *failure set (a bad or unknown action, or storage refusing at once; done not
 * called).
 */
int site_update(struct redis_pool *pool, const char *query, size_t len, site_update_fn *done,
                void *arg, const char **failure);

/* text: the report (len bytes, valid during the call), or NULL with failure set. */
typedef void site_report_fn(void *arg, const char *text, size_t len, const char *failure);

/*
 * Ocelot's report, as of the aggregator's last pass: get=stats answers the lines "<n>
 * leechers tracked" and "<n> seeders tracked", get=user&key=<passkey> "<n> leeching" and
 * "<n> seeding" (the user's live peers; nothing for an unknown passkey), what Gazelle
 * reads. Returns 0 when done will be called, SITE_REPORT_EMPTY when the answer is an empty
 * body (done not called), or -1 with *failure (another get, a bad key, or storage refusing
 * at once).
 */
struct tables;
#define SITE_REPORT_EMPTY 1
int site_report(struct redis_pool *pool, const struct tables *tables, const char *query, size_t len,
                site_report_fn *done, void *arg, const char **failure);

#endif
