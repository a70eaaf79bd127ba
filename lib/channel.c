/*
 * A channel relays one TCP connection over the session. The local socket
 * is a bufferevent; bytes read from it become DATA frames as far as the
 * peer's credit allows, and DATA from the peer is written to it, with
 * credit returned only once the bytes have left the output buffer. Each
 * direction is closed on its own (FIN, then shutdown(SHUT_WR)).
 *
 * On channels to a rule's service ports, a scanner sits in one or both
 * directions: it passes bytes on, holding back at most a few KiB that may
 * start an announcement, and stops at an announcement until the owner has
 * decided what to put in its place.
 */
#include "channel.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "audit.h"
#include "log.h"
#include "scan.h"
#include "session.h"
#include "xmalloc.h"

#define CHANNEL_READ_HIWAT (128 * 1024) /* stop reading the socket here */
/* One socket read: with the chain header, just fits a 64 KiB block. */
#define CHANNEL_IO_CHUNK (64 * 1024 - 128)
#define RX               1
#define TX               0

static void channel_readev(evutil_socket_t, short, void *);
static void channel_readcb(struct bufferevent *, void *);
static void channel_read_resume(struct channel *);
static void channel_writecb(struct bufferevent *, void *);
static void channel_written(struct channel *, size_t, int);
static void channel_eventcb(struct bufferevent *, short, void *);
static void channel_outcb(struct evbuffer *, const struct evbuffer_cb_info *,
    void *);
static void channel_scan_run(struct channel *, int);
static void channel_try_shutdown(struct channel *);

/* A new channel in the OPENING state, registered with its session. */
struct channel *
channel_new(struct session *s, uint32_t id, uint32_t rxwin, uint32_t txwin)
{
	struct channel *ch = xcalloc(1, sizeof *ch);

	ch->ch_sess = s;
	ch->ch_id = id;
	ch->ch_state = CHANNEL_OPENING;
	window_rx_init(&ch->ch_rx, rxwin);
	window_tx_init(&ch->ch_tx, txwin);
	gettimeofday(&ch->ch_start, NULL);
	channel_describe(ch, "channel %u", id);
	return ch;
}

/* Set the channel's description for logs. */
void
channel_describe(struct channel *ch, const char *fmt, ...)
{
	va_list ap;
	char *d;

	va_start(ap, fmt);
	if (vasprintf(&d, fmt, ap) < 0)
		d = NULL;
	va_end(ap);
	if (d == NULL)
		return;
	free(ch->ch_desc);
	ch->ch_desc = d;
}

/* Start relaying between the local socket and the session. */
void
channel_attach(struct channel *ch, struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	ch->ch_bev = bev;
	ch->ch_state = CHANNEL_OPEN;
	ch->ch_out_skip = evbuffer_get_length(out);
	ch->ch_outcb = evbuffer_add_cb(out, channel_outcb, ch);
	bufferevent_set_max_single_write(bev, CHANNEL_IO_CHUNK);
	if (bufferevent_getfd(bev) < 0) {
		/* Not a socket (a bufferevent pair, in tests). */
		bufferevent_setwatermark(bev, EV_READ, 0, CHANNEL_READ_HIWAT);
		bufferevent_setcb(bev, channel_readcb, channel_writecb,
		    channel_eventcb, ch);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
	} else {
		/*
		 * Reads are ours: a socket bufferevent reads at most 4 KiB
		 * per wakeup, which caps a channel far below what TLS can
		 * carry.
		 */
		bufferevent_setcb(bev, NULL, channel_writecb, channel_eventcb,
		    ch);
		bufferevent_disable(bev, EV_READ);
		bufferevent_enable(bev, EV_WRITE);
		ch->ch_rev =
		    event_new(bufferevent_get_base(bev), bufferevent_getfd(bev),
			EV_READ | EV_PERSIST, channel_readev, ch);
		channel_read_resume(ch);
	}
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		session_ready(ch->ch_sess, ch);
	if (ch->ch_peer_fin) /* the peer finished before we were joined */
		channel_try_shutdown(ch);
}

