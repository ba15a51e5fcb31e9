#include "frontend/http_reply.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/numtext.h"
#include "frontend/bencode.h"
#include "frontend/fullscrape.h"

const char *http_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return "Error";
    }
}

size_t http_reply_head(char out[HTTP_REPLY_HEAD_MAX], int status, size_t body_len,
                       enum http_connection connection)
{
    static const char *const connection_header[] = {
        [HTTP_CONNECTION_NONE] = "",
        [HTTP_CONNECTION_CLOSE] = "Connection: close\r\n",
        [HTTP_CONNECTION_KEEP_ALIVE] = "Connection: keep-alive\r\n",
    };
    /* Built by hand: this runs for every reply, and printf showed in profiles. */
    char *p = out;
    memcpy(p, "HTTP/1.1 ", 9), p += 9;
    p = put_uint(p, (size_t)status);
    *p++ = ' ';
    p = put_str(p, http_status_text(status));
    p = put_str(p, "\r\nContent-Type: text/plain\r\nContent-Length: ");
    p = put_uint(p, body_len);
    p = put_str(p, "\r\n");
    p = put_str(p, connection_header[connection]);
    if (status == 405)
        p = put_str(p, "Allow: GET\r\n");
    p = put_str(p, "\r\n");
    return (size_t)(p - out);
}

static bool give_v4(const struct http_peer_list *list, const struct swarm_peer *p)
{
    return p->v4 != NULL && list->v4;
}

static bool give_v6(const struct http_peer_list *list, const struct swarm_peer *p)
{
    return p->v6 != NULL && list->v6;
}

static void encode_peers_compact(struct evbuffer *b, const struct announce_reply *r,
                                 const struct http_peer_list *list)
{
    size_t n4 = 0, n6 = 0;
    for (size_t i = 0; i < r->npeers; i++) {
        n4 += give_v4(list, &r->peers[i]);
        n6 += give_v6(list, &r->peers[i]);
    }
    bencode_cstr(b, "peers");
    bencode_str_prefix(b, n4 * COMPACT_V4_LEN);
    for (size_t i = 0; i < r->npeers; i++)
        if (give_v4(list, &r->peers[i]))
            evbuffer_add(b, r->peers[i].v4, COMPACT_V4_LEN);
    bencode_cstr(b, "peers6");
    bencode_str_prefix(b, n6 * COMPACT_V6_LEN);
    for (size_t i = 0; i < r->npeers; i++)
        if (give_v6(list, &r->peers[i]))
            evbuffer_add(b, r->peers[i].v6, COMPACT_V6_LEN);
}

/* One dictionary of the BEP 3 peer list: d2:ip..7:peer id..4:port..e */
static void encode_peer_dict(struct evbuffer *b, const uint8_t *compact, int family,
                             const uint8_t *peer_id, bool no_peer_id)
{
    struct addr a = {.family = family};
    size_t alen = family == AF_INET ? 4 : 16;
    char text[ADDR_TEXT_LEN];
    memcpy(a.bytes, compact, alen);
    addr_format(&a, text, sizeof(text));
    bencode_dict_begin(b);
    bencode_cstr(b, "ip");
    bencode_cstr(b, text);
    if (!no_peer_id) {
        bencode_cstr(b, "peer id");
        bencode_str(b, peer_id, PEER_ID_LEN);
    }
    bencode_cstr(b, "port");
    bencode_int(b, (int64_t)((compact[alen] << 8) | compact[alen + 1]));
    bencode_end(b);
}

static void encode_peers_dicts(struct evbuffer *b, const struct announce_reply *r,
                               const struct http_peer_list *list)
{
    bencode_cstr(b, "peers");
    bencode_list_begin(b);
    for (size_t i = 0; i < r->npeers; i++) {
        const struct swarm_peer *p = &r->peers[i];
        if (give_v4(list, p))
            encode_peer_dict(b, p->v4, AF_INET, p->peer_id, list->no_peer_id);
        if (give_v6(list, p))
            encode_peer_dict(b, p->v6, AF_INET6, p->peer_id, list->no_peer_id);
    }
    bencode_end(b);
}

void http_reply_announce(struct evbuffer *out, const struct announce_reply *r, uint64_t interval_s,
                         uint64_t min_interval_s, const struct http_peer_list *list)
{
    bencode_dict_begin(out);
    bencode_cstr(out, "complete");
    bencode_int(out, (int64_t)r->complete);
    bencode_cstr(out, "incomplete");
    bencode_int(out, (int64_t)r->incomplete);
    bencode_cstr(out, "interval");
    bencode_int(out, (int64_t)interval_s);
    bencode_cstr(out, "min interval");
    bencode_int(out, (int64_t)min_interval_s);
    if (list->compact)
        encode_peers_compact(out, r, list);
    else
        encode_peers_dicts(out, r, list);
    bencode_end(out);
}

static int hash_cmp(const void *a, const void *b)
{
    return memcmp(a, b, INFO_HASH_LEN);
}

size_t http_scrape_keys(uint8_t (*hashes)[INFO_HASH_LEN], size_t n)
{
    if (n == 0)
        return 0;
    qsort(hashes, n, INFO_HASH_LEN, hash_cmp);
    size_t unique = 1;
    for (size_t i = 1; i < n; i++)
        if (memcmp(hashes[i], hashes[unique - 1], INFO_HASH_LEN) != 0)
            memmove(hashes[unique++], hashes[i], INFO_HASH_LEN);
    return unique;
}

void http_reply_scrape(struct evbuffer *out, const uint8_t (*hashes)[INFO_HASH_LEN],
                       const struct scrape_counts *counts, size_t n)
{
    bencode_dict_begin(out);
    bencode_cstr(out, "files");
    bencode_dict_begin(out);
    for (size_t i = 0; i < n; i++) {
        bencode_str(out, hashes[i], INFO_HASH_LEN);
        bencode_dict_begin(out);
        bencode_cstr(out, "complete");
        bencode_int(out, (int64_t)counts[i].complete);
        bencode_cstr(out, "downloaded");
        bencode_int(out, (int64_t)counts[i].downloaded);
        bencode_cstr(out, "incomplete");
        bencode_int(out, (int64_t)counts[i].incomplete);
        bencode_end(out);
    }
    bencode_end(out);
    bencode_end(out);
}

void http_reply_full_scrape(struct evbuffer *out, struct fullscrape_snapshot *s)
{
    evbuffer_add(out, "d5:files", 8);
    fullscrape_snapshot_append(out, s); /* by reference; "de" when no pass yet */
    evbuffer_add(out, "e", 1);
}
