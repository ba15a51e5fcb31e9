/* starling: the frontend daemon. CLI, configuration, signals, wiring. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "redis.h"
#include "tracker.h"

#define EXIT_CONFIG 2

static void usage(FILE *out)
{
    fprintf(out,
            "usage: starling [--config PATH] [--check-config] [--help] [--version]\n"
            "\n"
            "  --config PATH    JSON config file (default: $STARLING_CONFIG, else built-in\n"
            "                   defaults); STARLING_* environment variables override it\n"
            "  --check-config   validate the configuration and exit (0 when good)\n"
            "  --help           this text\n"
            "  --version        print the version\n");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct event_base *base = arg;
    (void)what;
    log_info("signal %d: shutting down", (int)sig);
    event_base_loopexit(base, NULL);
}

/* Defaults, then the file, then the environment, then cross-checks. Exits 2 on error. */
static void load_config(const char *path, struct config *cfg)
{
    char err[STARLING_ERR_LEN];
    config_defaults(cfg);
    if (path != NULL && config_load_file(path, cfg, err) < 0) {
        fprintf(stderr, "starling: config: %s\n", err);
        exit(EXIT_CONFIG);
    }
    if (config_apply_env(cfg, err) < 0 || config_validate(cfg, err) < 0) {
        fprintf(stderr, "starling: config: %s\n", err);
        exit(EXIT_CONFIG);
    }
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = getenv("STARLING_CONFIG");
    if (config_path != NULL && config_path[0] == '\0')
        config_path = NULL;
    bool check_only = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:hv", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'k':
            check_only = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'v':
            printf("starling %s\n", STARLING_VERSION);
            return 0;
        default:
            usage(stderr);
            return EXIT_CONFIG;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "starling: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return EXIT_CONFIG;
    }

    static struct config cfg;
    load_config(config_path, &cfg);
    if (check_only) {
        /* scripts/run.sh reads the Redis address from this line. */
        if (cfg.redis.unix_socket[0] != '\0')
            printf("starling: config ok; redis unix:%s\n", cfg.redis.unix_socket);
        else
            printf("starling: config ok; redis %s:%u\n", cfg.redis.host, cfg.redis.port);
        return 0;
    }
    enum log_level level = LOG_INFO;
    log_level_parse(cfg.log_level, &level);
    log_set_level(level);

    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    if (base == NULL) {
        log_error("cannot create the event loop");
        return 1;
    }
    struct redis_pool *pool = redis_pool_new(base, &cfg.redis);
    struct tracker tracker = {.cfg = &cfg, .pool = pool};
    char err[STARLING_ERR_LEN];
    struct http_server *http = http_server_new(base, &cfg, &tracker, err);
    if (http == NULL) {
        log_error("%s", err);
        redis_pool_free(pool);
        event_base_free(base);
        return 1;
    }
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);
    if (cfg.redis.unix_socket[0] != '\0')
        log_info("starling %s started; redis at unix:%s", STARLING_VERSION,
                 cfg.redis.unix_socket);
    else
        log_info("starling %s started; redis at %s:%u", STARLING_VERSION, cfg.redis.host,
                 cfg.redis.port);

    event_base_dispatch(base);

    /* Storage first: it answers every call still in flight ("shutting down"), so the
     * HTTP server can then close connections none of which is waiting. */
    redis_pool_free(pool);
    http_server_free(http);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(base);
    log_info("stopped");
    return 0;
}
