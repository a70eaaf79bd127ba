/*
 * A socket end: a channel's local connection, as a bufferevent. Reads are
 * ours, 64 KiB at a time (a socket bufferevent reads at most 4 KiB per
 * wakeup, which caps a channel far below what TLS can carry), straight
 * into a DATA frame when the channel can send at once; writes go
 * straight to the socket while nothing is queued, else through the
 * bufferevent. Bytes leaving the output are reported to the channel,
 * which returns their credit to the peer.
 */
#include "end.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "channel.h"
#include "xmalloc.h"

#define END_SOCK_READ_HIWAT (128 * 1024) /* a pair's read watermark */
/* One socket read: with the chain header, just fits a 64 KiB block. */
#define END_SOCK_IO_CHUNK (64 * 1024 - 128)

struct end_sock {
	struct end es_end;
	struct bufferevent *es_bev;
	struct event *es_rev;    /* our reads of it (see end_sock_readev) */
	unsigned es_reading : 1; /* es_rev is added */
	struct evbuffer_cb_entry *es_outcb;
	size_t es_out_skip; /* output bytes queued before relaying began */
};

/* The bytes read from the socket. */
static struct evbuffer *
end_sock_input(struct end *e)
{
	return bufferevent_get_input(((struct end_sock *)e)->es_bev);
}

/* Bytes queued for the socket. */
static struct evbuffer *
end_sock_output(struct end *e)
{
	return bufferevent_get_output(((struct end_sock *)e)->es_bev);
}

/*
 * Write len bytes of src. While nothing is queued, write them at once: no
 * write event to arm and disarm, no loop turn before they leave. What
 * the socket does not take is queued as usual.
 */
static void
end_sock_deliver(struct end *e, struct evbuffer *src, size_t len)
{
	struct end_sock *es = (struct end_sock *)e;
	struct evbuffer *out = bufferevent_get_output(es->es_bev);
	evutil_socket_t fd = bufferevent_getfd(es->es_bev);
	int n;

	if (fd >= 0 && es->es_out_skip == 0 && evbuffer_get_length(out) == 0 &&
	    (n = evbuffer_write_atmost(src, fd, (ev_ssize_t)len)) > 0) {
		len -= (size_t)n;
		channel_end_written(e->e_ch, (size_t)n, len == 0);
	}
	if (len > 0)
		evbuffer_remove_buffer(src, out, len);
}

/* Start or stop reading the socket. */
static void
end_sock_read(struct end *e, int on)
{
	struct end_sock *es = (struct end_sock *)e;

	if (es->es_rev == NULL || on == (int)es->es_reading)
		return;
	if (on)
		event_add(es->es_rev, NULL);
	else
		event_del(es->es_rev);
	es->es_reading = on;
}

/* FIN: shut the write side (a pair passes EOF to its partner). */
static void
end_sock_shutdown(struct end *e)
{
	struct bufferevent *bev = ((struct end_sock *)e)->es_bev;
	evutil_socket_t fd = bufferevent_getfd(bev);

	if (fd >= 0)
		shutdown(fd, SHUT_WR);
	else
		bufferevent_flush(bev, EV_WRITE, BEV_FINISHED);
}

/* Close the socket; a reset one with SO_LINGER 0, so the peer sees RST. */
static void
end_sock_free(struct end *e, int reset)
{
	struct end_sock *es = (struct end_sock *)e;
	struct linger l = { 1, 0 };
	evutil_socket_t fd = bufferevent_getfd(es->es_bev);

	if (es->es_rev != NULL)
		event_free(es->es_rev);
	evbuffer_remove_cb_entry(bufferevent_get_output(es->es_bev),
	    es->es_outcb);
	if (reset && fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	bufferevent_free(es->es_bev);
	free(es);
}

static const struct end_ops end_sock_ops = {
	.name = "socket",
	.input = end_sock_input,
	.output = end_sock_output,
	.deliver = end_sock_deliver,
	.read = end_sock_read,
	.shutdown = end_sock_shutdown,
	.free = end_sock_free,
};

/* Bytes left the output buffer: the channel returns their credit. */
static void
end_sock_outcb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct end_sock *es = arg;
	size_t n = info->n_deleted;

	/* Write interest only while something waits: no idle wakeup. */
	if (info->n_added > 0 &&
	    !(bufferevent_get_enabled(es->es_bev) & EV_WRITE))
		bufferevent_enable(es->es_bev, EV_WRITE);
	if (n == 0)
		return;
	if (es->es_out_skip > 0) {
		size_t skip = n < es->es_out_skip ? n : es->es_out_skip;

		es->es_out_skip -= skip;
		n -= skip;
		if (n == 0)
			return;
	}
	channel_end_written(es->es_end.e_ch, n, evbuffer_get_length(buf) == 0);
}

