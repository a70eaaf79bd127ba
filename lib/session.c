/*
 * The session: one TLS connection between isp and esp. It reads frames,
 * dispatches them to channels, and writes frames through a staging buffer
 * that is flushed once per event-loop turn, so many small frames share a
 * TLS record. Bulk data is pulled from ready channels round-robin only
 * while less than sp_out_hiwat bytes wait toward TLS; control frames are
 * staged at once, so they wait behind at most that much data.
 */
#include "session.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "chanmap.h"
#include "escape.h"
#include "conf.h"
#include "log.h"
#include "monotime.h"
#include "tls.h"
#include "tlswire.h"
#include "window.h"
#include "xmalloc.h"

enum session_state {
	SESSION_HANDSHAKE, /* TLS handshake under way */
	SESSION_HELLO,     /* TLS up, waiting for the peer's HELLO */
	SESSION_UP,        /* usable */
	SESSION_CLOSING    /* channels gone, flushing a last GOAWAY */
};

struct session {
	struct event_base *s_base;
	struct bufferevent *s_bev;
	struct evbuffer *s_stage; /* frames not yet handed to TLS */
	struct event *s_flush_ev;
	struct event *s_timer;
	int s_role;      /* ours, in HELLO */
	int s_peer_role; /* what the peer must say it is */
	int s_lane;      /* ours, in HELLO: which of an isp's sessions */
	int s_peer_lane; /* the peer's, from its HELLO */
	int s_opener;    /* we send OPEN (esp to an isp, agent to an esp) */
	enum session_state s_state;
	struct session_params s_params;
	const struct session_cb *s_cb;
	void *s_arg;
	struct chanmap s_chans;
	TAILQ_HEAD(, channel) s_ready;
	struct window_tx s_tx;
	struct window_rx s_rx;
	uint32_t s_next_id;
	uint64_t s_start_ms;
	uint64_t s_last_rx_ms;
	uint64_t s_last_ping_ms;
	unsigned s_goaway_sent : 1;
	unsigned s_goaway_rcvd : 1;
	unsigned s_pumping : 1;
	unsigned s_dead : 1;     /* closed while busy: free on the way out */
	unsigned s_overflow : 2; /* the peer does not read: 1 seen, 2 failed */
	int s_busy;              /* nesting depth of our own callbacks */
	struct tlswire *s_wire;  /* the socket under TLS, freed with us */
	char s_peer[ADDR_STRLEN];
	char s_identity[72]; /* who TLS proved the peer to be */
	uint64_t s_serial;   /* unique in this process */
	int s_goaway_code;   /* the peer's GOAWAY, or -1 */
	session_pong_cb s_probe_cb;
	void *s_probe_arg;
	uint8_t s_probe_ping[8];
	uint64_t s_probe_ms;
	uint8_t s_ping[8];  /* the last keepalive PING's payload */
	uint64_t s_ping_us; /* when it went */
	int64_t s_rtt_us;   /* its round trip, or -1 */
	char s_close_reason[256];
};

static void session_readcb(struct bufferevent *, void *);
static void session_writecb(struct bufferevent *, void *);
static void session_eventcb(struct bufferevent *, short, void *);
static void session_flushcb(evutil_socket_t, short, void *);
static void session_timercb(evutil_socket_t, short, void *);
static void session_check_stalls(struct session *);
static void session_pump(struct session *);
static void session_free(struct session *);

static uint64_t session_serials;

/* Mark entry into code that may close the session. */
static void
session_enter(struct session *s)
{
	s->s_busy++;
}

/* Leave it; returns 1 if the session was freed and must not be touched. */
static int
session_leave(struct session *s)
{
	if (--s->s_busy == 0 && s->s_dead) {
		session_free(s);
		return 1;
	}
	return s->s_dead;
}

/* Send a keepalive PING, and time it. */
static void
session_ping(struct session *s, uint64_t now_ms)
{
	int i;

	for (i = 0; i < 8; i++)
		s->s_ping[i] = (uint8_t)(now_ms >> (56 - 8 * i));
	s->s_ping_us = monotime_us();
	session_send(s, FRAME_PING, 0, s->s_ping, sizeof s->s_ping);
	s->s_last_ping_ms = now_ms;
}

/* The defaults of [session]. */
#define SESSION_WINDOW          (16 << 20)
#define SESSION_CHAN_WINDOW     (512 << 10)
#define SESSION_QUEUE           (256 << 10)
#define SESSION_CHAN_WINDOW_MAX (2 << 20)
#define SESSION_MAX_CHANNELS    4096
#define SESSION_KEEPALIVE_MS    10000
#define SESSION_DEAD_MS         30000
#define SESSION_HELLO_MS        10000
#define SESSION_STALL_MS        10000

/* The [session] defaults, for a program without that section. */
void
session_params_default(struct session_params *p)
{
	p->sp_window = SESSION_WINDOW;
	p->sp_chan_window = SESSION_CHAN_WINDOW;
	p->sp_chan_window_max = SESSION_CHAN_WINDOW_MAX;
	p->sp_out_hiwat = SESSION_QUEUE;
	p->sp_max_channels = SESSION_MAX_CHANNELS;
	p->sp_keepalive_ms = SESSION_KEEPALIVE_MS;
	p->sp_dead_ms = SESSION_DEAD_MS;
	p->sp_hello_timeout_ms = SESSION_HELLO_MS;
	p->sp_stall_ms = SESSION_STALL_MS;
}

