/*
 * The socket under the session's TLS. bufferevent_openssl over a socket
 * reads every TLS record with two read()s (OpenSSL's read-ahead would
 * stall it) and writes every 16 KiB record with its own write(). Here the
 * OpenSSL bufferevent is a filter over one end of a bufferevent pair; this
 * file moves bytes between the other end and the socket: reads of up to
 * 256 KiB, and one writev of everything queued per turn. Both directions
 * are bounded, so a slow link still pushes back on the session.
 */
#include "tlswire.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "xmalloc.h"

#define TLSWIRE_READ   (256 * 1024 - 128) /* one read from the socket */
#define TLSWIRE_INMAX  (1024 * 1024)      /* ciphertext not yet decrypted */
#define TLSWIRE_OUTMAX (512 * 1024)       /* ciphertext not yet written */

struct tlswire {
	evutil_socket_t tw_fd;
	struct bufferevent *tw_end; /* our end of the pair */
	struct event *tw_rev;
	struct event *tw_wev;
	struct evbuffer *tw_tmp;
	int tw_reading;
	int tw_done; /* EOF or error passed on */
	int tw_errno;
	char tw_error[128];
};

static void tlswire_fill(struct tlswire *);

/* Tell the TLS side that the socket is finished (EOF or error). */
static void
tlswire_finish(struct tlswire *w, int err)
{
	if (w->tw_done)
		return;
	w->tw_done = 1;
	w->tw_errno = err;
	if (err != 0)
		snprintf(w->tw_error, sizeof w->tw_error, "%s", strerror(err));
	if (w->tw_reading)
		event_del(w->tw_rev);
	w->tw_reading = 0;
	event_del(w->tw_wev);
	bufferevent_flush(w->tw_end, EV_WRITE, BEV_FINISHED);
}

/* Write what TLS produced; keep the rest for when the socket can take it. */
static void
tlswire_drain(struct tlswire *w)
{
	struct evbuffer *in = bufferevent_get_input(w->tw_end);
	int n;

	while (evbuffer_get_length(in) > 0) {
		n = evbuffer_write_atmost(in, w->tw_fd, -1);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				break;
			tlswire_finish(w, errno);
			return;
		}
		if (n == 0)
			break;
	}
	if (evbuffer_get_length(in) > 0)
		event_add(w->tw_wev, NULL);
	else
		event_del(w->tw_wev);
	/* Stop taking ciphertext while the socket is behind. */
	if (evbuffer_get_length(in) >= TLSWIRE_OUTMAX)
		bufferevent_disable(w->tw_end, EV_READ);
	else
		bufferevent_enable(w->tw_end, EV_READ);
}

/* The TLS side wrote ciphertext. */
static void
tlswire_endreadcb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	tlswire_drain(arg);
}

/* The TLS side took ciphertext off our hands: read more if we stopped. */
static void
tlswire_endwritecb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	tlswire_fill(arg);
}

/* The socket can take more. */
static void
tlswire_writecb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tlswire_drain(arg);
}

/* The socket has ciphertext: one large read, handed to the TLS side. */
static void
tlswire_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct tlswire *w = arg;
	struct evbuffer_iovec v;
	ssize_t n;

	(void)what;
	if (evbuffer_reserve_space(w->tw_tmp, TLSWIRE_READ, &v, 1) < 1) {
		tlswire_finish(w, ENOMEM);
		return;
	}
	n = read(fd, v.iov_base, v.iov_len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		tlswire_finish(w, errno);
		return;
	}
	if (n == 0) {
		tlswire_finish(w, 0);
		return;
	}
	v.iov_len = (size_t)n;
	evbuffer_commit_space(w->tw_tmp, &v, 1);
	bufferevent_write_buffer(w->tw_end, w->tw_tmp);
	tlswire_fill(w);
}

/* Read the socket while the TLS side keeps up; pause otherwise. */
static void
tlswire_fill(struct tlswire *w)
{
	size_t queued = evbuffer_get_length(bufferevent_get_output(w->tw_end));

	if (w->tw_done)
		return;
	if (queued >= TLSWIRE_INMAX && w->tw_reading) {
		event_del(w->tw_rev);
		w->tw_reading = 0;
	} else if (queued < TLSWIRE_INMAX && !w->tw_reading) {
		event_add(w->tw_rev, NULL);
		w->tw_reading = 1;
	}
}

/* Nothing to do on pair events; the session frees us. */
static void
tlswire_endeventcb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	(void)arg;
}

/*
 * A TLS bufferevent over fd. The session owns both the returned
 * bufferevent and *wp, and frees the wire after the bufferevent.
 */
struct bufferevent *
tlswire_new(struct event_base *base, evutil_socket_t fd, SSL *ssl,
    enum bufferevent_ssl_state state, int dead_ms, struct tlswire **wp)
{
	struct tlswire *w = xcalloc(1, sizeof *w);
	struct bufferevent *pair[2], *bev;
	unsigned int uto = (unsigned int)dead_ms;
	int one = 1;

	*wp = NULL;
	if (bufferevent_pair_new(base, 0, pair) != 0) {
		free(w);
		return NULL;
	}
	bev = bufferevent_openssl_filter_new(base, pair[0], ssl, state,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		bufferevent_free(pair[0]);
		bufferevent_free(pair[1]);
		free(w);
		return NULL;
	}
	evutil_make_socket_nonblocking(fd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof uto);
	bufferevent_setwatermark(pair[0], EV_WRITE, 0, TLSWIRE_OUTMAX);
	w->tw_fd = fd;
	w->tw_end = pair[1];
	w->tw_tmp = evbuffer_new();
	w->tw_rev =
	    event_new(base, fd, EV_READ | EV_PERSIST, tlswire_readcb, w);
	w->tw_wev =
	    event_new(base, fd, EV_WRITE | EV_PERSIST, tlswire_writecb, w);
	bufferevent_setwatermark(pair[1], EV_WRITE, TLSWIRE_INMAX / 2, 0);
	bufferevent_setcb(pair[1], tlswire_endreadcb, tlswire_endwritecb,
	    tlswire_endeventcb, w);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	tlswire_fill(w);
	*wp = w;
	return bev;
}

/* Why the socket ended, if it failed; "" otherwise. */
const char *
tlswire_error(const struct tlswire *w)
{
	return w->tw_error;
}

/* The socket's errno when it failed; 0 for EOF or still open. */
int
tlswire_errno(const struct tlswire *w)
{
	return w->tw_errno;
}

/* Ciphertext not yet on the socket. */
size_t
tlswire_pending(const struct tlswire *w)
{
	return evbuffer_get_length(bufferevent_get_input(w->tw_end));
}

/* Free the wire and close the socket (after the TLS bufferevent). */
void
tlswire_free(struct tlswire *w)
{
	if (w == NULL)
		return;
	/* Last words (a GOAWAY) may still be queued: best effort. */
	if (!w->tw_done)
		evbuffer_write(bufferevent_get_input(w->tw_end), w->tw_fd);
	event_free(w->tw_rev);
	event_free(w->tw_wev);
	bufferevent_free(w->tw_end);
	evbuffer_free(w->tw_tmp);
	close(w->tw_fd);
	free(w);
}
