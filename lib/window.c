/*
 * Flow-control credit accounting. The receiver promises a window; every
 * byte received uses credit, and credit goes back to the sender only once
 * the byte has been written to the destination socket. Updates are
 * batched: credit returns when a quarter of the window has been written
 * out.
 *
 * A channel's window grows, doubling up to a limit, when a whole window
 * was written out within a few round trips: then the window, not the
 * destination, sets the pace (a fast path, or a long round trip). A slow
 * or stalled destination never makes it grow.
 */
#include "window.h"

/* Start a receive window. */
void
window_rx_init(struct window_rx *w, uint32_t size)
{
	w->wr_size = size;
	w->wr_avail = size;
	w->wr_buffered = 0;
	w->wr_unacked = 0;
	w->wr_max = size;
	w->wr_epoch_us = 0;
	w->wr_epoch = 0;
}

/* Let the window grow up to max (no smaller than it is). */
void
window_rx_growth(struct window_rx *w, uint32_t max)
{
	w->wr_max = max > w->wr_size ? max : w->wr_size;
}

/* The peer sent n bytes; -1 if that exceeds its credit. */
int
window_rx_consume(struct window_rx *w, uint32_t n)
{
	if (n > w->wr_avail)
		return -1;
	w->wr_avail -= n;
	w->wr_buffered += n;
	return 0;
}

/*
 * n bytes were written to the destination. Returns the credit to send
 * back now, or 0 to keep batching.
 */
uint32_t
window_rx_written(struct window_rx *w, uint32_t n)
{
	uint32_t give;

	if (n > w->wr_buffered)
		n = w->wr_buffered;
	w->wr_buffered -= n;
	w->wr_unacked += n;
	if (w->wr_unacked == 0 || w->wr_unacked < w->wr_size / 4)
		return 0;
	give = w->wr_unacked;
	w->wr_unacked = 0;
	w->wr_avail += give;
	return give;
}

/*
 * given bytes of credit go back now. When a window's worth has gone back
 * within four round trips (at least 4 ms), the window is under the
 * bandwidth-delay product: double it, up to wr_max. Returns the extra
 * credit to add to given.
 */
uint32_t
window_rx_grow(struct window_rx *w, uint32_t given, uint64_t now_us,
    uint64_t rtt_us)
{
	uint64_t span = 4 * (rtt_us > 1000 ? rtt_us : 1000);
	uint32_t grow = 0;

	if (w->wr_size >= w->wr_max)
		return 0;
	if (w->wr_epoch_us == 0 || now_us < w->wr_epoch_us) {
		w->wr_epoch_us = now_us;
		w->wr_epoch = 0;
	}
	w->wr_epoch += given;
	if (w->wr_epoch < w->wr_size)
		return 0;
	if (now_us - w->wr_epoch_us <= span) {
		grow = w->wr_max - w->wr_size < w->wr_size
		    ? w->wr_max - w->wr_size
		    : w->wr_size;
		w->wr_size += grow;
		w->wr_avail += grow;
	}
	w->wr_epoch_us = now_us;
	w->wr_epoch = 0;
	return grow;
}

/* The destination is gone: everything held or unacked is released. */
uint32_t
window_rx_discard(struct window_rx *w)
{
	uint32_t n = w->wr_buffered + w->wr_unacked;

	w->wr_avail += n;
	w->wr_buffered = 0;
	w->wr_unacked = 0;
	return n;
}

/* Start a send window with the peer's initial credit. */
void
window_tx_init(struct window_tx *w, uint32_t initial)
{
	w->wt_avail = initial;
}

/* Take up to want bytes of credit. */
uint32_t
window_tx_take(struct window_tx *w, uint32_t want)
{
	uint32_t n = want < w->wt_avail ? want : w->wt_avail;

	w->wt_avail -= n;
	return n;
}

/* The peer returned n bytes of credit; -1 if the window would overflow. */
int
window_tx_grant(struct window_tx *w, uint32_t n)
{
	if (n == 0 || n > WINDOW_MAX - w->wt_avail)
		return -1;
	w->wt_avail += n;
	return 0;
}
