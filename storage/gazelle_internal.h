#ifndef STARLING_GAZELLE_INTERNAL_H
#define STARLING_GAZELLE_INTERNAL_H

/* Between storage/gazelle_db.c (the connection, the flushes) and storage/gazelle_load.c
 * (the reload). */
#include <mysql.h>

#include "storage/gazelle_db.h"

struct gazelle_db {
    struct mysql_config cfg;
    MYSQL *conn; /* NULL: connect before the next use */
    bool markers_ready;
    struct gazelle_db_stats stats;
    uint64_t *applied; /* per slot, the table's batch being applied (CLUSTER_SLOTS) */
};

/* A live connection (connecting now if there is none). Returns 0 or -1 with err. */
int gazelle_connect(struct gazelle_db *db, char *err);

/* Closes the connection (a transaction in it is rolled back); the next use connects. */
void gazelle_disconnect(struct gazelle_db *db);

/* Runs one statement; on failure closes the connection (the next use connects again) and
 * returns -1 with err naming what. */
int gazelle_exec(struct gazelle_db *db, const char *sql, const char *what, char *err);

#endif
