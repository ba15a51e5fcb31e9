#include "storage/sync.h"

#include <poll.h>
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
                 r != NULL       ? r->str
                 : sc->c != NULL ? sc->c->errstr
                                 : "connection lost");
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
    sc->last_ok_us = clock_monotonic_us();
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
    sc->ping_owed = false;
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
    if (((redisReply *)reply)->type != REDIS_REPLY_ERROR)
        sc->last_ok_us = clock_monotonic_us();
    return reply;
}

/* Reads the PONG sync_ping_send() left owed, so that the next reply is the next call's.
 * Returns 0, or -1 when the connection is lost. */
static int settle(struct sync_conn *sc)
{
    if (!sc->ping_owed)
        return 0;
    sc->ping_owed = false;
    redisReply *r = get_reply(sc);
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}

redisReply *sync_command(struct sync_conn *sc, int argc, const char *const *argv,
                         const size_t *lens)
{
    if (settle(sc) < 0 || sc->c == NULL ||
        redisAppendCommandArgv(sc->c, argc, (const char **)argv, lens) != REDIS_OK)
        return NULL;
    return get_reply(sc);
}

/* Appends EVALSHA (or EVAL with the body) of script with args. */
static int append_eval(struct sync_conn *sc, const struct lua_script *script, bool by_body,
                       int nkeys, int nargs, const char *const *args, const size_t *lens)
{
    struct lua_call call;
    if (settle(sc) < 0 || sc->c == NULL ||
        lua_call_fill(&call, script, by_body, nkeys, nargs, args, lens) < 0)
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
    settle(sc);
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

int sync_ping_send(struct sync_conn *sc)
{
    if (sc->c == NULL)
        return -1;
    if (sc->ping_owed)
        return 0;
    int done = 0;
    if (redisAppendCommand(sc->c, "PING") != REDIS_OK)
        goto fail;
    /* A few bytes into an idle connection's empty send buffer: the write does not wait. */
    while (!done)
        if (redisBufferWrite(sc->c, &done) != REDIS_OK)
            goto fail;
    sc->ping_owed = true;
    return 0;
fail:
    sync_close(sc);
    return -1;
}

int sync_ping_poll(struct sync_conn *sc)
{
    if (sc->c == NULL)
        return -1;
    /* Read until nothing more is there, so that a close right after the PONG shows too. */
    struct pollfd pfd = {.fd = sc->c->fd, .events = POLLIN};
    while (poll(&pfd, 1, 0) == 1) {
        if (redisBufferRead(sc->c) != REDIS_OK) {
            sync_close(sc); /* the server closed the connection, or it failed */
            return -1;
        }
    }
    if (!sc->ping_owed)
        return 1;
    void *reply = NULL;
    if (redisGetReplyFromReader(sc->c, &reply) != REDIS_OK) {
        sync_close(sc);
        return -1;
    }
    if (reply == NULL)
        return 0;
    sc->ping_owed = false;
    bool pong = ((redisReply *)reply)->type == REDIS_REPLY_STATUS;
    if (pong)
        sc->last_ok_us = clock_monotonic_us();
    freeReplyObject(reply);
    return pong ? 1 : -1;
}
