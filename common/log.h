#ifndef STARLING_LOG_H
#define STARLING_LOG_H

/*
 * One line per event on stderr (or a file): `ts=<RFC 3339 UTC> level=<lvl> msg="<text>"`.
 * Shared by every binary (part of the starling_common library they all link).
 */
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

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
