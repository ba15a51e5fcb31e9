/*
 * Async Redis connections for one frontend: connect, set up (AUTH, SELECT, SCRIPT LOAD),
 * run script calls with a deadline each, and reconnect with backoff when anything breaks.
 *
 * Ownership: a `struct call` belongs to this file from redis_pool_eval() until hiredis has
 * run its reply callback (which it always does, with NULL on disconnect). Its caller is
 * answered exactly once, by the reply or by the deadline, whichever comes first.
 */
#include "storage/redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/socket.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/numtext.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static const char ERR_UNAVAILABLE[] = "storage unavailable";
static const char ERR_TIMEOUT[] = "storage timeout";
static const char ERR_REPLY[] = "storage error";
static const char ERR_SHUTDOWN[] = "shutting down";
const char REDIS_ERR_FULL[] = "storage full";

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_READY };

struct call;

struct conn {
    struct redis_pool *pool;
    unsigned index;
    redisAsyncContext *ac; /* NULL while down; hiredis frees it after on_disconnect */
    enum conn_state state;
    struct event *timer; /* connect deadline while connecting, backoff while down */
    uint64_t backoff_ms;
    unsigned setup_owed;          /* setup replies still to come */
    struct call *oldest, *newest; /* in flight, in send order */
    unsigned inflight;            /* calls in that list: at most rc.max_in_flight */
    bool was_ready;               /* a later setup is a reconnect */
};

struct redis_pool {
    struct event_base *base;
    struct redis_config rc;
    const struct timeval *call_timeout; /* a libevent common timeout: O(1) add/remove */
    struct conn *conns;
    unsigned nconns;
    unsigned next; /* round-robin cursor */
    bool closing;
    struct redis_stats stats;
};

struct call {
    struct conn *conn;
    struct call *prev, *next; /* conn's in-flight list */
    struct event deadline;
    redis_reply_fn *on_reply;
    struct redis_caller caller;
    const struct lua_script *script; /* NULL for a plain command */
    char *cmd;                       /* the formatted EVALSHA, kept to resend as EVAL on NOSCRIPT */
    size_t cmd_len;
    size_t sha_end; /* offset of the bytes after the sha's CRLF: KEYS and ARGV */
    bool answered;
    bool retried;
};

static void conn_connect(struct conn *c);

/* ---- in-flight list ---- */

static void inflight_push(struct conn *c, struct call *call)
{
    call->conn = c;
    c->inflight++;
    call->next = NULL;
    call->prev = c->newest;
    if (c->newest != NULL)
        c->newest->next = call;
    else
        c->oldest = call;
    c->newest = call;
}

static void inflight_remove(struct call *call)
{
    struct conn *c = call->conn;
    c->inflight--;
    if (call->prev != NULL)
        call->prev->next = call->next;
    else
        c->oldest = call->next;
    if (call->next != NULL)
        call->next->prev = call->prev;
    else
        c->newest = call->prev;
    call->prev = call->next = NULL;
}

/* ---- connection lifecycle ---- */

static void on_timer(evutil_socket_t fd, short what, void *arg);