/* Answer OPEN or OUTSIDE_OPEN with a code. */
static void
channel_send_result(struct channel *ch, uint8_t code,
    const struct endpoint *bound)
{
	struct frame_open_result r;
	uint8_t buf[300];
	size_t n;

	memset(&r, 0, sizeof r);
	r.for_code = code;
	r.for_window = code == OPEN_OK ? ch->ch_rx.wr_size : 0;
	if (bound != NULL)
		r.for_bound = *bound;
	n = frame_open_result_encode(buf, sizeof buf, &r);
	session_send(ch->ch_sess,
	    ch->ch_outside ? FRAME_OUTSIDE_OPEN_RESULT : FRAME_OPEN_RESULT,
	    ch->ch_id, buf, n);
	ch->ch_result = NULL;
}

/* The connect for the peer succeeded: answer and start relaying. */
void
channel_accept(struct channel *ch, struct bufferevent *bev,
    const struct endpoint *bound)
{
	channel_send_result(ch, OPEN_OK, bound);
	channel_attach(ch, bev);
}

/* The connect for the peer failed: answer with the code and forget it. */
void
channel_refuse(struct channel *ch, uint8_t code)
{
	channel_send_result(ch, code, NULL);
	channel_close(ch, CHANNEL_REFUSED, frame_open_code_str(code));
}

/* Give the peer its first credit (channels we opened with window 0). */
void
channel_grant(struct channel *ch)
{
	uint32_t w = ch->ch_rx.wr_size;
	uint8_t p[4] = { w >> 24, (w >> 16) & 0xff, (w >> 8) & 0xff, w & 0xff };

	session_send(ch->ch_sess, FRAME_WINDOW, ch->ch_id, p, 4);
}

/* Put rule scanners on a channel (either may be NULL). */
void
channel_set_scan(struct channel *ch, struct scan *rx, struct scan *tx,
    channel_announce_cb cb, void *arg)
{
	ch->ch_scan[RX] = rx;
	ch->ch_scan[TX] = tx;
	if (rx != NULL)
		ch->ch_scan_q[RX] = evbuffer_new();
	if (tx != NULL)
		ch->ch_scan_q[TX] = evbuffer_new();
	ch->ch_announce = cb;
	ch->ch_announce_arg = arg;
}

/* Where scanned bytes of a direction go: the socket, or the tx stage. */
static struct evbuffer *
channel_scan_out(struct channel *ch, int dir)
{
	return dir == RX ? bufferevent_get_output(ch->ch_bev)
			 : ch->ch_scan_q[TX];
}

/* What scanning takes as new input: held rx data, or the socket's input. */
static struct evbuffer *
channel_scan_in(struct channel *ch, int dir)
{
	return dir == RX ? ch->ch_scan_q[RX]
			 : bufferevent_get_input(ch->ch_bev);
}

/* The deferred reset: the scanner refused to pass more bytes. */
static void
channel_failcb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	channel_close(arg, CHANNEL_RESET, "rule scanning refused the stream");
}

/*
 * Fail closed: the stream cannot be passed on as it is. Nothing more goes
 * through (the scanner holds it), and the channel is reset once the code
 * that got here has returned, so that no caller sees it freed.
 */
static void
channel_fail(struct channel *ch, const char *why)
{
	if (ch->ch_failev != NULL)
		return;
	log_warnx("%s: %s; resetting the connection", ch->ch_desc, why);
	ch->ch_failev = event_new(bufferevent_get_base(ch->ch_bev), -1, 0,
	    channel_failcb, ch);
	event_active(ch->ch_failev, EV_TIMEOUT, 0);
}

/*
 * Run a direction's scanner until it needs more input or stops at an
 * announcement, which goes to the owner.
 */
static void
channel_scan_run(struct channel *ch, int dir)
{
	struct scan *sc = ch->ch_scan[dir];
	struct evbuffer *in, *out = channel_scan_out(ch, dir);
	struct announce an;
	const char *why = NULL;
	enum scan_result r;

	if (sc == NULL || ch->ch_scan_busy[dir] || ch->ch_failev != NULL)
		return;
	ch->ch_scan_busy[dir] = 1;
	while (!ch->ch_scan_held[dir]) {
		in = channel_scan_in(ch, dir);
		r = scan_feed(sc, evbuffer_get_length(in) > 0 ? in : NULL, out,
		    &an, &why);
		if (r == SCAN_ERROR) {
			channel_fail(ch, why);
			break;
		}
		if (r != SCAN_FOUND)
			break;
		ch->ch_scan_held[dir] = 1;
		log_info("%s: announcement \"%s\"%s%s", ch->ch_desc, an.an_text,
		    an.an_suspect ? ": " : "", an.an_suspect ? an.an_why : "");
		ch->ch_announce(ch, dir, &an, ch->ch_announce_arg);
	}
	ch->ch_scan_busy[dir] = 0;
}

