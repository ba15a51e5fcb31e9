/*
 * Async Redis calls for one frontend: each script call is routed to the node serving its
 * first key's slot (the only node on a plain Redis), pipelined there behind whatever is in
 * flight, and answered by its reply or its deadline, whichever comes first. On a Redis
 * Cluster a call follows MOVED and ASK at once and waits out TRYAGAIN, CLUSTERDOWN and lost
 * nodes (a failover) until its deadline.
 *
 * Ownership: a `struct call` belongs to this file from its send until hiredis has run its
 * reply callback (which it always does, with NULL on disconnect) or, while it waits for a
 * retry, until that retry or the pool's end. Its caller is answered exactly once.
 */
#include "storage/redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/numtext.h"
#include "storage/keyslot.h"
#include "storage/redis_internal.h"

static const char ERR_UNAVAILABLE[] = "storage unavailable";
static const char ERR_TIMEOUT[] = "storage timeout";
static const char ERR_REPLY[] = "storage error";
static const char ERR_SHUTDOWN[] = "shutting down";
const char REDIS_ERR_FULL[] = "storage full";
const char REDIS_ERR_BUSY[] = "storage busy";

/*
 * The RESP form of a command, malloc'd and NUL-terminated (hiredis scans it with strchr).
 * hiredis's redisFormatCommandArgv() does the same with one sprintf per argument, which
 * showed up in profiles of the announce path.
 */
char *redis_format_command(int argc, const char *const *argv, const size_t *lens, size_t *out_len)
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

/* ---- the waiting list: calls between a failed try and their retry ---- */

static void waiting_remove(struct call *call)
{
    struct redis_pool *pool = call->pool;
    if (!call->waiting)
        return;
    event_del(&call->wait);
    call->waiting = false;
    pool->waiting--;
    if (call->prev != NULL)
        call->prev->next = call->next;
    else
        pool->waiting_head = call->next;
    if (call->next != NULL)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
}

