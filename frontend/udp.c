/*
 * The UDP tracker (BEP 15): one persistent read event per socket; each wake-up reads up
 * to a few batches of datagrams with recvmmsg(), answers connects and malformed requests
 * at once, and hands announces and scrapes to the tracker (storage calls go out pipelined).
 * Replies, immediate or from storage, queue per socket and leave with sendmmsg() at the
 * end of the current burst (a deferred event), so a batch costs a couple of syscalls.
 *
 * Connection IDs are derived (frontend/connid.c): a request with a wrong or expired one
 * gets an error reply and costs no Redis work.
 */
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include "frontend/udp.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/addr.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/mem.h"
#include "frontend/connid.h"
#include "frontend/stats.h"
#include "frontend/udp_proto.h"

#define UDP_MAX_DATAGRAM 2048 /* requests are small; a larger one is malformed anyway */
#define UDP_REPLY_MAX 1500    /* announce replies are capped to fit one MTU */
/* Batches read per wake-up: enough to drain bursts, few enough to let other events run. */
#define READS_PER_WAKEUP 8
#define SOCKET_BUFFER_BYTES (4 * 1024 * 1024)

struct udp_socket;

struct out_msg {
    struct sockaddr_storage to;
    socklen_t to_len;
    size_t len;
    uint8_t data[UDP_REPLY_MAX];
};

struct udp_socket {
    struct udp_server *srv;
    int fd;
    struct event *read_ev;
    struct mmsghdr *in_msgs;
    struct iovec *in_iov;
    struct sockaddr_storage *in_addr;
    uint8_t (*in_buf)[UDP_MAX_DATAGRAM];
    struct out_msg *out; /* replies waiting for sendmmsg */
    size_t nout;
    struct mmsghdr *out_msgs;
    struct iovec *out_iov;
};

struct udp_server {
    struct event_base *base;
    const struct config *cfg;
    struct tracker *tracker;
    struct connid_keys keys;
    struct udp_socket socks[CONFIG_MAX_LISTEN];
    size_t nsocks;
    size_t batch;
    struct event *flush_ev; /* sends every queued reply once the current burst is handled */
    bool flush_pending;
};

/* A request waiting for storage. */
struct pending {
    struct udp_socket *sock;
    struct sockaddr_storage from;
    socklen_t from_len;
    uint32_t transaction_id;
    struct tracker_reply_peers peers; /* an announce's: the one family its reply lists */
};

static uint64_t unix_seconds(void)
{
    return (uint64_t)time(NULL);
}

/* ---- sending ---- */