/* Read the [session] section. */
int
session_conf_load(const struct conf *c, struct session_params *p, char **cause)
{
	const char *v0;
	uint64_t v;

	if (conf_size(c, "session:window", SESSION_WINDOW, 256 << 10, 1U << 30,
		&v, cause) != 0)
		return -1;
	p->sp_window = (uint32_t)v;
	if (conf_size(c, "session:channel_window", SESSION_CHAN_WINDOW,
		16 << 10, 64 << 20, &v, cause) != 0)
		return -1;
	p->sp_chan_window = (uint32_t)v;
	if (p->sp_chan_window > p->sp_window)
		return conf_error(cause, c, "session:channel_window",
		    "larger than [session] window");
	if (conf_size(c, "session:channel_window_max",
		p->sp_chan_window > SESSION_CHAN_WINDOW_MAX
		    ? p->sp_chan_window
		    : SESSION_CHAN_WINDOW_MAX,
		16 << 10, 64 << 20, &v, cause) != 0)
		return -1;
	p->sp_chan_window_max = (uint32_t)v;
	if (p->sp_chan_window_max < p->sp_chan_window)
		return conf_error(cause, c, "session:channel_window_max",
		    "smaller than [session] channel_window");
	if (p->sp_chan_window_max > p->sp_window)
		return conf_error(cause, c, "session:channel_window_max",
		    "larger than [session] window");
	if (conf_size(c, "session:queue", SESSION_QUEUE, 16 << 10, 16 << 20, &v,
		cause) != 0)
		return -1;
	p->sp_out_hiwat = (uint32_t)v;
	if (conf_count(c, "session:max_channels", SESSION_MAX_CHANNELS, 16,
		1000000, &p->sp_max_channels, cause) != 0)
		return -1;
	if (conf_duration(c, "session:keepalive", SESSION_KEEPALIVE_MS,
		&p->sp_keepalive_ms, cause) != 0 ||
	    conf_duration(c, "session:dead_after", SESSION_DEAD_MS,
		&p->sp_dead_ms, cause) != 0 ||
	    conf_duration(c, "session:handshake_timeout", SESSION_HELLO_MS,
		&p->sp_hello_timeout_ms, cause) != 0)
		return -1;
	if (p->sp_dead_ms <= p->sp_keepalive_ms)
		return conf_error(cause, c, "session:dead_after",
		    "%d.%03d s%s, must be longer than [session] keepalive "
		    "(%d.%03d s)",
		    p->sp_dead_ms / 1000, p->sp_dead_ms % 1000,
		    conf_str(c, "session:dead_after", NULL) == NULL
			? " (the default)"
			: "",
		    p->sp_keepalive_ms / 1000, p->sp_keepalive_ms % 1000);
	if ((v0 = conf_str(c, "session:stall_timeout", NULL)) != NULL &&
	    (strcmp(v0, "0") == 0 || strcasecmp(v0, "off") == 0))
		p->sp_stall_ms = 0;
	else if (conf_duration(c, "session:stall_timeout", SESSION_STALL_MS,
		     &p->sp_stall_ms, cause) != 0)
		return -1;
	return 0;
}

/*
 * Wrap an (already TLS-wrapped) bufferevent in a session between role and
 * peer_role: an esp with an isp or an agent, an isp or an agent with an
 * esp. The side that asks for connections (OPEN) is the esp toward an
 * isp, and the agent toward an esp; the other side serves them and asks
 * for reverse connections (OUTSIDE_OPEN).
 */
struct session *
session_new(struct event_base *base, struct bufferevent *bev, int role,
    int peer_role, const char *peer, const struct session_params *params,
    const struct session_cb *cb, void *arg)
{
	struct session *s = xcalloc(1, sizeof *s);
	struct timeval tv;
	int ms;

	s->s_base = base;
	s->s_bev = bev;
	s->s_role = role;
	s->s_peer_role = peer_role;
	s->s_opener = (role == FRAME_ROLE_ESP && peer_role == FRAME_ROLE_ISP) ||
	    role == FRAME_ROLE_AGENT;
	s->s_state = SESSION_HANDSHAKE;
	s->s_params = *params;
	s->s_cb = cb;
	s->s_arg = arg;
	s->s_stage = evbuffer_new();
	s->s_flush_ev = event_new(base, -1, 0, session_flushcb, s);
	s->s_timer = event_new(base, -1, EV_PERSIST, session_timercb, s);
	chanmap_init(&s->s_chans);
	TAILQ_INIT(&s->s_ready);
	window_rx_init(&s->s_rx, params->sp_window);
	window_tx_init(&s->s_tx, 0);
	/* The opener's channels are odd, the other side's even. */
	s->s_next_id = s->s_opener ? 1 : 2;
	s->s_start_ms = s->s_last_rx_ms = monotime_ms();
	s->s_goaway_code = -1;
	s->s_rtt_us = -1;
	s->s_serial = __atomic_add_fetch(&session_serials, 1, __ATOMIC_RELAXED);
	snprintf(s->s_peer, sizeof s->s_peer, "%s", peer);
	ms = params->sp_keepalive_ms < 1000 ? params->sp_keepalive_ms / 2 : 500;
	if (ms < 50)
		ms = 50;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(s->s_timer, &tv);
	bufferevent_setwatermark(bev, EV_WRITE, params->sp_out_hiwat / 2, 0);
	bufferevent_setcb(bev, session_readcb, session_writecb, session_eventcb,
	    s);
	return s;
}

/* The session owns the socket layer under its TLS bufferevent. */
void
session_set_wire(struct session *s, struct tlswire *w)
{
	s->s_wire = w;
}

/* Start reading; call once the bufferevent is connecting or accepting. */
void
session_start(struct session *s)
{
	bufferevent_enable(s->s_bev, EV_READ | EV_WRITE);
}

/* Apply TCP options to the session socket. */
static void
session_tune_socket(struct session *s)
{
	evutil_socket_t fd = bufferevent_getfd(s->s_bev);
	int one = 1;
	unsigned int uto = (unsigned int)s->s_params.sp_dead_ms;

	if (fd < 0)
		return;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	/* Unacknowledged data fails the socket as fast as keepalive would. */
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof uto);
}

/* Bytes waiting toward the peer: staged, and handed to TLS. */
static size_t
session_queued(struct session *s)
{
	return evbuffer_get_length(s->s_stage) +
	    evbuffer_get_length(bufferevent_get_output(s->s_bev));
}

/*
 * At most this much may wait toward the peer: bulk data stops at
 * sp_out_hiwat, so what is over it by far is control frames (PONGs,
 * WINDOWs, RSTs) that the peer keeps asking for and does not read.
 */
static size_t
session_queue_max(const struct session *s)
{
	size_t m = 4 * (size_t)s->s_params.sp_out_hiwat;

	return m > (1 << 20) ? m : (1 << 20);
}

/* Queue a frame for the next flush. */
void
session_send(struct session *s, uint8_t type, uint32_t chan,
    const void *payload, size_t len)
{
	uint8_t hdr[FRAME_HDR_LEN];

	if (s->s_state == SESSION_CLOSING || s->s_state == SESSION_HANDSHAKE)
		return;
	if (s->s_overflow)
		return; /* the session is being failed */
	if (session_queued(s) > session_queue_max(s)) {
		/* Failed from the flush event, not from inside a caller. */
		s->s_overflow = 1;
		event_active(s->s_flush_ev, EV_TIMEOUT, 0);
		return;
	}
	frame_hdr_encode(hdr, type, chan, (uint32_t)len);
	evbuffer_add(s->s_stage, hdr, sizeof hdr);
	if (len > 0)
		evbuffer_add(s->s_stage, payload, len);
	if (!event_pending(s->s_flush_ev, EV_TIMEOUT, NULL))
		event_active(s->s_flush_ev, EV_TIMEOUT, 0);
}

