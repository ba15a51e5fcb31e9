#include "frontend/http_parse.h"

#include <string.h>
#include <strings.h>

size_t http_head_length(const char *data, size_t len)
{
    const char *p = data;
    const char *end = data + len;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        p++;
        if (p < end && *p == '\n')
            return (size_t)(p + 1 - data);
        if (p + 1 < end && p[0] == '\r' && p[1] == '\n')
            return (size_t)(p + 2 - data);
    }
    return 0;
}

int http_too_large_status(const char *data, size_t len)
{
    return memchr(data, '\n', len) != NULL ? 431 : 414;
}

static bool token_eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

/* Does a comma-separated header value contain `token` (case-insensitive)? */
static bool header_has_token(const char *v, size_t len, const char *token)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (token_eq(v + start, end - start, token))
            return true;
    }
    return false;
}

/* Splits one line (without its line ending) off [*p, end). */
static const char *next_line(const char **p, const char *end, size_t *len)
{
    const char *line = *p;
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    if (nl == NULL)
        return NULL;
    *p = nl + 1;
    *len = (size_t)(nl - line);
    if (*len > 0 && line[*len - 1] == '\r')
        (*len)--;
    return line;
}

/* METHOD SP target SP HTTP/1.x */
static int parse_request_line(const char *line, size_t line_len, struct http_head *h)
{
    const char *sp1 = memchr(line, ' ', line_len);
    if (sp1 == NULL || sp1 == line)
        return -1;
    const char *rest = sp1 + 1;
    size_t rest_len = line_len - (size_t)(rest - line);
    const char *sp2 = memchr(rest, ' ', rest_len);
    if (sp2 == NULL || sp2 == rest)
        return -1;
    const char *version = sp2 + 1;
    size_t version_len = line_len - (size_t)(version - line);
    if (version_len != 8 || memcmp(version, "HTTP/1.", 7) != 0 || version[7] < '0' ||
        version[7] > '9')
        return -1;
    h->method = line;
    h->method_len = (size_t)(sp1 - line);
    h->target = rest;
    h->target_len = (size_t)(sp2 - rest);
    h->minor_version = version[7] - '0';
    for (size_t i = 0; i < h->method_len; i++)
        if (line[i] < 'A' || line[i] > 'Z')
            return -1;
    return 0;
}

/* One "name: value" line; only the headers that change the answer are kept. */
static int parse_header(const char *line, size_t line_len, const char *real_ip_header,
                        struct http_head *h)
{
    const char *colon = memchr(line, ':', line_len);
    /* No colon, an empty name, whitespace in the name or an obsolete folded line. */
    if (colon == NULL || colon == line || line[0] == ' ' || line[0] == '\t')
        return -1;
    size_t name_len = (size_t)(colon - line);
    for (size_t i = 0; i < name_len; i++)
        if (line[i] <= ' ' || line[i] >= 127)
            return -1;
    const char *v = colon + 1;
    const char *vend = line + line_len;
    while (v < vend && (*v == ' ' || *v == '\t'))
        v++;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
        vend--;
    size_t vlen = (size_t)(vend - v);
    if (token_eq(line, name_len, "connection")) {
        h->conn_close |= header_has_token(v, vlen, "close");
        h->conn_keep_alive |= header_has_token(v, vlen, "keep-alive");
    } else if (token_eq(line, name_len, "content-length")) {
        for (size_t i = 0; i < vlen; i++)
            if (v[i] < '0' || v[i] > '9')
                return -1;
        for (size_t i = 0; i < vlen; i++)
            if (v[i] != '0')
                h->has_body = true;
    } else if (token_eq(line, name_len, "transfer-encoding")) {
        h->has_body = true;
    } else if (token_eq(line, name_len, "user-agent")) {
        h->user_agent = v;
        h->user_agent_len = vlen;
    } else if (real_ip_header[0] != '\0' && token_eq(line, name_len, real_ip_header)) {
        h->real_ip = v;
        h->real_ip_len = vlen;
    }
    return 0;
}

