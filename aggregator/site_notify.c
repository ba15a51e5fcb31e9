/* Ocelot's call to the site: expired freeleech tokens (aggregator/site_notify.h). */
#include "aggregator/site_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"

size_t site_notify_target(const char *path, const char *site_password,
                          const struct gazelle_token *tokens, size_t n, char *out, size_t cap)
{
    int len = snprintf(out, cap, "%s/tools.php?key=%s&type=expiretoken&action=ocelot&tokens=", path,
                       site_password);
    if (len < 0 || (size_t)len >= cap)
        return 0;
    size_t at = (size_t)len;
    for (size_t i = 0; i < n; i++) {
        len = snprintf(out + at, cap - at, "%s%u:%u", i ? "," : "", tokens[i].user_id,
                       tokens[i].torrent_id);
        if (len < 0 || (size_t)len >= cap - at)
            return 0;
        at += (size_t)len;
    }
    return at;
}

/* "http://host[:port][/path]" into host, port and path ("" for none). -1 when not so. */
static int parse_url(const char *url, char *host, size_t host_cap, char *port, size_t port_cap,
                     char *path, size_t path_cap)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hlen = slash != NULL ? (size_t)(slash - h) : strlen(h);
    const char *colon = NULL;
    if (h[0] == '[') { /* [v6]:port */
        const char *close = memchr(h, ']', hlen);
        if (close == NULL)
            return -1;
        colon = close + 1 < h + hlen && close[1] == ':' ? close + 1 : NULL;
        snprintf(host, host_cap, "%.*s", (int)(close - h - 1), h + 1);
    } else {
        colon = memchr(h, ':', hlen);
        snprintf(host, host_cap, "%.*s", (int)(colon != NULL ? colon - h : (ptrdiff_t)hlen), h);
    }
    snprintf(port, port_cap, "%.*s", colon != NULL ? (int)(h + hlen - colon - 1) : 2,
             colon != NULL ? colon + 1 : "80");
    snprintf(path, path_cap, "%s", slash != NULL ? slash : "");
    size_t plen = strlen(path);
    if (plen > 0 && path[plen - 1] == '/')
        path[plen - 1] = '\0'; /* ".../" and "..." name the same directory */
    return host[0] != '\0' && port[0] != '\0' ? 0 : -1;
}

/* Waits for fd to be ready for events until deadline_us. 0, or -1 on timeout or error. */
static int wait_fd(int fd, short events, uint64_t deadline_us)
{
    for (;;) {
        uint64_t now = clock_monotonic_us();
        if (now >= deadline_us)
            return -1;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)((deadline_us - now + 999) / 1000));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

static int connect_to(const char *host, const char *port, uint64_t deadline_us)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if ((connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
             (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline_us) < 0 ||
              getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0))) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

int site_notify_expired_tokens(const char *site_url, const char *site_password,
                               const struct gazelle_token *tokens, size_t n, uint64_t timeout_ms,
                               char *err)
{
    char host[256], port[16], path[256], target[4096], request[4608];
    if (n > SITE_NOTIFY_TOKENS ||
        parse_url(site_url, host, sizeof(host), port, sizeof(port), path, sizeof(path)) < 0 ||
        site_notify_target(path, site_password, tokens, n, target, sizeof(target)) == 0) {
        snprintf(err, STARLING_ERR_LEN, "site_url: not http://host[:port][/path]");
        return -1;
    }
    int len = snprintf(request, sizeof(request),
                       "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: starling\r\n\r\n", target, host);
    uint64_t deadline = clock_monotonic_us() + timeout_ms * 1000;
    int fd = connect_to(host, port, deadline);
    if (fd < 0) {
        snprintf(err, STARLING_ERR_LEN, "site %.120s:%s: cannot connect", host, port);
        return -1;
    }
    size_t sent = 0;
    while (sent < (size_t)len) {
        ssize_t w = send(fd, request + sent, (size_t)len - sent, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLOUT, deadline) == 0)
            continue;
        if (w <= 0)
            break;
        sent += (size_t)w;
    }
    /* The status line is all that is read: "HTTP/1.x 200". */
    char reply[64];
    size_t got = 0;
    while (sent == (size_t)len && got < 12) {
        ssize_t r = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLIN, deadline) == 0)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    reply[got] = '\0';
    if (got >= 12 && strncmp(reply, "HTTP/1.", 7) == 0 && strncmp(reply + 9, "200", 3) == 0)
        return 0;
    snprintf(err, STARLING_ERR_LEN, "site %.120s:%s: %s", host, port,
             sent < (size_t)len ? "request not sent"
             : got < 12         ? "no answer"
                                : "not 200");
    return -1;
}