/* Hand staged frames to TLS: one write per loop turn. */
static void
session_flushcb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	char why[128];

	(void)fd;
	(void)what;
	if (s->s_overflow == 1 && s->s_cb != NULL) {
		s->s_overflow = 2;
		snprintf(why, sizeof why,
		    "the peer does not read: %zu bytes wait toward it",
		    session_queued(s));
		session_enter(s);
		session_fail(s, GOAWAY_FLOW, why);
		session_leave(s);
		return;
	}
	if (evbuffer_get_length(s->s_stage) > 0)
		bufferevent_write_buffer(s->s_bev, s->s_stage);
}

/* Send a 4-byte big-endian value frame. */
static void
session_send_u32(struct session *s, uint8_t type, uint32_t chan, uint32_t v)
{
	uint8_t p[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff };

	session_send(s, type, chan, p, 4);
}

/* Send our HELLO. */
static void
session_send_hello(struct session *s)
{
	struct frame_hello h;
	uint8_t buf[128];
	size_t n;

	memset(&h, 0, sizeof h);
	h.fhl_min_version = FRAME_VERSION;
	h.fhl_max_version = FRAME_VERSION;
	h.fhl_role = (uint8_t)s->s_role;
	h.fhl_window = s->s_params.sp_window;
	h.fhl_lane = (uint8_t)s->s_lane;
	snprintf(h.fhl_software, sizeof h.fhl_software, "dynpass/%s",
	    DYNPASS_VERSION);
	n = frame_hello_encode(buf, sizeof buf, &h);
	session_send(s, FRAME_HELLO, 0, buf, n);
}

/* Bytes written by channels: return session credit in batches. */
void
session_rx_written(struct session *s, uint32_t n)
{
	uint32_t give = window_rx_written(&s->s_rx, n);

	if (give > 0)
		session_send_u32(s, FRAME_WINDOW, 0, give);
}

/*
 * Where a channel may frame bytes read in place, with the session's
 * credit: while the session is up, no channel waits its turn and the
 * queue toward the peer is under its mark. NULL when not now.
 */
struct evbuffer *
session_stage_room(struct session *s, struct window_tx **stx)
{
	if (s->s_state != SESSION_UP || s->s_pumping || s->s_dead ||
	    s->s_overflow || !TAILQ_EMPTY(&s->s_ready) ||
	    session_queued(s) >= s->s_params.sp_out_hiwat)
		return NULL;
	*stx = &s->s_tx;
	return s->s_stage;
}

/* A channel staged frames outside the pump: flush them this turn. */
void
session_staged(struct session *s)
{
	if (!event_pending(s->s_flush_ev, EV_TIMEOUT, NULL))
		event_active(s->s_flush_ev, EV_TIMEOUT, 0);
}

/* A channel may have something to send. */
void
session_ready(struct session *s, struct channel *ch)
{
	if (!ch->ch_queued && channel_has_work(ch)) {
		ch->ch_queued = 1;
		TAILQ_INSERT_TAIL(&s->s_ready, ch, ch_ready);
	}
	session_pump(s);
}

/*
 * Pull DATA from ready channels, one frame each in turn, until the TLS
 * queue is full or nothing can move. Channels waiting only for session
 * credit stay queued.
 */
static void
session_pump(struct session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->s_bev);
	TAILQ_HEAD(, channel) stalled = TAILQ_HEAD_INITIALIZER(stalled);
	struct channel *ch;
	enum channel_pump_result r;
	size_t before = evbuffer_get_length(s->s_stage);

	if (s->s_pumping || s->s_state != SESSION_UP)
		return;
	s->s_pumping = 1;
	session_enter(s);
	while (!s->s_dead && (ch = TAILQ_FIRST(&s->s_ready)) != NULL &&
	    evbuffer_get_length(out) + evbuffer_get_length(s->s_stage) <
		s->s_params.sp_out_hiwat) {
		TAILQ_REMOVE(&s->s_ready, ch, ch_ready);
		ch->ch_queued = 0;
		r = channel_pump(ch, s->s_stage, &s->s_tx);
		if (r == CHANNEL_FINISHED) {
			channel_close(ch, CHANNEL_DONE, "done");
			continue;
		}
		if (r == CHANNEL_MORE) {
			ch->ch_queued = 1;
			TAILQ_INSERT_TAIL(&s->s_ready, ch, ch_ready);
		} else if (channel_has_work(ch)) {
			/*
			 * Blocked on session credit: keep its place, and stop.
			 * The channels behind it wait for credit too (or only
			 * for a FIN, which waits with them): walking them all
			 * for each WINDOW a peer sends would cost O(channels).
			 */
			ch->ch_queued = 1;
			TAILQ_INSERT_TAIL(&stalled, ch, ch_ready);
			if (s->s_tx.wt_avail == 0)
				break;
		}
		if (s->s_tx.wt_avail == 0 && r != CHANNEL_MORE &&
		    TAILQ_EMPTY(&s->s_ready))
			break;
	}
	TAILQ_CONCAT(&stalled, &s->s_ready, ch_ready);
	TAILQ_CONCAT(&s->s_ready, &stalled, ch_ready);
	s->s_pumping = 0;
	if (session_leave(s))
		return;
	if (evbuffer_get_length(s->s_stage) != before &&
	    !event_pending(s->s_flush_ev, EV_TIMEOUT, NULL))
		event_active(s->s_flush_ev, EV_TIMEOUT, 0);
}

/* A channel is gone: drop it from the table and the ready list. */
void
session_channel_gone(struct session *s, struct channel *ch)
{
	if (ch->ch_queued) {
		TAILQ_REMOVE(&s->s_ready, ch, ch_ready);
		ch->ch_queued = 0;
	}
	chanmap_remove(&s->s_chans, ch);
	if (s->s_chans.cm_count == 0 &&
	    (s->s_goaway_sent || s->s_goaway_rcvd) &&
	    s->s_state == SESSION_UP && s->s_cb != NULL &&
	    s->s_cb->sc_drained != NULL)
		s->s_cb->sc_drained(s, s->s_arg);
}

/*
 * The id for a new channel of ours: the next of our parity that is free.
 * After 2^31 opens the ids wrap round; 0 is never one, nor an id still
 * in use (at most sp_max_channels are).
 */
static uint32_t
session_next_id(struct session *s)
{
	uint32_t id;

	do {
		id = s->s_next_id;
		s->s_next_id += 2;
	} while (id == 0 || chanmap_find(&s->s_chans, id) != NULL);
	return id;
}

