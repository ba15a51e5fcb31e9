/*
 * udpload: a BEP 15 (UDP tracker) load generator for scripts/bench.sh.
 *
 *   udpload -h HOST -p PORT [-6] [-c CONCURRENCY] [-d SECONDS] [-n MAXREQ] [-t TORRENTS]
 *           [-P PEERS] [-m announce|scrape|mix] [-s SEED] [-k SOCKETS] [-w NUMWANT]
 *           [-W steady|churn]
 *
 * It keeps CONCURRENCY requests in flight, spread over SOCKETS sockets (default: one per
 * 64 in flight). Each socket is connect()ed to the tracker from its own source port, so
 * the tracker sees each as a distinct client with its own connection ID: a socket sends a
 * connect, then announces/scrapes with the ID it got for up to CONNID_REUSE_NS, and
 * connects again sooner when the tracker says the ID is invalid. Replies are matched to
 * requests by transaction id (slot index in the low 16 bits, a per-slot counter above, so
 * a late reply to a timed-out request matches nothing). A request unanswered after
 * REQUEST_TIMEOUT_NS counts as a timeout and its slot is reused. The run stops issuing
 * after SECONDS or MAXREQ announces+scrapes (connects not counted), waits for what is in
 * flight, and prints one line that bench.sh parses:
 *
 *   UDPRESULT requests=N seconds=S rps=R p50_ms=.. p99_ms=.. timeouts=.. errors=..
 *             connects=.. connid_errors=.. bad_replies=.. stray=.. send_errors=..
 *             peers_per_reply=.. cpu_s=..
 *
 *   requests      announce and scrape replies received (error replies included, as wrk
 *                 counts non-2xx answers); rps = requests / seconds
 *   p50/p99       from sending a request to its reply (announces and scrapes only)
 *   timeouts      requests (connects included) unanswered after 1 s
 *   errors        error replies (action 3) to any request; connid_errors of them said the
 *                 connection ID was wrong (starling: "invalid connection id", opentracker:
 *                 "Connection ID missmatch.")
 *   bad_replies   datagrams that match a request but are malformed for it (wrong action,
 *                 wrong length, more peers than the swarm counts): a tracker bug
 *   stray         datagrams matching no request in flight (late replies after a timeout)
 *   send_errors   datagrams the kernel refused to send (they then time out)
 *   cpu_s         udpload's own CPU time (user + system): near `seconds`, the load
 *                 generator is the limit, not the tracker
 *
 * The simulated swarm is scripts/bench/tracker.lua's, so the same info_hashes are
 * whitelisted in opentracker (scripts/bench/hashes.py): torrent i's info_hash is ih_bytes(i);
 * torrents have Zipf (s = 1) popularity; peer p (uniform over PEERS) has peer_id "-SB0001-"
 * + 12 decimal digits of p and port 1024 + p % 64000, and is a seeder (left 0) when
 * p % 10 < 3; events 5% started, 1% stopped, 1% completed (left 0), the rest none. The
 * workload (-W) says which torrent an announce names: steady (the default): peer p stays in
 * one torrent, drawn by Zipf from a hash of p, so a peer drawn again re-announces its
 * entry; churn: a torrent drawn afresh by Zipf for every announce (one more random draw
 * after the event's; steady's sequence is unchanged), so nearly every announce makes the
 * peer a new member of a swarm, as peers hopping between torrents do. num_want is sent as
 * NUMWANT (default 50, the HTTP default of both trackers, so both return as many peers as
 * over HTTP). A scrape asks for 1-3 torrents, each by Zipf; "mix" sends 4 announces to 1
 * scrape.
 *
 * Only loopback or another address the caller names is contacted; every run is bounded by
 * SECONDS (at most MAX_SECONDS) plus one timeout.
 */
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROTOCOL_ID 0x41727101980ULL
#define ACTION_CONNECT 0u
#define ACTION_ANNOUNCE 1u
#define ACTION_SCRAPE 2u
#define ACTION_ERROR 3u

