#include "common/log.h"

#include "common/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static FILE *log_out; /* NULL: stderr */
static char log_path[256];
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    min_level = level;
}

int log_open_file(const char *path)
{
    if (path == NULL || path[0] == '\0') {
        if (log_out != NULL)
            fclose(log_out);
        log_out = NULL;
        log_path[0] = '\0';
        return 0;
    }
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return -1;
    setvbuf(f, NULL, _IOLBF, 0); /* whole lines reach the file as they are written */
    if (log_out != NULL)
        fclose(log_out);
    log_out = f;
    snprintf(log_path, sizeof(log_path), "%s", path);
    return 0;
}

void log_reopen(void)
{
    char path[sizeof(log_path)];
    if (log_path[0] == '\0')
        return;
    memcpy(path, log_path, sizeof(path));
    if (log_open_file(path) < 0)
        log_msg(LOG_ERROR, "cannot reopen log file %s", path);
}

int log_level_parse(const char *text, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Writes one line: the formatted message, and how many like it were suppressed before. */
static void log_line(enum log_level level, uint64_t suppressed, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void log_line(enum log_level level, uint64_t suppressed, const char *fmt, va_list ap)
{
    char text_in[1024];
    vsnprintf(text_in, sizeof(text_in), fmt, ap);
    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    char text[sizeof(text_in) + 64]; /* room for the suppressed count */
    if (suppressed > 0)
        snprintf(text, sizeof(text), "%s (%llu similar lines suppressed)", text_in,
                 (unsigned long long)suppressed);
    else
        snprintf(text, sizeof(text), "%s", text_in);
    /* Quotes inside the message would break key=value parsing: soften them. */
    for (char *p = text; *p != '\0'; p++) {
        if (*p == '"')
            *p = '\'';
        else if (*p == '\n')
            *p = ' ';
    }
    fprintf(log_out != NULL ? log_out : stderr, "ts=%s.%03ldZ level=%s msg=\"%s\"\n", ts,
            now.tv_nsec / 1000000L, level_names[level], text);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_line(level, 0, fmt, ap);
    va_end(ap);
}

bool log_limit_pass(struct log_limit *lim, uint64_t now_ms, uint64_t *suppressed)
{
    if (lim->window_start_ms != 0 && now_ms - lim->window_start_ms < LOG_LIMIT_INTERVAL_MS) {
        lim->suppressed++;
        return false;
    }
    lim->window_start_ms = now_ms != 0 ? now_ms : 1;
    *suppressed = lim->suppressed;
    lim->suppressed = 0;
    return true;
}

void log_limited(struct log_limit *lim, enum log_level level, const char *fmt, ...)
{
    uint64_t suppressed;
    if (level < min_level || !log_limit_pass(lim, clock_monotonic_us() / 1000, &suppressed))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_line(level, suppressed, fmt, ap);
    va_end(ap);
}