/* read(2) on the socket at arg, for channel_end_read_framed. */
static ssize_t
end_sock_rd(void *buf, size_t len, void *arg)
{
	return read(*(evutil_socket_t *)arg, buf, len);
}

/*
 * The socket is readable: take up to 64 KiB in one read, straight into a
 * frame when the channel can send it now, else into the input.
 */
static void
end_sock_readev(evutil_socket_t fd, short what, void *arg)
{
	struct end_sock *es = arg;
	struct channel *ch = es->es_end.e_ch;
	struct evbuffer *in = bufferevent_get_input(es->es_bev);
	struct evbuffer_iovec v;
	char why[128];
	ssize_t n;

	(void)what;
	if (channel_end_read_framed(ch, END_SOCK_IO_CHUNK, end_sock_rd, &fd,
		&n)) {
		if (n > 0)
			return;
		goto done;
	}
	/* A socket bufferevent keeps its input frozen for anyone else. */
	evbuffer_unfreeze(in, 0);
	if (evbuffer_reserve_space(in, END_SOCK_IO_CHUNK, &v, 1) < 1) {
		evbuffer_freeze(in, 0);
		channel_end_error(ch, "out of memory");
		return;
	}
	n = read(fd, v.iov_base, v.iov_len);
	if (n > 0) {
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
	}
	evbuffer_freeze(in, 0);
done:
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		snprintf(why, sizeof why, "read error: %s", strerror(errno));
		channel_end_error(ch, why);
		return;
	}
	if (n == 0) {
		end_sock_read(&es->es_end, 0);
		channel_end_eof(ch);
		return;
	}
	channel_end_readable(ch);
}

/* Data arrived on a non-socket bufferevent (a pair, in tests). */
static void
end_sock_readcb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	channel_end_readable(((struct end_sock *)arg)->es_end.e_ch);
}

/* The output drained: the channel may finish a half-close. */
static void
end_sock_writecb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	channel_end_drained(((struct end_sock *)arg)->es_end.e_ch);
}

/* EOF or error on the socket. */
static void
end_sock_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct channel *ch = ((struct end_sock *)arg)->es_end.e_ch;
	char why[128];
	int e = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_EOF) {
		channel_end_eof(ch);
		return;
	}
	snprintf(why, sizeof why, "%s error: %s",
	    (what & BEV_EVENT_READING) ? "read" : "write", strerror(e));
	channel_end_error(ch, why);
}

/* A socket end for a channel; reading starts when the channel asks. */
struct end *
end_sock_new(struct channel *ch, struct bufferevent *bev)
{
	struct end_sock *es = xcalloc(1, sizeof *es);
	struct evbuffer *out = bufferevent_get_output(bev);

	es->es_end.e_ops = &end_sock_ops;
	es->es_end.e_ch = ch;
	es->es_bev = bev;
	es->es_out_skip = evbuffer_get_length(out);
	es->es_outcb = evbuffer_add_cb(out, end_sock_outcb, es);
	bufferevent_set_max_single_write(bev, END_SOCK_IO_CHUNK);
	if (bufferevent_getfd(bev) < 0) {
		bufferevent_setwatermark(bev, EV_READ, 0, END_SOCK_READ_HIWAT);
		bufferevent_setcb(bev, end_sock_readcb, end_sock_writecb,
		    end_sock_eventcb, es);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
	} else {
		bufferevent_setcb(bev, NULL, end_sock_writecb, end_sock_eventcb,
		    es);
		bufferevent_disable(bev, EV_READ);
		if (evbuffer_get_length(out) > 0)
			bufferevent_enable(bev, EV_WRITE);
		else
			bufferevent_disable(bev, EV_WRITE);
		es->es_rev =
		    event_new(bufferevent_get_base(bev), bufferevent_getfd(bev),
			EV_READ | EV_PERSIST, end_sock_readev, es);
	}
	return &es->es_end;
}
