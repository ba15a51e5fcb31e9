#ifndef STARLING_CLOCK_H
#define STARLING_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* Clocks and timevals, header-only: every binary needs the same few lines. */

/* Monotonic microseconds, for durations and deadlines. */
static inline uint64_t clock_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Wall-clock milliseconds since the epoch: the time base of peer expiry in Redis. */
static inline uint64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline struct timeval clock_ms_to_tv(uint64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

static inline struct timeval clock_us_to_tv(uint64_t us)
{
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000)};
    return tv;
}

#endif