static void schedule_reconnect(struct conn *c)
{
    if (c->pool->closing)
        return;
    c->state = CONN_DOWN;
    struct timeval tv = clock_ms_to_tv(c->backoff_ms);
    evtimer_add(c->timer, &tv);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/*
 * Forget the context and free it: hiredis answers every pending callback with NULL. With
 * `reset`, the socket is closed with a TCP reset (SO_LINGER 0), on which the kernel on
 * Redis's side discards what Redis has not read yet: calls whose callers were all told to
 * retry are then never run. (A plain close lets Redis read and run them all first; over
 * a Unix socket it still does, as unread data stays with the receiver.)
 */
static void conn_drop(struct conn *c, const char *why, bool reset)
{
    redisAsyncContext *ac = c->ac;
    if (ac == NULL)
        return;
    log_warn("redis connection %u dropped: %s", c->index, why);
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(ac->c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    c->ac = NULL;
    redisAsyncFree(ac);
    schedule_reconnect(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd, (void)what;
    if (c->state == CONN_CONNECTING)
        conn_drop(c, "connect or setup timed out", false);
    else if (c->state == CONN_DOWN)
        conn_connect(c);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    if (status == REDIS_OK || c->ac != ac)
        return;
    log_warn("redis connection %u: connect failed: %s", c->index, ac->errstr);
    c->ac = NULL; /* hiredis frees it after this callback */
    evtimer_del(c->timer);
    schedule_reconnect(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    (void)status;
    if (c->ac != ac)
        return; /* we dropped it ourselves and already scheduled the reconnect */
    log_warn("redis connection %u lost: %s", c->index, ac->err ? ac->errstr : "closed");
    c->ac = NULL;
    evtimer_del(c->timer);
    schedule_reconnect(c);
}

static void setup_failed(struct conn *c, const char *why)
{
    log_error("redis connection %u setup failed: %s", c->index, why);
    evtimer_del(c->timer);
    conn_drop(c, "setup failed", false);
}

/* privdata: 0 for AUTH and SELECT, 1 + the index in lua_scripts of a SCRIPT LOAD. */
static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct conn *c = ac->data;
    redisReply *r = reply;
    size_t script = (size_t)(uintptr_t)privdata;
    char err[STARLING_ERR_LEN];
    if (r == NULL || c->ac != ac)
        return; /* the context is going away; on_disconnect or conn_drop handles it */
    if (r->type == REDIS_REPLY_ERROR) {
        setup_failed(c, r->str);
        return;
    }
    if (script > 0 && lua_script_check_load(lua_scripts[script - 1], r, err, sizeof(err)) < 0) {
        setup_failed(c, err);
        return;
    }
    if (--c->setup_owed == 0) {
        evtimer_del(c->timer);
        c->state = CONN_READY;
        c->backoff_ms = BACKOFF_MIN_MS;
        if (c->was_ready)
            c->pool->stats.reconnects++;
        c->was_ready = true;
        log_info("redis connection %u ready", c->index);
    }
}

static void queue_setup(struct conn *c)
{
    const struct redis_config *rc = &c->pool->rc;
    c->setup_owed = 0;
    if (rc->password[0] != '\0') {
        if (rc->user[0] != '\0')
            redisAsyncCommand(c->ac, on_setup_reply, NULL, "AUTH %s %s", rc->user, rc->password);
        else
            redisAsyncCommand(c->ac, on_setup_reply, NULL, "AUTH %s", rc->password);
        c->setup_owed++;
    }
    if (rc->db != 0) {
        redisAsyncCommand(c->ac, on_setup_reply, NULL, "SELECT %u", rc->db);
        c->setup_owed++;
    }
    for (size_t i = 0; i < LUA_SCRIPT_COUNT; i++) {
        if (lua_scripts[i]->loader != LUA_FRONTEND)
            continue;
        redisAsyncCommand(c->ac, on_setup_reply, (void *)(uintptr_t)(i + 1), "SCRIPT LOAD %b",
                          lua_scripts[i]->body, lua_scripts[i]->len);
        c->setup_owed++;
    }
}

static void conn_connect(struct conn *c)
{
    const struct redis_config *rc = &c->pool->rc;
    redisAsyncContext *ac =
        xcheck(rc->unix_socket[0] != '\0' ? redisAsyncConnectUnix(rc->unix_socket)
                                          : redisAsyncConnect(rc->host, rc->port));
    if (ac->err) {
        log_warn("redis connection %u: connect failed: %s", c->index, ac->errstr);
        redisAsyncFree(ac);
        schedule_reconnect(c);
        return;
    }
    ac->data = c;
    c->ac = ac;
    c->state = CONN_CONNECTING;
    redisLibeventAttach(ac, c->pool->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    queue_setup(c);
    struct timeval tv = clock_ms_to_tv(rc->connect_timeout_ms);
    evtimer_add(c->timer, &tv);
}

/* ---- calls ---- */

/*
 * The RESP form of a command, malloc'd and NUL-terminated (hiredis scans it with strchr).
 * hiredis's redisFormatCommandArgv() does the same with one sprintf per argument, which
 * showed up in profiles of the announce path.
 */
static char *format_command(int argc, const char *const *argv, const size_t *lens, size_t *out_len)
{
    size_t total = 1 + 20 + 2 + 1; /* + NUL: hiredis strchr()s through the command */
    for (int i = 0; i < argc; i++)
        total += 1 + 20 + 2 + lens[i] + 2;
    char *cmd = xmalloc(total);
    char *p = cmd;
    *p++ = '*';
    p = put_uint(p, (size_t)argc);
    *p++ = '\r', *p++ = '\n';
    for (int i = 0; i < argc; i++) {
        *p++ = '$';
        p = put_uint(p, lens[i]);
        *p++ = '\r', *p++ = '\n';
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r', *p++ = '\n';
    }
    *p = '\0';
    *out_len = (size_t)(p - cmd);
    return cmd;
}

static void call_free(struct call *call)
{
    event_del(&call->deadline);
    free(call->cmd);
    free(call);
}

static void call_answer(struct call *call, redisReply *reply, const char *err)
{
    if (call->answered)
        return;
    call->answered = true;
    event_del(&call->deadline);
    call->on_reply(call->caller, reply, err);
}

/* Rewrites the kept EVALSHA into an EVAL of the script body and sends it. */
static int resend_as_eval(struct call *call);

static void on_call_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct call *call = privdata;
    struct conn *c = call->conn;
    redisReply *r = reply;
    inflight_remove(call);
    if (r == NULL) {
        call_answer(call, NULL, c->pool->closing ? ERR_SHUTDOWN : ERR_UNAVAILABLE);
        call_free(call);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        bool noscript = call->script != NULL && strncmp(r->str, "NOSCRIPT", 8) == 0;
        if (noscript)
            c->pool->stats.noscript++;
        if (noscript && !call->answered && !call->retried && ac == c->ac &&
            resend_as_eval(call) == 0)
            return;
        c->pool->stats.errors++;
        static struct log_limit error_replies;
        log_limited(&error_replies, LOG_WARN, "redis error from %s: %s",
                    call->script != NULL ? call->script->name : "command", r->str);
        /* "OOM command not allowed when used memory > 'maxmemory'": a script's first
         * write found Redis full (nothing it may evict under its maxmemory-policy). */
        call_answer(call, NULL, strncmp(r->str, "OOM ", 4) == 0 ? REDIS_ERR_FULL : ERR_REPLY);
    } else {
        call_answer(call, r, NULL);
    }
    call_free(call);
}

static int resend_as_eval(struct call *call)
{
    struct conn *c = call->conn;
    const struct lua_script *s = call->script;
    /* EVALSHA's argc is EVAL's argc: only the command name and the second arg change. */
    const char *argc_end = memchr(call->cmd, '\n', call->cmd_len);
    size_t head_len = (size_t)(argc_end - call->cmd) + 1;
    size_t tail_len = call->cmd_len - call->sha_end;
    char prefix[64];
    int n = snprintf(prefix, sizeof(prefix), "$4\r\nEVAL\r\n$%zu\r\n", s->len);
    size_t len = head_len + (size_t)n + s->len + 2 + tail_len;
    char *cmd = xmalloc(len + 1); /* NUL-terminated, as hiredis expects */
    char *p = cmd;
    memcpy(p, call->cmd, head_len), p += head_len;
    memcpy(p, prefix, (size_t)n), p += n;
    memcpy(p, s->body, s->len), p += s->len;
    memcpy(p, "\r\n", 2), p += 2;
    memcpy(p, call->cmd + call->sha_end, tail_len);
    cmd[len] = '\0';
    if (redisAsyncFormattedCommand(c->ac, on_call_reply, call, cmd, len) != REDIS_OK) {
        free(cmd);
        return -1;
    }
    log_info("NOSCRIPT for %s: resent as EVAL", s->name);
    free(call->cmd);
    call->cmd = cmd;
    call->cmd_len = len;
    call->retried = true;
    inflight_push(c, call);
    return 0;
}

static void on_call_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct call *call = arg;
    struct conn *c = call->conn;
    (void)fd, (void)what;
    c->pool->stats.timeouts++;
    call_answer(call, NULL, ERR_TIMEOUT);
    /* Still unanswered at its deadline, so the connection's oldest call (replies come in
     * order) is overdue: Redis is a whole command timeout behind on it, whether stuck or
     * merely slower than the arrival rate while replies still trickle in. Every call
     * queued there would time out too, and Redis would still run them all for nobody
     * (congestion collapse). Drop it with a reset; hiredis answers every call it holds,
     * and the connection comes back after the reconnect backoff. */
    conn_drop(c, "no reply within the command timeout (oldest call overdue)", true);
}

static bool conn_ready(const struct conn *c)
{
    return c->state == CONN_READY && c->ac != NULL;
}

/*
 * The next ready connection with room for a call, round-robin; NULL with *why REDIS_DOWN
 * when none is ready, REDIS_BUSY when every ready one has max_in_flight calls outstanding.
 * The bound keeps a slow Redis from collecting a backlog whose callers have all been told
 * to retry: past it a request fails at once, and the frontend's memory stays bounded.
 */
static struct conn *pick_ready(struct redis_pool *pool, int *why)
{
    *why = REDIS_DOWN;
    if (pool->closing)
        return NULL;
    for (unsigned i = 0; i < pool->nconns; i++) {
        struct conn *c = &pool->conns[(pool->next + i) % pool->nconns];
        if (!conn_ready(c))
            continue;
        if (c->inflight >= pool->rc.max_in_flight) {
            *why = REDIS_BUSY;
            continue;
        }
        pool->next = (pool->next + i + 1) % pool->nconns;
        return c;
    }
    return NULL;
}

int redis_pool_room(const struct redis_pool *pool, size_t n)
{
    int why = REDIS_DOWN;
    size_t room = 0;
    if (pool->closing)
        return REDIS_DOWN;
    for (unsigned i = 0; i < pool->nconns; i++) {
        const struct conn *c = &pool->conns[i];
        if (!conn_ready(c))
            continue;
        why = REDIS_BUSY;
        if (c->inflight < pool->rc.max_in_flight)
            room += pool->rc.max_in_flight - c->inflight;
    }
    return room >= n ? REDIS_SENT : why;
}

/* Sends a formatted command (ownership of cmd passes here) as a new call. */
static int send_call(struct redis_pool *pool, struct conn *c, const struct lua_script *script,
                     char *cmd, size_t len, redis_reply_fn *on_reply, struct redis_caller caller)
{
    struct call *call = xcalloc(1, sizeof(*call));
    call->cmd = cmd;
    call->cmd_len = len;
    if (script != NULL) {
        /* "*<argc>\r\n$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n" precedes the numkeys argument. */
        const char *argc_end = memchr(cmd, '\n', len);
        call->sha_end = (size_t)(argc_end - cmd) + 1 + 13 + 5 + LUA_SHA_LEN + 2;
    }
    call->script = script;
    call->on_reply = on_reply;
    call->caller = caller;
    if (redisAsyncFormattedCommand(c->ac, on_call_reply, call, cmd, len) != REDIS_OK) {
        free(cmd);
        free(call);
        return REDIS_DOWN;
    }
    pool->stats.calls++;
    inflight_push(c, call);
    event_assign(&call->deadline, pool->base, -1, 0, on_call_deadline, call);
    event_add(&call->deadline, pool->call_timeout);
    return REDIS_SENT;
}

int redis_pool_eval(struct redis_pool *pool, const struct lua_script *script, int nkeys, int nargs,
                    const char *const *args, const size_t *arglens, redis_reply_fn *on_reply,
                    struct redis_caller caller)
{
    struct lua_call call;
    int why;
    struct conn *c = pick_ready(pool, &why);
    if (c == NULL)
        return why;
    if (lua_call_fill(&call, script, false, nkeys, nargs, args, arglens) < 0)
        return REDIS_DOWN;
    size_t len;
    char *cmd = format_command(call.argc, call.argv, call.lens, &len);
    return send_call(pool, c, script, cmd, len, on_reply, caller);
}

int redis_pool_command(struct redis_pool *pool, int argc, const char *const *argv,
                       const size_t *argvlen, redis_reply_fn *on_reply, struct redis_caller caller)
{
    int why;
    struct conn *c = pick_ready(pool, &why);
    if (c == NULL)
        return why;
    size_t len;
    char *cmd = format_command(argc, argv, argvlen, &len);
    return send_call(pool, c, NULL, cmd, len, on_reply, caller);
}

const struct redis_stats *redis_pool_stats(const struct redis_pool *pool)
{
    return &pool->stats;
}

/* ---- pool ---- */

struct redis_pool *redis_pool_new(struct event_base *base, const struct redis_config *rc)
{
    struct redis_pool *pool = xcalloc(1, sizeof(*pool));
    pool->base = base;
    pool->rc = *rc;
    struct timeval tv = clock_ms_to_tv(rc->command_timeout_ms);
    pool->call_timeout = event_base_init_common_timeout(base, &tv);
    pool->nconns = rc->connections > 0 ? rc->connections : 1;
    pool->conns = xcalloc(pool->nconns, sizeof(*pool->conns));
    for (unsigned i = 0; i < pool->nconns; i++) {
        struct conn *c = &pool->conns[i];
        c->pool = pool;
        c->index = i;
        c->backoff_ms = BACKOFF_MIN_MS;
        c->timer = xcheck(evtimer_new(base, on_timer, c));
        conn_connect(c);
    }
    return pool;
}

void redis_pool_free(struct redis_pool *pool)
{
    if (pool == NULL)
        return;
    pool->closing = true;
    for (unsigned i = 0; i < pool->nconns; i++) {
        struct conn *c = &pool->conns[i];
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        if (ac != NULL)
            redisAsyncFree(ac);
        event_free(c->timer);
    }
    free(pool->conns);
    free(pool);
}

bool redis_pool_ready(const struct redis_pool *pool)
{
    for (unsigned i = 0; i < pool->nconns; i++)
        if (pool->conns[i].state == CONN_READY)
            return true;
    return false;
}
