/* Flow-control accounting and the channel table. */
#include <stdlib.h>

#include "chanmap.h"
#include "channel.h"
#include "unit.h"
#include "window.h"

/* Receive side: credit is used on receipt and returned after writing. */
static void
test_rx(void)
{
	struct window_rx w;

	window_rx_init(&w, 1000);
	CHECK(w.wr_avail == 1000);
	CHECK(window_rx_consume(&w, 600) == 0);
	CHECK(w.wr_avail == 400 && w.wr_buffered == 600);
	CHECK(window_rx_consume(&w, 401) == -1); /* beyond the window */
	CHECK(w.wr_avail == 400);
	CHECK(window_rx_consume(&w, 400) == 0);
	CHECK(window_rx_consume(&w, 1) == -1);
	/* Nothing comes back before the bytes are written. */
	CHECK(window_rx_written(&w, 100) == 0); /* below a quarter: batch */
	CHECK(w.wr_avail == 0 && w.wr_unacked == 100);
	CHECK(window_rx_written(&w, 150) == 250);
	CHECK(w.wr_avail == 250 && w.wr_unacked == 0 && w.wr_buffered == 750);
	/* Writing more than was buffered cannot mint credit. */
	CHECK(window_rx_written(&w, 5000) == 750);
	CHECK(w.wr_avail == 1000 && w.wr_buffered == 0);
	/* Invariant: avail + buffered + unacked == size. */
	CHECK(window_rx_consume(&w, 300) == 0);
	CHECK(window_rx_written(&w, 100) == 0);
	CHECK(w.wr_avail + w.wr_buffered + w.wr_unacked == 1000);
	CHECK(window_rx_discard(&w) == 300);
	CHECK(w.wr_avail == 1000);
}

/*
 * Growth: a window's worth of credit returned within four round trips
 * (at least 4 ms) doubles the window, up to the limit; returned slower
 * (a slow destination), it stays.
 */
static void
test_grow(void)
{
	struct window_rx w;
	uint64_t t = 1000000;

	window_rx_init(&w, 1000);
	window_rx_growth(&w, 3000);
	CHECK(w.wr_max == 3000);
	CHECK(window_rx_consume(&w, 1000) == 0);
	CHECK(window_rx_written(&w, 500) == 500);
	CHECK(window_rx_grow(&w, 500, t, 200) == 0); /* half a window */
	CHECK(window_rx_written(&w, 500) == 500);
	CHECK(window_rx_grow(&w, 500, t + 3000, 200) == 1000); /* in 3 ms */
	CHECK(w.wr_size == 2000 && w.wr_avail == 2000);
	/* Again, within 4 round trips of 2 ms: only up to the limit. */
	CHECK(window_rx_consume(&w, 2000) == 0);
	CHECK(window_rx_written(&w, 2000) == 2000);
	CHECK(window_rx_grow(&w, 2000, t + 10000, 2000) == 1000);
	CHECK(w.wr_size == 3000 && w.wr_avail == 3000);
	CHECK(window_rx_grow(&w, 3000, t + 10001, 2000) == 0); /* at max */
	CHECK(window_rx_consume(&w, 3001) == -1); /* the limit holds */

	/* A window's worth, but over 5 ms with a short round trip: stays. */
	window_rx_init(&w, 1000);
	window_rx_growth(&w, 8000);
	CHECK(window_rx_consume(&w, 1000) == 0);
	CHECK(window_rx_written(&w, 1000) == 1000);
	CHECK(window_rx_grow(&w, 400, t, 100) == 0);
	CHECK(window_rx_grow(&w, 600, t + 5000, 100) == 0);
	CHECK(w.wr_size == 1000 && w.wr_avail == 1000);
	/* The same 5 ms across a 2 ms round trip: grows. */
	CHECK(window_rx_grow(&w, 1000, t + 10000, 2000) == 1000);

	/* No growth unless asked for (the session's own window). */
	window_rx_init(&w, 1000);
	CHECK(window_rx_grow(&w, 1000, t, 100) == 0);
	CHECK(window_rx_grow(&w, 1000, t + 1, 100) == 0);
	CHECK(w.wr_size == 1000);
}

/* Send side: take clamps to credit; grants may not overflow. */
static void
test_tx(void)
{
	struct window_tx w;

	window_tx_init(&w, 100);
	CHECK(window_tx_take(&w, 30) == 30);
	CHECK(window_tx_take(&w, 500) == 70);
	CHECK(window_tx_take(&w, 1) == 0);
	CHECK(window_tx_grant(&w, 0) == -1);
	CHECK(window_tx_grant(&w, 50) == 0 && w.wt_avail == 50);
	CHECK(window_tx_grant(&w, WINDOW_MAX) == -1);
	CHECK(w.wt_avail == 50);
	CHECK(window_tx_grant(&w, WINDOW_MAX - 50) == 0);
	CHECK(w.wt_avail == WINDOW_MAX);
}

/* A slow reader holds at most its window; the session cap bounds the sum. */
static void
test_slow_reader(void)
{
	struct window_rx sess, fast, slow;
	uint32_t i, moved = 0, give;

	window_rx_init(&sess, 4096);
	window_rx_init(&slow, 1024);
	window_rx_init(&fast, 1024);
	/* The slow channel fills its window and never drains. */
	CHECK(window_rx_consume(&slow, 1024) == 0 &&
	    window_rx_consume(&sess, 1024) == 0);
	CHECK(window_rx_consume(&slow, 1) == -1);
	/* The fast one still moves many windows' worth. */
	for (i = 0; i < 1000; i++) {
		uint32_t n = fast.wr_avail < sess.wr_avail ? fast.wr_avail
							   : sess.wr_avail;
		CHECK(n > 0);
		if (n == 0)
			break;
		CHECK(window_rx_consume(&fast, n) == 0);
		CHECK(window_rx_consume(&sess, n) == 0);
		moved += n;
		window_rx_written(&fast, n);
		if ((give = window_rx_written(&sess, n)) > 0)
			CHECK(give <= 4096);
	}
	CHECK(moved > 100 * 1024);
	CHECK(sess.wr_buffered + slow.wr_buffered <= 4096 + 1024);
	CHECK(slow.wr_buffered == 1024);
}

/* The channel table finds, grows and removes. */
static void
test_chanmap(void)
{
	struct chanmap m;
	struct channel *chs = calloc(10000, sizeof *chs);
	uint32_t i;
	int ok = 1;

	chanmap_init(&m);
	for (i = 0; i < 10000; i++) {
		chs[i].ch_id = i * 2 + 1;
		chanmap_insert(&m, &chs[i]);
	}
	CHECK(m.cm_count == 10000);
	for (i = 0; i < 10000; i++)
		ok &= chanmap_find(&m, i * 2 + 1) == &chs[i];
	CHECK(ok);
	CHECK(chanmap_find(&m, 2) == NULL);
	for (i = 0; i < 10000; i += 2)
		chanmap_remove(&m, &chs[i]);
	CHECK(m.cm_count == 5000);
	CHECK(chanmap_find(&m, 1) == NULL && chanmap_find(&m, 3) == &chs[1]);
	while (chanmap_any(&m) != NULL)
		chanmap_remove(&m, chanmap_any(&m));
	CHECK(m.cm_count == 0);
	chanmap_free(&m);
	free(chs);
}

int
main(void)
{
	test_rx();
	test_grow();
	test_tx();
	test_slow_reader();
	test_chanmap();
	return unit_done("window");
}