/* End of a scanned stream: last matches, then everything held goes out. */
static void
channel_scan_end(struct channel *ch, int dir)
{
	if (ch->ch_scan_done[dir])
		return;
	scan_eof(ch->ch_scan[dir]);
	channel_scan_run(ch, dir);
	if (ch->ch_scan_held[dir])
		return;
	scan_flush(ch->ch_scan[dir], channel_scan_out(ch, dir));
	ch->ch_scan_done[dir] = 1;
}

/* The owner decided: emit the replacement (or the original) and go on. */
void
channel_announce_done(struct channel *ch, int rx,
    const struct sockaddr *replacement)
{
	int dir = rx ? RX : TX;

	if (!ch->ch_scan_held[dir] || ch->ch_failev != NULL)
		return;
	if (scan_emit(ch->ch_scan[dir], replacement,
		channel_scan_out(ch, dir)) != 0) {
		/* Never passed on as it came: the connection ends. */
		channel_fail(ch,
		    replacement != NULL
			? "the rule cannot write the announcement for this "
			  "address"
			: "an announcement that must be neutralised was not");
		return;
	}
	ch->ch_scan_held[dir] = 0;
	if (ch->ch_scan_busy[dir])
		return; /* the running loop picks up from here */
	channel_scan_run(ch, dir);
	if (dir == RX) {
		if (ch->ch_peer_fin && !ch->ch_scan_held[RX] &&
		    evbuffer_get_length(ch->ch_scan_q[RX]) == 0)
			channel_scan_end(ch, RX);
		channel_try_shutdown(ch);
	} else
		session_ready(ch->ch_sess, ch);
}

/* The bytes the tx side frames next: scanned stage, or the socket input. */
static struct evbuffer *
channel_tx_source(struct channel *ch)
{
	if (ch->ch_scan[TX] != NULL) {
		/* Scan only as far as the read limit: what waits is bounded. */
		if (evbuffer_get_length(ch->ch_scan_q[TX]) < CHANNEL_READ_HIWAT)
			channel_scan_run(ch, TX);
		channel_read_resume(ch);
		if (ch->ch_rd_eof && !ch->ch_scan_held[TX] &&
		    evbuffer_get_length(bufferevent_get_input(ch->ch_bev)) == 0)
			channel_scan_end(ch, TX);
		return ch->ch_scan_q[TX];
	}
	return bufferevent_get_input(ch->ch_bev);
}

/* Is everything read from the socket framed or about to be? */
static int
channel_tx_drained(struct channel *ch)
{
	if (ch->ch_scan[TX] != NULL)
		return ch->ch_scan_done[TX] &&
		    evbuffer_get_length(ch->ch_scan_q[TX]) == 0;
	return evbuffer_get_length(bufferevent_get_input(ch->ch_bev)) == 0;
}

/* Could channel_pump make progress, given session credit? */
int
channel_has_work(struct channel *ch)
{
	size_t have;

	if (ch->ch_state != CHANNEL_OPEN || ch->ch_fin_sent)
		return 0;
	have = evbuffer_get_length(channel_tx_source(ch));
	if (have > 0)
		return ch->ch_tx.wt_avail > 0;
	return ch->ch_rd_eof && channel_tx_drained(ch);
}

/* Close cleanly once both directions are finished. */
static int
channel_check_done(struct channel *ch)
{
	return ch->ch_fin_sent && ch->ch_peer_fin && ch->ch_wr_shut;
}

/*
 * Write one DATA frame, header and payload in one contiguous block: the
 * TLS bufferevent makes a record per buffer chain, so a header in a chain
 * of its own would cost a record of its own.
 */
static void
channel_frame_data(struct channel *ch, struct evbuffer *in,
    struct evbuffer *out, uint32_t len)
{
	struct evbuffer_iovec v;

