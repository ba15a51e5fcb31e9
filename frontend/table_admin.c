/*
 * `starling table add|del torrents|clients [--config PATH] [ITEM...]`: the operator's way to
 * change a shared table (storage/tables.h) while every frontend runs. Items come from the
 * command line, or one per line from standard input when none is given ('#' starts a
 * comment). Each batch is one tables_change() through the same Redis pool the frontend uses
 * (a Redis Cluster included); every frontend applies the changes within about
 * TABLES_POLL_MS.
 */
#include "frontend/table_admin.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/mem.h"
#include "common/torrent.h"
#include "storage/redis.h"
#include "storage/tables.h"

/* Items read from standard input at most (a larger list: run the command again). */
#define ITEMS_MAX (4u << 20)

struct admin {
    struct event_base *base;
    struct redis_pool *pool;
    struct event *timer;
    enum table_id table;
    const char *op;
    char **items;
    size_t n, next; /* items, and the first not yet sent */
    size_t done;    /* items Redis has taken */
    uint64_t changed;
    uint64_t deadline_us;
    bool busy;
    int status; /* the exit status, once done */
};

static void usage(void)
{
    fprintf(stderr, "usage: starling table add|del torrents|clients [--config PATH] [ITEM...]\n"
                    "  torrents: 40-hex info_hashes; clients: peer_id prefixes (1-20 bytes);\n"
                    "  no ITEM: one per line from standard input\n");
}

/* Checks one item and puts it in the form Redis keeps (lowercase hex). Returns 0 or -1. */
static int normalize(enum table_id table, char *item)
{
    size_t len = strlen(item);
    if (table == TABLE_CLIENTS)
        return len >= 1 && len <= CONFIG_CLIENT_LEN ? 0 : -1;
    if (len != 2 * INFO_HASH_LEN)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!isxdigit((unsigned char)item[i]))
            return -1;
        item[i] = (char)tolower((unsigned char)item[i]);
    }
    return 0;
}

static void finish(struct admin *a, int status)
{
    a->status = status;
    event_base_loopexit(a->base, NULL);
}

static void send_batch(struct admin *a);

static void on_changed(void *arg, long long changed, const char *err)
{
    struct admin *a = arg;
    a->busy = false;
    if (err != NULL) {
        fprintf(stderr, "starling: table %s failed after %zu of %zu items: %s\n", a->op, a->done,
                a->n, err);
        finish(a, 1);
        return;
    }
    a->changed += (uint64_t)changed;
    a->done = a->next;
    send_batch(a);
}

static void send_batch(struct admin *a)
{
    if (a->next == a->n) {
        printf("starling: %s %s: %zu items, %llu changed\n", a->op, table_name(a->table), a->n,
               (unsigned long long)a->changed);
        finish(a, 0);
        return;
    }
    size_t n = a->n - a->next < TABLES_CHANGE_BATCH ? a->n - a->next : TABLES_CHANGE_BATCH;
    const char *const *batch = (const char *const *)&a->items[a->next];
    a->next += n;
    if (tables_change(a->pool, a->table, strcmp(a->op, "add") == 0, batch, n, on_changed, a) !=
        REDIS_SENT) {
        fprintf(stderr, "starling: table %s: Redis refused the call\n", a->op);
        finish(a, 1);
        return;
    }
    a->busy = true;
}

/* Waits for the pool to be ready, then sends the first batch. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct admin *a = arg;
    if (a->busy || a->next > 0)
        return;
    if (redis_pool_ready(a->pool)) {
        send_batch(a);
    } else if (clock_monotonic_us() > a->deadline_us) {
        fprintf(stderr, "starling: table %s: Redis is not reachable\n", a->op);
        finish(a, 1);
    }
}

static void free_items(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

/* Items from standard input, one per line; returns how many, or -1 (said on stderr). */
static long read_items(char ***out)
{
    size_t cap = 1024, n = 0;
    char **items = xcalloc(cap, sizeof(*items));
    char line[256];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        if (n == ITEMS_MAX) {
            fprintf(stderr, "starling: more than %u items on standard input\n", ITEMS_MAX);
            free_items(items, n);
            return -1;
        }
        if (n == cap)
            items = xreallocarray(items, cap *= 2, sizeof(*items));
        items[n++] = xcheck(strdup(p));
    }
    *out = items;
    return (long)n;
}

int table_admin_main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[2], "add") != 0 && strcmp(argv[2], "del") != 0) ||
        (strcmp(argv[3], "torrents") != 0 && strcmp(argv[3], "clients") != 0)) {
        usage();
        return 2;
    }
    struct admin a = {.op = argv[2],
                      .table = strcmp(argv[3], "torrents") == 0 ? TABLE_TORRENTS : TABLE_CLIENTS};
    const char *path = config_path_from_env();
    char **items = xcalloc((size_t)argc, sizeof(*items));
    size_t n = 0;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else
            items[n++] = xcheck(strdup(argv[i]));
    }
    if (n == 0) {
        free(items);
        long got = read_items(&items);
        if (got < 0)
            return 2;
        n = (size_t)got;
    }
    for (size_t i = 0; i < n; i++) {
        if (normalize(a.table, items[i]) < 0) {
            fprintf(stderr, "starling: item %zu is no %s\n", i + 1,
                    a.table == TABLE_TORRENTS ? "40-hex info_hash"
                                              : "peer_id prefix of 1-20 bytes");
            free_items(items, n);
            return 2;
        }
    }
    static struct config cfg;
    char err[STARLING_ERR_LEN];
    if (config_load(path, &cfg, err) < 0) {
        fprintf(stderr, "starling: config: %s\n", err);
        free_items(items, n);
        return 2;
    }
    a.items = items;
    a.n = n;
    a.base = xcheck(event_base_new());
    a.pool = redis_pool_new(a.base, &cfg.redis);
    a.deadline_us = clock_monotonic_us() +
                    (2 * cfg.redis.connect_timeout_ms + cfg.redis.command_timeout_ms + 2000) * 1000;
    a.timer = xcheck(event_new(a.base, -1, EV_PERSIST, on_timer, &a));
    struct timeval every = clock_ms_to_tv(20);
    evtimer_add(a.timer, &every);
    if (n == 0) {
        printf("starling: %s %s: no items\n", a.op, table_name(a.table));
        a.status = 0;
    } else {
        event_base_dispatch(a.base);
    }
    event_free(a.timer);
    redis_pool_free(a.pool);
    event_base_free(a.base);
    free_items(items, n);
    return a.status;
}