static void call_free(struct call *call)
{
    waiting_remove(call);
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

/* Answers with err and frees: the call is neither in flight nor waiting any more. */
static void call_fail(struct call *call, const char *err)
{
    call_answer(call, NULL, err);
    call_free(call);
}

static void on_call_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* Sends the call on c (ASKING first when asked to). Returns 0, or -1 (nothing sent). */
static int call_send(struct call *call, struct conn *c, bool asking)
{
    if (asking && redisAsyncCommand(c->ac, NULL, NULL, "ASKING") != REDIS_OK)
        return -1;
    if (redisAsyncFormattedCommand(c->ac, on_call_reply, call, call->cmd, call->cmd_len) !=
        REDIS_OK)
        return -1;
    inflight_push(c, call);
    call->sent_us = clock_monotonic_us();
    return 0;
}

static void call_route(struct call *call);

static void on_wait(evutil_socket_t fd, short what, void *arg)
{
    struct call *call = arg;
    (void)fd, (void)what;
    waiting_remove(call);
    call_route(call);
}

/* On a cluster, a slot with no ready connection may mean a stale map: a replica promoted
 * that this frontend has not heard of. A reading is asked for (rate-limited, so calling this
 * per refused request is cheap); left to the dead node's reconnects, the asking slowed down
 * with their back-off, and a failover took up to 5 s longer to be seen. */
static void route_failed(struct redis_pool *pool)
{
    if (pool->mode == MODE_CLUSTER)
        topology_want_refresh(pool);
}

/* The ready connection a call for slot goes to, or NULL with *why. */
static struct conn *pick_for_slot(struct redis_pool *pool, int slot, int *why)
{
    *why = REDIS_DOWN;
    if (pool->closing)
        return NULL;
    struct node *n = topology_route(pool, slot);
    struct conn *c = n != NULL ? node_pick(n, why) : NULL;
    if (c == NULL && *why == REDIS_DOWN)
        route_failed(pool);
    return c;
}

/* Tries the call again in ms (its deadline bounds how often). The pool holds at most
 * rc.max_in_flight such calls: past that, the call fails at once. */
static void call_wait(struct call *call, uint64_t ms)
{
    struct redis_pool *pool = call->pool;
    if (pool->closing) {
        call_fail(call, ERR_SHUTDOWN);
        return;
    }
    if (pool->waiting >= pool->rc.max_in_flight) {
        call_fail(call, ERR_UNAVAILABLE);
        return;
    }
    pool->stats.retries++;
    call->waiting = true;
    pool->waiting++;
    call->prev = NULL;
    call->next = pool->waiting_head;
    if (pool->waiting_head != NULL)
        pool->waiting_head->prev = call;
    pool->waiting_head = call;
    evtimer_assign(&call->wait, pool->base, on_wait, call);
    struct timeval tv = clock_ms_to_tv(ms);
    evtimer_add(&call->wait, &tv);
}

/* Sends the call to the node serving its slot now; when there is none ready, waits to try
 * again (Redis Cluster) or fails (a plain Redis, whose connections reconnect by
 * themselves). */
static void call_route(struct call *call)
{
    struct redis_pool *pool = call->pool;
    int why;
    struct conn *c = pick_for_slot(pool, call->slot, &why);
    if (c != NULL && call_send(call, c, false) == 0)
        return;
    if (why == REDIS_BUSY)
        call_fail(call, REDIS_ERR_BUSY);
    else if (pool->mode == MODE_CLUSTER)
        call_wait(call, RETRY_FAILOVER_MS);
    else
        call_fail(call, ERR_UNAVAILABLE);
}

/* Rewrites the kept EVALSHA into an EVAL of the script body and sends it on c. */
static int resend_as_eval(struct call *call, struct conn *c)
{
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
    free(call->cmd);
    call->cmd = cmd;
    call->cmd_len = len;
    call->by_body = true;
    if (call_send(call, c, false) < 0)
        return -1;
    log_info("NOSCRIPT for %s: resent as EVAL", s->name);
    return 0;
}

/* A MOVED or ASK: the call goes to the node named (the slot map learns a MOVED at once and
 * is read again soon). Returns 0 when the call was sent or waits, -1 for a bad redirect. */
static int follow_redirect(struct call *call, const char *msg, bool moved)
{
    struct redis_pool *pool = call->pool;
    char host[CLUSTER_HOST_LEN];
    unsigned slot;
    uint16_t port;
    if (cluster_parse_redirect(msg, &slot, host, sizeof(host), &port) < 0)
        return -1;
    struct node *n = topology_node(pool, host, port);
    if (n == NULL)
        return -1;
    if (moved) {
        pool->stats.moved++;
        topology_set_slot(pool, slot, n);
        topology_want_refresh(pool);
    } else {
        pool->stats.asked++;
    }
    if (++call->hops > CALL_MAX_HOPS) {
        call_fail(call, ERR_UNAVAILABLE);
        return 0;
    }
    node_activate(n);
    int why;
    struct conn *c = node_pick(n, &why);
    if (c == NULL || call_send(call, c, !moved) < 0)
        call_wait(call, RETRY_TRYAGAIN_MS); /* not connected yet: in a moment */
    return 0;
}

/* An error reply: retried where the cluster says so, else answered. */
static void on_call_error(struct call *call, struct conn *c, redisAsyncContext *ac, const char *msg)
{
    struct redis_pool *pool = call->pool;
    bool cluster = pool->mode == MODE_CLUSTER;
    enum cluster_error kind = cluster_classify_error(msg);
    switch (kind) {
    case CLUSTER_ERR_NOSCRIPT:
        pool->stats.noscript++;
        if (call->script != NULL && !call->by_body && ac == c->ac && resend_as_eval(call, c) == 0)
            return;
        break;
    case CLUSTER_ERR_MOVED:
    case CLUSTER_ERR_ASK:
        if (cluster && follow_redirect(call, msg, kind == CLUSTER_ERR_MOVED) == 0)
            return;
        break;
    case CLUSTER_ERR_TRYAGAIN:
        if (cluster) {
            call_wait(call, RETRY_TRYAGAIN_MS);
            return;
        }
        break;
    case CLUSTER_ERR_DOWN:
        if (cluster) {
            topology_want_refresh(pool);
            call_wait(call, RETRY_FAILOVER_MS);
            return;
        }
        break;
    case CLUSTER_ERR_CROSSSLOT: {
        static bool logged;
        if (!logged)
            log_error("BUG: a call's keys span two cluster slots (%s): never retried", msg);
        logged = true;
        break;
    }
    case CLUSTER_ERR_OOM:
    case CLUSTER_ERR_OTHER:
        break;
    }
    pool->stats.errors++;
    static struct log_limit error_replies;
    log_limited(&error_replies, LOG_WARN, "redis error from %s: %s",
                call->script != NULL ? call->script->name : "command", msg);
    /* "OOM command not allowed when used memory > 'maxmemory'": a script's first write
     * found Redis full (nothing it may evict under its maxmemory-policy). */
    call_fail(call, kind == CLUSTER_ERR_OOM ? REDIS_ERR_FULL : ERR_REPLY);
}

static void on_call_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct call *call = privdata;
    struct conn *c = call->conn;
    struct redis_pool *pool = call->pool;
    redisReply *r = reply;
    inflight_remove(call);
    if (call->answered) { /* by its deadline: the reply is for nobody */
        call_free(call);
        return;
    }
    if (r == NULL) {
        if (pool->closing)
            call_fail(call, ERR_SHUTDOWN);
        else if (pool->mode == MODE_CLUSTER) /* a node lost: failing over? */
            call_wait(call, RETRY_FAILOVER_MS);
        else
            call_fail(call, ERR_UNAVAILABLE);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        on_call_error(call, c, ac, r->str);
        return;
    }
    call_answer(call, r, NULL);
    call_free(call);
}