	if (evbuffer_reserve_space(out, FRAME_HDR_LEN + len, &v, 1) != 1 ||
	    v.iov_len < FRAME_HDR_LEN + len) {
		uint8_t hdr[FRAME_HDR_LEN];

		frame_hdr_encode(hdr, FRAME_DATA, ch->ch_id, len);
		evbuffer_add(out, hdr, sizeof hdr);
		evbuffer_remove_buffer(in, out, len);
		return;
	}
	frame_hdr_encode(v.iov_base, FRAME_DATA, ch->ch_id, len);
	evbuffer_copyout(in, (uint8_t *)v.iov_base + FRAME_HDR_LEN, len);
	evbuffer_drain(in, len);
	v.iov_len = FRAME_HDR_LEN + len;
	evbuffer_commit_space(out, &v, 1);
}

/*
 * Move one frame (DATA up to FRAME_DATA_MAX, or the FIN after the last
 * byte) into out, within channel and session credit.
 */
enum channel_pump_result
channel_pump(struct channel *ch, struct evbuffer *out, struct window_tx *stx)
{
	struct evbuffer *in;
	uint8_t hdr[FRAME_HDR_LEN];
	size_t have;
	uint32_t want;

	if (ch->ch_state != CHANNEL_OPEN || ch->ch_fin_sent)
		return CHANNEL_IDLE;
	in = channel_tx_source(ch);
	have = evbuffer_get_length(in);
	if (have > 0) {
		want = have > FRAME_DATA_MAX ? FRAME_DATA_MAX : (uint32_t)have;
		if (want > ch->ch_tx.wt_avail)
			want = ch->ch_tx.wt_avail;
		if (want > stx->wt_avail)
			want = stx->wt_avail;
		if (want == 0)
			return CHANNEL_IDLE;
		window_tx_take(&ch->ch_tx, want);
		window_tx_take(stx, want);
		channel_frame_data(ch, in, out, want);
		ch->ch_bytes_out += want;
		have -= want;
		channel_read_resume(ch);
	}
	if (have == 0 && ch->ch_rd_eof && channel_tx_drained(ch)) {
		frame_hdr_encode(hdr, FRAME_FIN, ch->ch_id, 0);
		evbuffer_add(out, hdr, sizeof hdr);
		ch->ch_fin_sent = 1;
		if (channel_check_done(ch))
			return CHANNEL_FINISHED;
		return CHANNEL_IDLE;
	}
	return channel_has_work(ch) ? CHANNEL_MORE : CHANNEL_IDLE;
}

/*
 * Pass len bytes of src to the local socket. While nothing is queued for
 * it, write them at once: no write event to arm and disarm, no loop turn
 * before they leave. What the socket does not take is queued as usual.
 */
static void
channel_deliver(struct channel *ch, struct evbuffer *src, uint32_t len)
{
	struct evbuffer *out = bufferevent_get_output(ch->ch_bev);
	evutil_socket_t fd = bufferevent_getfd(ch->ch_bev);
	int n;

	if (fd >= 0 && ch->ch_out_skip == 0 && evbuffer_get_length(out) == 0 &&
	    (n = evbuffer_write_atmost(src, fd, len)) > 0) {
		len -= (uint32_t)n;
		channel_written(ch, (size_t)n, len == 0);
	}
	if (len > 0)
		evbuffer_remove_buffer(src, out, len);
}

/* DATA from the peer: write it out; -1 if it broke the flow control. */
int
channel_on_data(struct channel *ch, struct evbuffer *src, uint32_t len)
{
	if (ch->ch_state != CHANNEL_OPEN || ch->ch_peer_fin)
		return -1;
	if (window_rx_consume(&ch->ch_rx, len) != 0)
		return -1;
	ch->ch_bytes_in += len;
	if (ch->ch_scan[RX] != NULL) {
		evbuffer_remove_buffer(src, ch->ch_scan_q[RX], len);
		channel_scan_run(ch, RX);
		return 0;
	}
	channel_deliver(ch, src, len);
	return 0;
}

/* Is every byte from the peer on its way to the socket? */
static int
channel_rx_drained(struct channel *ch)
{
	return ch->ch_scan[RX] == NULL ||
	    (!ch->ch_scan_held[RX] &&
		evbuffer_get_length(ch->ch_scan_q[RX]) == 0 &&
		(!ch->ch_peer_fin || ch->ch_scan_done[RX]));
}