/* Where the next channel ids start: for tests of the wrap round. */
void
session_set_next_id(struct session *s, uint32_t id)
{
	s->s_next_id = id;
}

/*
 * Send OPEN (the opener: to a destination beyond the peer) or
 * OUTSIDE_OPEN (the other side: to an endpoint a client announced on
 * channel o->fo_ref) for a new channel of ours. The caller fills in the
 * endpoints, the user, the auth method and its secret; the session the
 * rest. An OUTSIDE_OPEN's window starts at 0: the peer sends nothing
 * until channel_grant() once our end is joined. NULL if the session
 * cannot take a channel now.
 */
struct channel *
session_open(struct session *s, uint8_t type, struct frame_open *o,
    channel_result_cb cb, void *arg)
{
	struct channel *ch;
	uint8_t buf[900];
	size_t n;

	if (s->s_state != SESSION_UP || s->s_goaway_rcvd || s->s_goaway_sent ||
	    s->s_opener != (type == FRAME_OPEN) ||
	    s->s_chans.cm_count >= s->s_params.sp_max_channels)
		return NULL;
	o->fo_window = type == FRAME_OPEN ? s->s_params.sp_chan_window : 0;
	o->fo_command = 1;
	if (type == FRAME_OPEN)
		o->fo_ref = 0;
	if ((n = frame_open_encode(buf, sizeof buf, o)) == 0)
		return NULL;
	ch = channel_new(s, session_next_id(s), s->s_params.sp_chan_window,
	    s->s_params.sp_chan_window_max, 0, type == FRAME_OUTSIDE_OPEN, o);
	channel_expect(ch, cb, arg);
	chanmap_insert(&s->s_chans, ch);
	session_send(s, type, ch->ch_id, buf, n);
	OPENSSL_cleanse(buf, sizeof buf);
	return ch;
}

/* OPEN with a password login or none (the esp's SOCKS door). */
struct channel *
session_open_channel(struct session *s, const struct endpoint *dst,
    const struct endpoint *client, const char *user, const uint8_t *secret,
    size_t secretlen, channel_result_cb cb, void *arg)
{
	struct frame_open o;
	struct channel *ch = NULL;

	memset(&o, 0, sizeof o);
	o.fo_dst = *dst;
	o.fo_client = *client;
	if (user != NULL && *user != '\0' && secretlen > 0 &&
	    secretlen <= FRAME_SECRET_MAX) {
		snprintf(o.fo_user, sizeof o.fo_user, "%s", user);
		o.fo_auth = OPEN_AUTH_PASSWORD;
		memcpy(o.fo_secret, secret, secretlen);
		o.fo_secret_len = (uint8_t)secretlen;
	} else if (user != NULL && *user != '\0')
		return NULL;
	ch = session_open(s, FRAME_OPEN, &o, cb, arg);
	OPENSSL_cleanse(&o, sizeof o);
	return ch;
}

/* OUTSIDE_OPEN to an endpoint the client of channel ref announced. */
struct channel *
session_outside_open(struct session *s, const struct endpoint *dst,
    const struct endpoint *client, uint32_t ref, channel_result_cb cb,
    void *arg)
{
	struct frame_open o;

	memset(&o, 0, sizeof o);
	o.fo_dst = *dst;
	o.fo_client = *client;
	o.fo_ref = ref;
	return session_open(s, FRAME_OUTSIDE_OPEN, &o, cb, arg);
}

/* Find a live channel by id (for OUTSIDE_OPEN references). */
struct channel *
session_channel(struct session *s, uint32_t id)
{
	return chanmap_find(&s->s_chans, id);
}

/* Send CONFIG (isp side). */
void
session_send_config(struct session *s, const void *p, size_t len)
{
	session_send(s, FRAME_CONFIG, 0, p, len);
}

/* Send a session-level message: AUTH (esp) or AUTH_RESULT (isp). */
void
session_send_message(struct session *s, uint8_t type, const void *p, size_t len)
{
	session_send(s, type, 0, p, len);
}

/* Name the peer as TLS proved it: an isp id, or an esp's certificate. */
void
session_set_identity(struct session *s, const char *id)
{
	snprintf(s->s_identity, sizeof s->s_identity, "%s", id);
}

/* Which of an isp's sessions this is, for HELLO; before session_start. */
void
session_set_lane(struct session *s, int lane)
{
	s->s_lane = lane;
}

/* Which of its isp's sessions the peer says this is (0 if it is alone). */
int
session_peer_lane(const struct session *s)
{
	return s->s_peer_lane;
}

/* How many channels are open. */
size_t
session_channels(const struct session *s)
{
	return s->s_chans.cm_count;
}

/* Who TLS proved the peer to be; "" before the handshake. */
const char *
session_identity(const struct session *s)
{
	return s->s_identity;
}

/* A number no other session of this process has had. */
uint64_t
session_serial(const struct session *s)
{
	return s->s_serial;
}

/* The code of the peer's GOAWAY, or -1 if it sent none. */
int
session_peer_goaway(const struct session *s)
{
	return s->s_goaway_code;
}

/*
 * Is the peer still there? Sends a PING and calls cb with the round trip
 * when its PONG comes back. One probe at a time; a new one replaces it.
 * The caller times out on its own.
 */
void
session_probe(struct session *s, session_pong_cb cb, void *arg)
{
	uint64_t now = monotime_ms();
	int i;

	s->s_probe_cb = cb;
	s->s_probe_arg = arg;
	s->s_probe_ms = now;
	for (i = 0; i < 8; i++)
		s->s_probe_ping[i] = (uint8_t)(now >> (56 - 8 * i));
	s->s_probe_ping[0] ^= 0x80; /* never equal to a keepalive PING */
	session_send(s, FRAME_PING, 0, s->s_probe_ping, 8);
}

/* Stage a GOAWAY frame with a code and text. */
static void
session_send_goaway(struct session *s, uint8_t code, const char *text)
{
	uint8_t buf[256];
	size_t n = strlen(text);

	if (n > sizeof buf - 1)
		n = sizeof buf - 1;
	buf[0] = code;
	memcpy(buf + 1, text, n);
	session_send(s, FRAME_GOAWAY, 0, buf, n + 1);
	s->s_goaway_sent = 1;
}

/* Say no more channels will be opened; the owner closes when drained. */
void
session_goaway(struct session *s, uint8_t code, const char *text)
{
	if (s->s_goaway_sent || s->s_cb == NULL)
		return;
	session_send_goaway(s, code, text);
	if (s->s_chans.cm_count == 0 && s->s_state == SESSION_UP &&
	    s->s_cb != NULL && s->s_cb->sc_drained != NULL)
		s->s_cb->sc_drained(s, s->s_arg);
}