#define EVENT_NONE 0u /* BEP 15 numbering */
#define EVENT_COMPLETED 1u
#define EVENT_STARTED 2u
#define EVENT_STOPPED 3u

#define NS_PER_S 1000000000LL
#define REQUEST_TIMEOUT_NS NS_PER_S
/* BEP 15: a connection ID is good for at least a minute after it was issued (starling:
 * 60-120 s, opentracker: an hour or two). Reconnect a little before the minute is up. */
#define CONNID_REUSE_NS (55 * NS_PER_S)
/* How often in-flight requests are checked against their timeout. */
#define SCAN_INTERVAL_MS 10

#define SLOTS_PER_SOCKET 64   /* default in flight per socket */
#define MAX_CONCURRENCY 65535 /* a slot index fits the transaction id's low 16 bits */
#define MAX_SOCKETS 4096
#define MAX_SECONDS 3600
#define MAX_TORRENTS 3000000 /* as bench.sh; hashes are exact for any uint32 anyway */
#define MAX_PEERS 100000000  /* a 12-digit peer_id suffix, and a table of this many ints */
#define SCRAPE_MAX_HASHES 3
#define RECV_BATCH 64
#define SEND_BATCH 64
#define SOCKET_BUFFER_BYTES (1 << 20)
#define MAX_DATAGRAM 2048 /* replies are at most one MTU; a larger one is truncated: bad */

#define ANNOUNCE_LEN 98
#define CONNECT_LEN 16
#define REQUEST_MAX                                                                                \
    (16 + 20 * SCRAPE_MAX_HASHES > ANNOUNCE_LEN ? 16 + 20 * SCRAPE_MAX_HASHES : ANNOUNCE_LEN)
#define INFO_HASH_LEN 20
#define LEFT_LEECHER 1048576u
#define PEER_PORT_BASE 1024u
#define PEER_PORT_SPAN 64000u

/* Latency histogram: 1 us buckets below 100 ms, then 100 us buckets to 2 s (clamped). */
#define HIST_FINE_US 100000u
#define HIST_COARSE_STEP_US 100u
#define HIST_COARSE 19000u
#define HIST_BUCKETS (HIST_FINE_US + HIST_COARSE + 1u)

enum slot_state { SLOT_IDLE, SLOT_INFLIGHT };
enum conn_state { CONN_NONE, CONN_PENDING, CONN_OK };
enum load_mode { MODE_ANNOUNCE, MODE_SCRAPE, MODE_MIX };

struct slot {
    int64_t sent_ns;
    uint32_t txid;
    uint32_t gen;     /* the socket's connection-ID generation the request carried */
    uint32_t sock;    /* owning socket */
    uint16_t counter; /* high half of the next transaction id */
    uint8_t state;    /* enum slot_state */
    uint8_t action;   /* ACTION_* of the request in flight */
    uint8_t nhashes;  /* scrape */
    uint8_t len;
    uint8_t pkt[REQUEST_MAX];
};

struct lsock {
    int fd;
    enum conn_state conn;
    uint64_t connid;
    int64_t connid_at_ns; /* when the connect that got it was sent */
    uint32_t gen;
    uint32_t first_slot, nslots;
    uint32_t out[SEND_BATCH]; /* slots waiting for sendmmsg */
    size_t nout;
};

struct opts {
    const char *host;
    unsigned port;
    bool v6;
    uint32_t concurrency;
    uint32_t seconds;
    uint64_t max_requests; /* 0: no limit */
    uint32_t torrents;
    uint32_t peers;
    enum load_mode mode;
    uint64_t seed;
    uint32_t sockets; /* 0: one per SLOTS_PER_SOCKET in flight */
    int32_t numwant;
    bool churn; /* -W churn: a fresh Zipf torrent per announce */
};

struct counts {
    uint64_t requests, timeouts, errors, connects, connid_errors, bad_replies, stray;
    uint64_t send_errors, sent, announce_replies, peers_returned;
};

