/*
 * driver "mysql" (storage/gazelle_db.h): the connection and the flushes of the accounting
 * to a Gazelle site's tables, exactly once per table and batch.
 */
#include "storage/gazelle_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errmsg.h>
#include <mysql.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "storage/cluster.h"
#include "storage/gazelle_internal.h"

struct gazelle_db *gazelle_db_new(const struct mysql_config *cfg)
{
    /* Before any thread: the connector's global state is set up once, here. */
    mysql_library_init(0, NULL, NULL);
    struct gazelle_db *db = xcalloc(1, sizeof(*db));
    db->cfg = *cfg;
    db->applied = xcalloc(CLUSTER_SLOTS, sizeof(*db->applied));
    return db;
}

void gazelle_disconnect(struct gazelle_db *db)
{
    if (db->conn != NULL)
        mysql_close(db->conn);
    db->conn = NULL;
    db->markers_ready = false;
}

void gazelle_db_free(struct gazelle_db *db)
{
    if (db == NULL)
        return;
    gazelle_disconnect(db);
    free(db->applied);
    free(db);
}

const struct gazelle_db_stats *gazelle_db_stats(const struct gazelle_db *db)
{
    return &db->stats;
}

struct gazelle_db_stats *gazelle_db_stats_mut(struct gazelle_db *db)
{
    return &db->stats;
}

/* Whole seconds for the connector's timeouts, at least one. */
static unsigned int secs(uint64_t ms)
{
    uint64_t s = (ms + 999) / 1000;
    return s == 0 ? 1 : s > 86400 ? 86400 : (unsigned int)s;
}

int gazelle_connect(struct gazelle_db *db, char *err)
{
    if (db->conn != NULL)
        return 0;
    const struct mysql_config *c = &db->cfg;
    MYSQL *m = mysql_init(NULL);
    if (m == NULL) {
        snprintf(err, STARLING_ERR_LEN, "mysql: out of memory");
        return -1;
    }
    unsigned int connect_s = secs(c->connect_timeout_ms), command_s = secs(c->command_timeout_ms);
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &command_s);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &command_s);
    mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    bool unix_socket = c->unix_socket[0] != '\0';
    if (mysql_real_connect(m, unix_socket ? NULL : c->host, c->user, c->password, c->database,
                           unix_socket ? 0 : c->port, unix_socket ? c->unix_socket : NULL,
                           0) == NULL) {
        /* The connector's message names the host and user, never the password. */
        snprintf(err, STARLING_ERR_LEN, "mysql: connecting: %s", mysql_error(m));
        mysql_close(m);
        return -1;
    }
    db->conn = m;
    return 0;
}

int gazelle_exec(struct gazelle_db *db, const char *sql, const char *what, char *err)
{
    if (gazelle_connect(db, err) < 0)
        return -1;
    if (mysql_real_query(db->conn, sql, strlen(sql)) == 0) {
        /* A statement with a result (none here but the caller's SELECTs) reads it itself. */
        return 0;
    }
    snprintf(err, STARLING_ERR_LEN, "mysql: %s: %s", what, mysql_error(db->conn));
    gazelle_disconnect(db);
    return -1;
}

/* ---- flushes ---- */

/* The batches table t applied already, into db->applied (0: none); its rows locked until
 * the transaction ends. Returns 0 or -1 with err. */
static int read_applied(struct gazelle_db *db, enum gazelle_table t, char *err)
{
    char sql[160];
    snprintf(sql, sizeof(sql),
             "SELECT slot, batch FROM " GAZELLE_MARKERS_TABLE " WHERE tbl = '%s' "
             "FOR UPDATE",
             gazelle_table_name(t));
    if (gazelle_exec(db, sql, "reading " GAZELLE_MARKERS_TABLE, err) < 0)
        return -1;
    MYSQL_RES *res = mysql_store_result(db->conn);
    if (res == NULL) {
        snprintf(err, STARLING_ERR_LEN, "mysql: reading " GAZELLE_MARKERS_TABLE ": %s",
                 mysql_error(db->conn));
        gazelle_disconnect(db);
        return -1;
    }
    memset(db->applied, 0, CLUSTER_SLOTS * sizeof(*db->applied));
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) != NULL) {
        unsigned long slot = row[0] != NULL ? strtoul(row[0], NULL, 10) : CLUSTER_SLOTS;
        if (slot < CLUSTER_SLOTS && row[1] != NULL)
            db->applied[slot] = strtoull(row[1], NULL, 10);
    }
    mysql_free_result(res);
    return 0;
}

