#ifndef STARLING_CONNID_H
#define STARLING_CONNID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

/*
 * BEP 15 connection IDs, derived rather than stored, so every frontend that shares the
 * secret accepts every other's IDs and none keeps state:
 *
 *   id = SipHash-2-4(key, family || address || port || window)      (64 bits)
 *
 * where window = unix_time_s / CONNID_WINDOW_S. An ID is accepted in its own window and
 * the next one: between one and two windows (60-120 s) after it was issued, as BEP 15's
 * "two minutes" asks, and never longer.
 */
#define CONNID_WINDOW_S 60
#define CONNID_KEY_LEN 16

struct connid_keys {
    uint8_t current[CONNID_KEY_LEN];  /* issues and checks */
    uint8_t previous[CONNID_KEY_LEN]; /* checks only: rotation without a flag day */
    bool has_previous;
};

/* SipHash-2-4 of len bytes with a 16-byte key (the reference algorithm). */
uint64_t siphash24(const uint8_t key[CONNID_KEY_LEN], const void *data, size_t len);

/* A 16-byte key from an operator's secret text of any length (SipHash of the text under
 * two fixed keys). */
void connid_key_from_secret(const char *secret, size_t len, uint8_t out[CONNID_KEY_LEN]);

/* The ID for a client (address + port) at unix time now_s, under keys->current. */
uint64_t connid_issue(const struct connid_keys *keys, const struct addr *a, uint16_t port,
                      uint64_t now_s);

/* Whether id was issued to this client in the current or the previous window, under the
 * current or (if any) the previous key. */
bool connid_check(const struct connid_keys *keys, const struct addr *a, uint16_t port,
                  uint64_t now_s, uint64_t id);

#endif
