/* A channel: one relayed TCP connection, multiplexed over the session. */
#ifndef DP_CHANNEL_H
#define DP_CHANNEL_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "frame.h"
#include "window.h"

struct session;
struct channel;

/*
 * Called exactly once for a channel still being opened: with the peer's
 * result, or with a failure code and no bound address when the channel
 * dies first (client gone, session lost).
 */
typedef void (*channel_result_cb)(struct channel *, uint8_t code,
    const struct endpoint *bound, void *arg);

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
	struct bufferevent *ch_bev; /* local socket, once attached */
	struct evbuffer_cb_entry *ch_outcb;
	size_t ch_out_skip; /* output bytes queued before relaying began */
	struct window_tx ch_tx;
	struct window_rx ch_rx;
	unsigned ch_rd_eof : 1;   /* local side sent EOF */
	unsigned ch_fin_sent : 1; /* FIN queued to the peer */
	unsigned ch_peer_fin : 1; /* FIN received */
	unsigned ch_wr_shut : 1;  /* local write side shut down */
	unsigned ch_queued : 1;   /* on the session's ready list */
	TAILQ_ENTRY(channel) ch_ready;
	struct channel *ch_hnext;
	channel_result_cb ch_result;
	void *ch_result_arg;
	uint64_t ch_bytes_out; /* local socket -> peer */
	uint64_t ch_bytes_in;  /* peer -> local socket */
	struct timeval ch_start;
	char ch_desc[1024];
};

/* What channel_pump left behind. */
enum channel_pump_result { CHANNEL_IDLE, CHANNEL_MORE, CHANNEL_FINISHED };

struct channel *channel_new(struct session *, uint32_t id, uint32_t rxwin,
    uint32_t txwin);
void channel_attach(struct channel *, struct bufferevent *);
void channel_accept(struct channel *, struct bufferevent *,
    const struct endpoint *bound);
void channel_refuse(struct channel *, uint8_t code);
int channel_on_data(struct channel *, struct evbuffer *, uint32_t);
void channel_on_fin(struct channel *);
int channel_on_window(struct channel *, uint32_t);
int channel_wants_data_credit(const struct channel *);
int channel_has_work(const struct channel *);
enum channel_pump_result channel_pump(struct channel *, struct evbuffer *,
    struct window_tx *);
void channel_close(struct channel *, enum channel_close_how, const char *);

#endif
