#include "frontend/bencode.h"

#include <string.h>

#include <event2/buffer.h>

/* "i" + "-" + 19 digits (INT64_MIN) + "e"; a size_t "<len>:" needs 20 + 1. */
#define BENCODE_NUM_MAX 24

/*
 * Writes the decimal digits of v so they end just before end. Returns where they start.
 * Formatting by hand keeps snprintf's format parsing off the reply path.
 */
static char *format_u64(uint64_t v, char *end)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

void bencode_int(struct evbuffer *out, int64_t value)
{
    char buf[BENCODE_NUM_MAX];
    char *end = buf + sizeof(buf);
    /* Negate in unsigned arithmetic: -INT64_MIN does not fit in int64_t. */
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;

    *--end = 'e';
    char *p = format_u64(magnitude, end);
    if (value < 0)
        *--p = '-';
    *--p = 'i';
    evbuffer_add(out, p, (size_t)(buf + sizeof(buf) - p));
}

void bencode_str_prefix(struct evbuffer *out, size_t len)
{
    char buf[BENCODE_NUM_MAX];
    char *end = buf + sizeof(buf);

    *--end = ':';
    char *p = format_u64(len, end);
    evbuffer_add(out, p, (size_t)(buf + sizeof(buf) - p));
}

void bencode_str(struct evbuffer *out, const void *bytes, size_t len)
{
    bencode_str_prefix(out, len);
    if (len > 0) /* bytes may be NULL for the empty string */
        evbuffer_add(out, bytes, len);
}

void bencode_cstr(struct evbuffer *out, const char *s)
{
    bencode_str(out, s, strlen(s));
}

void bencode_dict_begin(struct evbuffer *out)
{
    evbuffer_add(out, "d", 1);
}

void bencode_list_begin(struct evbuffer *out)
{
    evbuffer_add(out, "l", 1);
}

void bencode_end(struct evbuffer *out)
{
    evbuffer_add(out, "e", 1);
}

void bencode_failure(struct evbuffer *out, const char *reason)
{
    bencode_dict_begin(out);
    bencode_cstr(out, "failure reason");
    bencode_cstr(out, reason);
    bencode_end(out);
}
