#include "common/metrics.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

const double latency_bounds_s[LATENCY_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

void metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample(struct evbuffer *out, const char *name, const char *labels, double value)
{
    if (labels != NULL && labels[0] != '\0')
        evbuffer_add_printf(out, "%s{%s} %.17g\n", name, labels, value);
    else
        evbuffer_add_printf(out, "%s %.17g\n", name, value);
}

void metrics_sample_u64(struct evbuffer *out, const char *name, const char *labels, uint64_t value)
{
    if (labels != NULL && labels[0] != '\0')
        evbuffer_add_printf(out, "%s{%s} %llu\n", name, labels, (unsigned long long)value);
    else
        evbuffer_add_printf(out, "%s %llu\n", name, (unsigned long long)value);
}

void latency_observe(struct latency_histogram *h, double seconds)
{
    for (size_t i = 0; i < LATENCY_BUCKETS; i++) {
        if (seconds <= latency_bounds_s[i]) {
            h->buckets[i]++;
            break;
        }
    }
    h->count++;
    h->sum_s += seconds;
}

void metrics_histogram(struct evbuffer *out, const char *name, const char *labels,
                       const struct latency_histogram *h)
{
    const char *sep = labels != NULL && labels[0] != '\0' ? "," : "";
    const char *lab = labels != NULL ? labels : "";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < LATENCY_BUCKETS; i++) {
        cumulative += h->buckets[i];
        evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, lab, sep,
                            latency_bounds_s[i], (unsigned long long)cumulative);
    }
    evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, lab, sep,
                        (unsigned long long)h->count);
    if (lab[0] != '\0') {
        evbuffer_add_printf(out, "%s_sum{%s} %.17g\n%s_count{%s} %llu\n", name, lab, h->sum_s, name,
                            lab, (unsigned long long)h->count);
    } else {
        evbuffer_add_printf(out, "%s_sum %.17g\n%s_count %llu\n", name, h->sum_s, name,
                            (unsigned long long)h->count);
    }
}

void metrics_counter(struct evbuffer *out, const char *name, const char *help, uint64_t value)
{
    metrics_family(out, name, "counter", help);
    metrics_sample_u64(out, name, NULL, value);
}

void metrics_gauge(struct evbuffer *out, const char *name, const char *help, uint64_t value)
{
    metrics_family(out, name, "gauge", help);
    metrics_sample_u64(out, name, NULL, value);
}

void metrics_gauge_double(struct evbuffer *out, const char *name, const char *help, double value)
{
    metrics_family(out, name, "gauge", help);
    metrics_sample(out, name, NULL, value);
}