/* Everything the run shares; one thread. */
static struct opts opt;
static struct counts cnt;
static struct slot *slots;
static struct lsock *socks;
static uint32_t nsocks;
static double *cdf;        /* cdf[i] = P(torrent index <= i), Zipf s = 1 */
static uint32_t *peer_tor; /* the torrent each peer is in */
static uint64_t rng_state;
static uint64_t hist[HIST_BUCKETS];
static bool stopping;     /* no new requests: SECONDS passed or MAXREQ sent */
static uint32_t inflight; /* slots in SLOT_INFLIGHT */
static int64_t last_reply_ns;

/* ---- small helpers ---- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static uint64_t rng_next(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n): n is small next to 2^64, so the modulo bias is negligible. */
static uint32_t rng_below(uint32_t n)
{
    return (uint32_t)(rng_next() % n);
}

/* Uniform in (0, 1). */
static double rng_unit(void)
{
    return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0; /* 2^53 */
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* ---- the simulated swarm (scripts/bench/tracker.lua, scripts/bench/hashes.py) ---- */

/* Torrent i's info_hash: must stay byte-for-byte identical to ih_bytes() in hashes.py. */
static void ih_bytes(uint32_t i, uint8_t out[INFO_HASH_LEN])
{
    uint32_t s = i * 2654435761u + 0x9E3779B9u; /* mod 2^32 by unsigned wrap-around */
    for (int k = 0; k < 4; k++)
        s = s * 69069u + 12345u;
    for (int k = 0; k < 16; k++) {
        s = s * 69069u + 12345u;
        out[k] = (uint8_t)(s >> 24);
    }
    put_be32(out + 16, i);
}

/* The first torrent index whose cumulative probability reaches u. */
static uint32_t zipf(double u)
{
    uint32_t lo = 0, hi = opt.torrents - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int swarm_init(void)
{
    cdf = malloc(sizeof(*cdf) * opt.torrents);
    peer_tor = malloc(sizeof(*peer_tor) * opt.peers);
    if (cdf == NULL || peer_tor == NULL)
        return -1;
    double sum = 0;
    for (uint32_t t = 0; t < opt.torrents; t++) {
        sum += 1.0 / (double)(t + 1);
        cdf[t] = sum;
    }
    for (uint32_t t = 0; t < opt.torrents; t++)
        cdf[t] /= sum;
    cdf[opt.torrents - 1] = 1.0;
    /* Each peer stays in one torrent, so a peer drawn again re-announces its own entry. */
    for (uint32_t p = 0; p < opt.peers; p++) {
        uint32_t h = (uint32_t)((uint64_t)p * 2654435761u);
        peer_tor[p] = zipf(((double)h + 0.5) / 4294967296.0);
    }
    return 0;
}

/* ---- requests ---- */

static void write_header(uint8_t *b, uint64_t connid, uint32_t action, uint32_t txid)
{
    put_be64(b, connid);
    put_be32(b + 8, action);
    put_be32(b + 12, txid);
}

static void build_connect(struct slot *sl)
{
    write_header(sl->pkt, PROTOCOL_ID, ACTION_CONNECT, sl->txid);
    sl->len = CONNECT_LEN;
    sl->action = ACTION_CONNECT;
}

static void build_announce(struct slot *sl, uint64_t connid)
{
    uint8_t *b = sl->pkt;
    uint32_t p = rng_below(opt.peers);
    uint32_t r = 1 + rng_below(100);
    uint32_t event = EVENT_NONE;
    uint64_t left = p % 10 < 3 ? 0 : LEFT_LEECHER;
    char pid[21];

    if (r <= 5) {
        event = EVENT_STARTED;
    } else if (r == 6) {
        event = EVENT_STOPPED;
    } else if (r == 7) {
        event = EVENT_COMPLETED;
        left = 0;
    }
    uint32_t tor = opt.churn ? zipf(rng_unit()) : peer_tor[p];
    write_header(b, connid, ACTION_ANNOUNCE, sl->txid);
    ih_bytes(tor, b + 16);
    snprintf(pid, sizeof(pid), "-SB0001-%012" PRIu32, p);
    memcpy(b + 36, pid, 20);
    put_be64(b + 56, 0);    /* downloaded */
    put_be64(b + 64, left); /* left */
    put_be64(b + 72, 0);    /* uploaded */
    put_be32(b + 80, event);
    put_be32(b + 84, 0); /* ip: the sender's */
    put_be32(b + 88, p); /* key */
    put_be32(b + 92, (uint32_t)opt.numwant);
    put_be16(b + 96, (uint16_t)(PEER_PORT_BASE + p % PEER_PORT_SPAN));
    sl->len = ANNOUNCE_LEN;
    sl->action = ACTION_ANNOUNCE;
}

static void build_scrape(struct slot *sl, uint64_t connid)
{
    uint32_t n = 1 + rng_below(SCRAPE_MAX_HASHES);
    write_header(sl->pkt, connid, ACTION_SCRAPE, sl->txid);
    for (uint32_t i = 0; i < n; i++)
        ih_bytes(zipf(rng_unit()), sl->pkt + 16 + INFO_HASH_LEN * i);
    sl->len = (uint8_t)(16 + INFO_HASH_LEN * n);
    sl->nhashes = (uint8_t)n;
    sl->action = ACTION_SCRAPE;
}

static void queue_send(struct lsock *s, uint32_t idx);

/*
 * Puts slot idx back to work: a request when its socket holds a fresh connection ID, else
 * a connect (one per socket at a time; the socket's other free slots wait for its answer).
 * Does nothing once the run is stopping.
 */
static void fill_slot(uint32_t idx, int64_t now)
{
    struct slot *sl = &slots[idx];
    struct lsock *s = &socks[sl->sock];

    sl->state = SLOT_IDLE;
    if (stopping)
        return;
    if (s->conn == CONN_OK && now - s->connid_at_ns > CONNID_REUSE_NS)
        s->conn = CONN_NONE;
    if (s->conn == CONN_PENDING)
        return; /* parked until the connect is answered */
    sl->counter++;
    sl->txid = (uint32_t)sl->counter << 16 | (idx & 0xFFFFu);
    if (s->conn == CONN_NONE) {
        build_connect(sl);
        s->conn = CONN_PENDING;
    } else {
        bool scrape = opt.mode == MODE_SCRAPE || (opt.mode == MODE_MIX && rng_below(5) == 0);
        if (scrape)
            build_scrape(sl, s->connid);
        else
            build_announce(sl, s->connid);
        sl->gen = s->gen;
        if (++cnt.sent >= opt.max_requests && opt.max_requests > 0)
            stopping = true;
    }
    sl->state = SLOT_INFLIGHT;
    sl->sent_ns = now; /* updated again just before sendmmsg */
    inflight++;
    queue_send(s, idx);
}

static void flush_socket(struct lsock *s)
{
    struct mmsghdr msgs[SEND_BATCH];
    struct iovec iov[SEND_BATCH];
    size_t done = 0;

    if (s->nout == 0)
        return;
    int64_t now = now_ns();
    for (size_t i = 0; i < s->nout; i++) {
        struct slot *sl = &slots[s->out[i]];
        sl->sent_ns = now;
        iov[i].iov_base = sl->pkt;
        iov[i].iov_len = sl->len;
        memset(&msgs[i], 0, sizeof(msgs[i]));
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    while (done < s->nout) {
        int n = sendmmsg(s->fd, &msgs[done], (unsigned)(s->nout - done), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* EAGAIN (buffer full), ECONNREFUSED (an earlier ICMP): this datagram is lost
             * and its request will time out. */
            cnt.send_errors++;
            done++;
            continue;
        }
        done += (size_t)n;
    }
    s->nout = 0;
}

static void queue_send(struct lsock *s, uint32_t idx)
{
    if (s->nout == SEND_BATCH)
        flush_socket(s);
    s->out[s->nout++] = idx;
}

/* ---- replies ---- */

static void record_latency(int64_t ns)
{
    uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
    size_t b;
    if (us < HIST_FINE_US) {
        b = (size_t)us;
    } else {
        uint64_t c = (us - HIST_FINE_US) / HIST_COARSE_STEP_US;
        b = HIST_FINE_US + (size_t)(c < HIST_COARSE ? c : HIST_COARSE);
    }
    hist[b]++;
}

static double bucket_ms(size_t b)
{
    if (b < HIST_FINE_US)
        return (double)b / 1000.0;
    return (double)(HIST_FINE_US + (b - HIST_FINE_US) * HIST_COARSE_STEP_US) / 1000.0;
}

/* The latency (ms) at percentile pct, from the histogram. */
static double percentile_ms(double pct)
{
    uint64_t total = 0, seen = 0;
    for (size_t b = 0; b < HIST_BUCKETS; b++)
        total += hist[b];
    if (total == 0)
        return 0;
    uint64_t rank = (uint64_t)((double)total * pct / 100.0 + 0.999999);
    if (rank < 1)
        rank = 1;
    for (size_t b = 0; b < HIST_BUCKETS; b++) {
        seen += hist[b];
        if (seen >= rank)
            return bucket_ms(b);
    }
    return bucket_ms(HIST_BUCKETS - 1);
}

static bool is_connid_error(const uint8_t *msg, size_t len)
{
    static const char starling_text[] = "invalid connection id";
    static const char opentracker_text[] = "Connection ID missmatch.";
    /* opentracker sends the C string's NUL too */
    while (len > 0 && msg[len - 1] == '\0')
        len--;
    return (len == sizeof(starling_text) - 1 && memcmp(msg, starling_text, len) == 0) ||
           (len == sizeof(opentracker_text) - 1 && memcmp(msg, opentracker_text, len) == 0);
}

/* Whether an announce or scrape reply of len bytes is well formed for request sl. */
static bool reply_valid(const struct slot *sl, const uint8_t *pkt, size_t len)
{
    if (sl->action == ACTION_CONNECT)
        return len >= 16;
    if (sl->action == ACTION_SCRAPE)
        return len == 8 + (size_t)12 * sl->nhashes;
    /* announce: interval, leechers, seeders, then whole compact entries; a swarm cannot
     * hand out more peers than it counts */
    size_t entry = opt.v6 ? 18 : 6;
    if (len < 20 || (len - 20) % entry != 0)
        return false;
    uint64_t npeers = (len - 20) / entry;
    uint64_t swarm = (uint64_t)get_be32(pkt + 12) + get_be32(pkt + 16);
    return npeers <= swarm;
}

static void handle_reply(uint32_t sock_idx, const uint8_t *pkt, size_t len, int64_t now)
{
    if (len < 8) {
        cnt.stray++; /* not even a header to match */
        return;
    }
    uint32_t action = get_be32(pkt);
    uint32_t txid = get_be32(pkt + 4);
    uint32_t idx = txid & 0xFFFFu;
    if (idx >= opt.concurrency) {
        cnt.stray++;
        return;
    }
    struct slot *sl = &slots[idx];
    struct lsock *s = &socks[sock_idx];
    if (sl->state != SLOT_INFLIGHT || sl->txid != txid || sl->sock != sock_idx) {
        cnt.stray++;
        return;
    }
    inflight--;
    last_reply_ns = now;
    bool is_request = sl->action != ACTION_CONNECT;
    if (is_request) {
        cnt.requests++;
        record_latency(now - sl->sent_ns);
    }
    if (action == ACTION_ERROR) {
        cnt.errors++;
        if (is_connid_error(pkt + 8, len - 8)) {
            cnt.connid_errors++;
            /* only the first such answer for an ID starts a new connect */
            if (is_request && sl->gen == s->gen && s->conn == CONN_OK)
                s->conn = CONN_NONE;
        }
        if (!is_request)
            s->conn = CONN_NONE;
        fill_slot(idx, now);
        return;
    }
    if (action != sl->action || !reply_valid(sl, pkt, len)) {
        cnt.bad_replies++;
        if (!is_request)
            s->conn = CONN_NONE;
        fill_slot(idx, now);
        return;
    }
    if (action == ACTION_ANNOUNCE) {
        cnt.announce_replies++;
        cnt.peers_returned += (len - 20) / (opt.v6 ? 18 : 6);
    }
    if (action != ACTION_CONNECT) {
        fill_slot(idx, now);
        return;
    }
    cnt.connects++;
    s->connid = get_be64(pkt + 8);
    s->connid_at_ns = sl->sent_ns;
    s->gen++;
    s->conn = CONN_OK;
    /* the connect's slot and every slot parked behind it go back to work */
    for (uint32_t i = s->first_slot; i < s->first_slot + s->nslots; i++)
        if (slots[i].state == SLOT_IDLE || i == idx)
            fill_slot(i, now);
}

/* Reads every datagram waiting on socket sock_idx. */
static void drain_socket(uint32_t sock_idx)
{
    static uint8_t bufs[RECV_BATCH][MAX_DATAGRAM];
    struct mmsghdr msgs[RECV_BATCH];
    struct iovec iov[RECV_BATCH];
    struct lsock *s = &socks[sock_idx];

    for (;;) {
        for (size_t i = 0; i < RECV_BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = MAX_DATAGRAM;
            memset(&msgs[i], 0, sizeof(msgs[i]));
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(s->fd, msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ECONNREFUSED) { /* ICMP port unreachable for an earlier send */
                cnt.send_errors++;
                continue;
            }
            break; /* EAGAIN: drained */
        }
        if (n == 0)
            break;
        int64_t now = now_ns();
        for (int i = 0; i < n; i++) {
            if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                cnt.bad_replies++; /* larger than any valid reply */
                continue;
            }
            handle_reply(sock_idx, bufs[i], msgs[i].msg_len, now);
        }
        if (n < RECV_BATCH)
            break;
    }
    flush_socket(s);
}

/* Times out requests in flight for longer than REQUEST_TIMEOUT_NS and reuses their slots. */
static void expire_requests(int64_t now)
{
    for (uint32_t i = 0; i < opt.concurrency; i++) {
        struct slot *sl = &slots[i];
        if (sl->state != SLOT_INFLIGHT || now - sl->sent_ns < REQUEST_TIMEOUT_NS)
            continue;
        cnt.timeouts++;
        inflight--;
        if (sl->action == ACTION_CONNECT)
            socks[sl->sock].conn = CONN_NONE;
        fill_slot(i, now);
    }
    for (uint32_t i = 0; i < nsocks; i++)
        flush_socket(&socks[i]);
}

/* ---- setup ---- */

static int open_sockets(int epfd, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof(ss));
    if (opt.v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)opt.port);
        if (inet_pton(AF_INET6, opt.host, &a->sin6_addr) != 1) {
            snprintf(err, errlen, "-h %s: not an IPv6 address", opt.host);
            return -1;
        }
        sslen = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)opt.port);
        if (inet_pton(AF_INET, opt.host, &a->sin_addr) != 1) {
            snprintf(err, errlen, "-h %s: not an IPv4 address (use -6 for IPv6)", opt.host);
            return -1;
        }
        sslen = sizeof(*a);
    }
    uint32_t next = 0;
    for (uint32_t i = 0; i < nsocks; i++) {
        struct lsock *s = &socks[i];
        /* slots split as evenly as possible */
        s->nslots = opt.concurrency / nsocks + (i < opt.concurrency % nsocks ? 1 : 0);
        s->first_slot = next;
        next += s->nslots;
        for (uint32_t k = s->first_slot; k < next; k++)
            slots[k].sock = i;
        s->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0) {
            snprintf(err, errlen, "socket: %s", strerror(errno));
            return -1;
        }
        int size = SOCKET_BUFFER_BYTES;
        setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        /* connect(): a source port of its own, and the kernel drops datagrams from others */
        if (connect(s->fd, (struct sockaddr *)&ss, sslen) < 0) {
            snprintf(err, errlen, "connect %s:%u: %s", opt.host, opt.port, strerror(errno));
            return -1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
            snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: udpload -h HOST -p PORT [-6] [-c CONCURRENCY] [-d SECONDS] [-n MAXREQ]\n"
            "               [-t TORRENTS] [-P PEERS] [-m announce|scrape|mix] [-s SEED]\n"
            "               [-k SOCKETS] [-w NUMWANT] [-W steady|churn]\n"
            "  defaults: -c 64 -d 10 -n 0 (no limit) -t 100000 -P 100000 -m announce -s 1\n"
            "            -k one socket per %d in flight, -w 50 (-1: the tracker's default),\n"
            "            -W steady (churn: every announce names a fresh Zipf torrent)\n",
            SLOTS_PER_SOCKET);
}

