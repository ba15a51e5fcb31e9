#ifndef STARLING_GAZELLE_DB_H
#define STARLING_GAZELLE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "storage/acct.h"
#include "storage/gazelle_sql.h"

/*
 * driver "mysql": a Gazelle site's MariaDB/MySQL database as the system of record, the one
 * module that speaks to it (MariaDB Connector/C, blocking, every call bounded by
 * mysql.connect_timeout / command_timeout).
 *
 * Up (tracker -> site): gazelle_db_driver() delivers the accounting's batches to Gazelle's
 * tables, each table in its own transaction, exactly once: the transaction also records,
 * in `starling_applied` (tbl, slot, batch), the newest batch of each slot it applied, and
 * skips the batches recorded there (a leader replaced between the commit and deleting the
 * batch from Redis, or two leaders at once, apply nothing twice: the record's rows are
 * locked FOR UPDATE first). A flush that fails part-way is handed again whole; the tables
 * that committed skip it.
 *
 * Down (site -> tracker): gazelle_db_reload() reads users_main, torrents, the unexpired
 * users_freeleeches tokens and xbt_client_whitelist, and applies the differences with the
 * shared tables (storage/tables.h) through their one writer, so every frontend follows.
 */
struct gazelle_db;
struct cluster;

struct gazelle_db *gazelle_db_new(const struct mysql_config *cfg);
void gazelle_db_free(struct gazelle_db *db);

/* The accounting driver over db (storage/acct.h); max_entries is mysql.batch_size. */
struct acct_driver gazelle_db_driver(struct gazelle_db *db);

struct gazelle_db_stats {
    uint64_t flushes, flush_failures;
    uint64_t rows[GAZELLE_TABLE_COUNT];   /* rows the flushes' statements carried */
    uint64_t batches_skipped;             /* table batches applied before */
    uint64_t last_flush_ms;               /* wall clock of the last complete flush; 0: none */
    uint64_t last_flush_us, max_flush_us; /* how long the last one took, the longest */
    uint64_t count_writes, count_write_failures; /* torrents' Seeders/Leechers, per pass */
    uint64_t reloads, reload_failures;
    uint64_t tokens_reported, token_report_failures; /* to the site (site_url) */
    uint64_t reload_changes;                         /* table entries added, changed or removed */
    uint64_t last_reload_ms;
};

const struct gazelle_db_stats *gazelle_db_stats(const struct gazelle_db *db);
/* The same, for the aggregator to count what it does with the driver's results. */
struct gazelle_db_stats *gazelle_db_stats_mut(struct gazelle_db *db);

/* torrents.Seeders and .Leechers of counts[0..n) (the pass's; a swarm gone since the last
 * call should come with zeros). Returns 0 or -1 with err. */
int gazelle_db_write_counts(struct gazelle_db *db, const struct gazelle_count *counts, size_t n,
                            char *err);

/* A freeleech token: users_freeleeches (UserID, TorrentID). */
struct gazelle_token {
    uint32_t user_id, torrent_id;
};

/* Unexpired tokens whose downloads (users_freeleeches.Downloaded, which the flushes add
 * to) reached their torrent's Size: at most max of them into out. Returns how many, or -1
 * with err. */
long gazelle_db_used_tokens(struct gazelle_db *db, struct gazelle_token *out, size_t max,
                            char *err);

/* Loads the site's tables into the shared tables (differences only). Returns 0 or -1 with
 * err. */
int gazelle_db_reload(struct gazelle_db *db, struct cluster *cl, char *err);

#endif
