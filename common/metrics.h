#ifndef STARLING_METRICS_H
#define STARLING_METRICS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writers for the Prometheus text exposition format (version 0.0.4), appending to an
 * evbuffer. Pure: the caller owns the numbers, these only print them.
 */
struct evbuffer;

/* "# HELP name help\n# TYPE name type\n"; type is "counter", "gauge" or "histogram". */
void metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help);

/* "name{labels} value\n"; labels is `key="v",key2="w"` or NULL for none. */
void metrics_sample(struct evbuffer *out, const char *name, const char *labels, double value);
void metrics_sample_u64(struct evbuffer *out, const char *name, const char *labels, uint64_t value);

/* A family of one unlabelled sample: its HELP, TYPE and value. */
void metrics_counter(struct evbuffer *out, const char *name, const char *help, uint64_t value);
void metrics_gauge(struct evbuffer *out, const char *name, const char *help, uint64_t value);
void metrics_gauge_double(struct evbuffer *out, const char *name, const char *help, double value);

/* Latency buckets, in seconds: tracker requests take well under a millisecond to a
 * command timeout (hundreds of ms). */
#define LATENCY_BUCKETS 12
extern const double latency_bounds_s[LATENCY_BUCKETS];

struct latency_histogram {
    uint64_t buckets[LATENCY_BUCKETS]; /* non-cumulative; +Inf is `count` */
    uint64_t count;
    double sum_s;
};

void latency_observe(struct latency_histogram *h, double seconds);

/* The _bucket (cumulative, le=...), _sum and _count samples; labels may be NULL. */
void metrics_histogram(struct evbuffer *out, const char *name, const char *labels,
                       const struct latency_histogram *h);

#endif
