/*
 * The decoders of Redis replies (storage/): the announce and scrape script replies
 * (swarm.c), a swarm member's layout (keys.c), CLUSTER SLOTS (cluster.c) and an accounting
 * batch (acct.c). The bytes are
 * RESP, turned into redisReply trees by hiredis's own reader, so the decoders meet what a
 * broken or hostile server could send: wrong types, wrong sizes, nesting, huge counts.
 */
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/config.h"
#include "fuzz.h"
#include "storage/acct.h"
#include "storage/cluster.h"
#include "storage/keys.h"
#include "storage/live_users.h"
#include "storage/swarm.h"

/*
 * hiredis 0.14 allocates an array's element pointers as soon as it reads the count (up to
 * INT_MAX: 16 GiB), before any element arrives. That is the reader's cost, not the
 * decoders', so inputs declaring more than this are skipped; it is still 100 times the
 * largest reply the scripts send (max_num_want + 2 elements).
 */
#define DECLARED_ELEMENTS_MAX 100000
/* Replies read from one input: a pipeline of them. */
#define REPLIES_MAX 64

static int declares_huge_array(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i] != '*')
            continue;
        size_t j = i + 1;
        uint64_t v = 0;
        if (j < n && (d[j] == '-' || d[j] == '+'))
            j++;
        for (; j < n && d[j] >= '0' && d[j] <= '9'; j++) {
            v = v * 10 + (uint64_t)(d[j] - '0');
            if (v > DECLARED_ELEMENTS_MAX)
                return 1;
        }
    }
    return 0;
}

static void check_member(const redisReply *r)
{
    const uint8_t *v4, *v6;
    const uint8_t *m = (const uint8_t *)r->str;
    if (member_split(m, r->len, &v4, &v6) < 0) {
        FUZZ_CHECK(v4 == NULL && v6 == NULL);
        return;
    }
    FUZZ_CHECK(v4 != NULL || v6 != NULL);
    FUZZ_CHECK(v4 == NULL || fuzz_within(v4, COMPACT_V4_LEN, m, r->len));
    FUZZ_CHECK(v6 == NULL || fuzz_within(v6, COMPACT_V6_LEN, m, r->len));
}

static void check_peers(const struct announce_reply *out)
{
    for (size_t i = 0; i < out->npeers; i++) {
        const struct swarm_peer *p = &out->peers[i];
        fuzz_touch(p->peer_id, PEER_ID_LEN);
        FUZZ_CHECK(p->v4 != NULL || p->v6 != NULL);
        if (p->v4 != NULL)
            fuzz_touch(p->v4, COMPACT_V4_LEN);
        if (p->v6 != NULL)
            fuzz_touch(p->v6, COMPACT_V6_LEN);
    }
}

static void check_announce(const redisReply *r)
{
    static struct swarm_peer scratch[CONFIG_NUM_WANT_CEILING];
    struct announce_reply out;
    if (swarm_decode_announce(r, &out, scratch, CONFIG_NUM_WANT_CEILING) == 0) {
        FUZZ_CHECK(out.npeers <= CONFIG_NUM_WANT_CEILING && out.npeers <= r->elements - 2);
        check_peers(&out);
    }
    /* A peer cache fill's reply: the seeders' part never past the peers. */
    if (swarm_decode_fill(r, &out, scratch, CONFIG_NUM_WANT_CEILING) == 0) {
        FUZZ_CHECK(out.npeers <= CONFIG_NUM_WANT_CEILING && out.npeers <= r->elements - 5);
        FUZZ_CHECK(out.nseeder_peers <= out.npeers);
        check_peers(&out);
    }
}

static void check_slot_map(const redisReply *r)
{
    static struct slot_map map;
    if (slot_map_from_cluster_slots(&map, r, "seed") < 0) {
        FUZZ_CHECK(r->type != REDIS_REPLY_ARRAY);
        return;
    }
    FUZZ_CHECK(map.nnodes <= CLUSTER_MAX_NODES);
    for (size_t i = 0; i < map.nnodes; i++)
        FUZZ_CHECK(memchr(map.nodes[i].host, '\0', CLUSTER_HOST_LEN) != NULL);
    /* Every slot unserved or served by a node of the map (none to check without nodes). */
    for (unsigned s = 0; s < CLUSTER_SLOTS && map.nnodes > 0; s++)
        FUZZ_CHECK(map.owner[s] == SLOT_UNSERVED || map.owner[s] < map.nnodes);
}

/* acct_drain.lua's reply: a batch never holds more entries than the reply had pairs. */
static void check_acct(const redisReply *r)
{
    struct acct_batch b;
    uint64_t bad = 0;
    if (acct_batch_parse(r, 1, &b, &bad) < 0)
        return;
    FUZZ_CHECK(r->type == REDIS_REPLY_ARRAY && b.n + bad <= r->elements / 2);
    for (size_t i = 0; i < b.n; i++)
        fuzz_touch(b.entries[i].peer_id, PEER_ID_LEN);
    acct_batch_free(&b);
}

/* purge.lua's and family.lua's users: all or nothing, each user once after the merge. */
static void check_user_tallies(const redisReply *r)
{
    struct user_tallies t = {0};
    if (user_tallies_add_reply(&t, r) < 0) {
        FUZZ_CHECK(t.n == 0);
        user_tallies_free(&t); /* a failed reply may leave room allocated, nothing in it */
        return;
    }
    FUZZ_CHECK(r->type == REDIS_REPLY_ARRAY && t.n == r->elements / 3);
    user_tallies_merge(&t);
    for (size_t i = 1; i < t.n; i++)
        FUZZ_CHECK(t.v[i - 1].user_id < t.v[i].user_id);
    user_tallies_free(&t);
}

/* The reply decoders on this reply and on every reply nested in it. */
static void check_nested(const redisReply *r)
{
    struct scrape_counts c;
    check_announce(r);
    check_acct(r);
    check_user_tallies(r);
    swarm_decode_scrape(r, &c);
    if (r->type == REDIS_REPLY_STRING)
        check_member(r);
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++)
            check_nested(r->element[i]);
    }
}

/*
 * CLUSTER SLOTS is read at the top only, and only from an array of arrays (other shapes it
 * refuses or skips at once): building a map clears and assigns 16384 slots, which would
 * otherwise take most of the fuzzer's time from the other decoders.
 */
static void check_reply(const redisReply *r)
{
    if (r->type == REDIS_REPLY_ARRAY &&
        (r->elements == 0 || r->element[0]->type == REDIS_REPLY_ARRAY))
        check_slot_map(r);
    check_nested(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (declares_huge_array(data, size))
        return 0;
    redisReader *reader = redisReaderCreate();
    FUZZ_CHECK(reader != NULL);
    if (redisReaderFeed(reader, (const char *)data, size) == REDIS_OK) {
        void *reply = NULL;
        for (int i = 0; i < REPLIES_MAX; i++) {
            if (redisReaderGetReply(reader, &reply) != REDIS_OK || reply == NULL)
                break;
            check_reply(reply);
            freeReplyObject(reply);
        }
    }
    redisReaderFree(reader);
    return 0;
}
