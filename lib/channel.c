/*
 * A channel relays one stream of the session to its end: a local socket,
 * or another channel (lib/end.h). Bytes from the end become DATA frames as
 * far as the peer's credit allows, and DATA from the peer goes to the end,
 * with credit returned only once the end has taken the bytes. Each
 * direction is closed on its own (FIN, then the end's shutdown).
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
#include "end.h"
#include "log.h"
#include "monotime.h"
#include "metrics.h"
#include "scan.h"
#include "session.h"
#include "xmalloc.h"

#define CHANNEL_READ_HIWAT (128 * 1024) /* stop reading the end here */
#define RX                 1
#define TX                 0

static void channel_read_resume(struct channel *);
static void channel_scan_run(struct channel *, int);
static void channel_try_shutdown(struct channel *);

/*
 * A new channel in the OPENING state, for an OPEN (or OUTSIDE_OPEN)
 * sent or received; the session registers it.
 */
struct channel *
channel_new(struct session *s, uint32_t id, uint32_t rxwin, uint32_t rxmax,
    uint32_t txwin, int outside, const struct frame_open *o)
{
	struct channel *ch = xcalloc(1, sizeof *ch);

	ch->ch_sess = s;
	ch->ch_base = session_base(s);
	ch->ch_id = id;
	ch->ch_state = CHANNEL_OPENING;
	ch->ch_outside = outside;
	ch->ch_parent = outside ? o->fo_ref : 0;
	ch->ch_dst = o->fo_dst;
	ch->ch_client = o->fo_client;
	snprintf(ch->ch_user, sizeof ch->ch_user, "%s", o->fo_user);
	window_rx_init(&ch->ch_rx, rxwin);
	window_rx_growth(&ch->ch_rx, rxmax);
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

/* Our OPEN is sent: cb gets the peer's answer, once. */
void
channel_expect(struct channel *ch, channel_result_cb cb, void *arg)
{
	ch->ch_result = cb;
	ch->ch_result_arg = arg;
}

/*
 * The peer answered our OPEN (outside: our OUTSIDE_OPEN): pass the answer
 * on; a refusal ends the channel. -1 if no answer was due.
 */
int
channel_on_result(struct channel *ch, int outside,
    const struct frame_open_result *r)
{
	channel_result_cb cb = ch->ch_result;

	if (ch->ch_state != CHANNEL_OPENING || cb == NULL ||
	    ch->ch_outside != outside)
		return -1;
	ch->ch_result = NULL;
	if (r->for_code != OPEN_OK) {
		cb(ch, r->for_code, NULL, ch->ch_result_arg);
		channel_close(ch, CHANNEL_REFUSED,
		    frame_open_code_str(r->for_code));
		return 0;
	}
	window_tx_init(&ch->ch_tx,
	    r->for_window > WINDOW_MAX ? WINDOW_MAX : r->for_window);
	cb(ch, OPEN_OK, &r->for_bound, ch->ch_result_arg);
	return 0;
}

/*
 * Does this channel count in the metrics? The esp's channels to an isp
 * and the isp's do; an agent's channel, relayed at the esp, is counted
 * on the isp's side of the relay only.
 */
static int
channel_counted(const struct channel *ch)
{
	return session_peer_role(ch->ch_sess) != FRAME_ROLE_AGENT &&
	    session_role(ch->ch_sess) != FRAME_ROLE_AGENT;
}

/* Which way bytes leaving the end go: the esp's end is the client's. */
static int
channel_out_to_server(const struct channel *ch)
{
	return session_role(ch->ch_sess) == FRAME_ROLE_ESP;
}

/* Start relaying between the end and the session. */
void
channel_attach_end(struct channel *ch, struct end *e)
{
	ch->ch_end = e;
	ch->ch_state = CHANNEL_OPEN;
	if (channel_counted(ch)) {
		metrics_add(M_CHANNELS, ch->ch_user, 1);
		metrics_add(M_CHANNELS_ALL,
		    ch->ch_outside ? "reverse" : "forward", 1);
	}
	channel_read_resume(ch);
	/* Input, or an end that finished before we were joined: FIN. */
	session_ready(ch->ch_sess, ch);
	if (ch->ch_peer_fin) /* the peer finished before we were joined */
		channel_try_shutdown(ch);
}

/* Start relaying between a local socket and the session. */
void
channel_attach(struct channel *ch, struct bufferevent *bev)
{
	channel_attach_end(ch, end_sock_new(ch, bev));
}

/* Answer OPEN or OUTSIDE_OPEN with a code. */
void
channel_answer(struct channel *ch, uint8_t code, const struct endpoint *bound)
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
	channel_answer(ch, OPEN_OK, bound);
	channel_attach(ch, bev);
}

