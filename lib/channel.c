/*
 * A channel relays one TCP connection over the session. The local socket
 * is a bufferevent; bytes read from it become DATA frames as far as the
 * peer's credit allows, and DATA from the peer is written to it, with
 * credit returned only once the bytes have left the output buffer. Each
 * direction is closed on its own (FIN, then shutdown(SHUT_WR)).
 */
#include "channel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "session.h"
#include "xmalloc.h"

#define CHANNEL_READ_HIWAT (128 * 1024) /* stop reading the socket here */
#define CHANNEL_IO_CHUNK   (64 * 1024)  /* one socket read or write */

static void channel_readcb(struct bufferevent *, void *);
static void channel_writecb(struct bufferevent *, void *);
static void channel_eventcb(struct bufferevent *, short, void *);
static void channel_outcb(struct evbuffer *, const struct evbuffer_cb_info *,
    void *);

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
	snprintf(ch->ch_desc, sizeof ch->ch_desc, "channel %u", id);
	return ch;
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
	bufferevent_set_max_single_read(bev, CHANNEL_IO_CHUNK);
	bufferevent_set_max_single_write(bev, CHANNEL_IO_CHUNK);
	bufferevent_setwatermark(bev, EV_READ, 0, CHANNEL_READ_HIWAT);
	bufferevent_setcb(bev, channel_readcb, channel_writecb, channel_eventcb,
	    ch);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		session_ready(ch->ch_sess, ch);
}

/* Inside connect succeeded: answer OPEN and start relaying. */
void
channel_accept(struct channel *ch, struct bufferevent *bev,
    const struct endpoint *bound)
{
	struct frame_open_result r;
	uint8_t buf[300];
	size_t n;

	memset(&r, 0, sizeof r);
	r.for_code = OPEN_OK;
	r.for_window = ch->ch_rx.wr_size;
	r.for_bound = *bound;
	n = frame_open_result_encode(buf, sizeof buf, &r);
	session_send(ch->ch_sess, FRAME_OPEN_RESULT, ch->ch_id, buf, n);
	ch->ch_result = NULL;
	channel_attach(ch, bev);
}

/* Inside connect failed: answer OPEN with the code and forget the channel. */
void
channel_refuse(struct channel *ch, uint8_t code)
{
	struct frame_open_result r;
	uint8_t buf[64];
	size_t n;

	memset(&r, 0, sizeof r);
	r.for_code = code;
	n = frame_open_result_encode(buf, sizeof buf, &r);
	session_send(ch->ch_sess, FRAME_OPEN_RESULT, ch->ch_id, buf, n);
	ch->ch_result = NULL;
	channel_close(ch, CHANNEL_REFUSED, frame_open_code_str(code));
}

/* Is there something to send that needs session credit? */
int
channel_wants_data_credit(const struct channel *ch)
{
	return ch->ch_bev != NULL &&
	    evbuffer_get_length(bufferevent_get_input(ch->ch_bev)) > 0;
}

/* Could channel_pump make progress, given session credit? */
int
channel_has_work(const struct channel *ch)
{
	size_t have;

	if (ch->ch_state != CHANNEL_OPEN || ch->ch_fin_sent)
		return 0;
	have = evbuffer_get_length(bufferevent_get_input(ch->ch_bev));
	if (have > 0)
		return ch->ch_tx.wt_avail > 0;
	return ch->ch_rd_eof;
}

/* Close cleanly once both directions are finished. */
static int
channel_check_done(struct channel *ch)
{
	return ch->ch_fin_sent && ch->ch_peer_fin && ch->ch_wr_shut;
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
	in = bufferevent_get_input(ch->ch_bev);
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
		frame_hdr_encode(hdr, FRAME_DATA, ch->ch_id, want);
		evbuffer_add(out, hdr, sizeof hdr);
		evbuffer_remove_buffer(in, out, want);
		ch->ch_bytes_out += want;
		have -= want;
	}
	if (have == 0 && ch->ch_rd_eof) {
		frame_hdr_encode(hdr, FRAME_FIN, ch->ch_id, 0);
		evbuffer_add(out, hdr, sizeof hdr);
		ch->ch_fin_sent = 1;
		if (channel_check_done(ch))
			return CHANNEL_FINISHED;
		return CHANNEL_IDLE;
	}
	return channel_has_work(ch) ? CHANNEL_MORE : CHANNEL_IDLE;
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
	evbuffer_remove_buffer(src, bufferevent_get_output(ch->ch_bev), len);
	return 0;
}

/* Shut the local write side once everything queued has been written. */
static void
channel_try_shutdown(struct channel *ch)
{
	if (!ch->ch_peer_fin || ch->ch_wr_shut ||
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
	if (ch->ch_state != CHANNEL_OPEN || ch->ch_peer_fin)
		return;
	ch->ch_peer_fin = 1;
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

/* Bytes left the local output buffer: return their credit. */
static void
channel_outcb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct channel *ch = arg;
	size_t n = info->n_deleted;
	uint32_t give;

	(void)buf;
	if (n == 0)
		return;
	if (ch->ch_out_skip > 0) {
		size_t skip = n < ch->ch_out_skip ? n : ch->ch_out_skip;

		ch->ch_out_skip -= skip;
		n -= skip;
		if (n == 0)
			return;
	}
	if ((give = window_rx_written(&ch->ch_rx, (uint32_t)n)) > 0) {
		uint8_t p[4] = { give >> 24, (give >> 16) & 0xff,
			(give >> 8) & 0xff, give & 0xff };

		session_send(ch->ch_sess, FRAME_WINDOW, ch->ch_id, p, 4);
	}
	session_rx_written(ch->ch_sess, (uint32_t)n);
}

/* The local socket has data. */
static void
channel_readcb(struct bufferevent *bev, void *arg)
{
	struct channel *ch = arg;

	(void)bev;
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
	uint32_t give;

	if (how == CHANNEL_RESET)
		session_send(ch->ch_sess, FRAME_RST, ch->ch_id, NULL, 0);
	if ((cb = ch->ch_result) != NULL) {
		ch->ch_result = NULL;
		cb(ch,
		    how == CHANNEL_SESSION_LOST ? OPEN_NET_UNREACH
						: OPEN_FAILURE,
		    NULL, ch->ch_result_arg);
	}
	gettimeofday(&now, NULL);
	timersub(&now, &ch->ch_start, &d);
	if (ch->ch_state == CHANNEL_OPEN)
		log_info("%s closed: %s; %llu bytes out, %llu bytes in, "
			 "%ld.%03lds",
		    ch->ch_desc, reason, (unsigned long long)ch->ch_bytes_out,
		    (unsigned long long)ch->ch_bytes_in, (long)d.tv_sec,
		    (long)d.tv_usec / 1000);
	else
		log_debug("%s ended before opening: %s", ch->ch_desc, reason);
	if (ch->ch_bev != NULL) {
		evbuffer_remove_cb_entry(bufferevent_get_output(ch->ch_bev),
		    ch->ch_outcb);
		if (how != CHANNEL_DONE)
			channel_set_linger0(ch->ch_bev);
		bufferevent_free(ch->ch_bev);
	}
	/* Bytes dropped unwritten still hold session credit: release it. */
	if ((give = ch->ch_rx.wr_buffered) > 0)
		session_rx_written(ch->ch_sess, give);
	window_rx_discard(&ch->ch_rx);
	session_channel_gone(ch->ch_sess, ch);
	free(ch);
}
