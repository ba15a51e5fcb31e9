/*
 * `starling table add|del TABLE [--config PATH] [ITEM...]`: the operator's way to change a
 * shared table (storage/tables.h) while every frontend runs, and a private tracker's bulk
 * loader for a first import. Items come from the command line, or one per line from
 * standard input when none is given ('#' starts a comment). Each batch is one
 * tables_change() through the same Redis pool the frontend uses (a Redis Cluster included);
 * every frontend applies the changes within about TABLES_POLL_MS.
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
    char **args;    /* what tables_change() takes: members, or field/value pairs */
    size_t n, next; /* args, and the first not yet sent */
    size_t done;    /* args Redis has taken */
    uint64_t changed;
    uint64_t deadline_us;
    bool busy;
    int status; /* the exit status, once done */
};

static void usage(void)
{
    fprintf(stderr,
            "usage: starling table add|del TABLE [--config PATH] [ITEM...]\n"
            "  torrents    (access list)  40-hex info_hash\n"
            "  clients     (whitelist)    peer_id prefix, 1-20 bytes\n"
            "  users       (private)      add: PASSKEY ID [CAN_LEECH [VISIBLE]]; del: PASSKEY\n"
            "  registered  (private)      add: INFO_HASH ID [FREETORRENT]; del: INFO_HASH\n"
            "  tokens      (private)      INFO_HASH:USER_ID\n"
            "  no ITEM: one per line from standard input\n");
}

static void lowercase_hex(char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i] != '\0'; i++)
        s[i] = (char)tolower((unsigned char)s[i]);
}

/*
 * Turns one item into what tables_change() takes, appended to args[*n]: the member, or for
 * an add to a hash the field and its value (the defaults filled in: a user can leech, is
 * visible and enabled; a torrent is normal and not deleted). Returns 0 or -1.
 */
static int item_args(enum table_id table, bool add, const char *item, char **args, size_t *n)
{
    char field[64], value[64];
    unsigned long long id = 0, a = 1, b = 1;
    int got = 0;
    if (strlen(item) >= sizeof(field))
        return -1;
    if (!table_is_hash(table) || !add) {
        snprintf(field, sizeof(field), "%s", item);
    } else {
        char rest[64];
        if (sscanf(item, "%63s %llu%n", field, &id, &got) != 2)
            return -1;
        snprintf(rest, sizeof(rest), "%s", item + got);
        int extra = sscanf(rest, "%llu %llu", &a, &b);
        if (table == TABLE_USERS) {
            snprintf(value, sizeof(value), "%llu %llu %llu 1", id, extra >= 1 ? a : 1,
                     extra >= 2 ? b : 1);
        } else {
            if (extra >= 2)
                return -1;
            snprintf(value, sizeof(value), "%llu %llu 0 -1", id, extra >= 1 ? a : 0);
        }
    }
    if (table == TABLE_TORRENTS || table == TABLE_REGISTERED || table == TABLE_TOKENS)
        lowercase_hex(field, 2 * INFO_HASH_LEN);
    if (!tables_member_valid(table, field, strlen(field)))
        return -1;
    args[(*n)++] = xcheck(strdup(field));
    if (table_is_hash(table) && add) {
        if (!tables_value_valid(table, value, strlen(value)))
            return -1;
        args[(*n)++] = xcheck(strdup(value));
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
        fprintf(stderr, "starling: table %s failed after %zu of %zu arguments: %s\n", a->op,
                a->done, a->n, err);
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
        bool pairs = table_is_hash(a->table) && strcmp(a->op, "add") == 0;
        printf("starling: %s %s: %zu items, %llu changed\n", a->op, table_name(a->table),
               pairs ? a->n / 2 : a->n, (unsigned long long)a->changed);
        finish(a, 0);
        return;
    }
    size_t n = a->n - a->next < TABLES_CHANGE_BATCH ? a->n - a->next : TABLES_CHANGE_BATCH;
    const char *const *batch = (const char *const *)&a->args[a->next];
    a->next += n;
    enum table_op op = strcmp(a->op, "add") == 0 ? TABLE_ADD : TABLE_DEL;
    if (tables_change(a->pool, a->table, op, batch, n, on_changed, a) != REDIS_SENT) {
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
    int table = TABLE_COUNT;
    for (int i = 0; argc >= 4 && i < TABLE_COUNT; i++)
        if (strcmp(argv[3], table_name((enum table_id)i)) == 0)
            table = i;
    if (argc < 4 || (strcmp(argv[2], "add") != 0 && strcmp(argv[2], "del") != 0) ||
        table == TABLE_COUNT) {
        usage();
        return 2;
    }
    struct admin a = {.op = argv[2], .table = (enum table_id)table};
    bool add = strcmp(a.op, "add") == 0;
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
    char **args = xcalloc(2 * n + 1, sizeof(*args));
    size_t nargs = 0;
    for (size_t i = 0; i < n; i++) {
        if (item_args(a.table, add, items[i], args, &nargs) < 0) {
            fprintf(stderr, "starling: item %zu is not of the form the %s table takes\n", i + 1,
                    table_name(a.table));
            usage();
            free_items(items, n);
            free_items(args, nargs);
            return 2;
        }
    }
    free_items(items, n);
    static struct config cfg;
    char err[STARLING_ERR_LEN];
    if (config_load(path, &cfg, err) < 0) {
        fprintf(stderr, "starling: config: %s\n", err);
        free_items(args, nargs);
        return 2;
    }
    a.args = args;
    a.n = nargs;
    a.base = xcheck(event_base_new());
    a.pool = redis_pool_new(a.base, &cfg.redis);
    a.deadline_us = clock_monotonic_us() +
                    (2 * cfg.redis.connect_timeout_ms + cfg.redis.command_timeout_ms + 2000) * 1000;
    a.timer = xcheck(event_new(a.base, -1, EV_PERSIST, on_timer, &a));
    struct timeval every = clock_ms_to_tv(20);
    evtimer_add(a.timer, &every);
    if (nargs == 0) {
        printf("starling: %s %s: no items\n", a.op, table_name(a.table));
        a.status = 0;
    } else {
        event_base_dispatch(a.base);
    }
    event_free(a.timer);
    redis_pool_free(a.pool);
    event_base_free(a.base);
    free_items(args, nargs);
    return a.status;
}