/* The connect for the peer failed: answer with the code and forget it. */
void
channel_refuse(struct channel *ch, uint8_t code)
{
	channel_answer(ch, code, NULL);
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
	return dir == RX ? ch->ch_end->e_ops->output(ch->ch_end)
			 : ch->ch_scan_q[TX];
}

/* What scanning takes as new input: held rx data, or the socket's input. */
static struct evbuffer *
channel_scan_in(struct channel *ch, int dir)
{
	return dir == RX ? ch->ch_scan_q[RX]
			 : ch->ch_end->e_ops->input(ch->ch_end);
}

/* The deferred reset. */
static void
channel_failcb(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch = arg;

	(void)fd;
	(void)what;
	channel_close(ch, CHANNEL_RESET, ch->ch_fail_why);
}

/*
 * Reset the channel once the code that got here has returned, so that no
 * caller sees it freed. Nothing more goes through meanwhile.
 */
void
channel_reset_later(struct channel *ch, const char *why)
{
	if (ch->ch_failev != NULL)
		return;
	snprintf(ch->ch_fail_why, sizeof ch->ch_fail_why, "%s", why);
	ch->ch_failev = event_new(ch->ch_base, -1, 0, channel_failcb, ch);
	event_active(ch->ch_failev, EV_TIMEOUT, 0);
}

/*
 * Fail closed: the stream cannot be passed on as it is (the scanner
 * holds it), so the channel is reset.
 */
static void
channel_fail(struct channel *ch, const char *why)
{
	if (ch->ch_failev != NULL)
		return;
	log_warnx("%s: %s; resetting the connection", ch->ch_desc, why);
	channel_reset_later(ch, "rule scanning refused the stream");
}

/*
 * Is this announcement logged and audited? A client or server may send
 * them as fast as it likes: CHANNEL_ANN_LOGGED a second on a channel and
 * CHANNEL_ANN_LOGGED_ALL in the process are; the rest are handled the
 * same, and counted in one line a second.
 */
#define CHANNEL_ANN_LOGGED     20
#define CHANNEL_ANN_LOGGED_ALL 200
static void
channel_announce_budget(struct channel *ch)
{
	static struct log_budget all;

	ch->ch_ann_quiet =
	    !log_budget_take(&ch->ch_ann_log, CHANNEL_ANN_LOGGED) ||
	    !log_budget_take(&all, CHANNEL_ANN_LOGGED_ALL);
	if (ch->ch_ann_quiet)
		log_warnx_limited(&all.lb_over,
		    "%s: announcements past %d a second on a channel or %d in "
		    "all: handled, not logged or audited",
		    ch->ch_desc, CHANNEL_ANN_LOGGED, CHANNEL_ANN_LOGGED_ALL);
}