static void on_call_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct call *call = arg;
    struct conn *c = call->conn;
    (void)fd, (void)what;
    call->pool->stats.timeouts++;
    call_answer(call, NULL, ERR_TIMEOUT);
    if (c == NULL) { /* waiting for a retry: nothing of it is anywhere else */
        call_free(call);
        return;
    }
    /* Sent on c no later than this call was first sent, c's oldest call (replies come in
     * order) is a whole command timeout overdue: Redis is that far behind on c, whether
     * stuck or merely slower than the arrival rate while replies still trickle in. Every
     * call queued there would time out too, and Redis would still run them all for nobody
     * (congestion collapse). Drop c with a reset; hiredis answers every call it holds, and
     * c comes back after the reconnect backoff. (A call retried on c recently is not proof
     * of that: c's own oldest call's deadline will tell.) */
    if (c->oldest != NULL && c->oldest->sent_us <= call->start_us)
        conn_drop(c, "no reply within the command timeout (oldest call overdue)", true);
}

/* A new call for slot (-1: any node) on c; ownership of cmd passes here. */
static struct call *call_new(struct redis_pool *pool, const struct lua_script *script, char *cmd,
                             size_t len, int slot, redis_reply_fn *on_reply,
                             struct redis_caller caller)
{
    struct call *call = xcalloc(1, sizeof(*call));
    call->pool = pool;
    call->cmd = cmd;
    call->cmd_len = len;
    if (script != NULL) {
        /* "*<argc>\r\n$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n" precedes the numkeys argument. */
        const char *argc_end = memchr(cmd, '\n', len);
        call->sha_end = (size_t)(argc_end - cmd) + 1 + 13 + 5 + LUA_SHA_LEN + 2;
    }
    call->script = script;
    call->slot = slot;
    call->on_reply = on_reply;
    call->caller = caller;
    return call;
}

static int send_new_call(struct conn *c, struct call *call)
{
    struct redis_pool *pool = call->pool;
    if (call_send(call, c, false) < 0) {
        free(call->cmd);
        free(call);
        return REDIS_DOWN;
    }
    call->start_us = call->sent_us;
    event_assign(&call->deadline, pool->base, -1, 0, on_call_deadline, call);
    event_add(&call->deadline, pool->call_timeout);
    return REDIS_SENT;
}

/* Whether the node serving slot is coming up: a master just learnt of (a MOVED, a new map,
 * a promoted replica) with a connection being made and none ready yet in this activation.
 * A new call for it waits for that connection, within its deadline, instead of being
 * refused as for a master that is down (whose connections were ready once). */
static bool slot_node_coming_up(struct redis_pool *pool, int slot)
{
    struct node *n = pool->mode == MODE_CLUSTER ? topology_route(pool, slot) : NULL;
    if (n == NULL || !n->active)
        return false;
    unsigned nconns = pool->rc.connections > 0 ? pool->rc.connections : 1;
    bool connecting = false;
    for (unsigned i = 0; i < nconns; i++) {
        if (n->conns[i].was_ready)
            return false;
        connecting |= n->conns[i].state == CONN_CONNECTING;
    }
    return connecting;
}

/* A new call that waits for its node to come up (a retry in RETRY_TRYAGAIN_MS), under
 * its deadline. Refused at once (REDIS_DOWN) when the waiting list is full. */
static int hold_new_call(struct call *call)
{
    struct redis_pool *pool = call->pool;
    if (pool->closing || pool->waiting >= pool->rc.max_in_flight) {
        free(call->cmd);
        free(call);
        return REDIS_DOWN;
    }
    call->start_us = clock_monotonic_us();
    event_assign(&call->deadline, pool->base, -1, 0, on_call_deadline, call);
    event_add(&call->deadline, pool->call_timeout);
    call_wait(call, RETRY_TRYAGAIN_MS);
    return REDIS_SENT;
}