/* Shut the local write side once everything queued has been written. */
static void
channel_try_shutdown(struct channel *ch)
{
	if (!ch->ch_peer_fin || ch->ch_wr_shut || !channel_rx_drained(ch) ||
	    evbuffer_get_length(bufferevent_get_output(ch->ch_bev)) > 0)
		return;
	shutdown(bufferevent_getfd(ch->ch_bev), SHUT_WR);
	ch->ch_wr_shut = 1;
	if (channel_check_done(ch))
		channel_close(ch, CHANNEL_DONE, "done");
}

/* FIN from the peer: no more data will come this way. */
void
channel_on_fin(struct channel *ch)
{
	if (ch->ch_peer_fin)
		return;
	ch->ch_peer_fin = 1;
	if (ch->ch_state != CHANNEL_OPEN)
		return; /* kept for channel_attach */
	if (ch->ch_scan[RX] != NULL && !ch->ch_scan_held[RX] &&
	    evbuffer_get_length(ch->ch_scan_q[RX]) == 0)
		channel_scan_end(ch, RX);
	channel_try_shutdown(ch);
}

/* WINDOW from the peer; -1 if it overflowed the window. */
int
channel_on_window(struct channel *ch, uint32_t n)
{
	if (window_tx_grant(&ch->ch_tx, n) != 0)
		return -1;
	if (ch->ch_state == CHANNEL_OPEN)
		session_ready(ch->ch_sess, ch);
	return 0;
}

/* Send a channel WINDOW frame. */
static void
channel_send_window(struct channel *ch, uint32_t give)
{
	uint8_t p[4] = { give >> 24, (give >> 16) & 0xff, (give >> 8) & 0xff,
		give & 0xff };

	session_send(ch->ch_sess, FRAME_WINDOW, ch->ch_id, p, 4);
}

/*
 * Bytes left the local output buffer: return their credit. A rewrite can
 * make the output shorter than what came in, so once everything is
 * written the rest of the held credit comes back too.
 */
static void
channel_outcb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct channel *ch = arg;
	size_t n = info->n_deleted;

	if (n == 0)
		return;
	if (ch->ch_out_skip > 0) {
		size_t skip = n < ch->ch_out_skip ? n : ch->ch_out_skip;

		ch->ch_out_skip -= skip;
		n -= skip;
		if (n == 0)
			return;
	}
	channel_written(ch, n, evbuffer_get_length(buf) == 0);
}

/* n bytes from the peer left for the socket; empty: nothing is queued. */
static void
channel_written(struct channel *ch, size_t n, int empty)
{
	uint32_t give, before;

	if (ch->ch_scan[RX] != NULL && empty && channel_rx_drained(ch) &&
	    n < ch->ch_rx.wr_buffered)
		n = ch->ch_rx.wr_buffered;
	before = ch->ch_rx.wr_buffered;
	if ((give = window_rx_written(&ch->ch_rx, (uint32_t)n)) > 0)
		channel_send_window(ch, give);
	session_rx_written(ch->ch_sess, before - ch->ch_rx.wr_buffered);
}

/* Data arrived on a non-socket bufferevent. */
static void
channel_readcb(struct bufferevent *bev, void *arg)
{
	struct channel *ch = arg;

	(void)bev;
	session_ready(ch->ch_sess, ch);
}

/* Bytes read from the socket not yet framed, scanned or not. */
static size_t
channel_read_ahead(struct channel *ch)
{
	size_t have = evbuffer_get_length(bufferevent_get_input(ch->ch_bev));

	if (ch->ch_scan[TX] != NULL)
		have += evbuffer_get_length(ch->ch_scan_q[TX]) +
		    scan_held(ch->ch_scan[TX]);
	return have;
}

/* Read from the socket again if its input has room (after pumping). */
static void
channel_read_resume(struct channel *ch)
{
	if (ch->ch_rev == NULL || ch->ch_rd_eof || ch->ch_reading)
		return;
	if (channel_read_ahead(ch) >= CHANNEL_READ_HIWAT)
		return;
	event_add(ch->ch_rev, NULL);
	ch->ch_reading = 1;
}

/* Stop reading the socket. */
static void
channel_read_pause(struct channel *ch)
{
	if (ch->ch_reading)
		event_del(ch->ch_rev);
	ch->ch_reading = 0;
}