/* Is the announcement being handled past the log budget? */
int
channel_announce_quiet(const struct channel *ch)
{
	return ch->ch_ann_quiet;
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
		channel_announce_budget(ch);
		if (!ch->ch_ann_quiet)
			log_info("%s: announcement \"%s\"%s%s", ch->ch_desc,
			    an.an_text, an.an_suspect ? ": " : "",
			    an.an_suspect ? an.an_why : "");
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
	struct evbuffer *out = channel_scan_out(ch, dir);
	size_t in = 0, before = evbuffer_get_length(out), grew;

	if (!ch->ch_scan_held[dir] || ch->ch_failev != NULL)
		return;
	scan_pending(ch->ch_scan[dir], &in);
	if (scan_emit(ch->ch_scan[dir], replacement, out) != 0) {
		/* Never passed on as it came: the connection ends. */
		channel_fail(ch,
		    replacement != NULL
			? "the rule cannot write the announcement for this "
			  "address"
			: "an announcement that must be neutralised was not");
		return;
	}
	ch->ch_scan_held[dir] = 0;
	/* Credit goes back for what came in: a longer rewrite earns none. */
	if (dir == RX && (grew = evbuffer_get_length(out) - before) > in)
		ch->ch_rx_grown += grew - in;
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
		    evbuffer_get_length(ch->ch_end->e_ops->input(ch->ch_end)) ==
			0)
			channel_scan_end(ch, TX);
		return ch->ch_scan_q[TX];
	}
	return ch->ch_end->e_ops->input(ch->ch_end);
}

/* Is everything read from the socket framed or about to be? */
static int
channel_tx_drained(struct channel *ch)
{
	if (ch->ch_scan[TX] != NULL)
		return ch->ch_scan_done[TX] &&
		    evbuffer_get_length(ch->ch_scan_q[TX]) == 0;
	return evbuffer_get_length(ch->ch_end->e_ops->input(ch->ch_end)) == 0;
}

