/* A channel: one relayed TCP connection, multiplexed over the session. */
#ifndef DP_CHANNEL_H
#define DP_CHANNEL_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "frame.h"
#include "log.h"
#include "window.h"

struct session;
struct channel;
struct scan;
struct announce;
struct end;

/*
 * Called exactly once for a channel still being opened: with the peer's
 * result, or with a failure code and no bound address when the channel
 * dies first (client gone, session lost).
 */
typedef void (*channel_result_cb)(struct channel *, uint8_t code,
    const struct endpoint *bound, void *arg);

/*
 * A rule found an announcement in one direction (rx: peer -> local socket;
 * tx: local socket -> peer). That direction is held until the owner calls
 * channel_announce_done(), now or later.
 */
typedef void (*channel_announce_cb)(struct channel *, int rx,
    const struct announce *, void *arg);

/* Called once when the channel is freed, for the owner's state. */
typedef void (*channel_closed_cb)(struct channel *, void *arg);

enum channel_state {
	CHANNEL_OPENING, /* OPEN sent or received; no result yet */
	CHANNEL_OPEN     /* relaying both ways */
};

/* How a channel ends. */
enum channel_close_how {
	CHANNEL_DONE = 0,         /* both FINs exchanged and flushed */
	CHANNEL_RESET = 1,        /* local error: reset both ends */
	CHANNEL_PEER_RESET = 2,   /* RST from the peer: reset the local end */
	CHANNEL_SESSION_LOST = 3, /* session gone: reset the local end */
	CHANNEL_REFUSED = 4       /* never opened */
};

struct channel {
	struct session *ch_sess;
	uint32_t ch_id;
	enum channel_state ch_state;
	struct event_base *ch_base;
	struct end *ch_end; /* what the stream is relayed to, once joined */
	struct window_tx ch_tx;
	struct window_rx ch_rx;
	unsigned ch_rd_eof : 1;    /* local side sent EOF */
	unsigned ch_fin_sent : 1;  /* FIN queued to the peer */
	unsigned ch_peer_fin : 1;  /* FIN received */
	unsigned ch_wr_shut : 1;   /* local write side shut down */
	unsigned ch_queued : 1;    /* on the session's ready list */
	unsigned ch_outside : 1;   /* opened by OUTSIDE_OPEN */
	unsigned ch_unaudited : 1; /* a refusal past the log budget */
	uint32_t ch_parent;        /* a data channel's control channel, or 0 */
	TAILQ_ENTRY(channel) ch_ready;
	struct channel *ch_hnext;
	channel_result_cb ch_result;
	void *ch_result_arg;
	channel_closed_cb ch_blame; /* the channel linked to this one was
				       reset for holding its session up */
	void *ch_blame_arg;
	channel_closed_cb ch_closed;
	void *ch_closed_arg;
	channel_closed_cb ch_release; /* the client's place, let go last */
	void *ch_release_arg;
	struct endpoint ch_dst;           /* what was asked for */
	struct endpoint ch_client;        /* who asked, as the esp saw it */
	char ch_user[FRAME_USER_MAX + 1]; /* SOCKS login; "" anonymous */
	char ch_rule[32];                 /* rule file scanning it, if any */

	/* Rule scanning, on channels to a rule's service ports only. */
	struct scan *ch_scan[2];       /* [1]: rx, [0]: tx */
	struct evbuffer *ch_scan_q[2]; /* arrived while held / scanned tx */
	unsigned ch_scan_held[2];      /* waiting for the owner */
	unsigned ch_scan_busy[2];      /* inside the scan loop */
	unsigned ch_scan_done[2];      /* scanner flushed at end of stream */
	struct event *ch_failev;       /* a reset waiting for a clean stack */
	char ch_fail_why[128];
	channel_announce_cb ch_announce;
	void *ch_announce_arg;
	struct log_budget ch_ann_log; /* announcements logged a second */
	int ch_ann_quiet;             /* this one is past the budget */

	/* Stall checks while the session is short of credit. */
	uint64_t ch_rx_written; /* peer -> end, written out, in all */
	uint64_t ch_rx_grown;   /* what rewrites added toward the end, not
				   yet written: it earns the peer no credit */
	uint64_t ch_stall_t0;   /* this check period began (ms), or 0 */
	uint64_t ch_stall_mark; /* ch_rx_written then */
	uint64_t ch_stall_took; /* ... and how much its end took in it */

	uint64_t ch_bytes_out; /* local socket -> peer */
	uint64_t ch_bytes_in;  /* peer -> local socket */
	struct timeval ch_start;
	char *ch_desc; /* for logs: "channel 5 client -> destination" */
};

/* What channel_pump left behind. */
enum channel_pump_result { CHANNEL_IDLE, CHANNEL_MORE, CHANNEL_FINISHED };

struct channel *channel_new(struct session *, uint32_t id, uint32_t rxwin,
    uint32_t rxmax, uint32_t txwin, int outside, const struct frame_open *);
void channel_expect(struct channel *, channel_result_cb, void *);
int channel_on_result(struct channel *, int outside,
    const struct frame_open_result *);
void channel_attach(struct channel *, struct bufferevent *);
void channel_attach_end(struct channel *, struct end *);
void channel_accept(struct channel *, struct bufferevent *,
    const struct endpoint *bound);
void channel_refuse(struct channel *, uint8_t code);
void channel_answer(struct channel *, uint8_t code, const struct endpoint *);
void channel_grant(struct channel *);
void channel_set_scan(struct channel *, struct scan *rx, struct scan *tx,
    channel_announce_cb, void *);
int channel_announce_quiet(const struct channel *);
void channel_announce_done(struct channel *, int rx,
    const struct sockaddr *replacement);
int channel_on_data(struct channel *, struct evbuffer *, uint32_t);
void channel_on_fin(struct channel *);
int channel_on_window(struct channel *, uint32_t);
int channel_has_work(struct channel *);
enum channel_pump_result channel_pump(struct channel *, struct evbuffer *,
    struct window_tx *);
void channel_close(struct channel *, enum channel_close_how, const char *);
void channel_reset_later(struct channel *, const char *);
uint32_t channel_stall_check(struct channel *, uint64_t now_ms, int period_ms,
    int *small);
void channel_stall_reset(struct channel *, int period_ms);

/* What an end reports (lib/end.h). */
void channel_end_readable(struct channel *);
/* Read up to len bytes into buf; a read(2)-like result. */
typedef ssize_t (*channel_read_fn)(void *buf, size_t len, void *arg);
int channel_end_read_framed(struct channel *, size_t, channel_read_fn, void *,
    ssize_t *);
void channel_end_eof(struct channel *);
void channel_end_written(struct channel *, size_t, int empty);
void channel_end_drained(struct channel *);
void channel_end_error(struct channel *, const char *);
void channel_describe(struct channel *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

#endif