/* Runs every statement of buf. Returns 0 or -1 with err. */
static int exec_all(struct gazelle_db *db, const struct sql_buf *buf, const char *what, char *err)
{
    size_t at = 0;
    const char *sql;
    while ((sql = sql_buf_next(buf, &at)) != NULL)
        if (gazelle_exec(db, sql, what, err) < 0)
            return -1;
    return 0;
}

/*
 * Table t's transaction: the batches it has not applied (its markers, locked), their
 * statements, their markers, COMMIT. Returns 0 or -1 with err (rolled back: the connection
 * is closed, which ends the transaction).
 */
static int apply_table(struct gazelle_db *db, enum gazelle_table t, const struct acct_batch *b,
                       size_t n, char *err)
{
    if (gazelle_exec(db, "START TRANSACTION", "START TRANSACTION", err) < 0 ||
        read_applied(db, t, err) < 0)
        return -1;
    size_t nentries = 0;
    for (size_t i = 0; i < n; i++)
        nentries += b[i].n;
    const struct acct_entry **entries = xreallocarray(NULL, nentries + 1, sizeof(*entries));
    struct gazelle_mark *marks = xreallocarray(NULL, n + 1, sizeof(*marks));
    size_t ne = 0, nm = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i].number <= db->applied[b[i].slot]) {
            db->stats.batches_skipped++;
            continue;
        }
        marks[nm++] = (struct gazelle_mark){b[i].slot, b[i].number};
        for (size_t j = 0; j < b[i].n; j++)
            entries[ne++] = &b[i].entries[j];
    }
    struct sql_buf sql = {0};
    size_t rows = gazelle_statements(t, entries, ne, db->cfg.statement_rows, &sql);
    gazelle_marker_statements(t, marks, nm, db->cfg.statement_rows, &sql);
    int rc = exec_all(db, &sql, gazelle_table_name(t), err);
    if (rc == 0)
        rc = gazelle_exec(db, "COMMIT", "COMMIT", err);
    if (rc == 0)
        db->stats.rows[t] += rows;
    sql_buf_free(&sql);
    free(marks);
    free(entries);
    return rc;
}

static int deliver(void *ctx, struct cluster *cl, const struct acct_batch *batches, size_t n,
                   char *err)
{
    struct gazelle_db *db = ctx;
    (void)cl;
    uint64_t t0 = clock_monotonic_us();
    if (gazelle_connect(db, err) < 0)
        goto failed;
    if (!db->markers_ready) {
        if (gazelle_exec(db, GAZELLE_MARKERS_DDL, "creating " GAZELLE_MARKERS_TABLE, err) < 0)
            goto failed;
        db->markers_ready = true;
    }
    for (enum gazelle_table t = 0; t < GAZELLE_TABLE_COUNT; t++)
        if (apply_table(db, t, batches, n, err) < 0)
            goto failed;
    db->stats.flushes++;
    db->stats.last_flush_ms = clock_wall_ms();
    db->stats.last_flush_us = clock_monotonic_us() - t0;
    if (db->stats.last_flush_us > db->stats.max_flush_us)
        db->stats.max_flush_us = db->stats.last_flush_us;
    return 0;
failed:
    db->stats.flush_failures++;
    return -1;
}

int gazelle_db_write_counts(struct gazelle_db *db, const struct gazelle_count *counts, size_t n,
                            char *err)
{
    struct sql_buf sql = {0};
    gazelle_count_statements(counts, n, db->cfg.statement_rows, &sql);
    /* Each statement on its own (autocommit): setting counts twice does no harm. */
    int rc = exec_all(db, &sql, "torrents' peer counts", err);
    sql_buf_free(&sql);
    if (rc < 0)
        db->stats.count_write_failures++;
    else
        db->stats.count_writes++;
    return rc;
}

struct acct_driver gazelle_db_driver(struct gazelle_db *db)
{
    return (struct acct_driver){deliver, db, db->cfg.batch_size};
}