/* Could channel_pump make progress, given session credit? */
int
channel_has_work(struct channel *ch)
{
	size_t have;

	if (ch->ch_state != CHANNEL_OPEN || ch->ch_fin_sent ||
	    ch->ch_failev != NULL)
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

/* Count n bytes framed toward the peer. */
static void
channel_count_out(struct channel *ch, uint32_t n)
{
	ch->ch_bytes_out += n;
	if (channel_counted(ch))
		metrics_bytes(channel_out_to_server(ch), n);
}

/*
 * Read from the end straight into a DATA frame on the session's stage,
 * saving the copy from the end's input: only while nothing read before
 * waits, no rule scans this direction, and there is credit. Returns 0
 * when not now (read into the end's input as usual), else 1 with what rd
 * returned in *n; bytes read are framed and on their way.
 */
int
channel_end_read_framed(struct channel *ch, size_t len, channel_read_fn rd,
    void *arg, ssize_t *n)
{
	struct evbuffer *out;
	struct window_tx *stx;
	struct evbuffer_iovec v;
	size_t want = len;

	if (ch->ch_state != CHANNEL_OPEN || ch->ch_fin_sent || ch->ch_rd_eof ||
	    ch->ch_scan[TX] != NULL || ch->ch_queued ||
	    evbuffer_get_length(ch->ch_end->e_ops->input(ch->ch_end)) > 0 ||
	    (out = session_stage_room(ch->ch_sess, &stx)) == NULL)
		return 0;
	if (want > FRAME_DATA_MAX)
		want = FRAME_DATA_MAX;
	if (want > ch->ch_tx.wt_avail)
		want = ch->ch_tx.wt_avail;
	if (want > stx->wt_avail)
		want = stx->wt_avail;
	/* Short of credit: read ahead into the input, as usual. */
	if (want < len / 2 ||
	    evbuffer_reserve_space(out, FRAME_HDR_LEN + want, &v, 1) != 1 ||
	    v.iov_len < FRAME_HDR_LEN + want)
		return 0;
	*n = rd((uint8_t *)v.iov_base + FRAME_HDR_LEN, want, arg);
	if (*n <= 0)
		return 1; /* the reservation lapses */
	frame_hdr_encode(v.iov_base, FRAME_DATA, ch->ch_id, (uint32_t)*n);
	v.iov_len = FRAME_HDR_LEN + (size_t)*n;
	evbuffer_commit_space(out, &v, 1);
	window_tx_take(&ch->ch_tx, (uint32_t)*n);
	window_tx_take(stx, (uint32_t)*n);
	channel_count_out(ch, (uint32_t)*n);
	session_staged(ch->ch_sess);
	return 1;
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

	/* A reset is coming: nothing more goes out, a FIN least of all. */
	if (ch->ch_state != CHANNEL_OPEN || ch->ch_fin_sent ||
	    ch->ch_failev != NULL)
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
		channel_count_out(ch, want);
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

/* DATA from the peer: write it out; -1 if it broke the flow control. */
int
channel_on_data(struct channel *ch, struct evbuffer *src, uint32_t len)
{
	if (ch->ch_state != CHANNEL_OPEN || ch->ch_peer_fin)
		return -1;
	if (window_rx_consume(&ch->ch_rx, len) != 0)
		return -1;
	ch->ch_bytes_in += len;
	if (channel_counted(ch))
		metrics_bytes(!channel_out_to_server(ch), len);
	if (ch->ch_scan[RX] != NULL) {
		evbuffer_remove_buffer(src, ch->ch_scan_q[RX], len);
		channel_scan_run(ch, RX);
		return 0;
	}
	ch->ch_end->e_ops->deliver(ch->ch_end, src, len);
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
	if (!ch->ch_peer_fin || ch->ch_wr_shut || ch->ch_failev != NULL ||
	    !channel_rx_drained(ch) ||
	    evbuffer_get_length(ch->ch_end->e_ops->output(ch->ch_end)) > 0)
		return;
	ch->ch_end->e_ops->shutdown(ch->ch_end);
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
 * n bytes from the peer left for the end; empty: nothing is queued. A
 * rewrite can make the output shorter than what came in, so once
 * everything is written the rest of the held credit comes back too; it
 * can make it longer, and the bytes it added earn no credit.
 */
void
channel_end_written(struct channel *ch, size_t n, int empty)
{
	uint32_t give, before;
	uint64_t skip;
	int64_t rtt;

	skip = ch->ch_rx_grown < n ? ch->ch_rx_grown : n;
	ch->ch_rx_grown -= skip;
	n -= skip;
	if (ch->ch_scan[RX] != NULL && empty && channel_rx_drained(ch)) {
		ch->ch_rx_grown = 0;
		if (n < ch->ch_rx.wr_buffered)
			n = ch->ch_rx.wr_buffered;
	}
	before = ch->ch_rx.wr_buffered;
	if ((give = window_rx_written(&ch->ch_rx, (uint32_t)n)) > 0) {
		rtt = session_rtt_us(ch->ch_sess);
		give += window_rx_grow(&ch->ch_rx, give, monotime_us(),
		    rtt > 0 ? (uint64_t)rtt : 0);
		channel_send_window(ch, give);
	}
	ch->ch_rx_written += before - ch->ch_rx.wr_buffered;
	session_rx_written(ch->ch_sess, before - ch->ch_rx.wr_buffered);
}

#define CHANNEL_STALL_MIN (64 << 10) /* holding less never counts */

/* Reset a channel that holds its session up, saying why. */
void
channel_stall_reset(struct channel *ch, int period_ms)
{
	log_warnx("%s: took %llu bytes in %d ms and holds %u: resetting it, "
		  "as its session is short of credit ([session] "
		  "stall_timeout)",
	    ch->ch_desc, (unsigned long long)ch->ch_stall_took, period_ms,
	    ch->ch_rx.wr_buffered);
	if (ch->ch_end != NULL && ch->ch_end->e_ops->stalled != NULL)
		ch->ch_end->e_ops->stalled(ch->ch_end);
	channel_reset_later(ch, "stalled: the session was short of credit");
}

/*
 * The session is short of credit: does this channel hold it up? It does
 * when, over the last period, its end took less than the channel holds
 * now: draining what it holds would take longer than a period. Such a
 * channel is reset (RST both ways: the client sees an error, nothing is
 * cut short in silence) when it holds CHANNEL_STALL_MIN or more; a
 * smaller one is left to the session, which resets as many of those as
 * it takes (many small stalls hold a session up as well). Periods start
 * at the first check. Returns what a slow channel holds, else 0; *small
 * says it was left to the caller.
 */
uint32_t
channel_stall_check(struct channel *ch, uint64_t now_ms, int period_ms,
    int *small)
{
	uint32_t held = ch->ch_rx.wr_buffered;

	*small = 0;
	if (ch->ch_state != CHANNEL_OPEN || ch->ch_failev != NULL)
		return 0;
	if (ch->ch_stall_t0 == 0 || now_ms < ch->ch_stall_t0) {
		ch->ch_stall_t0 = now_ms;
		ch->ch_stall_mark = ch->ch_rx_written;
		return 0;
	}
	if (now_ms - ch->ch_stall_t0 < (uint64_t)period_ms)
		return 0;
	ch->ch_stall_took = ch->ch_rx_written - ch->ch_stall_mark;
	ch->ch_stall_t0 = now_ms;
	ch->ch_stall_mark = ch->ch_rx_written;
	if (held == 0 || ch->ch_stall_took >= held)
		return 0;
	if (held >= CHANNEL_STALL_MIN)
		channel_stall_reset(ch, period_ms);
	else
		*small = 1;
	return held;
}

/* Bytes read from the end not yet framed, scanned or not. */
static size_t
channel_read_ahead(struct channel *ch)
{
	size_t have = evbuffer_get_length(ch->ch_end->e_ops->input(ch->ch_end));

	if (ch->ch_scan[TX] != NULL)
		have += evbuffer_get_length(ch->ch_scan_q[TX]) +
		    scan_held(ch->ch_scan[TX]);
	return have;
}

/* Take input from the end again if there is room (after pumping). */
static void
channel_read_resume(struct channel *ch)
{
	if (ch->ch_end == NULL || ch->ch_rd_eof)
		return;
	if (channel_read_ahead(ch) >= CHANNEL_READ_HIWAT)
		return;
	ch->ch_end->e_ops->read(ch->ch_end, 1);
}

/* The end has new input: frame it, and stop taking more at the limit. */
void
channel_end_readable(struct channel *ch)
{
	if (channel_read_ahead(ch) >= CHANNEL_READ_HIWAT)
		ch->ch_end->e_ops->read(ch->ch_end, 0);
	session_ready(ch->ch_sess, ch);
}

/* The end's input ended: FIN once it is all framed. */
void
channel_end_eof(struct channel *ch)
{
	ch->ch_rd_eof = 1;
	session_ready(ch->ch_sess, ch);
}

/* The end took everything queued for it: maybe finish a half-close. */
void
channel_end_drained(struct channel *ch)
{
	channel_try_shutdown(ch);
}

/* The end failed: reset the channel. */
void
channel_end_error(struct channel *ch, const char *why)
{
	channel_close(ch, CHANNEL_RESET, why);
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
	/*
	 * One line per connection: the isp's, and the esp's of its channel
	 * to the isp (an agent's relayed channel is that one too).
	 */
	if (channel_counted(ch)) {
		if (!ch->ch_unaudited)
			audit_channel(ch,
			    session_role(ch->ch_sess) == FRAME_ROLE_ESP,
			    reason);
		if (ch->ch_state == CHANNEL_OPEN)
			metrics_add(M_CHANNELS, ch->ch_user, -1);
	}
	if (ch->ch_state == CHANNEL_OPEN)
		log_debug("%s closed: %s; %llu bytes out, %llu bytes in, "
			  "%ld.%03lds",
		    ch->ch_desc, reason, (unsigned long long)ch->ch_bytes_out,
		    (unsigned long long)ch->ch_bytes_in, (long)d.tv_sec,
		    (long)d.tv_usec / 1000);
	else
		log_debug("%s ended before opening: %s", ch->ch_desc, reason);
	if (ch->ch_failev != NULL)
		event_free(ch->ch_failev);
	if (ch->ch_end != NULL)
		ch->ch_end->e_ops->free(ch->ch_end, how != CHANNEL_DONE);
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
	if ((closed = ch->ch_release) != NULL)
		closed(ch, ch->ch_release_arg);
	session_channel_gone(ch->ch_sess, ch);
	free(ch->ch_desc);
	free(ch);
}
