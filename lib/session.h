/* The session: one TLS connection between isp and esp, carrying channels. */
#ifndef DP_SESSION_H
#define DP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "channel.h"
#include "frame.h"

struct session;
struct conf;

struct session_params {
	uint32_t sp_window;      /* session receive window: the memory cap */
	uint32_t sp_chan_window; /* per-channel receive window, at first */
	uint32_t sp_chan_window_max; /* what it may grow to */
	int sp_keepalive_ms;         /* ping after this much silence */
	int sp_dead_ms;              /* declare the peer dead after this */
	int sp_hello_timeout_ms;     /* TLS handshake plus HELLO */
	uint32_t sp_out_hiwat;       /* bulk bytes queued toward TLS at most */
	uint32_t sp_max_channels;    /* open at once, either side's */
	int sp_stall_ms; /* short of credit: reset what drains slower; 0 off */
};

struct ssl_st;

struct session_cb {
	/*
	 * TLS is up: check who the peer is (tls_peer_check) and name it with
	 * session_set_identity; -1 with why ends the session before HELLO.
	 */
	int (*sc_handshake)(struct session *, struct ssl_st *, char *why,
	    size_t, void *);
	/* HELLO exchanged: the session is usable. */
	void (*sc_up)(struct session *, void *);
	/* The session is ending; it frees itself right after. */
	void (*sc_closed)(struct session *, const char *reason, void *);
	/* The peer asks this side to open a connection (OPEN). */
	void (*sc_open)(struct session *, struct channel *,
	    const struct frame_open *, void *);
	/* The peer asks for a reverse connection (OUTSIDE_OPEN). */
	void (*sc_outside_open)(struct session *, struct channel *,
	    const struct frame_open *, void *);
	/*
	 * A session-level message for the owner: AUTH and LOGIN from the
	 * opener; CONFIG, AUTH_RESULT and LOGIN_REPLY from the other side.
	 * The direction is checked.
	 */
	void (*sc_message)(struct session *, uint8_t type, const uint8_t *,
	    size_t, void *);
	/* The peer sent GOAWAY 0: no new channels here; open another. */
	void (*sc_goaway)(struct session *, void *);
	/* The last channel went away after a GOAWAY either way. */
	void (*sc_drained)(struct session *, void *);
};

int session_conf_load(const struct conf *, struct session_params *,
    char **cause);
void session_params_default(struct session_params *);
struct session *session_new(struct event_base *, struct bufferevent *, int role,
    int peer_role, const char *peer, const struct session_params *,
    const struct session_cb *, void *arg);
void session_start(struct session *);
struct tlswire;
void session_set_wire(struct session *, struct tlswire *);
void session_connected(struct session *);
void session_close(struct session *, const char *reason);
void session_goaway(struct session *, uint8_t code, const char *text);
void session_fail(struct session *, uint8_t code, const char *why);
int session_is_up(const struct session *);
int session_role(const struct session *);
int session_peer_role(const struct session *);
struct event_base *session_base(const struct session *);
const char *session_peer(const struct session *);
long session_verify_result(const struct session *);
void session_send_config(struct session *, const void *, size_t);
void session_send_message(struct session *, uint8_t type, const void *, size_t);
void session_set_identity(struct session *, const char *);
const char *session_identity(const struct session *);
void session_set_lane(struct session *, int);
int session_peer_lane(const struct session *);
size_t session_channels(const struct session *);
void session_set_next_id(struct session *, uint32_t);
int session_peer_goaway(const struct session *);
uint64_t session_serial(const struct session *);
int64_t session_rtt_us(const struct session *);
typedef void (*session_pong_cb)(struct session *, int rtt_ms, void *);
void session_probe(struct session *, session_pong_cb, void *);
void session_probe_cancel(struct session *);
struct channel *session_open(struct session *, uint8_t type,
    struct frame_open *, channel_result_cb, void *);
struct channel *session_open_channel(struct session *,
    const struct endpoint *dst, const struct endpoint *client, const char *user,
    const uint8_t *secret, size_t secretlen, channel_result_cb, void *);
struct channel *session_outside_open(struct session *,
    const struct endpoint *dst, const struct endpoint *client, uint32_t ref,
    channel_result_cb, void *);
struct channel *session_channel(struct session *, uint32_t);

/* Used by channel.c. */
void session_send(struct session *, uint8_t type, uint32_t chan,
    const void *payload, size_t len);
void session_ready(struct session *, struct channel *);
struct evbuffer *session_stage_room(struct session *, struct window_tx **);
void session_staged(struct session *);
void session_rx_written(struct session *, uint32_t);
void session_channel_gone(struct session *, struct channel *);

#endif
