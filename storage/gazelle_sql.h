#ifndef STARLING_GAZELLE_SQL_H
#define STARLING_GAZELLE_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "storage/acct.h"

/*
 * The SQL the mysql driver (storage/gazelle_db.h) writes a flush with: per Gazelle table,
 * the statements that apply a set of accounting entries, as Ocelot's flushes do (the
 * results are the same; the forms differ where Ocelot's would create rows a Gazelle site
 * never made). Pure: unit-tested. Every value is a number or a hex literal (X'...'), so no
 * text from a client reaches SQL unescaped.
 */
enum gazelle_table {
    GAZELLE_USERS,    /* users_main: Uploaded +=, Downloaded += (counted) */
    GAZELLE_TOKENS,   /* users_freeleeches: Downloaded += what a token spared */
    GAZELLE_TORRENTS, /* torrents: Snatched +=, last_action when a seeder was seen */
    GAZELLE_SNATCHED, /* xbt_snatched: a row per completed download */
    GAZELLE_PEERS,    /* xbt_files_users: each peer's row, upserted */
    GAZELLE_TABLE_COUNT,
};

const char *gazelle_table_name(enum gazelle_table t);

/* A growable text buffer; statements are separated by a NUL each. */
struct sql_buf {
    char *s;
    size_t len, cap;
    size_t count; /* statements */
};

void sql_buf_free(struct sql_buf *b);

/* The next statement after *at (start with 0); NULL after the last. */
const char *sql_buf_next(const struct sql_buf *b, size_t *at);

/*
 * Appends to out the statements applying entries[0..n) (pointers, any order) to table t,
 * each of at most max_rows rows. Entries that change nothing there (no counted transfer,
 * no token use, no snatch) make no row. Returns the number of rows.
 */
size_t gazelle_statements(enum gazelle_table t, const struct acct_entry *const *entries, size_t n,
                          size_t max_rows, struct sql_buf *out);

/* A swarm's live peers, as the aggregator's pass counted them. */
struct gazelle_count {
    uint8_t info_hash[INFO_HASH_LEN];
    uint64_t seeders, leechers;
};

/* Appends the statements (at most max_rows rows each) setting torrents.Seeders and
 * .Leechers of counts[0..n) by info_hash (Ocelot's, with last_action when seeded). */
void gazelle_count_statements(const struct gazelle_count *counts, size_t n, size_t max_rows,
                              struct sql_buf *out);

/*
 * Exactly once: each table's transaction records the newest batch of each slot it applied
 * (storage/gazelle_db.h), in this table (created when missing).
 */
#define GAZELLE_MARKERS_TABLE "starling_applied"
#define GAZELLE_MARKERS_DDL                                                                        \
    "CREATE TABLE IF NOT EXISTS " GAZELLE_MARKERS_TABLE " (tbl VARCHAR(32) NOT NULL, "             \
    "slot SMALLINT UNSIGNED NOT NULL, batch BIGINT UNSIGNED NOT NULL, PRIMARY KEY (tbl, slot)) "   \
    "ENGINE=InnoDB"

struct gazelle_mark {
    unsigned slot;
    uint64_t batch;
};

/* Appends the statements (at most max_rows rows each) recording that table t applied the
 * batches marks[0..n); a slot's record only ever grows. */
void gazelle_marker_statements(enum gazelle_table t, const struct gazelle_mark *marks, size_t n,
                               size_t max_rows, struct sql_buf *out);

#endif
