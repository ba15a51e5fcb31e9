/* Unit tests for frontend/metrics.c: Prometheus text writers and the latency histogram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <event2/buffer.h>

#include "common/metrics.h"

/* The buffer's text, NUL-terminated (copied into out, cap bytes). */
static const char *text_of(struct evbuffer *b, char *out, size_t cap)
{
    size_t n = evbuffer_get_length(b);
    assert_true(n < cap);
    evbuffer_copyout(b, out, n);
    out[n] = '\0';
    return out;
}

static void test_family_and_samples(void **state)
{
    char text[512];
    struct evbuffer *b = evbuffer_new();
    (void)state;
    metrics_family(b, "starling_x_total", "counter", "Things counted.");
    metrics_sample_u64(b, "starling_x_total", "endpoint=\"announce\"", 18446744073709551615ULL);
    metrics_sample_u64(b, "starling_x_total", NULL, 0);
    metrics_sample(b, "starling_y", "", 0.25);
    assert_string_equal(text_of(b, text, sizeof(text)),
                        "# HELP starling_x_total Things counted.\n"
                        "# TYPE starling_x_total counter\n"
                        "starling_x_total{endpoint=\"announce\"} 18446744073709551615\n"
                        "starling_x_total 0\n"
                        "starling_y 0.25\n");
    evbuffer_free(b);
}

static void test_latency_observe_buckets(void **state)
{
    struct latency_histogram h;
    (void)state;
    memset(&h, 0, sizeof(h));
    latency_observe(&h, 0.0001); /* first bucket (0.0005) */
    latency_observe(&h, 0.0005); /* on the bound: still the first (le) */
    latency_observe(&h, 0.003);  /* 0.005 */
    latency_observe(&h, 100.0);  /* above every bound: only +Inf */
    assert_int_equal(h.buckets[0], 2);
    assert_int_equal(h.buckets[3], 1);
    uint64_t in_buckets = 0;
    for (size_t i = 0; i < LATENCY_BUCKETS; i++)
        in_buckets += h.buckets[i];
    assert_int_equal(in_buckets, 3);
    assert_int_equal(h.count, 4);
    assert_true(h.sum_s > 100.0 && h.sum_s < 100.01);
}

static void test_histogram_is_cumulative(void **state)
{
    char text[4096];
    struct latency_histogram h;
    struct evbuffer *b = evbuffer_new();
    (void)state;
    memset(&h, 0, sizeof(h));
    latency_observe(&h, 0.0001);
    latency_observe(&h, 0.02);
    latency_observe(&h, 9.0);
    metrics_histogram(b, "lat", "endpoint=\"scrape\"", &h);
    text_of(b, text, sizeof(text));
    assert_non_null(strstr(text, "lat_bucket{endpoint=\"scrape\",le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(text, "lat_bucket{endpoint=\"scrape\",le=\"0.01\"} 1\n"));
    assert_non_null(strstr(text, "lat_bucket{endpoint=\"scrape\",le=\"0.025\"} 2\n"));
    assert_non_null(strstr(text, "lat_bucket{endpoint=\"scrape\",le=\"2.5\"} 2\n"));
    assert_non_null(strstr(text, "lat_bucket{endpoint=\"scrape\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "lat_count{endpoint=\"scrape\"} 3\n"));
    assert_non_null(strstr(text, "lat_sum{endpoint=\"scrape\"} 9.02"));
    evbuffer_free(b);

    b = evbuffer_new();
    metrics_histogram(b, "bare", NULL, &h);
    text_of(b, text, sizeof(text));
    assert_non_null(strstr(text, "bare_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "bare_count 3\n"));
    evbuffer_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_and_samples),
        cmocka_unit_test(test_latency_observe_buckets),
        cmocka_unit_test(test_histogram_is_cumulative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
