/*
 * The aggregator's clean-up of the shared tables (storage/tables.h): registered torrents
 * deleted long enough ago go, through the tables' one writer so replicas follow.
 */
#include "storage/tables.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/config.h"
#include "common/text.h"
#include "storage/keys.h"
#include "storage/scripts.h"
#include "storage/sync.h"
#include "storage/table_entries.h"

/* Fields per HSCAN step; the whole hash is walked per call (a few ms per 100k torrents). */
#define SCAN_COUNT "1000"

/* Sends the DEL_IF pairs gathered so far; returns how many went, or -1 with err. */
static long flush(struct sync_conn *sc, struct str_list *pairs, char *err)
{
    if (pairs->n == 0)
        return 0;
    const char *args[TABLE_CHANGE_ARGS_MAX];
    size_t lens[TABLE_CHANGE_ARGS_MAX];
    int nargs = table_change_args(TABLE_REGISTERED, TABLE_DEL_IF, (const char *const *)pairs->items,
                                  pairs->n, args, lens);
    redisReply *r = sync_eval(sc, &lua_table_change, 3, nargs, args, lens);
    long gone = r != NULL && r->type == REDIS_REPLY_INTEGER ? (long)r->integer : -1;
    if (gone < 0)
        snprintf(err, STARLING_ERR_LEN, "table_change.lua: %s", sync_reply_error(r, sc));
    if (r != NULL)
        freeReplyObject(r);
    str_list_free(pairs);
    return gone;
}

long tables_prune_deleted(struct sync_conn *sc, uint64_t now_s, char *err)
{
    char cursor[24] = "0";
    struct str_list pairs = {0};
    long gone = 0;
    do {
        const char *argv[] = {"HSCAN", TABLE_REGISTERED_KEY, cursor, "COUNT", SCAN_COUNT};
        size_t lens[] = {5, strlen(TABLE_REGISTERED_KEY), strlen(cursor), 5, 4};
        redisReply *r = sync_command(sc, 5, argv, lens);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof(cursor) ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            snprintf(err, STARLING_ERR_LEN, "HSCAN %s: %s", TABLE_REGISTERED_KEY,
                     sync_reply_error(r, sc));
            if (r != NULL)
                freeReplyObject(r);
            str_list_free(&pairs);
            return -1;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = '\0';
        const redisReply *items = r->element[1];
        for (size_t i = 0; i + 1 < items->elements; i += 2) {
            const redisReply *f = items->element[i], *v = items->element[i + 1];
            struct table_torrent t;
            if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
                f->len >= STR_LIST_ITEM_MAX || v->len >= STR_LIST_ITEM_MAX ||
                table_parse_value(TABLE_REGISTERED, v->str, v->len, (uint8_t *)&t) < 0 ||
                t.deleted_at == 0 || now_s < t.deleted_at + TABLES_DELETED_KEEP_S)
                continue;
            str_list_addf(&pairs, "%.*s", (int)f->len, f->str);
            str_list_addf(&pairs, "%.*s", (int)v->len, v->str);
            if (pairs.n == TABLES_CHANGE_BATCH) {
                long n = flush(sc, &pairs, err);
                if (n < 0) {
                    freeReplyObject(r);
                    return -1;
                }
                gone += n;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    long n = flush(sc, &pairs, err);
    return n < 0 ? -1 : gone + n;
}
