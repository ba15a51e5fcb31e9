#ifndef STARLING_PROCESS_H
#define STARLING_PROCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

/*
 * What every daemon does around its own work: the shared command line (--config PATH,
 * --check-config, --help, --version, plus flags of its own), loading the configuration,
 * logging, and the event loop with its signals (SIGINT and SIGTERM stop the binary its own
 * way; SIGHUP reopens the log file).
 */

/* The exit status for a bad command line or configuration. */
#define EXIT_CONFIG 2

struct event;
struct event_base;

/* A flag of the binary's own, without an argument (the aggregator's --once). */
struct process_flag {
    const char *name; /* without the dashes */
    const char *help; /* its line in --help */
    bool *set;        /* true when given */
};

#define PROCESS_MAX_FLAGS 4

/* Called on SIGINT and SIGTERM with the signal's number. */
typedef void process_stop_fn(int sig, void *arg);

struct process {
    /* The binary's: */
    const char *name; /* "starling": --help, --version and every message on stderr say it */
    const char *version;
    const struct process_flag *flags; /* nflags <= PROCESS_MAX_FLAGS of them */
    size_t nflags;
    /* process_configure()'s: */
    bool check_only; /* --check-config: the configuration is good, report and exit 0 */
    /* process_start()'s: */
    struct event_base *base;
    process_stop_fn *on_stop;
    void *stop_arg;
    struct event *signals[3];
};

/*
 * Parses the command line and loads the configuration into cfg: the file of --config, else
 * of $STARLING_CONFIG, else none (config_load()). Returns -1 when the binary goes on (to
 * report and exit 0 itself if p->check_only), else the status to exit with: 0 after --help
 * or --version, EXIT_CONFIG on a bad argument or configuration (said on stderr).
 */
int process_configure(struct process *p, int argc, char **argv, struct config *cfg);

/*
 * Logging as cfg says (log_level, log_file), SIGPIPE ignored, and the event loop in p->base,
 * where SIGINT and SIGTERM call on_stop(sig, arg) and SIGHUP reopens the log file. Returns
 * 0, or -1 with the reason on stderr or in the log (the binary exits 1; process_finish()
 * frees what was made).
 */
int process_start(struct process *p, const struct config *cfg, process_stop_fn *on_stop, void *arg);

/* "host:pid", naming this process to the others (truncated to len). */
void process_node_id(char *out, size_t len);

/* After the loop: frees the signal events and the loop, and closes the log file. */
void process_finish(struct process *p);

#endif
