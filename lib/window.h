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
	uint32_t wr_max;      /* the window may grow up to this */
	uint64_t wr_epoch_us; /* growth: when this round began */
	uint32_t wr_epoch;    /* credit returned since */
};

/* What the peer lets us send. */
struct window_tx {
	uint32_t wt_avail;
};

void window_rx_init(struct window_rx *, uint32_t size);
void window_rx_growth(struct window_rx *, uint32_t max);
int window_rx_consume(struct window_rx *, uint32_t n);
uint32_t window_rx_written(struct window_rx *, uint32_t n);
uint32_t window_rx_grow(struct window_rx *, uint32_t given, uint64_t now_us,
    uint64_t rtt_us);
uint32_t window_rx_discard(struct window_rx *);

void window_tx_init(struct window_tx *, uint32_t initial);
uint32_t window_tx_take(struct window_tx *, uint32_t want);
int window_tx_grant(struct window_tx *, uint32_t n);

#endif