int http_parse_head(const char *data, size_t len, const char *real_ip_header, struct http_head *h)
{
    const char *p = data;
    const char *end = data + len;
    size_t line_len;
    memset(h, 0, sizeof(*h));
    const char *line = next_line(&p, end, &line_len);
    if (line == NULL || parse_request_line(line, line_len, h) < 0)
        return -1;
    while ((line = next_line(&p, end, &line_len)) != NULL && line_len > 0)
        if (parse_header(line, line_len, real_ip_header, h) < 0)
            return -1;
    return 0;
}

bool http_keep_alive(const struct http_head *h)
{
    return h->minor_version == 0 ? h->conn_keep_alive : !h->conn_close;
}

static enum http_route route_of(const char *path, size_t len, const char **key)
{
    *key = NULL;
    if (token_eq(path, len, "/announce"))
        return HTTP_ROUTE_ANNOUNCE;
    if (token_eq(path, len, "/scrape"))
        return HTTP_ROUTE_SCRAPE;
    /* /<key>/<action>: a passkey, or the site's update or report password. */
    if (len < PASSKEY_LEN + 2 || path[PASSKEY_LEN + 1] != '/' ||
        memchr(path + 1, '/', PASSKEY_LEN) != NULL)
        return HTTP_ROUTE_NOT_FOUND;
    const char *action = path + PASSKEY_LEN + 1;
    size_t action_len = len - PASSKEY_LEN - 1;
    static const struct {
        const char *path;
        enum http_route route;
    } keyed[] = {{"/announce", HTTP_ROUTE_ANNOUNCE},
                 {"/scrape", HTTP_ROUTE_SCRAPE},
                 {"/update", HTTP_ROUTE_UPDATE},
                 {"/report", HTTP_ROUTE_REPORT}};
    for (size_t i = 0; i < sizeof(keyed) / sizeof(keyed[0]); i++) {
        if (token_eq(action, action_len, keyed[i].path)) {
            *key = path + 1;
            return keyed[i].route;
        }
    }
    return HTTP_ROUTE_NOT_FOUND;
}

int http_route_request(const struct http_head *h, struct http_target *t)
{
    if (h->method_len != 3 || memcmp(h->method, "GET", 3) != 0)
        return 405;
    if (h->has_body)
        return 400;
    const char *target = h->target;
    size_t target_len = h->target_len;
    /* absolute-form (http://host/path?q), which RFC 9112 says servers must accept */
    if (target_len > 7 && strncasecmp(target, "http://", 7) == 0) {
        const char *slash = memchr(target + 7, '/', target_len - 7);
        if (slash == NULL)
            return 400;
        target_len -= (size_t)(slash - target);
        target = slash;
    }
    if (target_len == 0 || target[0] != '/')
        return 400;
    const char *q = memchr(target, '?', target_len);
    size_t path_len = q != NULL ? (size_t)(q - target) : target_len;
    t->route = route_of(target, path_len, &t->key);
    t->query = q != NULL ? q + 1 : target + target_len;
    t->query_len = target_len - path_len - (q != NULL);
    return 0;
}

const char *http_refusal_reason(int status)
{
    switch (status) {
    case 405:
        return "method not allowed";
    case 414:
    case 431:
        return "request too large";
    default:
        return "bad request";
    }
}

bool http_status_closes(int status)
{
    return status != 200 && status != 404;
}

int http_real_ip(const char *value, size_t len, struct addr *out)
{
    const char *start = value;
    for (size_t i = 0; i < len; i++)
        if (value[i] == ',')
            start = value + i + 1;
    const char *end = value + len;
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    struct addr parsed;
    if (addr_parse(start, (size_t)(end - start), &parsed) < 0)
        return -1;
    *out = parsed;
    return 0;
}