static void flush_socket(struct udp_socket *s)
{
    size_t sent = 0;
    while (sent < s->nout) {
        for (size_t i = sent; i < s->nout; i++) {
            s->out_iov[i].iov_base = s->out[i].data;
            s->out_iov[i].iov_len = s->out[i].len;
            memset(&s->out_msgs[i], 0, sizeof(s->out_msgs[i]));
            s->out_msgs[i].msg_hdr.msg_name = &s->out[i].to;
            s->out_msgs[i].msg_hdr.msg_namelen = s->out[i].to_len;
            s->out_msgs[i].msg_hdr.msg_iov = &s->out_iov[i];
            s->out_msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = sendmmsg(s->fd, &s->out_msgs[sent], (unsigned)(s->nout - sent), MSG_DONTWAIT);
        if (n <= 0) {
            /* A full socket buffer or a vanished client: UDP replies may be lost. */
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                sent++; /* skip the datagram the error was about */
            else
                break;
            continue;
        }
        sent += (size_t)n;
    }
    s->nout = 0;
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct udp_server *srv = arg;
    (void)fd, (void)what;
    srv->flush_pending = false;
    for (size_t i = 0; i < srv->nsocks; i++)
        if (srv->socks[i].nout > 0)
            flush_socket(&srv->socks[i]);
}

/* A slot for a reply to `to`, flushed at the end of this burst. */
static struct out_msg *reply_slot(struct udp_socket *s, const struct sockaddr_storage *to,
                                  socklen_t to_len)
{
    struct udp_server *srv = s->srv;
    if (s->nout == srv->batch)
        flush_socket(s);
    struct out_msg *m = &s->out[s->nout++];
    memcpy(&m->to, to, to_len);
    m->to_len = to_len;
    m->len = 0;
    if (!srv->flush_pending) {
        event_active(srv->flush_ev, EV_TIMEOUT, 0);
        srv->flush_pending = true;
    }
    return m;
}

/* No limit on an error reply's size: the sender proved its address (connection id). */
#define VERIFIED SIZE_MAX

/*
 * An error reply of at most max_len bytes, else none: before the connection id is checked
 * the sender's address may be spoofed, so a reply may not be larger than the datagram it
 * answers (max_len = its length), or a tracker amplifies traffic at a victim.
 */
static void send_error(struct udp_socket *s, const struct sockaddr_storage *to, socklen_t to_len,
                       uint32_t txid, const char *message, size_t max_len)
{
    uint8_t tmp[UDP_REPLY_MAX];
    size_t len = udp_build_error(tmp, sizeof(tmp), txid, message);
    if (len == 0 || len > max_len) {
        frontend_stats.udp_unanswered++;
        return;
    }
    struct out_msg *m = reply_slot(s, to, to_len);
    memcpy(m->data, tmp, len);
    m->len = len;
}

/* ---- storage answers ----
 * main.c frees the Redis pool before this server, so every answer arrives while the
 * sockets are still open (at shutdown as "shutting down" failures). */

/* No tracker reply for p: the tracker refused it, or storage failed (the client is told
 * to retry). Frees p. */
static void answer_failure(struct pending *p, int action, const char *reason)
{
    enum stat_udp_result result = reason == TRACKER_STORAGE_BUSY   ? STAT_UDP_STORAGE_BUSY
                                  : reason == TRACKER_STORAGE_FULL ? STAT_UDP_STORAGE_FULL
                                                                   : STAT_UDP_STORAGE_ERROR;
    frontend_stats.udp_requests[action][result]++;
    send_error(p->sock, &p->from, p->from_len, p->transaction_id, reason, VERIFIED);
    free(p);
}

/* Answers a storage failure (reply NULL; why is logged by storage). Returns whether. */
static bool storage_failed(struct pending *p, const void *reply, const char *err, int action)
{
    if (reply != NULL)
        return false;
    answer_failure(p, action, tracker_storage_failure(err));
    return true;
}

static void on_announce_done(void *arg, const struct announce_reply *r, const char *err)
{
    struct pending *p = arg;
    struct udp_socket *s = p->sock;
    if (storage_failed(p, r, err, STAT_UDP_ANNOUNCE))
        return;
    bool v4 = p->peers.v4;
    const uint8_t *peers[UDP_MAX_PEERS_V4];
    size_t n = 0, max = v4 ? UDP_MAX_PEERS_V4 : UDP_MAX_PEERS_V6;
    for (size_t i = 0; i < r->npeers && n < max; i++) {
        const uint8_t *e = v4 ? r->peers[i].v4 : r->peers[i].v6;
        if (e != NULL)
            peers[n++] = e;
    }
    struct out_msg *m = reply_slot(s, &p->from, p->from_len);
    uint64_t interval_s =
        tracker_interval_s(s->srv->cfg, tracker_site_announce_ms(s->srv->tracker));
    uint32_t interval =
        interval_s > UINT32_MAX ? UINT32_MAX : (uint32_t)interval_s; /* field width */
    m->len = udp_build_announce(m->data, sizeof(m->data), p->transaction_id, interval,
                                (uint32_t)r->incomplete, (uint32_t)r->complete, peers, n,
                                v4 ? COMPACT_V4_LEN : COMPACT_V6_LEN);
    frontend_stats.udp_requests[STAT_UDP_ANNOUNCE][STAT_UDP_OK]++;
    free(p);
}

static void on_scrape_done(void *arg, const struct scrape_counts *counts, size_t n, const char *err)
{
    struct pending *p = arg;
    if (storage_failed(p, counts, err, STAT_UDP_SCRAPE))
        return;
    uint32_t triples[UDP_SCRAPE_MAX_HASHES][3];
    for (size_t i = 0; i < n && i < UDP_SCRAPE_MAX_HASHES; i++) {
        triples[i][0] = (uint32_t)counts[i].complete;
        triples[i][1] = (uint32_t)counts[i].downloaded;
        triples[i][2] = (uint32_t)counts[i].incomplete;
    }
    struct out_msg *m = reply_slot(p->sock, &p->from, p->from_len);
    m->len = udp_build_scrape(m->data, sizeof(m->data), p->transaction_id,
                              (const uint32_t(*)[3])triples, n);
    frontend_stats.udp_requests[STAT_UDP_SCRAPE][STAT_UDP_OK]++;
    free(p);
}

/* ---- requests ---- */

static void count_malformed(int action, enum udp_parse_result why)
{
    frontend_stats.udp_malformed[why]++;
    frontend_stats.udp_requests[action][STAT_UDP_MALFORMED]++;
}

/* A malformed announce or scrape from a verified sender: an error reply saying why. */
static void answer_malformed(struct udp_socket *s, const struct sockaddr_storage *from,
                             socklen_t from_len, const struct udp_header *h, int action,
                             enum udp_parse_result why)
{
    count_malformed(action, why);
    send_error(s, from, from_len, h->transaction_id, udp_error_text(why), VERIFIED);
}

static struct pending *pending_new(struct udp_socket *s, const struct sockaddr_storage *from,
                                   socklen_t from_len, const struct udp_header *h)
{
    struct pending *p = xmalloc(sizeof(*p));
    p->sock = s;
    memcpy(&p->from, from, from_len);
    p->from_len = from_len;
    p->transaction_id = h->transaction_id;
    return p;
}

/* A reply carries one family's peers (the client's: sockets are IPV6_V6ONLY), and must fit
 * one datagram. */
static const char udp_private_off[] = "This private tracker answers over HTTP only";
static const char udp_private_scrape[] = "This private tracker answers scrapes over HTTP only";

static const struct tracker_wire udp_wire = {
    .one_family = true,
    .max_peers_v4 = UDP_MAX_PEERS_V4,
    .max_peers_v6 = UDP_MAX_PEERS_V6,
};

static void handle_announce(struct udp_socket *s, const uint8_t *pkt, size_t len,
                            const struct sockaddr_storage *from, socklen_t from_len,
                            const struct udp_header *h, const struct addr *client)
{
    struct announce_req req;
    char url_data[UDP_URL_DATA_MAX + 1];
    size_t url_len = 0;
    enum udp_parse_result r = udp_parse_announce(pkt, len, &req, url_data, &url_len);
    if (r != UDP_OK) {
        answer_malformed(s, from, from_len, h, STAT_UDP_ANNOUNCE, r);
        return;
    }
    struct pending *p = pending_new(s, from, from_len, h);
    const char *failure = NULL;
    const struct config *cfg = s->srv->cfg;
    if (cfg->private_enabled && !cfg->private_udp_enabled) {
        answer_failure(p, STAT_UDP_ANNOUNCE, udp_private_off);
        return;
    }
    /* A private tracker's passkey comes in BEP 41 URL data: "/<passkey>/announce". */
    req.has_passkey = udp_url_passkey(url_data, url_len, req.passkey);
    if (tracker_announce(s->srv->tracker, &req, client, &udp_wire, &p->peers, on_announce_done, p,
                         &failure) < 0)
        answer_failure(p, STAT_UDP_ANNOUNCE, failure);
}

static void handle_scrape(struct udp_socket *s, const uint8_t *pkt, size_t len,
                          const struct sockaddr_storage *from, socklen_t from_len,
                          const struct udp_header *h)
{
    const uint8_t *hashes;
    size_t n;
    enum udp_parse_result r = udp_parse_scrape(pkt, len, &hashes, &n);
    if (r != UDP_OK) {
        answer_malformed(s, from, from_len, h, STAT_UDP_SCRAPE, r);
        return;
    }
    struct pending *p = pending_new(s, from, from_len, h);
    const char *failure = NULL;
    /* BEP 15's scrape reply is positional and carries no passkey: a private tracker
     * answers scrapes over HTTP only. */
    if (s->srv->cfg->private_enabled) {
        answer_failure(p, STAT_UDP_SCRAPE,
                       s->srv->cfg->private_udp_enabled ? udp_private_scrape : udp_private_off);
        return;
    }
    /* The reply lists the hashes in the request's order, duplicates included. */
    if (tracker_scrape(s->srv->tracker, (const uint8_t(*)[INFO_HASH_LEN])hashes, n, on_scrape_done,
                       p, &failure) < 0)
        answer_failure(p, STAT_UDP_SCRAPE, failure);
}

static void handle_datagram(struct udp_socket *s, const uint8_t *pkt, size_t len,
                            const struct sockaddr_storage *from, socklen_t from_len)
{
    struct udp_header h;
    struct addr client;
    uint16_t port;
    if (addr_from_sockaddr((const struct sockaddr *)from, &client, &port) < 0)
        return;
    enum udp_parse_result r = udp_parse_header(pkt, len, &h);
    if (r != UDP_OK) {
        count_malformed(STAT_UDP_UNKNOWN, r); /* dropped without a reply */
        return;
    }
    uint64_t now = unix_seconds();
    if (h.action == UDP_ACTION_CONNECT) {
        struct out_msg *m = reply_slot(s, from, from_len);
        m->len = udp_build_connect(m->data, sizeof(m->data), h.transaction_id,
                                   connid_issue(&s->srv->keys, &client, port, now));
        frontend_stats.udp_requests[STAT_UDP_CONNECT][STAT_UDP_OK]++;
        return;
    }
    if (h.action != UDP_ACTION_ANNOUNCE && h.action != UDP_ACTION_SCRAPE) {
        count_malformed(STAT_UDP_UNKNOWN, UDP_ERR_UNKNOWN_ACTION);
        send_error(s, from, from_len, h.transaction_id, udp_error_text(UDP_ERR_UNKNOWN_ACTION),
                   len);
        return;
    }
    int action = h.action == UDP_ACTION_ANNOUNCE ? STAT_UDP_ANNOUNCE : STAT_UDP_SCRAPE;
    if (!connid_check(&s->srv->keys, &client, port, now, h.connection_id)) {
        frontend_stats.udp_requests[action][STAT_UDP_BAD_CONNID]++;
        send_error(s, from, from_len, h.transaction_id, "invalid connection id", len);
        return;
    }
    if (h.action == UDP_ACTION_ANNOUNCE)
        handle_announce(s, pkt, len, from, from_len, &h, &client);
    else
        handle_scrape(s, pkt, len, from, from_len, &h);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct udp_socket *s = arg;
    size_t batch = s->srv->batch;
    (void)what;
    for (int round = 0; round < READS_PER_WAKEUP; round++) {
        for (size_t i = 0; i < batch; i++) {
            s->in_iov[i].iov_base = s->in_buf[i];
            s->in_iov[i].iov_len = UDP_MAX_DATAGRAM;
            memset(&s->in_msgs[i].msg_hdr, 0, sizeof(s->in_msgs[i].msg_hdr));
            s->in_msgs[i].msg_hdr.msg_name = &s->in_addr[i];
            s->in_msgs[i].msg_hdr.msg_namelen = sizeof(s->in_addr[i]);
            s->in_msgs[i].msg_hdr.msg_iov = &s->in_iov[i];
            s->in_msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(fd, s->in_msgs, (unsigned)batch, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return; /* EAGAIN: drained (errors on UDP sockets are per datagram: ignored) */
        for (int i = 0; i < n; i++) {
            struct msghdr *mh = &s->in_msgs[i].msg_hdr;
            size_t len = s->in_msgs[i].msg_len;
            if (mh->msg_flags & MSG_TRUNC) {
                count_malformed(STAT_UDP_UNKNOWN, UDP_DROP_SHORT); /* oversized: dropped */
                continue;
            }
            handle_datagram(s, s->in_buf[i], len, &s->in_addr[i], mh->msg_namelen);
        }
        if ((size_t)n < batch)
            return;
    }
}

/* ---- setup ---- */

static void socket_free(struct udp_socket *s)
{
    if (s->read_ev != NULL)
        event_free(s->read_ev);
    if (s->fd >= 0)
        close(s->fd);
    free(s->in_msgs);
    free(s->in_iov);
    free(s->in_addr);
    free(s->in_buf);
    free(s->out);
    free(s->out_msgs);
    free(s->out_iov);
}

static int socket_open(struct udp_server *srv, struct udp_socket *s, const char *text, char *err)
{
    const struct config *cfg = srv->cfg;
    size_t batch = srv->batch;
    memset(s, 0, sizeof(*s));
    s->srv = srv;
    s->fd = cfg->udp_reuseport
                ? listen_socket_shared(text, SOCK_DGRAM, "udp_listen_addr", err, STARLING_ERR_LEN)
                : listen_socket(text, SOCK_DGRAM, "udp_listen_addr", err, STARLING_ERR_LEN);
    if (s->fd < 0)
        return -1;
    int size = SOCKET_BUFFER_BYTES;
    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    s->in_msgs = xcalloc(batch, sizeof(*s->in_msgs));
    s->in_iov = xcalloc(batch, sizeof(*s->in_iov));
    s->in_addr = xcalloc(batch, sizeof(*s->in_addr));
    s->in_buf = xcalloc(batch, sizeof(*s->in_buf));
    s->out = xcalloc(batch, sizeof(*s->out));
    s->out_msgs = xcalloc(batch, sizeof(*s->out_msgs));
    s->out_iov = xcalloc(batch, sizeof(*s->out_iov));
    s->read_ev = xcheck(event_new(srv->base, s->fd, EV_READ | EV_PERSIST, on_readable, s));
    event_add(s->read_ev, NULL);
    char where[LISTEN_TEXT_LEN];
    listen_socket_text(s->fd, where);
    log_info("udp listening on %s%s", where, cfg->udp_reuseport ? " (SO_REUSEPORT)" : "");
    return 0;
}

/* Keys from the configured secrets, or a random one when none is set (single node only). */
static int make_keys(struct udp_server *srv, char *err)
{
    const struct config *cfg = srv->cfg;
    if (cfg->udp_secret[0] != '\0') {
        connid_key_from_secret(cfg->udp_secret, strlen(cfg->udp_secret), srv->keys.current);
    } else {
        FILE *f = fopen("/dev/urandom", "rb");
        size_t got = f != NULL ? fread(srv->keys.current, 1, CONNID_KEY_LEN, f) : 0;
        if (f != NULL)
            fclose(f);
        if (got != CONNID_KEY_LEN) {
            snprintf(err, STARLING_ERR_LEN, "udp: cannot read /dev/urandom for a secret");
            return -1;
        }
        log_warn("udp_secret not set: using a random per-process secret; other frontends "
                 "will not accept this one's connection IDs (set udp_secret on every node)");
    }
    if (cfg->udp_previous_secret[0] != '\0') {
        connid_key_from_secret(cfg->udp_previous_secret, strlen(cfg->udp_previous_secret),
                               srv->keys.previous);
        srv->keys.has_previous = true;
    }
    return 0;
}

struct udp_server *udp_server_new(struct event_base *base, const struct config *cfg,
                                  struct tracker *tracker, char *err)
{
    struct udp_server *srv = xcalloc(1, sizeof(*srv));
    srv->base = base;
    srv->cfg = cfg;
    srv->tracker = tracker;
    srv->batch = cfg->udp_batch_size;
    srv->flush_ev = xcheck(event_new(base, -1, 0, on_flush, srv));
    if (cfg->n_udp_listen_addr > 0 && make_keys(srv, err) < 0) {
        udp_server_free(srv);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_udp_listen_addr; i++) {
        int rc = socket_open(srv, &srv->socks[i], cfg->udp_listen_addr[i], err);
        srv->nsocks = i + 1;
        if (rc < 0) {
            udp_server_free(srv);
            return NULL;
        }
    }
    return srv;
}

void udp_server_stop_reading(struct udp_server *srv)
{
    for (size_t i = 0; i < srv->nsocks; i++)
        if (srv->socks[i].read_ev != NULL)
            event_del(srv->socks[i].read_ev);
}

void udp_server_free(struct udp_server *srv)
{
    if (srv == NULL)
        return;
    on_flush(-1, 0, srv);
    for (size_t i = 0; i < srv->nsocks; i++)
        socket_free(&srv->socks[i]);
    event_free(srv->flush_ev);
    free(srv);
}
