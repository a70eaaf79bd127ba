/* Flow-control credit accounting, per channel and per session. */
#ifndef DP_WINDOW_H
#define DP_WINDOW_H

#include <stdint.h>

#define WINDOW_MAX 0x7fffffffU

/* What we let the peer send us. */
struct window_rx {
	uint32_t wr_size;     /* the window we promise */
	uint32_t wr_avail;    /* bytes the peer may still send */
	uint32_t wr_buffered; /* received, not yet written out */
	uint32_t wr_unacked;  /* written out, credit not yet returned */
};

/* What the peer lets us send. */
struct window_tx {
	uint32_t wt_avail;
};

void window_rx_init(struct window_rx *, uint32_t size);
int window_rx_consume(struct window_rx *, uint32_t n);
uint32_t window_rx_written(struct window_rx *, uint32_t n);
uint32_t window_rx_discard(struct window_rx *);

void window_tx_init(struct window_tx *, uint32_t initial);
uint32_t window_tx_take(struct window_tx *, uint32_t want);
int window_tx_grant(struct window_tx *, uint32_t n);

#endif