/* Reset every channel; used when the session ends. */
static void
session_reset_channels(struct session *s)
{
	struct channel *ch;

	while ((ch = chanmap_any(&s->s_chans)) != NULL)
		channel_close(ch, CHANNEL_SESSION_LOST, "session lost");
}

/* Tell the owner, once, that the session is ending. */
static void
session_notify_closed(struct session *s, const char *reason)
{
	const struct session_cb *cb = s->s_cb;

	snprintf(s->s_close_reason, sizeof s->s_close_reason, "%s", reason);
	s->s_cb = NULL;
	s->s_probe_cb = NULL;
	if (cb != NULL && cb->sc_closed != NULL)
		cb->sc_closed(s, reason, s->s_arg);
}

/* Stop all callbacks into a session that is going away. */
static void
session_quiesce(struct session *s)
{
	s->s_state = SESSION_CLOSING;
	session_reset_channels(s);
}

/*
 * The one teardown path: reset channels, tell the owner, free (at once, or
 * when our own callback that led here returns).
 */
void
session_close(struct session *s, const char *reason)
{
	if (s->s_cb == NULL)
		return;
	log_info("session with %s closed: %s", s->s_peer, reason);
	session_enter(s);
	session_quiesce(s);
	session_notify_closed(s, reason);
	bufferevent_setcb(s->s_bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(s->s_bev, EV_READ | EV_WRITE);
	event_del(s->s_timer);
	event_del(s->s_flush_ev);
	s->s_dead = 1;
	session_leave(s);
}

/*
 * End the session for a protocol error or timeout: send GOAWAY with the
 * reason, reset the channels, and close once it is flushed (or after 2 s).
 */
void
session_fail(struct session *s, uint8_t code, const char *why)
{
	struct timeval tv = { 2, 0 };

	if (s->s_cb == NULL)
		return;
	log_warnx("session with %s failed: %s", s->s_peer, why);
	if (s->s_state == SESSION_UP || s->s_state == SESSION_HELLO) {
		session_send_goaway(s, code, why);
		session_flushcb(-1, 0, s);
	}
	if (evbuffer_get_length(bufferevent_get_output(s->s_bev)) == 0) {
		session_close(s, why);
		return;
	}
	session_enter(s);
	session_quiesce(s);
	session_notify_closed(s, why);
	event_del(s->s_flush_ev);
	bufferevent_disable(s->s_bev, EV_READ);
	if (session_leave(s))
		return;
	bufferevent_setwatermark(s->s_bev, EV_WRITE, 0, 0);
	event_del(s->s_timer);
	event_assign(s->s_timer, s->s_base, -1, 0, session_timercb, s);
	event_add(s->s_timer, &tv);
}

/* Free everything; the socket closes with the bufferevent. */
static void
session_free(struct session *s)
{
	event_free(s->s_flush_ev);
	event_free(s->s_timer);
	bufferevent_free(s->s_bev);
	tlswire_free(s->s_wire);
	evbuffer_free(s->s_stage);
	chanmap_free(&s->s_chans);
	free(s);
}

/* Handle HELLO: check role and version, take the peer's window. */
static int
session_on_hello(struct session *s, const uint8_t *p, size_t len,
    const char **why)
{
	static const char *const nots[] = { "", "peer is not an isp",
		"peer is not an esp", "peer is not an agent" };
	struct frame_hello h;
	char sw[300], lane[16] = "";
	int want = s->s_peer_role;

	if (s->s_state != SESSION_HELLO) {
		*why = "unexpected HELLO";
		return -1;
	}
	if (frame_hello_decode(p, len, &h) != FRAME_OK) {
		*why = "malformed HELLO";
		return -1;
	}
	if (h.fhl_role != want) {
		*why = nots[want];
		return -1;
	}
	if (h.fhl_min_version > FRAME_VERSION ||
	    h.fhl_max_version < FRAME_VERSION) {
		*why = "no common protocol version";
		return -2;
	}
	window_tx_init(&s->s_tx,
	    h.fhl_window > WINDOW_MAX ? WINDOW_MAX : h.fhl_window);
	s->s_peer_lane = h.fhl_lane;
	s->s_state = SESSION_UP;
	session_ping(s, monotime_ms()); /* a first round trip */
	if (h.fhl_lane != 0)
		snprintf(lane, sizeof lane, ", lane %u", h.fhl_lane);
	log_info("session with %s up (%s, protocol %d%s%s%s)", s->s_peer,
	    esc_str(sw, sizeof sw, h.fhl_software), FRAME_VERSION,
	    s->s_identity[0] ? ", identity " : "", s->s_identity, lane);
	if (s->s_cb != NULL && s->s_cb->sc_up != NULL)
		s->s_cb->sc_up(s, s->s_arg);
	return 0;
}

/* Refuse an OPEN without making a channel: too many are open. */
static void
session_refuse_open(struct session *s, uint8_t type, uint32_t id)
{
	static struct log_limit full;
	struct frame_open_result r;
	uint8_t buf[32];
	size_t n;

	log_warnx_limited(&full,
	    "session with %s: %u channels open: refusing channel %u "
	    "([session] max_channels)",
	    s->s_peer, s->s_params.sp_max_channels, id);
	memset(&r, 0, sizeof r);
	r.for_code = OPEN_FAILURE;
	n = frame_open_result_encode(buf, sizeof buf, &r);
	session_send(s,
	    type == FRAME_OUTSIDE_OPEN ? FRAME_OUTSIDE_OPEN_RESULT
				       : FRAME_OPEN_RESULT,
	    id, buf, n);
}

/*
 * Handle OPEN (isp side) or OUTSIDE_OPEN (esp side): make the channel and
 * hand it to the owner.
 */
static int
session_on_open(struct session *s, uint8_t type, uint32_t id, const uint8_t *p,
    size_t len, const char **why)
{
	struct frame_open o;
	struct channel *ch;
	int outside = type == FRAME_OUTSIDE_OPEN;
	uint8_t code;
	void (*cb)(struct session *, struct channel *,
	    const struct frame_open *, void *);

	if (s->s_opener != outside || (id & 1) != (outside ? 0U : 1U) ||
	    id == 0) {
		*why = outside ? "OUTSIDE_OPEN from the wrong side"
			       : "OPEN from the wrong side";
		return -1;
	}
	if (frame_open_decode(p, len, &o) != FRAME_OK) {
		*why = "malformed OPEN";
		return -1;
	}
	if (chanmap_find(&s->s_chans, id) != NULL) {
		*why = "OPEN for a channel in use";
		return -1;
	}
	if (s->s_chans.cm_count >= s->s_params.sp_max_channels) {
		/* Refused like any failed open; the session goes on. */
		OPENSSL_cleanse(&o, sizeof o);
		session_refuse_open(s, type, id);
		return 0;
	}
	if (o.fo_window > WINDOW_MAX)
		o.fo_window = WINDOW_MAX;
	ch = channel_new(s, id, s->s_params.sp_chan_window,
	    s->s_params.sp_chan_window_max, o.fo_window, outside, &o);
	chanmap_insert(&s->s_chans, ch);
	cb = NULL;
	if (s->s_cb != NULL)
		cb = outside ? s->s_cb->sc_outside_open : s->s_cb->sc_open;
	if (s->s_goaway_sent || o.fo_command != 1 || cb == NULL ||
	    (outside &&
		(o.fo_user[0] != '\0' || o.fo_auth == OPEN_AUTH_PASSWORD))) {
		code = o.fo_command != 1 ? OPEN_BAD_COMMAND : OPEN_FAILURE;
		OPENSSL_cleanse(&o, sizeof o);
		channel_refuse(ch, code);
		return 0;
	}
	cb(s, ch, &o, s->s_arg);
	OPENSSL_cleanse(&o, sizeof o);
	return 0;
}

/* Handle OPEN_RESULT (to the opener) or OUTSIDE_OPEN_RESULT. */
static int
session_on_open_result(struct session *s, uint8_t type, struct channel *ch,
    const uint8_t *p, size_t len, const char **why)
{
	struct frame_open_result r;

	/* Only the side that sends OPEN (or OUTSIDE_OPEN) gets its result. */
	if (s->s_opener != (type == FRAME_OPEN_RESULT)) {
		*why = "OPEN_RESULT from the wrong side";
		return -1;
	}
	if (ch == NULL)
		return 0; /* the client left; its RST is on the way */
	if (frame_open_result_decode(p, len, &r) != FRAME_OK ||
	    channel_on_result(ch, type == FRAME_OUTSIDE_OPEN_RESULT, &r) != 0) {
		*why = "unexpected or malformed OPEN_RESULT";
		return -1;
	}
	return 0;
}

/* Handle DATA: check both windows, then give the bytes to the channel. */
static int
session_on_data(struct session *s, struct channel *ch, uint32_t id,
    struct evbuffer *in, uint32_t len, const char **why)
{
	if (window_rx_consume(&s->s_rx, len) != 0) {
		*why = "DATA beyond the session window";
		return -1;
	}
	if (ch == NULL) {
		/* A channel we already dropped: discard and release credit. */
		evbuffer_drain(in, len);
		session_rx_written(s, len);
		session_send(s, FRAME_RST, id, NULL, 0);
		return 0;
	}
	if (channel_on_data(ch, in, len) != 0) {
		*why = "DATA on a closed channel or beyond its window";
		return -1;
	}
	return 0;
}

/* Handle GOAWAY from the peer. */
static void
session_on_goaway(struct session *s, const uint8_t *p, size_t len)
{
	char text[1100];

	/* Said once: a peer that repeats it is not heard (nor logged) again. */
	if (s->s_goaway_rcvd && p[0] == GOAWAY_NORMAL)
		return;
	esc_bytes(text, sizeof text, p + 1, len - 1, 0);
	if (p[0] != GOAWAY_NORMAL)
		log_warnx("session with %s: peer says goodbye: %s%s%s",
		    s->s_peer, frame_goaway_str(p[0]), text[0] ? ": " : "",
		    text);
	else
		log_info("session with %s: peer says goodbye: %s%s%s",
		    s->s_peer, frame_goaway_str(p[0]), text[0] ? ": " : "",
		    text);
	s->s_goaway_rcvd = 1;
	s->s_goaway_code = p[0];
	if (p[0] != GOAWAY_NORMAL) {
		session_close(s, "peer reported an error");
		return;
	}
	if (s->s_cb != NULL && s->s_cb->sc_goaway != NULL)
		s->s_cb->sc_goaway(s, s->s_arg);
	if (s->s_chans.cm_count == 0 && s->s_cb != NULL &&
	    s->s_cb->sc_drained != NULL)
		s->s_cb->sc_drained(s, s->s_arg);
}

/* Forget the probe: its callback will not run. */
void
session_probe_cancel(struct session *s)
{
	s->s_probe_cb = NULL;
}

/* A PONG: the answer to our probe, if it is one. */
static void
session_on_pong(struct session *s, const uint8_t *p)
{
	session_pong_cb cb = s->s_probe_cb;

	if (s->s_ping_us != 0 && memcmp(p, s->s_ping, 8) == 0) {
		s->s_rtt_us = (int64_t)(monotime_us() - s->s_ping_us);
		s->s_ping_us = 0;
	}
	if (cb == NULL || memcmp(p, s->s_probe_ping, 8) != 0)
		return;
	s->s_probe_cb = NULL;
	cb(s, (int)(monotime_ms() - s->s_probe_ms), s->s_probe_arg);
}

/* Big-endian u32 from a payload. */
static uint32_t
session_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * Dispatch one frame whose header has been read and whose payload is at
 * the front of in. Returns 0, or -1 (with *why) to fail the session.
 */
static int
session_dispatch(struct session *s, const struct frame_hdr *h,
    struct evbuffer *in, const char **why, uint8_t *code)
{
	struct channel *ch = NULL;
	uint8_t *p = NULL;
	int rc = 0;

	*code = GOAWAY_PROTOCOL;
	if (s->s_state == SESSION_HELLO && h->fh_type != FRAME_HELLO) {
		*why = "first frame is not HELLO";
		return -1;
	}
	if (h->fh_chan != 0)
		ch = chanmap_find(&s->s_chans, h->fh_chan);
	if (h->fh_type == FRAME_DATA) {
		if (h->fh_chan == 0) {
			*why = "DATA on channel 0";
			return -1;
		}
		rc = session_on_data(s, ch, h->fh_chan, in, h->fh_len, why);
		if (rc != 0)
			*code = GOAWAY_FLOW;
		return rc;
	}
	if (h->fh_len > 0 && (p = evbuffer_pullup(in, h->fh_len)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	switch (h->fh_type) {
	case FRAME_HELLO:
		rc = session_on_hello(s, p, h->fh_len, why);
		if (rc == -2) {
			*code = GOAWAY_VERSION;
			rc = -1;
		}
		break;
	case FRAME_OPEN:
	case FRAME_OUTSIDE_OPEN:
		rc = session_on_open(s, h->fh_type, h->fh_chan, p, h->fh_len,
		    why);
		break;
	case FRAME_OPEN_RESULT:
	case FRAME_OUTSIDE_OPEN_RESULT:
		rc = session_on_open_result(s, h->fh_type, ch, p, h->fh_len,
		    why);
		break;
	case FRAME_FIN:
		if (ch != NULL)
			channel_on_fin(ch);
		break;
	case FRAME_RST:
		if (ch != NULL)
			channel_close(ch, CHANNEL_PEER_RESET, "reset by peer");
		break;
	case FRAME_WINDOW:
		if (h->fh_len != 4) {
			*why = "malformed WINDOW";
			return -1;
		}
		if (h->fh_chan == 0) {
			if (window_tx_grant(&s->s_tx, session_get_u32(p)) !=
			    0) {
				*why = "session window overflow";
				*code = GOAWAY_FLOW;
				return -1;
			}
			session_pump(s);
		} else if (ch != NULL &&
		    channel_on_window(ch, session_get_u32(p)) != 0) {
			*why = "channel window overflow";
			*code = GOAWAY_FLOW;
			return -1;
		}
		break;
	case FRAME_PING:
		if (h->fh_len != 8) {
			*why = "malformed PING";
			return -1;
		}
		session_send(s, FRAME_PONG, 0, p, h->fh_len);
		break;
	case FRAME_PONG:
		if (h->fh_len != 8) {
			*why = "malformed PONG";
			return -1;
		}
		session_on_pong(s, p);
		break;
	case FRAME_GOAWAY:
		if (h->fh_len == 0) {
			*why = "malformed GOAWAY";
			return -1;
		}
		session_on_goaway(s, p, h->fh_len);
		break;
	case FRAME_CONFIG:
	case FRAME_AUTH_RESULT:
	case FRAME_AUTH:
	case FRAME_LOGIN:
	case FRAME_LOGIN_REPLY:
	case FRAME_NOTICE:
		/*
		 * AUTH, LOGIN and NOTICE come from the opener; CONFIG and
		 * the answers from the side that serves it.
		 */
		if (s->s_opener ==
			(h->fh_type == FRAME_AUTH ||
			    h->fh_type == FRAME_LOGIN ||
			    h->fh_type == FRAME_NOTICE) ||
		    h->fh_chan != 0) {
			*why = "CONFIG, AUTH or LOGIN from the wrong side";
			return -1;
		}
		if (s->s_cb != NULL && s->s_cb->sc_message != NULL)
			s->s_cb->sc_message(s, h->fh_type, p, h->fh_len,
			    s->s_arg);
		if ((h->fh_type == FRAME_AUTH || h->fh_type == FRAME_LOGIN) &&
		    p != NULL)
			OPENSSL_cleanse(p, h->fh_len);
		break;
	}
	if (rc == 0)
		evbuffer_drain(in, h->fh_len);
	return rc;
}

/* Read and dispatch every complete frame in the TLS input. */
static void
session_readcb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct frame_hdr h;
	const char *why = NULL;
	uint8_t *hp;
	uint8_t code;
	int rc;

	s->s_last_rx_ms = monotime_ms();
	session_enter(s);
	while (s->s_state == SESSION_HELLO || s->s_state == SESSION_UP) {
		if (evbuffer_get_length(in) < FRAME_HDR_LEN)
			break;
		hp = evbuffer_pullup(in, FRAME_HDR_LEN);
		if (frame_hdr_decode(hp, FRAME_HDR_LEN, &h, &why) != FRAME_OK) {
			session_fail(s,
			    h.fh_version != FRAME_VERSION ? GOAWAY_VERSION
							  : GOAWAY_PROTOCOL,
			    why);
			break;
		}
		if (evbuffer_get_length(in) < FRAME_HDR_LEN + (size_t)h.fh_len)
			break;
		evbuffer_drain(in, FRAME_HDR_LEN);
		rc = session_dispatch(s, &h, in, &why, &code);
		if (rc < 0) {
			session_fail(s, code, why);
			break;
		}
	}
	session_leave(s);
}

/* The TLS queue drained below the low mark: pull more data. */
static void
session_writecb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (s->s_state == SESSION_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			session_free(s);
		return;
	}
	session_pump(s);
}

/*
 * The most telling TLS error: a failed certificate check, else the last
 * OpenSSL error recorded (libevent's own list, then the thread's queue).
 */
static void
session_tls_error(struct bufferevent *bev, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e, last = 0;
	long v;

	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (ERR_GET_LIB(e) != 0 || ERR_GET_REASON(e) > 1)
			last = e;
	while ((e = ERR_get_error()) != 0)
		last = e;
	buf[0] = '\0';
	/* "Unspecified" is no verdict: nothing was checked (a PSK peer). */
	if (ssl != NULL && (v = SSL_get_verify_result(ssl)) != X509_V_OK &&
	    v != X509_V_ERR_UNSPECIFIED) {
		snprintf(buf, len, "certificate verify failed: %s",
		    tls_verify_error(v));
		return;
	}
	if (last != 0)
		ERR_error_string_n(last, buf, len);
}

/* The transport is up (TLS handshake done): send HELLO. */
void
session_connected(struct session *s)
{
	if (s->s_state != SESSION_HANDSHAKE)
		return;
	s->s_state = SESSION_HELLO;
	session_tune_socket(s);
	session_send_hello(s);
}

/* TLS handshake done, EOF, or error. */
static void
session_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	char err[256], why[400];
	int sockerr = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);

		if (s->s_cb != NULL && s->s_cb->sc_handshake != NULL &&
		    s->s_cb->sc_handshake(s, ssl, err, sizeof err, s->s_arg) !=
			0) {
			snprintf(why, sizeof why, "TLS peer refused: %s", err);
			log_warnx("session with %s: %s", s->s_peer, why);
			session_close(s, why);
			return;
		}
		session_connected(s);
		return;
	}
	if (s->s_state == SESSION_CLOSING) {
		session_free(s);
		return;
	}
	session_tls_error(bev, err, sizeof err);
	if (err[0] == '\0' && s->s_wire != NULL &&
	    tlswire_error(s->s_wire)[0] != '\0')
		snprintf(err, sizeof err, "%s", tlswire_error(s->s_wire));
	/* In TLS 1.3 the client may finish before the server checks it. */
	if (s->s_state == SESSION_HANDSHAKE || s->s_state == SESSION_HELLO) {
		if (err[0] != '\0')
			snprintf(why, sizeof why,
			    "TLS handshake failed: %s (wrong key or "
			    "certificate?)",
			    err);
		else if ((what & BEV_EVENT_ERROR) && sockerr != 0)
			snprintf(why, sizeof why, "TLS handshake failed: %s",
			    strerror(sockerr));
		else
			snprintf(why, sizeof why,
			    "TLS handshake failed: peer closed the connection "
			    "(wrong key or certificate?)");
		log_warnx("session with %s: %s", s->s_peer, why);
		session_close(s, why);
		return;
	}
	if (s->s_wire != NULL && tlswire_errno(s->s_wire) == ETIMEDOUT)
		/* TCP_USER_TIMEOUT: nothing acknowledged for dead_after. */
		snprintf(why, sizeof why,
		    "peer silent for %d ms (unacknowledged): session declared "
		    "dead",
		    s->s_params.sp_dead_ms);
	else if (s->s_wire != NULL && tlswire_errno(s->s_wire) != 0)
		snprintf(why, sizeof why, "connection lost: %s",
		    tlswire_error(s->s_wire));
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof why, "peer closed the connection");
	else if (err[0] != '\0')
		snprintf(why, sizeof why, "TLS error: %s", err);
	else
		snprintf(why, sizeof why, "%s",
		    sockerr ? strerror(sockerr) : "connection error");
	session_close(s, why);
}

