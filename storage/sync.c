#include "storage/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/clock.h"

/* The reply r of a setup command (what): 0 when it did not fail, else -1 with err. */
static int setup(struct sync_conn *sc, char *err, const char *what, redisReply *r)
{
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        snprintf(err, STARLING_ERR_LEN, "redis %s failed: %s", what,
                 r != NULL ? r->str : sc->c != NULL ? sc->c->errstr : "connection lost");
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

int sync_connect(struct sync_conn *sc, const struct redis_config *rc, uint64_t command_timeout_ms,
                 char *err)
{
    memset(sc, 0, sizeof(*sc));
    struct timeval ctv = clock_ms_to_tv(rc->connect_timeout_ms);
    sc->c = rc->unix_socket[0] != '\0' ? redisConnectUnixWithTimeout(rc->unix_socket, ctv)
                                       : redisConnectWithTimeout(rc->host, rc->port, ctv);
    if (sc->c == NULL || sc->c->err) {
        snprintf(err, STARLING_ERR_LEN, "redis connect failed: %s",
                 sc->c != NULL ? sc->c->errstr : "out of memory");
        sync_close(sc);
        return -1;
    }
    redisSetTimeout(sc->c, clock_ms_to_tv(command_timeout_ms));
    if (rc->password[0] != '\0') {
        redisReply *r = rc->user[0] != '\0'
                            ? redisCommand(sc->c, "AUTH %s %s", rc->user, rc->password)
                            : redisCommand(sc->c, "AUTH %s", rc->password);
        if (setup(sc, err, "AUTH", r) < 0)
            goto fail;
    }
    if (rc->db != 0 && setup(sc, err, "SELECT", redisCommand(sc->c, "SELECT %u", rc->db)) < 0)
        goto fail;
    if (sync_load_scripts(sc, err) < 0)
        goto fail;
    return 0;
fail:
    sync_close(sc);
    return -1;
}

void sync_close(struct sync_conn *sc)
{
    if (sc->c != NULL)
        redisFree(sc->c);
    sc->c = NULL;
}

static redisReply *get_reply(struct sync_conn *sc)
{
    void *reply = NULL;
    if (sc->c == NULL)
        return NULL;
    if (redisGetReply(sc->c, &reply) != REDIS_OK || reply == NULL) {
        sync_close(sc); /* a timeout or a lost link leaves the stream unusable */
        return NULL;
    }
    return reply;
}

redisReply *sync_command(struct sync_conn *sc, int argc, const char *const *argv,
                         const size_t *lens)
{
    if (sc->c == NULL || redisAppendCommandArgv(sc->c, argc, (const char **)argv, lens) != REDIS_OK)
        return NULL;
    return get_reply(sc);
}

/* Appends EVALSHA (or EVAL with the body) of script with args. */
static int append_eval(struct sync_conn *sc, const struct lua_script *script, bool by_body,
                       int nkeys, int nargs, const char *const *args, const size_t *lens)
{
    struct lua_call call;
    if (sc->c == NULL || lua_call_fill(&call, script, by_body, nkeys, nargs, args, lens) < 0)
        return -1;
    return redisAppendCommandArgv(sc->c, call.argc, call.argv, call.lens) == REDIS_OK ? 0 : -1;
}

int sync_eval_append(struct sync_conn *sc, const struct lua_script *script, int nkeys, int nargs,
                     const char *const *args, const size_t *lens)
{
    return append_eval(sc, script, false, nkeys, nargs, args, lens);
}

redisReply *sync_eval_reply(struct sync_conn *sc)
{
    return get_reply(sc);
}

int sync_load_scripts(struct sync_conn *sc, char *err)
{
    for (size_t i = 0; i < LUA_SCRIPT_COUNT; i++) {
        const struct lua_script *s = lua_scripts[i];
        if (s->loader != LUA_AGGREGATOR)
            continue;
        if (sc->c == NULL) {
            snprintf(err, STARLING_ERR_LEN, "redis connection lost");
            return -1;
        }
        redisReply *r = redisCommand(sc->c, "SCRIPT LOAD %b", s->body, s->len);
        if (r == NULL)
            sync_close(sc);
        if (r != NULL && r->type != REDIS_REPLY_ERROR &&
            lua_script_check_load(s, r, err, STARLING_ERR_LEN) < 0) {
            freeReplyObject(r);
            return -1;
        }
        if (setup(sc, err, "SCRIPT LOAD", r) < 0)
            return -1;
    }
    return 0;
}

int sync_cluster_masters(struct sync_conn *sc, const char *seed_host, struct cluster_master *out,
                         size_t max, size_t *n, char *err)
{
    *n = 0;
    const char *info[] = {"INFO", "cluster"};
    size_t info_lens[] = {4, 7};
    redisReply *r = sync_command(sc, 2, info, info_lens);
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        snprintf(err, STARLING_ERR_LEN, "INFO cluster failed");
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    bool cluster = strstr(r->str, "cluster_enabled:1") != NULL;
    freeReplyObject(r);
    if (!cluster)
        return 0;
    const char *slots[] = {"CLUSTER", "SLOTS"};
    size_t slots_lens[] = {7, 5};
    r = sync_command(sc, 2, slots, slots_lens);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, STARLING_ERR_LEN, "CLUSTER SLOTS failed");
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    /* [[first, last, [host, port, id], replica...], ...]: group the ranges by master. */
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2)
            continue;
        const redisReply *host = e->element[2]->element[0];
        const redisReply *port = e->element[2]->element[1];
        const char *h = host->type == REDIS_REPLY_STRING && host->len > 0 ? host->str : seed_host;
        size_t m = 0;
        while (m < *n && !(strcmp(out[m].host, h) == 0 && out[m].port == port->integer))
            m++;
        if (m == *n) {
            if (*n == max)
                continue;
            memset(&out[m], 0, sizeof(out[m]));
            snprintf(out[m].host, sizeof(out[m].host), "%s", h);
            out[m].port = (uint16_t)port->integer;
            (*n)++;
        }
        if (out[m].nranges < CLUSTER_MAX_RANGES) {
            out[m].ranges[out[m].nranges][0] = (uint16_t)e->element[0]->integer;
            out[m].ranges[out[m].nranges][1] = (uint16_t)e->element[1]->integer;
            out[m].nranges++;
        }
    }
    freeReplyObject(r);
    return 0;
}

redisReply *sync_eval(struct sync_conn *sc, const struct lua_script *script, int nkeys, int nargs,
                      const char *const *args, const size_t *lens)
{
    if (append_eval(sc, script, false, nkeys, nargs, args, lens) < 0)
        return NULL;
    redisReply *r = get_reply(sc);
    if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        if (append_eval(sc, script, true, nkeys, nargs, args, lens) < 0)
            return NULL;
        r = get_reply(sc);
    }
    return r;
}