/* The local socket is readable: take up to 64 KiB in one read. */
static void
channel_readev(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch = arg;
	struct evbuffer *in = bufferevent_get_input(ch->ch_bev);
	struct evbuffer_iovec v;
	char why[128];
	ssize_t n;

	(void)what;
	/* A socket bufferevent keeps its input frozen for anyone else. */
	evbuffer_unfreeze(in, 0);
	if (evbuffer_reserve_space(in, CHANNEL_IO_CHUNK, &v, 1) < 1) {
		evbuffer_freeze(in, 0);
		channel_close(ch, CHANNEL_RESET, "out of memory");
		return;
	}
	n = read(fd, v.iov_base, v.iov_len);
	if (n > 0) {
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
	}
	evbuffer_freeze(in, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		snprintf(why, sizeof why, "read error: %s", strerror(errno));
		channel_close(ch, CHANNEL_RESET, why);
		return;
	}
	if (n == 0) {
		channel_read_pause(ch);
		ch->ch_rd_eof = 1;
		session_ready(ch->ch_sess, ch);
		return;
	}
	if (channel_read_ahead(ch) >= CHANNEL_READ_HIWAT)
		channel_read_pause(ch);
	session_ready(ch->ch_sess, ch);
}

/* The local output drained: maybe finish a half-close. */
static void
channel_writecb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	channel_try_shutdown(arg);
}

/* EOF or error on the local socket. */
static void
channel_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct channel *ch = arg;
	char why[128];
	int e = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_EOF) {
		ch->ch_rd_eof = 1;
		session_ready(ch->ch_sess, ch);
		return;
	}
	snprintf(why, sizeof why, "%s error: %s",
	    (what & BEV_EVENT_READING) ? "read" : "write", strerror(e));
	channel_close(ch, CHANNEL_RESET, why);
}

/* Reset a socket instead of closing it gracefully. */
static void
channel_set_linger0(struct bufferevent *bev)
{
	struct linger l = { 1, 0 };
	evutil_socket_t fd = bufferevent_getfd(bev);

	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

/* The one teardown path for a channel, with the reason logged. */
void
channel_close(struct channel *ch, enum channel_close_how how,
    const char *reason)
{
	struct timeval now, d;
	channel_result_cb cb;
	channel_closed_cb closed;
	uint32_t give;
	int i;

	if (how == CHANNEL_RESET)
		session_send(ch->ch_sess, FRAME_RST, ch->ch_id, NULL, 0);
	if ((cb = ch->ch_result) != NULL) {
		ch->ch_result = NULL;
		cb(ch,
		    how == CHANNEL_SESSION_LOST ? OPEN_NET_UNREACH
						: OPEN_FAILURE,
		    NULL, ch->ch_result_arg);
	}
	if ((closed = ch->ch_closed) != NULL) {
		ch->ch_closed = NULL;
		closed(ch, ch->ch_closed_arg);
	}
	gettimeofday(&now, NULL);
	timersub(&now, &ch->ch_start, &d);
	audit_channel(ch, session_role(ch->ch_sess) == FRAME_ROLE_ESP, reason);
	if (ch->ch_state == CHANNEL_OPEN)
		log_debug("%s closed: %s; %llu bytes out, %llu bytes in, "
			  "%ld.%03lds",
		    ch->ch_desc, reason, (unsigned long long)ch->ch_bytes_out,
		    (unsigned long long)ch->ch_bytes_in, (long)d.tv_sec,
		    (long)d.tv_usec / 1000);
	else
		log_debug("%s ended before opening: %s", ch->ch_desc, reason);
	if (ch->ch_rev != NULL)
		event_free(ch->ch_rev);
	if (ch->ch_failev != NULL)
		event_free(ch->ch_failev);
	if (ch->ch_bev != NULL) {
		evbuffer_remove_cb_entry(bufferevent_get_output(ch->ch_bev),
		    ch->ch_outcb);
		if (how != CHANNEL_DONE)
			channel_set_linger0(ch->ch_bev);
		bufferevent_free(ch->ch_bev);
	}
	for (i = 0; i < 2; i++) {
		if (ch->ch_scan[i] != NULL)
			scan_free(ch->ch_scan[i]);
		if (ch->ch_scan_q[i] != NULL)
			evbuffer_free(ch->ch_scan_q[i]);
	}
	/* Bytes dropped unwritten still hold session credit: release it. */
	if ((give = ch->ch_rx.wr_buffered) > 0)
		session_rx_written(ch->ch_sess, give);
	window_rx_discard(&ch->ch_rx);
	session_channel_gone(ch->ch_sess, ch);
	free(ch->ch_desc);
	free(ch);
}
