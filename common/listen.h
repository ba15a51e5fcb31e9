#ifndef STARLING_LISTEN_H
#define STARLING_LISTEN_H

#include <stddef.h>

/* Room for "[<IPv6>]:65535" and a NUL. */
#define LISTEN_TEXT_LEN 64

/*
 * Opens a non-blocking socket of `type` (SOCK_STREAM: listening; SOCK_DGRAM: bound) on a
 * listen address ("127.0.0.1:6969", "[::]:6969", ":6969"; see listen_addr_parse()). IPv6
 * sockets are IPv6-only, so both families' wildcards can be listed side by side.
 * Returns the fd, or -1 with a reason in err (errlen bytes) naming `what` and the text.
 */
int listen_socket(const char *text, int type, const char *what, char *err, size_t errlen);

/* The same with SO_REUSEPORT, so several processes can serve one port (the kernel spreads
 * datagrams and connections over them by a hash of the sender). */
int listen_socket_shared(const char *text, int type, const char *what, char *err, size_t errlen);

/* The address a socket is bound to, "127.0.0.1:40123" or "[::1]:40123" (the real port
 * when ":0" was asked for), into buf (LISTEN_TEXT_LEN bytes). */
void listen_socket_text(int fd, char *buf);

#endif
