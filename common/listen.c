#include "common/listen.h"

#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/addr.h"

/* The kernel caps it at net.core.somaxconn anyway; ask for plenty for connection bursts. */
#define LISTEN_BACKLOG 4096

static int open_socket(const char *text, int type, bool reuseport, const char *what, char *err,
                       size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char why[96];
    if (listen_addr_parse(text, &ss, &sslen, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s \"%s\": %s", what, text, why);
        return -1;
    }
    int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        goto fail;
    /* TCP: rebind at once after a restart (TIME_WAIT). Not UDP: there it would let a
     * second process silently take over a port that is in use. */
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    /* Accepted sockets inherit it on Linux: one setsockopt per listener, not per client. */
    if (type == SOCK_STREAM)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (ss.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        goto fail;
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0)
        goto fail;
    if (type == SOCK_STREAM && listen(fd, LISTEN_BACKLOG) < 0)
        goto fail;
    return fd;
fail:
    snprintf(err, errlen, "%s \"%s\": %s", what, text, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

int listen_socket(const char *text, int type, const char *what, char *err, size_t errlen)
{
    return open_socket(text, type, false, what, err, errlen);
}

int listen_socket_shared(const char *text, int type, const char *what, char *err, size_t errlen)
{
    return open_socket(text, type, true, what, err, errlen);
}

void listen_socket_text(int fd, char *buf)
{
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    struct addr a = {.family = AF_INET};
    uint16_t port = 0;
    char text[ADDR_TEXT_LEN];
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0 ||
        addr_from_sockaddr((struct sockaddr *)&bound, &a, &port) < 0) {
        snprintf(buf, LISTEN_TEXT_LEN, "?");
        return;
    }
    addr_format(&a, text, sizeof(text));
    if (a.family == AF_INET6)
        snprintf(buf, LISTEN_TEXT_LEN, "[%s]:%u", text, port);
    else
        snprintf(buf, LISTEN_TEXT_LEN, "%s:%u", text, port);
}
