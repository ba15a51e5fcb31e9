#ifndef STARLING_LOG_H
#define STARLING_LOG_H

/*
 * One line per event on stderr (or a file): `ts=<RFC 3339 UTC> level=<lvl> msg="<text>"`.
 * Shared by every binary (part of the starling_common library they all link).
 */
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
/* Logs to the file at path (appending), or to stderr for NULL or "". Returns 0 or -1
 * (errno set; logging stays where it was). */
int log_open_file(const char *path);
/* Reopens the log file (after logrotate moved it: SIGHUP). A no-op on stderr. */
void log_reopen(void);
/* "debug", "info", "warn", "error" -> 0, or -1 when unknown. */
int log_level_parse(const char *text, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * For a line that can repeat per request or per event (accept errors, Redis call failures,
 * malformed datagrams): at most one line per LOG_LIMIT_INTERVAL_MS for each struct
 * log_limit (one static per kind of line), the first line of a window carrying how many
 * were suppressed in the window before. A flood costs one line a second, not a disk.
 */
#define LOG_LIMIT_INTERVAL_MS 1000
struct log_limit {
    uint64_t window_start_ms; /* monotonic; 0: nothing logged yet */
    uint64_t suppressed;      /* lines dropped since the last one written */
};

/* The decision alone (pure, for tests): whether a line at now_ms is written; when it is,
 * *suppressed is set to how many were dropped before it. */
bool log_limit_pass(struct log_limit *lim, uint64_t now_ms, uint64_t *suppressed);

void log_limited(struct log_limit *lim, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
