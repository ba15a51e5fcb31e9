/*
 * One node's connections: connect, set up (AUTH, SELECT, SCRIPT LOAD, and INFO cluster while
 * the pool does not know yet what it talks to), reconnect with backoff when anything breaks,
 * drop on demand. Calls in flight are listed per connection, in send order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "storage/redis_internal.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

/* on_setup_reply's privdata: 0 for AUTH and SELECT, 1 + the index in lua_scripts of a
 * SCRIPT LOAD, or SETUP_INFO for INFO cluster. */
#define SETUP_INFO ((uintptr_t)-1)

static void conn_connect(struct conn *c);

/* ---- in-flight list ---- */

void inflight_push(struct conn *c, struct call *call)
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

void inflight_remove(struct call *call)
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
    call->conn = NULL;
}

/* ---- connection lifecycle ---- */

static void log_conn(enum log_level level, const struct conn *c, const char *what, const char *why)
{
    const struct node *n = c->node;
    if (n->pool->mode == MODE_CLUSTER)
        log_msg(level, "redis %s:%u connection %u %s%s%s", n->host, n->port, c->index, what,
                why != NULL ? ": " : "", why != NULL ? why : "");
    else
        log_msg(level, "redis connection %u %s%s%s", c->index, what, why != NULL ? ": " : "",
                why != NULL ? why : "");
}

static void schedule_reconnect(struct conn *c)
{
    if (c->node->pool->closing || !c->node->active)
        return;
    c->state = CONN_DOWN;
    struct timeval tv = clock_ms_to_tv(c->backoff_ms);
    evtimer_add(c->timer, &tv);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/*
 * Forget the context and free it: hiredis answers every pending callback with NULL (at once,
 * or after the callback we are in returns). With `reset`, the socket is closed with a TCP
 * reset (SO_LINGER 0), on which the kernel on Redis's side discards what Redis has not read
 * yet: calls whose callers were all told to retry are then never run. (A plain close lets
 * Redis read and run them all first; over a Unix socket it still does, as unread data stays
 * with the receiver.)
 */
void conn_drop(struct conn *c, const char *why, bool reset)
{
    redisAsyncContext *ac = c->ac;
    if (ac == NULL)
        return;
    log_conn(LOG_WARN, c, "dropped", why);
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
    log_conn(LOG_WARN, c, "connect failed", ac->errstr);
    c->ac = NULL; /* hiredis frees it after this callback */
    evtimer_del(c->timer);
    schedule_reconnect(c);
    topology_want_refresh(c->node->pool);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    (void)status;
    if (c->ac != ac)
        return; /* we dropped it ourselves and already scheduled the reconnect */
    log_conn(LOG_WARN, c, "lost", ac->err ? ac->errstr : "closed");
    c->ac = NULL;
    evtimer_del(c->timer);
    schedule_reconnect(c);
    topology_want_refresh(c->node->pool);
}

static void setup_failed(struct conn *c, const char *why)
{
    log_conn(LOG_ERROR, c, "setup failed", why);
    evtimer_del(c->timer);
    conn_drop(c, "setup failed", false);
}

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct conn *c = ac->data;
    redisReply *r = reply;
    uintptr_t what = (uintptr_t)privdata;
    char err[STARLING_ERR_LEN];
    if (r == NULL || c->ac != ac)
        return; /* the context is going away; on_disconnect or conn_drop handles it */
    if (r->type == REDIS_REPLY_ERROR && what != SETUP_INFO) {
        setup_failed(c, r->str);
        return;
    }
    if (what == SETUP_INFO) { /* an error (INFO denied by an ACL): a plain Redis, then */
        c->cluster_enabled =
            r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_enabled:1") != NULL;
    } else if (what > 0 && lua_script_check_load(lua_scripts[what - 1], r, err, sizeof(err)) < 0) {
        setup_failed(c, err);
        return;
    }
    if (--c->setup_owed == 0) {
        evtimer_del(c->timer);
        c->state = CONN_READY;
        c->backoff_ms = BACKOFF_MIN_MS;
        if (c->was_ready)
            c->node->pool->stats.reconnects++;
        c->was_ready = true;
        log_conn(LOG_INFO, c, "ready", NULL);
        topology_conn_ready(c->node, c->cluster_enabled);
    }
}