int pool_send_internal(struct conn *c, char *cmd, size_t len, redis_reply_fn *on_reply,
                       struct redis_caller caller)
{
    return send_new_call(c, call_new(c->node->pool, NULL, cmd, len, -1, on_reply, caller));
}

/* The slot of a call's first key on a Redis Cluster; -1 elsewhere (any node). */
static int call_slot(const struct redis_pool *pool, int nkeys, const char *const *args,
                     const size_t *lens)
{
    return pool->mode == MODE_CLUSTER && nkeys > 0 ? (int)key_hash_slot(args[0], lens[0]) : -1;
}

int redis_pool_eval(struct redis_pool *pool, const struct lua_script *script, int nkeys, int nargs,
                    const char *const *args, const size_t *arglens, redis_reply_fn *on_reply,
                    struct redis_caller caller)
{
    struct lua_call lc;
    int why;
    int slot = call_slot(pool, nkeys, args, arglens);
    struct conn *c = pick_for_slot(pool, slot, &why);
    if (c == NULL && (why != REDIS_DOWN || !slot_node_coming_up(pool, slot)))
        return why;
    if (lua_call_fill(&lc, script, false, nkeys, nargs, args, arglens) < 0)
        return REDIS_DOWN;
    size_t len;
    char *cmd = redis_format_command(lc.argc, lc.argv, lc.lens, &len);
    struct call *call = call_new(pool, script, cmd, len, slot, on_reply, caller);
    int rc = c != NULL ? send_new_call(c, call) : hold_new_call(call);
    if (rc == REDIS_SENT)
        pool->stats.calls++;
    return rc;
}

int redis_pool_command(struct redis_pool *pool, int argc, const char *const *argv,
                       const size_t *argvlen, redis_reply_fn *on_reply, struct redis_caller caller)
{
    int why;
    struct conn *c = pick_for_slot(pool, -1, &why);
    if (c == NULL)
        return why;
    size_t len;
    char *cmd = redis_format_command(argc, argv, argvlen, &len);
    int rc = send_new_call(c, call_new(pool, NULL, cmd, len, -1, on_reply, caller));
    if (rc == REDIS_SENT)
        pool->stats.calls++;
    return rc;
}

/* Calls node n can take now: the room left on its ready connections (*any: one is ready). */
static size_t node_room(const struct node *n, bool *any)
{
    size_t room = 0;
    *any = false;
    if (!n->active)
        return 0;
    for (unsigned i = 0; i < n->pool->rc.connections; i++) {
        const struct conn *c = &n->conns[i];
        if (!conn_ready(c))
            continue;
        *any = true;
        if (c->inflight < n->pool->rc.max_in_flight)
            room += n->pool->rc.max_in_flight - c->inflight;
    }
    return room;
}

int redis_pool_room(struct redis_pool *pool, size_t n, const char *const *keys, const size_t *lens)
{
    size_t need[CLUSTER_MAX_NODES] = {0};
    size_t nodes_used = 0; /* need[] beyond this is 0 */
    if (pool->closing)
        return REDIS_DOWN;
    for (size_t i = 0; i < n; i++) {
        int slot = keys != NULL ? call_slot(pool, 1, &keys[i], &lens[i]) : -1;
        struct node *node = topology_route(pool, slot);
        if (node == NULL) {
            route_failed(pool);
            return REDIS_DOWN;
        }
        need[node->index]++;
        if (node->index >= nodes_used)
            nodes_used = node->index + 1;
    }
    for (size_t i = 0; i < nodes_used; i++) {
        bool any;
        if (need[i] == 0)
            continue;
        size_t room = node_room(&pool->nodes[i], &any);
        if (!any) {
            route_failed(pool);
            return REDIS_DOWN;
        }
        if (room < need[i])
            return REDIS_BUSY;
    }
    return REDIS_SENT;
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
    if (pool->rc.connections == 0)
        pool->rc.connections = 1;
    struct timeval tv = clock_ms_to_tv(rc->command_timeout_ms);
    pool->call_timeout = event_base_init_common_timeout(base, &tv);
    topology_start(pool);
    return pool;
}

void redis_pool_free(struct redis_pool *pool)
{
    if (pool == NULL)
        return;
    pool->closing = true;
    /* Calls waiting for a retry are answered here; those in flight by hiredis as the
     * connections close. */
    while (pool->waiting_head != NULL)
        call_fail(pool->waiting_head, ERR_SHUTDOWN);
    topology_stop(pool);
    free(pool);
}

bool redis_pool_ready(const struct redis_pool *pool)
{
    return topology_ready(pool);
}