/* Keepalive and handshake timer. */
static void
session_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	uint64_t now = monotime_ms(), idle;
	char why[128];

	(void)fd;
	(void)what;
	if (s->s_state == SESSION_CLOSING) {
		session_free(s); /* the last GOAWAY could not be flushed */
		return;
	}
	if (s->s_state != SESSION_UP) {
		if (now - s->s_start_ms >=
		    (uint64_t)s->s_params.sp_hello_timeout_ms) {
			snprintf(why, sizeof why,
			    "handshake not finished within %d ms",
			    s->s_params.sp_hello_timeout_ms);
			log_warnx("session with %s: %s", s->s_peer, why);
			session_close(s, why);
		}
		return;
	}
	idle = now - s->s_last_rx_ms;
	if (idle >= (uint64_t)s->s_params.sp_dead_ms) {
		snprintf(why, sizeof why,
		    "peer silent for %llu ms: session declared dead",
		    (unsigned long long)idle);
		session_fail(s, GOAWAY_TIMEOUT, why);
		return;
	}
	if (idle >= (uint64_t)s->s_params.sp_keepalive_ms &&
	    now - s->s_last_ping_ms >= (uint64_t)s->s_params.sp_keepalive_ms)
		session_ping(s, now);
	session_check_stalls(s);
}

