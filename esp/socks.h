/* The esp's SOCKS5 front door (RFC 1928, CONNECT). */
#ifndef DP_SOCKS_H
#define DP_SOCKS_H

#include <sys/socket.h>

#include <event2/util.h>

struct esp;
struct socks_client;

void socks_accept(struct esp *, evutil_socket_t, const struct sockaddr *, int);
void socks_client_free(struct socks_client *);

#endif