/* Parses a decimal in [min, max] into *out; -1 on anything else. */
static int parse_num(const char *text, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv)
{
    long long v;
    int c;

    opt.concurrency = 64;
    opt.seconds = 10;
    opt.torrents = 100000;
    opt.peers = 100000;
    opt.mode = MODE_ANNOUNCE;
    opt.seed = 1;
    opt.numwant = 50;
    while ((c = getopt(argc, argv, "h:p:6c:d:n:t:P:m:s:k:w:W:")) != -1) {
        const char *bad = NULL;
        switch (c) {
        case 'h':
            opt.host = optarg;
            break;
        case 'p':
            if (parse_num(optarg, 1, 65535, &v) < 0)
                bad = "-p: a port 1..65535";
            else
                opt.port = (unsigned)v;
            break;
        case '6':
            opt.v6 = true;
            break;
        case 'c':
            if (parse_num(optarg, 1, MAX_CONCURRENCY, &v) < 0)
                bad = "-c: 1..65535";
            else
                opt.concurrency = (uint32_t)v;
            break;
        case 'd':
            if (parse_num(optarg, 1, MAX_SECONDS, &v) < 0)
                bad = "-d: 1..3600 seconds";
            else
                opt.seconds = (uint32_t)v;
            break;
        case 'n':
            if (parse_num(optarg, 0, INT64_MAX, &v) < 0)
                bad = "-n: a count (0: no limit)";
            else
                opt.max_requests = (uint64_t)v;
            break;
        case 't':
            if (parse_num(optarg, 1, MAX_TORRENTS, &v) < 0)
                bad = "-t: 1..3000000";
            else
                opt.torrents = (uint32_t)v;
            break;
        case 'P':
            if (parse_num(optarg, 1, MAX_PEERS, &v) < 0)
                bad = "-P: 1..100000000";
            else
                opt.peers = (uint32_t)v;
            break;
        case 'm':
            if (strcmp(optarg, "announce") == 0)
                opt.mode = MODE_ANNOUNCE;
            else if (strcmp(optarg, "scrape") == 0)
                opt.mode = MODE_SCRAPE;
            else if (strcmp(optarg, "mix") == 0)
                opt.mode = MODE_MIX;
            else
                bad = "-m: announce, scrape or mix";
            break;
        case 's':
            if (parse_num(optarg, 0, INT64_MAX, &v) < 0)
                bad = "-s: a non-negative integer";
            else
                opt.seed = (uint64_t)v;
            break;
        case 'k':
            if (parse_num(optarg, 1, MAX_SOCKETS, &v) < 0)
                bad = "-k: 1..4096";
            else
                opt.sockets = (uint32_t)v;
            break;
        case 'w':
            if (parse_num(optarg, -1, 1000, &v) < 0)
                bad = "-w: -1..1000";
            else
                opt.numwant = (int32_t)v;
            break;
        case 'W':
            if (strcmp(optarg, "steady") == 0)
                opt.churn = false;
            else if (strcmp(optarg, "churn") == 0)
                opt.churn = true;
            else
                bad = "-W: steady or churn";
            break;
        default:
            usage();
            return -1;
        }
        if (bad != NULL) {
            fprintf(stderr, "udpload: %s (got \"%s\")\n", bad, optarg);
            return -1;
        }
    }
    if (optind != argc || opt.host == NULL || opt.port == 0) {
        usage();
        return -1;
    }
    nsocks = opt.sockets != 0 ? opt.sockets
                              : (opt.concurrency + SLOTS_PER_SOCKET - 1) / SLOTS_PER_SOCKET;
    if (nsocks > opt.concurrency)
        nsocks = opt.concurrency; /* every socket has at least one slot */
    return 0;
}

