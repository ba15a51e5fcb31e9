#include "storage/keys.h"

#include <string.h>

#include "common/text.h"

static const char *const swarm_suffix[SWARM_NKEYS] = {
    [SWARM_SEEDERS] = SWARM_SEEDERS_SUFFIX,
    [SWARM_LEECHERS] = SWARM_LEECHERS_SUFFIX,
    [SWARM_PEERS] = SWARM_PEERS_SUFFIX,
};

void swarm_tag(const uint8_t *info_hash, char *out)
{
    out[0] = '{';
    hex_encode(info_hash, INFO_HASH_LEN, out + 1);
    out[SWARM_TAG_LEN - 1] = '}';
}

void swarm_keys_fill(struct swarm_keys *k, const uint8_t *info_hash)
{
    char tag[SWARM_TAG_LEN];
    swarm_tag(info_hash, tag);
    for (size_t i = 0; i < SWARM_NKEYS; i++) {
        size_t n = strlen(swarm_suffix[i]);
        memcpy(k->name[i], tag, SWARM_TAG_LEN);
        memcpy(k->name[i] + SWARM_TAG_LEN, swarm_suffix[i], n);
        k->len[i] = SWARM_TAG_LEN + n;
    }
}

void swarm_keys_args(const struct swarm_keys *k, const char **args, size_t *lens)
{
    for (size_t i = 0; i < SWARM_NKEYS; i++) {
        args[i] = k->name[i];
        lens[i] = k->len[i];
    }
}

int swarm_key_info_hash(const char *key, size_t len, uint8_t *info_hash)
{
    static const size_t peers_len = SWARM_TAG_LEN + sizeof(SWARM_PEERS_SUFFIX) - 1;
    char tag[SWARM_TAG_LEN];
    if (len != peers_len || hex_decode(key + 1, INFO_HASH_LEN, info_hash) < 0)
        return -1;
    /* The braces, and lowercase: hex_decode() takes either case. */
    swarm_tag(info_hash, tag);
    if (memcmp(key, tag, SWARM_TAG_LEN) != 0 ||
        memcmp(key + SWARM_TAG_LEN, SWARM_PEERS_SUFFIX, len - SWARM_TAG_LEN) != 0)
        return -1;
    return 0;
}

size_t member_endpoints(const struct peer_endpoints *e, uint8_t *out)
{
    size_t n = 0;
    if (e->has_v4) {
        memcpy(out, e->v4, COMPACT_V4_LEN);
        n += COMPACT_V4_LEN;
    }
    if (e->has_v6) {
        memcpy(out + n, e->v6, COMPACT_V6_LEN);
        n += COMPACT_V6_LEN;
    }
    return n;
}

int member_split(const uint8_t *member, size_t len, const uint8_t **v4, const uint8_t **v6)
{
    *v4 = *v6 = NULL;
    switch (len) {
    case MEMBER_V4_LEN:
        *v4 = member + MEMBER_ID_LEN;
        return 0;
    case MEMBER_V6_LEN:
        *v6 = member + MEMBER_ID_LEN;
        return 0;
    case MEMBER_DUAL_LEN:
        *v4 = member + MEMBER_ID_LEN;
        *v6 = member + MEMBER_ID_LEN + COMPACT_V4_LEN;
        return 0;
    default:
        return -1;
    }
}

const char *const stats_field_names[STATS_NFIELDS] = {
    [STATS_TORRENTS] = "torrents",
    [STATS_SEEDERS] = "seeders",
    [STATS_LEECHERS] = "leechers",
    [STATS_PEERS_IPV4] = "peers_ipv4",
    [STATS_PEERS_IPV6] = "peers_ipv6",
    [STATS_COMPLETED] = "completed",
    [STATS_FRONTENDS] = "frontends",
    [STATS_PEERS_EXPIRED] = "peers_expired",
    [STATS_SWARMS_DELETED] = "swarms_deleted",
    [STATS_PASS_STARTED_MS] = "pass_started_ms",
    [STATS_PASS_FINISHED_MS] = "pass_finished_ms",
    [STATS_PASS_DURATION_MS] = "pass_duration_ms",
    [STATS_PASS_MAX_CALL_MS] = "pass_max_call_ms",
    [STATS_PASSES] = "passes",
};
