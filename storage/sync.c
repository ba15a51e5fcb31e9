#include "storage/sync.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/mem.h"
#include "common/text.h"
#include "storage/cluster.h"
#include "storage/keyslot.h"

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
    sync_redirect_fn *redirect = sc->redirect;
    void *redirect_arg = sc->redirect_arg;
    memset(sc, 0, sizeof(*sc));
    sc->redirect = redirect, sc->redirect_arg = redirect_arg;
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

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
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
    const redisReply *r = reply;
    if (r->type != REDIS_REPLY_ERROR)
        sc->last_ok_us = clock_monotonic_us();
    else if (starts_with(r->str, "MOVED ") || starts_with(r->str, "CLUSTERDOWN") ||
             starts_with(r->str, "READONLY"))
        sc->topology_hint = true; /* an ASK or TRYAGAIN is a migration in progress: no */
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

/* A call to make, routed and retried as sync_command() says. */
struct sync_call {
    const struct lua_script *script; /* NULL: the command argv */
    int argc, nkeys;
    const char *const *argv;
    const size_t *lens;
};

static int append_eval(struct sync_conn *sc, const struct lua_script *script, bool by_body,
                       int nkeys, int nargs, const char *const *args, const size_t *lens);

/* Sends ASKING (when asking), then the call; its reply (NULL: connection lost). */
static redisReply *call_once(struct sync_conn *sc, const struct sync_call *k, bool asking,
                             bool by_body)
{
    if (asking) {
        const char *argv[] = {"ASKING"};
        size_t lens[] = {6};
        if (settle(sc) < 0 || sc->c == NULL ||
            redisAppendCommandArgv(sc->c, 1, argv, lens) != REDIS_OK)
            return NULL;
        redisReply *r = get_reply(sc);
        if (r == NULL || r->type == REDIS_REPLY_ERROR)
            return r;
        freeReplyObject(r);
    }
    if (k->script != NULL) {
        if (append_eval(sc, k->script, by_body, k->nkeys, k->argc, k->argv, k->lens) < 0)
            return NULL;
    } else if (settle(sc) < 0 || sc->c == NULL ||
               redisAppendCommandArgv(sc->c, k->argc, (const char **)k->argv, k->lens) !=
                   REDIS_OK) {
        return NULL;
    }
    return get_reply(sc);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The call on sc, following redirects (sc->redirect), retrying TRYAGAIN, and answering a
 * NOSCRIPT with EVAL; at most SYNC_MAX_HOPS steps beyond the first. */
static redisReply *call_routed(struct sync_conn *sc, const struct sync_call *k)
{
    bool asking = false, by_body = false;
    for (int hop = 0;; hop++) {
        redisReply *r = call_once(sc, k, asking, by_body);
        if (r == NULL || r->type != REDIS_REPLY_ERROR || hop == SYNC_MAX_HOPS)
            return r;
        char host[256];
        unsigned slot;
        uint16_t port;
        int moved = cluster_parse_redirect(r->str, &slot, host, sizeof(host), &port);
        struct sync_conn *next = NULL;
        if (k->script != NULL && !by_body && starts_with(r->str, "NOSCRIPT")) {
            by_body = true; /* the node lost its script cache (restart, failover) */
        } else if (sc->redirect != NULL && starts_with(r->str, "TRYAGAIN")) {
            sleep_ms(SYNC_TRYAGAIN_MS); /* the same node, ASKING again if it was asked */
        } else if (moved >= 0 && sc->redirect != NULL &&
                   (next = sc->redirect(sc->redirect_arg, host, port, slot, moved == 1)) != NULL) {
            sc = next;
            asking = moved == 0;
        } else {
            return r;
        }
        freeReplyObject(r);
    }
}

redisReply *sync_command(struct sync_conn *sc, int argc, const char *const *argv,
                         const size_t *lens)
{
    struct sync_call k = {.argc = argc, .argv = argv, .lens = lens};
    return call_routed(sc, &k);
}

const char *sync_reply_error(const redisReply *r, const struct sync_conn *sc)
{
    if (r != NULL && r->type == REDIS_REPLY_ERROR)
        return r->str;
    if (r != NULL)
        return "unexpected reply";
    return sc->c == NULL ? "connection lost or timed out" : "no reply";
}

bool sync_reply_retryable(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR &&
           (starts_with(r->str, "MOVED ") || starts_with(r->str, "ASK ") ||
            starts_with(r->str, "TRYAGAIN") || starts_with(r->str, "NOSCRIPT"));
}

/* Appends EVALSHA (or EVAL with the body) of script with args. */
static int append_eval(struct sync_conn *sc, const struct lua_script *script, bool by_body,
                       int nkeys, int nargs, const char *const *args, const size_t *lens)
{
    struct lua_call call;
    if (settle(sc) < 0 || sc->c == NULL)
        return -1;
    if (nargs <= LUA_CALL_MAX_ARGS) {
        if (lua_call_fill(&call, script, by_body, nkeys, nargs, args, lens) < 0)
            return -1;
        return redisAppendCommandArgv(sc->c, call.argc, call.argv, call.lens) == REDIS_OK ? 0 : -1;
    }
    /* A long call (an accounting batch, storage/acct.c): the same words, on the heap;
     * hiredis copies them into its output buffer. */
    if (lua_call_fill(&call, script, by_body, nkeys, 0, NULL, NULL) < 0)
        return -1;
    size_t argc = 3 + (size_t)nargs;
    const char **argv = xreallocarray(NULL, argc, sizeof(*argv));
    size_t *alens = xreallocarray(NULL, argc, sizeof(*alens));
    for (size_t i = 0; i < 3; i++)
        argv[i] = call.argv[i], alens[i] = call.lens[i];
    for (size_t i = 0; i < (size_t)nargs; i++)
        argv[3 + i] = args[i], alens[3 + i] = lens[i];
    int rc = redisAppendCommandArgv(sc->c, (int)argc, argv, alens);
    free(argv);
    free(alens);
    return rc == REDIS_OK ? 0 : -1;
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
    struct sync_call k = {
        .script = script, .argc = nargs, .nkeys = nkeys, .argv = args, .lens = lens};
    return call_routed(sc, &k);
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