int main(int argc, char **argv)
{
    char err[256];
    int epfd = -1, rc = 1;

    if (parse_args(argc, argv) < 0)
        return 2;
    rng_state = opt.seed * 0x2545F4914F6CDD1DULL + 1;
    slots = calloc(opt.concurrency, sizeof(*slots));
    socks = calloc(nsocks, sizeof(*socks));
    if (slots == NULL || socks == NULL || swarm_init() < 0) {
        fprintf(stderr, "udpload: out of memory\n");
        goto out;
    }
    for (uint32_t i = 0; i < nsocks; i++)
        socks[i].fd = -1;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        fprintf(stderr, "udpload: epoll_create1: %s\n", strerror(errno));
        goto out;
    }
    if (open_sockets(epfd, err, sizeof(err)) < 0) {
        fprintf(stderr, "udpload: %s\n", err);
        goto out;
    }

    int64_t start = now_ns();
    int64_t deadline = start + (int64_t)opt.seconds * NS_PER_S;
    int64_t next_scan = start + SCAN_INTERVAL_MS * 1000000LL;
    last_reply_ns = start;
    for (uint32_t i = 0; i < opt.concurrency; i++)
        fill_slot(i, start);
    for (uint32_t i = 0; i < nsocks; i++)
        flush_socket(&socks[i]);

    struct epoll_event evs[256];
    for (;;) {
        int64_t now = now_ns();
        if (now >= deadline)
            stopping = true;
        if (stopping && inflight == 0)
            break;
        /* a hard stop: whatever is still in flight has had its full timeout */
        if (now >= deadline + REQUEST_TIMEOUT_NS + NS_PER_S)
            break;
        if (now >= next_scan) {
            expire_requests(now);
            next_scan = now + SCAN_INTERVAL_MS * 1000000LL;
        }
        int n = epoll_wait(epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), SCAN_INTERVAL_MS);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "udpload: epoll_wait: %s\n", strerror(errno));
            goto out;
        }
        for (int i = 0; i < n; i++)
            drain_socket(evs[i].data.u32);
    }
    cnt.timeouts += inflight; /* only after the hard stop */

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    double secs = (double)(last_reply_ns - start) / 1e9;
    if (secs <= 0)
        secs = (double)(now_ns() - start) / 1e9;
    printf("UDPRESULT requests=%" PRIu64 " seconds=%.3f rps=%.0f p50_ms=%.3f p99_ms=%.3f "
           "timeouts=%" PRIu64 " errors=%" PRIu64 " connects=%" PRIu64 " connid_errors=%" PRIu64
           " bad_replies=%" PRIu64 " stray=%" PRIu64 " send_errors=%" PRIu64
           " peers_per_reply=%.1f cpu_s=%.2f\n",
           cnt.requests, secs, (double)cnt.requests / secs, percentile_ms(50), percentile_ms(99),
           cnt.timeouts, cnt.errors, cnt.connects, cnt.connid_errors, cnt.bad_replies, cnt.stray,
           cnt.send_errors,
           cnt.announce_replies > 0 ? (double)cnt.peers_returned / (double)cnt.announce_replies
                                    : 0.0,
           cpu_s);
    rc = 0;
out:
    for (uint32_t i = 0; socks != NULL && i < nsocks; i++)
        if (socks[i].fd >= 0)
            close(socks[i].fd);
    if (epfd >= 0)
        close(epfd);
    free(slots);
    free(socks);
    free(cdf);
    free(peer_tor);
    return rc;
}
