/*
 * Non-blocking TCP connect with a timeout. Unlike bufferevent_socket_connect
 * it hands back the errno of a failed connect, which becomes the SOCKS
 * reply code the client sees.
 */
#include "connector.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <unistd.h>

#include "frame.h"
#include "xmalloc.h"

struct connector {
	evutil_socket_t cn_fd;
	struct event *cn_ev;
	connector_cb cn_cb;
	void *cn_arg;
};

/* Free a connector, closing its socket unless it was handed on. */
static void
connector_free(struct connector *cn)
{
	if (cn->cn_ev != NULL)
		event_free(cn->cn_ev);
	if (cn->cn_fd >= 0)
		close(cn->cn_fd);
	free(cn);
}

/* Writable or timed out: find out how the connect went. */
static void
connector_eventcb(evutil_socket_t fd, short what, void *arg)
{
	struct connector *cn = arg;
	connector_cb cb = cn->cn_cb;
	void *cbarg = cn->cn_arg;
	socklen_t len = sizeof(int);
	int err = 0;

	if (what & EV_TIMEOUT)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		connector_free(cn);
		cb(-1, err, cbarg);
		return;
	}
	cn->cn_fd = -1;
	connector_free(cn);
	cb(fd, 0, cbarg);
}

/*
 * Start connecting. Returns NULL if the connect failed at once, after
 * calling cb with the error.
 */
struct connector *
connector_start(struct event_base *base, const struct sockaddr *sa,
    socklen_t len, int timeout_ms, connector_cb cb, void *arg)
{
	struct connector *cn;
	struct timeval tv;
	evutil_socket_t fd;
	int one = 1, err;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		cb(-1, errno, arg);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, sa, len) != 0 && errno != EINPROGRESS) {
		err = errno;
		close(fd);
		cb(-1, err, arg);
		return NULL;
	}
	cn = xcalloc(1, sizeof *cn);
	cn->cn_fd = fd;
	cn->cn_cb = cb;
	cn->cn_arg = arg;
	cn->cn_ev = event_new(base, fd, EV_WRITE, connector_eventcb, cn);
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	event_add(cn->cn_ev, &tv);
	return cn;
}

/* Give up on a connect in progress; the callback is not called. */
void
connector_cancel(struct connector *cn)
{
	connector_free(cn);
}

/* Map a connect errno to the SOCKS5 reply code a client expects. */
uint8_t
connector_code(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return OPEN_REFUSED;
	case EHOSTUNREACH:
	case EHOSTDOWN:
		return OPEN_HOST_UNREACH;
	case ENETUNREACH:
	case ENETDOWN:
		return OPEN_NET_UNREACH;
	case ETIMEDOUT:
		return OPEN_TIMEOUT;
	case EACCES:
	case EPERM:
		return OPEN_NOT_ALLOWED;
	default:
		return OPEN_FAILURE;
	}
}