static void queue_setup(struct conn *c)
{
    const struct redis_pool *pool = c->node->pool;
    const struct redis_config *rc = &pool->rc;
    c->setup_owed = 0;
    if (rc->password[0] != '\0') {
        if (rc->user[0] != '\0')
            redisAsyncCommand(c->ac, on_setup_reply, NULL, "AUTH %s %s", rc->user, rc->password);
        else
            redisAsyncCommand(c->ac, on_setup_reply, NULL, "AUTH %s", rc->password);
        c->setup_owed++;
    }
    if (rc->db != 0 && pool->mode != MODE_CLUSTER) {
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
    c->cluster_enabled = false;
    if (pool->mode == MODE_UNKNOWN) {
        redisAsyncCommand(c->ac, on_setup_reply, (void *)SETUP_INFO, "INFO cluster");
        c->setup_owed++;
    }
}

static void conn_connect(struct conn *c)
{
    struct node *n = c->node;
    const struct redis_config *rc = &n->pool->rc;
    redisAsyncContext *ac = xcheck(n->unix_socket ? redisAsyncConnectUnix(rc->unix_socket)
                                                  : redisAsyncConnect(n->host, n->port));
    if (ac->err) {
        log_conn(LOG_WARN, c, "connect failed", ac->errstr);
        redisAsyncFree(ac);
        schedule_reconnect(c);
        return;
    }
    ac->data = c;
    c->ac = ac;
    c->state = CONN_CONNECTING;
    redisLibeventAttach(ac, n->pool->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    queue_setup(c);
    struct timeval tv = clock_ms_to_tv(rc->connect_timeout_ms);
    evtimer_add(c->timer, &tv);
}

bool conn_ready(const struct conn *c)
{
    return c->state == CONN_READY && c->ac != NULL;
}

/* ---- a node's connections ---- */

void node_activate(struct node *n)
{
    n->retiring = false;
    if (n->active)
        return;
    struct redis_pool *pool = n->pool;
    unsigned nconns = pool->rc.connections > 0 ? pool->rc.connections : 1;
    n->conns = xcalloc(nconns, sizeof(*n->conns));
    n->active = true;
    n->next = 0;
    for (unsigned i = 0; i < nconns; i++) {
        struct conn *c = &n->conns[i];
        c->node = n;
        c->index = i;
        c->backoff_ms = BACKOFF_MIN_MS;
        c->timer = xcheck(evtimer_new(pool->base, on_timer, c));
        conn_connect(c);
    }
}

/* Never from inside a hiredis callback of n's connections: the calls they hold are answered
 * (with NULL replies) while the connections still exist. */
void node_deactivate(struct node *n)
{
    if (!n->active)
        return;
    unsigned nconns = n->pool->rc.connections > 0 ? n->pool->rc.connections : 1;
    n->active = false; /* no reconnects from here on */
    n->retiring = false;
    for (unsigned i = 0; i < nconns; i++) {
        struct conn *c = &n->conns[i];
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        c->state = CONN_DOWN;
        evtimer_del(c->timer);
        if (ac != NULL)
            redisAsyncFree(ac);
    }
    for (unsigned i = 0; i < nconns; i++)
        event_free(n->conns[i].timer);
    free(n->conns);
    n->conns = NULL;
}

struct conn *node_pick(struct node *n, int *why)
{
    *why = REDIS_DOWN;
    if (!n->active || n->pool->closing)
        return NULL;
    unsigned nconns = n->pool->rc.connections > 0 ? n->pool->rc.connections : 1;
    for (unsigned i = 0; i < nconns; i++) {
        struct conn *c = &n->conns[(n->next + i) % nconns];
        if (!conn_ready(c))
            continue;
        if (c->inflight >= n->pool->rc.max_in_flight) {
            *why = REDIS_BUSY;
            continue;
        }
        n->next = (n->next + i + 1) % nconns;
        return c;
    }
    return NULL;
}
