/* Non-blocking TCP connect with a timeout, reporting the exact errno. */
#ifndef DP_CONNECTOR_H
#define DP_CONNECTOR_H

#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>

struct connector;

/* fd >= 0 on success (caller owns it), else -1 and err is the errno. */
typedef void (*connector_cb)(evutil_socket_t fd, int err, void *arg);

struct connector *connector_start(struct event_base *, const struct sockaddr *,
    socklen_t, int timeout_ms, connector_cb, void *);
void connector_cancel(struct connector *);
uint8_t connector_code(int);

#endif
