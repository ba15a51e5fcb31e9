#ifndef STARLING_BENCODE_H
#define STARLING_BENCODE_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/*
 * Bencode writer (BEP 3) appending to an evbuffer. It writes exactly what it is told:
 * dictionary keys must be written in sorted (raw byte) order by the caller.
 */
void bencode_int(struct evbuffer *out, int64_t value);
void bencode_str(struct evbuffer *out, const void *bytes, size_t len);
void bencode_cstr(struct evbuffer *out, const char *s);
/* Only the "<len>:" prefix of a string whose bytes the caller appends next. */
void bencode_str_prefix(struct evbuffer *out, size_t len);
void bencode_dict_begin(struct evbuffer *out);
void bencode_list_begin(struct evbuffer *out);
void bencode_end(struct evbuffer *out);

/* d14:failure reason<n>:<reason>e */
void bencode_failure(struct evbuffer *out, const char *reason);

#endif