/* One stall check: its clock and period, and what it found. */
struct session_stall {
	uint64_t now_ms;
	int period_ms;
	uint64_t big;           /* held by the slow ones reset already */
	struct channel **small; /* slow ones left to the session */
	size_t nsmall, cap;
};

/* One channel of a session short of credit: reset it if it stalls. */
static void
session_stall_one(struct channel *ch, void *arg)
{
	struct session_stall *st = arg;
	uint32_t held;
	int small;

	held = channel_stall_check(ch, st->now_ms, st->period_ms, &small);
	if (!small) {
		st->big += held;
		return;
	}
	if (st->nsmall == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 64;
		st->small = xrealloc(st->small, st->cap * sizeof *st->small);
	}
	st->small[st->nsmall++] = ch;
}

/* Most held first. */
static int
session_stall_cmp(const void *a, const void *b)
{
	uint32_t x = (*(struct channel *const *)a)->ch_rx.wr_buffered;
	uint32_t y = (*(struct channel *const *)b)->ch_rx.wr_buffered;

	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * Short of credit: three quarters of the window held by bytes received
 * and not yet written out, so the peer can send little or nothing on any
 * channel. Channels that drain slower than [session] stall_timeout lets
 * them are reset (channel_stall_check), so that a few connections whose
 * readers stopped cannot hold up all the others; if those are not
 * enough, as many small slow ones are reset, the biggest first, as bring
 * the session back under three quarters and give the peer its credit
 * back (so many small stalls cannot hold it up either).
 */
static void
session_check_stalls(struct session *s)
{
	uint32_t held = s->s_rx.wr_buffered + s->s_rx.wr_unacked;
	uint32_t limit = s->s_rx.wr_size / 4 * 3, quarter = s->s_rx.wr_size / 4;
	uint64_t need, got;
	struct session_stall st;
	size_t i;

	if (s->s_params.sp_stall_ms <= 0 || held < limit)
		return;
	memset(&st, 0, sizeof st);
	st.now_ms = monotime_ms();
	st.period_ms = s->s_params.sp_stall_ms;
	chanmap_walk(&s->s_chans, session_stall_one, &st);
	if (st.nsmall == 0) {
		free(st.small);
		return;
	}
	/*
	 * Enough to bring what channels hold under three quarters, and for
	 * the freed credit to go back at once (WINDOW waits for a quarter).
	 */
	need =
	    s->s_rx.wr_buffered >= limit ? s->s_rx.wr_buffered - limit + 1 : 0;
	if (quarter > s->s_rx.wr_unacked && quarter - s->s_rx.wr_unacked > need)
		need = quarter - s->s_rx.wr_unacked;
	qsort(st.small, st.nsmall, sizeof *st.small, session_stall_cmp);
	for (got = st.big, i = 0; i < st.nsmall && got < need; i++) {
		got += st.small[i]->ch_rx.wr_buffered;
		channel_stall_reset(st.small[i], st.period_ms);
	}
	free(st.small);
}

/* The last keepalive round trip in microseconds, or -1. */
int64_t
session_rtt_us(const struct session *s)
{
	return s->s_rtt_us;
}

/* The session's event base. */
struct event_base *
session_base(const struct session *s)
{
	return s->s_base;
}

/* FRAME_ROLE_ISP, FRAME_ROLE_ESP or FRAME_ROLE_AGENT: ours. */
int
session_role(const struct session *s)
{
	return s->s_role;
}

/* The peer's role. */
int
session_peer_role(const struct session *s)
{
	return s->s_peer_role;
}

/* Is the session usable for new channels? */
int
session_is_up(const struct session *s)
{
	return s->s_state == SESSION_UP && !s->s_goaway_sent &&
	    !s->s_goaway_rcvd;
}

/* The peer's address, for logs. */
const char *
session_peer(const struct session *s)
{
	return s->s_peer;
}

/*
 * How the check of the peer's certificate came out: X509_V_OK when it
 * passed or nothing was checked (OpenSSL says "unspecified" then too).
 */
long
session_verify_result(const struct session *s)
{
	SSL *ssl =
	    s->s_bev != NULL ? bufferevent_openssl_get_ssl(s->s_bev) : NULL;
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

	return v == X509_V_ERR_UNSPECIFIED ? X509_V_OK : v;
}
