/* Private mode's live peers per user, added up and written for the report (live_users.h). */
#include "storage/live_users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/mem.h"
#include "common/numtext.h"
#include "storage/sync.h"

void user_tallies_add(struct user_tallies *t, const struct user_tally *v, size_t n)
{
    if (n == 0)
        return;
    if (t->n + n > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->n + n)
            cap *= 2;
        t->v = xreallocarray(t->v, cap, sizeof(*t->v));
        t->cap = cap;
    }
    memcpy(t->v + t->n, v, n * sizeof(*v));
    t->n += n;
}

static int read_u32(const redisReply *r, uint32_t *out)
{
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 0 || r->integer > UINT32_MAX)
        return -1;
    *out = (uint32_t)r->integer;
    return 0;
}

int user_tallies_add_reply(struct user_tallies *t, const redisReply *flat)
{
    if (flat->type != REDIS_REPLY_ARRAY || flat->elements % 3 != 0)
        return -1;
    size_t n = flat->elements / 3;
    for (size_t i = 0; i < n; i++) {
        struct user_tally u;
        if (read_u32(flat->element[3 * i], &u.user_id) < 0 ||
            read_u32(flat->element[3 * i + 1], &u.seeding) < 0 ||
            read_u32(flat->element[3 * i + 2], &u.leeching) < 0) {
            t->n -= i; /* all or nothing */
            return -1;
        }
        user_tallies_add(t, &u, 1);
    }
    return 0;
}

static int by_user(const void *a, const void *b)
{
    const struct user_tally *x = a, *y = b;
    return (x->user_id > y->user_id) - (x->user_id < y->user_id);
}

static uint32_t add_capped(uint32_t a, uint32_t b)
{
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

void user_tallies_merge(struct user_tallies *t)
{
    if (t->n == 0)
        return;
    qsort(t->v, t->n, sizeof(*t->v), by_user);
    size_t kept = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct user_tally *last = kept > 0 ? &t->v[kept - 1] : NULL;
        if (last != NULL && last->user_id == t->v[i].user_id) {
            last->seeding = add_capped(last->seeding, t->v[i].seeding);
            last->leeching = add_capped(last->leeching, t->v[i].leeching);
        } else {
            t->v[kept++] = t->v[i];
        }
    }
    t->n = kept;
}

void user_tallies_free(struct user_tallies *t)
{
    free(t->v);
    *t = (struct user_tallies){0};
}

size_t live_users_field(char *out, uint32_t user_id, int seeding)
{
    char *w = put_uint(out, user_id);
    w = put_str(w, seeding ? ":seeding" : ":leeching");
    return (size_t)(w - out);
}

/* One command on sc; 0, or -1 with err naming what. */
static int command(struct sync_conn *sc, int argc, const char **argv, const size_t *lens,
                   const char *what, char *err)
{
    redisReply *r = sync_command(sc, argc, argv, lens);
    int rc = r != NULL && r->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc < 0)
        snprintf(err, STARLING_ERR_LEN, "%s: %s", what, sync_reply_error(r, sc));
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

int live_users_write(const struct user_tallies *t, struct sync_conn *sc, const char *key, char *err)
{
    const char *del[] = {"DEL", key};
    size_t del_lens[] = {3, strlen(key)};
    if (command(sc, 2, del, del_lens, "live users", err) < 0)
        return -1;
    enum { ARGS = 2 + 4 * LIVE_USERS_BATCH };
    const char **argv = xreallocarray(NULL, ARGS, sizeof(*argv));
    size_t *lens = xreallocarray(NULL, ARGS, sizeof(*lens));
    char(*text)[LIVE_USERS_FIELD_LEN] = xreallocarray(NULL, 4 * LIVE_USERS_BATCH, sizeof(*text));
    int rc = 0;
    for (size_t start = 0; start < t->n && rc == 0; start += LIVE_USERS_BATCH) {
        int argc = 0;
        argv[argc] = "HSET", lens[argc++] = 4;
        argv[argc] = key, lens[argc++] = strlen(key);
        for (size_t i = start; i < t->n && i < start + LIVE_USERS_BATCH; i++) {
            const struct user_tally *u = &t->v[i];
            for (int seeding = 1; seeding >= 0; seeding--) {
                char *f = text[argc - 2], *v = text[argc - 1];
                argv[argc] = f, lens[argc++] = live_users_field(f, u->user_id, seeding);
                argv[argc] = v;
                lens[argc++] = (size_t)(put_uint(v, seeding ? u->seeding : u->leeching) - v);
            }
        }
        rc = command(sc, argc, argv, lens, "live users", err);
    }
    if (rc == 0 && t->n > 0) {
        char ttl[21];
        const char *px[] = {"PEXPIRE", key, ttl};
        size_t px_lens[] = {7, strlen(key), (size_t)(put_uint(ttl, LIVE_USERS_NEXT_TTL_MS) - ttl)};
        rc = command(sc, 3, px, px_lens, "live users", err);
    }
    free(text);
    free(lens);
    free(argv);
    return rc;
}
