#include "common/process.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"

/* getopt_long()'s values for the binary's own flags: past every character. */
#define FLAG_VAL 256
#define USAGE_COLUMNS 80

/* A --help line: "  --config PATH    JSON config file ...". */
static void option_line(FILE *out, const char *option, const char *help)
{
    fprintf(out, "  %-17s%s\n", option, help);
}

static void usage(const struct process *p, FILE *out)
{
    char items[4 + PROCESS_MAX_FLAGS][64];
    size_t n = 0;
    snprintf(items[n++], sizeof(items[0]), "[--config PATH]");
    for (size_t i = 0; i < p->nflags; i++)
        snprintf(items[n++], sizeof(items[0]), "[--%s]", p->flags[i].name);
    snprintf(items[n++], sizeof(items[0]), "[--check-config]");
    snprintf(items[n++], sizeof(items[0]), "[--help]");
    snprintf(items[n++], sizeof(items[0]), "[--version]");
    /* The synopsis, wrapped under its first item. */
    int indent = fprintf(out, "usage: %s", p->name) + 1;
    int col = indent - 1;
    for (size_t i = 0; i < n; i++) {
        int len = (int)strlen(items[i]);
        if (i > 0 && col + 1 + len > USAGE_COLUMNS)
            col = fprintf(out, "\n%*s%s", indent, "", items[i]) - 1;
        else
            col += fprintf(out, " %s", items[i]);
    }
    fprintf(out, "\n\n");
    option_line(out, "--config PATH", "JSON config file (default: $STARLING_CONFIG, else built-in");
    option_line(out, "", "defaults); STARLING_* environment variables override it");
    for (size_t i = 0; i < p->nflags; i++) {
        char option[64];
        snprintf(option, sizeof(option), "--%s", p->flags[i].name);
        option_line(out, option, p->flags[i].help);
    }
    option_line(out, "--check-config", "validate the configuration and exit (0 when good)");
    option_line(out, "--help", "this text");
    option_line(out, "--version", "print the version");
}

/* The command line; -1 to go on, else the status to exit with. */
static int parse_args(struct process *p, int argc, char **argv, const char **config_path)
{
    struct option options[5 + PROCESS_MAX_FLAGS] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},
    };
    size_t n = 4;
    for (size_t i = 0; i < p->nflags && i < PROCESS_MAX_FLAGS; i++)
        options[n++] = (struct option){p->flags[i].name, no_argument, NULL, FLAG_VAL + (int)i};
    int opt;
    while ((opt = getopt_long(argc, argv, "c:hv", options, NULL)) != -1) {
        if (opt >= FLAG_VAL) {
            *p->flags[opt - FLAG_VAL].set = true;
            continue;
        }
        switch (opt) {
        case 'c':
            *config_path = optarg;
            break;
        case 'k':
            p->check_only = true;
            break;
        case 'h':
            usage(p, stdout);
            return 0;
        case 'v':
            printf("%s %s\n", p->name, p->version);
            return 0;
        default:
            usage(p, stderr);
            return EXIT_CONFIG;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", p->name, argv[optind]);
        usage(p, stderr);
        return EXIT_CONFIG;
    }
    return -1;
}

int process_configure(struct process *p, int argc, char **argv, struct config *cfg)
{
    const char *config_path = config_path_from_env();
    char err[STARLING_ERR_LEN];
    int rc = parse_args(p, argc, argv, &config_path);
    if (rc >= 0)
        return rc;
    if (config_load(config_path, cfg, err) < 0) {
        fprintf(stderr, "%s: config: %s\n", p->name, err);
        return EXIT_CONFIG;
    }
    return -1;
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct process *p = arg;
    (void)what;
    p->on_stop((int)sig, p->stop_arg);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what, (void)arg;
    log_reopen();
    log_info("SIGHUP: log file reopened");
}

int process_start(struct process *p, const struct config *cfg, process_stop_fn *on_stop, void *arg)
{
    enum log_level level = LOG_INFO;
    log_level_parse(cfg->log_level, &level);
    log_set_level(level);
    if (log_open_file(cfg->log_file) < 0) {
        fprintf(stderr, "%s: log_file \"%s\": cannot open\n", p->name, cfg->log_file);
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    p->base = event_base_new();
    if (p->base == NULL) {
        log_error("cannot create the event loop");
        return -1;
    }
    p->on_stop = on_stop;
    p->stop_arg = arg;
    p->signals[0] = evsignal_new(p->base, SIGINT, on_stop_signal, p);
    p->signals[1] = evsignal_new(p->base, SIGTERM, on_stop_signal, p);
    p->signals[2] = evsignal_new(p->base, SIGHUP, on_hup, p);
    for (size_t i = 0; i < 3; i++) {
        if (p->signals[i] == NULL || evsignal_add(p->signals[i], NULL) < 0) {
            log_error("cannot handle signals");
            return -1;
        }
    }
    return 0;
}

void process_node_id(char *out, size_t len)
{
    char host[64] = "unknown";
    gethostname(host, sizeof(host) - 1);
    snprintf(out, len, "%s:%ld", host, (long)getpid());
}

void process_finish(struct process *p)
{
    for (size_t i = 0; i < 3; i++) {
        if (p->signals[i] != NULL)
            event_free(p->signals[i]);
        p->signals[i] = NULL;
    }
    if (p->base != NULL)
        event_base_free(p->base);
    p->base = NULL;
    log_open_file(NULL);
}
