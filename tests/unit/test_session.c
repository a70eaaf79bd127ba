/*
 * The session protocol over bufferevent pairs (no sockets): malformed
 * frames end the session with the right GOAWAY, and flow control holds a
 * stalled channel to its window while the data arrives intact later.
 */
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "end.h"
#include "frame.h"
#include "log.h"
#include "session.h"
#include "unit.h"

static struct event_base *base;
static char closed_reason[256];
static int closed_count;

static const struct session_params params = {
	.sp_window = 1 << 20,
	.sp_chan_window = 64 << 10,
	.sp_keepalive_ms = 10000,
	.sp_dead_ms = 30000,
	.sp_hello_timeout_ms = 10000,
	.sp_out_hiwat = 64 << 10,
	.sp_max_channels = 4096,
};

/* Run the loop briefly. */
static void
spin(int ms)
{
	struct timeval tv = { 0, ms * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Remember why a session closed. */
static void
on_closed(struct session *s, const char *reason, void *arg)
{
	(void)s;
	(void)arg;
	snprintf(closed_reason, sizeof closed_reason, "%s", reason);
	closed_count++;
}

static const struct session_cb esp_cb = { .sc_closed = on_closed };

/* An esp and an isp session over a bufferevent pair, HELLO done. */
static void
pair_up(const struct session_cb *ecb, const struct session_cb *icb,
    struct session **se, struct session **si)
{
	struct bufferevent *sp[2];

	bufferevent_pair_new(base, 0, sp);
	*se = session_new(base, sp[0], FRAME_ROLE_ESP, FRAME_ROLE_ISP, "esp",
	    &params, ecb, NULL);
	*si = session_new(base, sp[1], FRAME_ROLE_ISP, FRAME_ROLE_ESP, "isp",
	    &params, icb, NULL);
	session_start(*se);
	session_start(*si);
	session_connected(*se);
	session_connected(*si);
	spin(20);
}

/* Write a raw frame to the peer end. */
static void
raw_frame(struct bufferevent *raw, uint8_t type, uint32_t chan, const void *p,
    uint32_t len, uint32_t claimed_len)
{
	uint8_t h[FRAME_HDR_LEN];

	frame_hdr_encode(h, type, chan, claimed_len);
	bufferevent_write(raw, h, sizeof h);
	if (len > 0)
		bufferevent_write(raw, p, len);
}

/* Send a valid isp HELLO. */
static void
raw_hello(struct bufferevent *raw, uint8_t role)
{
	struct frame_hello h = { FRAME_VERSION, FRAME_VERSION, role, 1 << 20,
		"raw", 0 };
	uint8_t b[64];
	size_t n = frame_hello_encode(b, sizeof b, &h);

	raw_frame(raw, FRAME_HELLO, 0, b, (uint32_t)n, (uint32_t)n);
}

/* Find the first GOAWAY the session wrote; returns its code or -1. */
static int
goaway_code(struct bufferevent *raw, char *text, size_t textlen)
{
	struct evbuffer *in = bufferevent_get_input(raw);
	struct frame_hdr h;
	const char *why;
	uint8_t *p;

	while (evbuffer_get_length(in) >= FRAME_HDR_LEN) {
		p = evbuffer_pullup(in, FRAME_HDR_LEN);
		if (frame_hdr_decode(p, FRAME_HDR_LEN, &h, &why) != FRAME_OK)
			return -1;
		if (evbuffer_get_length(in) < FRAME_HDR_LEN + h.fh_len)
			return -1;
		p = evbuffer_pullup(in, FRAME_HDR_LEN + h.fh_len);
		if (h.fh_type == FRAME_GOAWAY && h.fh_len >= 1) {
			snprintf(text, textlen, "%.*s", (int)h.fh_len - 1,
			    (char *)p + FRAME_HDR_LEN + 1);
			return p[FRAME_HDR_LEN];
		}
		evbuffer_drain(in, FRAME_HDR_LEN + h.fh_len);
	}
	return -1;
}

/*
 * One malformed-input case: an esp session up with a raw peer, then
 * `inject` writes something; expect GOAWAY with code and text.
 */
static void
bad_input_case(const char *name, void (*inject)(struct bufferevent *),
    int hello_first, int want_code, const char *want_text)
{
	struct bufferevent *pair[2];
	struct session *s;
	char text[256] = "";
	int code;

	bufferevent_pair_new(base, 0, pair);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	s = session_new(base, pair[0], FRAME_ROLE_ESP, FRAME_ROLE_ISP, name,
	    &params, &esp_cb, NULL);
	session_start(s);
	session_connected(s);
	if (hello_first)
		raw_hello(pair[1], FRAME_ROLE_ISP);
	closed_count = 0;
	closed_reason[0] = '\0';
	inject(pair[1]);
	spin(50);
	code = goaway_code(pair[1], text, sizeof text);
	if (code != want_code || strstr(text, want_text) == NULL ||
	    closed_count != 1)
		fprintf(stderr, "%s: got GOAWAY %d \"%s\", closed %d\n", name,
		    code, text, closed_count);
	CHECK(code == want_code);
	CHECK_STR_CONTAINS(text, want_text);
	CHECK(closed_count == 1);
	CHECK_STR_CONTAINS(closed_reason, want_text);
	bufferevent_free(pair[1]);
	spin(10);
}

static void
inj_oversized(struct bufferevent *raw)
{
	raw_frame(raw, FRAME_DATA, 1, NULL, 0, FRAME_MAX_PAYLOAD + 1);
}

static void
inj_version(struct bufferevent *raw)
{
	uint8_t h[FRAME_HDR_LEN];

	frame_hdr_encode(h, FRAME_PING, 0, 0);
	h[0] = 9;
	bufferevent_write(raw, h, sizeof h);
}

static void
inj_unknown_type(struct bufferevent *raw)
{
	raw_frame(raw, 0x7f, 0, NULL, 0, 0);
}

static void
inj_data_before_hello(struct bufferevent *raw)
{
	raw_frame(raw, FRAME_DATA, 1, "x", 1, 1);
}

static void
inj_open_to_esp(struct bufferevent *raw)
{
	raw_frame(raw, FRAME_OPEN, 1, "\0\0\0\0\0\0\0\0\1", 9, 9);
}

static void
inj_bad_window(struct bufferevent *raw)
{
	raw_frame(raw, FRAME_WINDOW, 0, "\0\0", 2, 2);
}

static void
inj_empty_goaway(struct bufferevent *raw)
{
	raw_frame(raw, FRAME_GOAWAY, 0, NULL, 0, 0);
}

static void
inj_long_ping(struct bufferevent *raw)
{
	raw_frame(raw, FRAME_PING, 0, "123456789", 9, 9);
}

static void
inj_auth_to_esp(struct bufferevent *raw)
{
	raw_frame(raw, FRAME_AUTH, 0, "\0\0\0\1\1", 5, 5);
}

static void
inj_login_to_esp(struct bufferevent *raw)
{
	raw_frame(raw, FRAME_LOGIN, 0, "\0\0\0\1\0\2\1\0\0\0\0x", 12, 12);
}

static void
inj_wrong_role(struct bufferevent *raw)
{
	raw_hello(raw, FRAME_ROLE_ESP);
}

static void
inj_agent_role(struct bufferevent *raw)
{
	raw_hello(raw, FRAME_ROLE_AGENT);
}

static void
inj_config_garbage_ok(struct bufferevent *raw)
{
	/* CONFIG is opaque here; then a window overflow ends it. */
	raw_frame(raw, FRAME_CONFIG, 0, "zz", 2, 2);
	raw_frame(raw, FRAME_WINDOW, 0, "\x7f\xff\xff\xff", 4, 4);
}

/* Malformed frames each end the session with a clear GOAWAY. */
static void
test_bad_input(void)
{
	bad_input_case("oversized", inj_oversized, 1, GOAWAY_PROTOCOL,
	    "oversized frame");
	bad_input_case("version", inj_version, 1, GOAWAY_VERSION,
	    "unsupported protocol version");
	bad_input_case("type", inj_unknown_type, 1, GOAWAY_PROTOCOL,
	    "unknown frame type");
	bad_input_case("first", inj_data_before_hello, 0, GOAWAY_PROTOCOL,
	    "first frame is not HELLO");
	bad_input_case("open", inj_open_to_esp, 1, GOAWAY_PROTOCOL,
	    "OPEN from the wrong side");
	bad_input_case("winlen", inj_bad_window, 1, GOAWAY_PROTOCOL,
	    "malformed WINDOW");
	bad_input_case("goaway", inj_empty_goaway, 1, GOAWAY_PROTOCOL,
	    "malformed GOAWAY");
	bad_input_case("ping", inj_long_ping, 1, GOAWAY_PROTOCOL,
	    "malformed PING");
	bad_input_case("auth", inj_auth_to_esp, 1, GOAWAY_PROTOCOL,
	    "CONFIG, AUTH or LOGIN from the wrong side");
	bad_input_case("login", inj_login_to_esp, 1, GOAWAY_PROTOCOL,
	    "CONFIG, AUTH or LOGIN from the wrong side");
	bad_input_case("role", inj_wrong_role, 0, GOAWAY_PROTOCOL,
	    "peer is not an isp");
	bad_input_case("agent", inj_agent_role, 0, GOAWAY_PROTOCOL,
	    "peer is not an isp");
	bad_input_case("overflow", inj_config_garbage_ok, 1, GOAWAY_FLOW,
	    "session window overflow");
}

static struct bufferevent *stalled_end;

/* isp side for the window test: accept onto a pair nobody reads. */
static void
stalled_open(struct session *s, struct channel *ch, const struct frame_open *o,
    void *arg)
{
	struct bufferevent *p[2];
	struct endpoint bound = { 0 };

	(void)s;
	(void)o;
	(void)arg;
	bufferevent_pair_new(base, 0, p);
	stalled_end = p[1];
	channel_accept(ch, p[0], &bound);
}

/*
 * A peer that sends beyond the credit it was given ends the session: per
 * channel, and per session when the channel window is larger.
 */
static void
window_violation_case(uint32_t sess_win, uint32_t chan_win, size_t send,
    const char *want)
{
	static const struct session_cb cb = { .sc_closed = on_closed,
		.sc_open = stalled_open };
	static uint8_t junk[FRAME_DATA_MAX];
	struct session_params pr = params;
	struct bufferevent *pair[2];
	struct frame_open o;
	struct session *s;
	uint8_t b[128];
	char text[256] = "";
	size_t n, sent;
	int code;

	pr.sp_window = sess_win;
	pr.sp_chan_window = chan_win;
	bufferevent_pair_new(base, 0, pair);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	s = session_new(base, pair[0], FRAME_ROLE_ISP, FRAME_ROLE_ESP, "win",
	    &pr, &cb, NULL);
	session_start(s);
	session_connected(s);
	raw_hello(pair[1], FRAME_ROLE_ESP);
	memset(&o, 0, sizeof o);
	o.fo_window = 1 << 20;
	o.fo_command = 1;
	o.fo_dst.ep_atyp = ATYP_IPV4;
	o.fo_dst.ep_len = 4;
	n = frame_open_encode(b, sizeof b, &o);
	raw_frame(pair[1], FRAME_OPEN, 1, b, (uint32_t)n, (uint32_t)n);
	spin(20);
	closed_count = 0;
	for (sent = 0; sent < send; sent += sizeof junk)
		raw_frame(pair[1], FRAME_DATA, 1, junk, sizeof junk,
		    sizeof junk);
	spin(50);
	code = goaway_code(pair[1], text, sizeof text);
	CHECK(code == GOAWAY_FLOW);
	CHECK_STR_CONTAINS(text, want);
	CHECK(closed_count == 1);
	bufferevent_free(pair[1]);
	if (stalled_end != NULL)
		bufferevent_free(stalled_end);
	stalled_end = NULL;
	spin(10);
}

/* Sending exactly the window is fine; one frame more is not. */
static void
test_window_violation(void)
{
	window_violation_case(1 << 20, 64 << 10, (64 << 10) + FRAME_DATA_MAX,
	    "beyond its window");
	window_violation_case(256 << 10, 1 << 20, (256 << 10) + FRAME_DATA_MAX,
	    "DATA beyond the session window");
}

/* Count the OPEN_RESULT codes the session wrote. */
static void
open_results(struct bufferevent *raw, int *ok, int *failed)
{
	struct evbuffer *in = bufferevent_get_input(raw);
	struct frame_hdr h;
	const char *why;
	uint8_t *p;

	*ok = *failed = 0;
	while (evbuffer_get_length(in) >= FRAME_HDR_LEN) {
		p = evbuffer_pullup(in, FRAME_HDR_LEN);
		if (frame_hdr_decode(p, FRAME_HDR_LEN, &h, &why) != FRAME_OK ||
		    evbuffer_get_length(in) < FRAME_HDR_LEN + h.fh_len)
			return;
		p = evbuffer_pullup(in, FRAME_HDR_LEN + h.fh_len);
		if (h.fh_type == FRAME_OPEN_RESULT) {
			if (p[FRAME_HDR_LEN] == OPEN_OK)
				(*ok)++;
			else if (p[FRAME_HDR_LEN] == OPEN_FAILURE)
				(*failed)++;
		}
		evbuffer_drain(in, FRAME_HDR_LEN + h.fh_len);
	}
}

static struct bufferevent *max_ends[8];
static int max_nends;

/* isp side for the max_channels test: accept onto pairs kept for freeing. */
static void
max_open(struct session *s, struct channel *ch, const struct frame_open *o,
    void *arg)
{
	struct bufferevent *p[2];
	struct endpoint bound = { 0 };

	(void)s;
	(void)o;
	(void)arg;
	bufferevent_pair_new(base, 0, p);
	max_ends[max_nends++] = p[1];
	channel_accept(ch, p[0], &bound);
}

/* OPENs beyond max_channels are refused; the session goes on. */
static void
test_max_channels(void)
{
	static const struct session_cb cb = { .sc_closed = on_closed,
		.sc_open = max_open };
	struct session_params pr = params;
	struct bufferevent *pair[2];
	struct frame_open o;
	struct session *s;
	uint8_t b[128];
	size_t n;
	uint32_t id;
	int ok, failed;

	pr.sp_max_channels = 3;
	bufferevent_pair_new(base, 0, pair);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	s = session_new(base, pair[0], FRAME_ROLE_ISP, FRAME_ROLE_ESP, "max",
	    &pr, &cb, NULL);
	session_start(s);
	session_connected(s);
	raw_hello(pair[1], FRAME_ROLE_ESP);
	memset(&o, 0, sizeof o);
	o.fo_window = 1 << 16;
	o.fo_command = 1;
	o.fo_dst.ep_atyp = ATYP_IPV4;
	o.fo_dst.ep_len = 4;
	n = frame_open_encode(b, sizeof b, &o);
	closed_count = 0;
	for (id = 1; id <= 9; id += 2)
		raw_frame(pair[1], FRAME_OPEN, id, b, (uint32_t)n, (uint32_t)n);
	spin(50);
	open_results(pair[1], &ok, &failed);
	CHECK(ok == 3 && failed == 2);
	CHECK(closed_count == 0);
	session_close(s, "test over");
	bufferevent_free(pair[1]);
	while (max_nends > 0)
		bufferevent_free(max_ends[--max_nends]);
	spin(10);
}

/* Flow-control test state. */
static struct bufferevent *server_end, *client_end;
static struct channel *esp_ch, *isp_ch;
static int result_code = -1;

/* isp side: accept every open onto a pair whose far end is the server. */
static void
isp_open(struct session *s, struct channel *ch, const struct frame_open *o,
    void *arg)
{
	struct bufferevent *p[2];
	struct endpoint bound = { 0 };

	(void)s;
	(void)o;
	(void)arg;
	bufferevent_pair_new(base, 0, p);
	server_end = p[1];
	bufferevent_disable(server_end, EV_READ); /* a stalled reader */
	isp_ch = ch;
	channel_accept(ch, p[0], &bound);
}

/* esp side: the open succeeded; attach the client pair. */
static void
esp_result(struct channel *ch, uint8_t code, const struct endpoint *b,
    void *arg)
{
	struct bufferevent *p[2];

	(void)b;
	(void)arg;
	result_code = code;
	bufferevent_pair_new(base, 0, p);
	client_end = p[1];
	bufferevent_enable(client_end, EV_READ | EV_WRITE);
	channel_attach(ch, p[0]);
	esp_ch = ch;
}

/* A stalled destination holds the sender to the channel window. */
static void
test_flow_control(void)
{
	static const struct session_cb icb = { .sc_open = isp_open };
	static const struct session_cb ecb = { 0 };
	struct session *se, *si;
	struct endpoint dst = { .ep_atyp = ATYP_IPV4, .ep_len = 4 };
	struct endpoint cl = { .ep_atyp = ATYP_IPV4, .ep_len = 4 };
	struct evbuffer *got;
	size_t total = 4 << 20, i, held, n;
	uint8_t *data = malloc(total), *p;
	int ok = 1;

	for (i = 0; i < total; i++)
		data[i] = (uint8_t)(i * 31 + (i >> 12));
	pair_up(&ecb, &icb, &se, &si);
	CHECK(session_is_up(se) && session_is_up(si));
	CHECK(session_open_channel(se, &dst, &cl, NULL, NULL, 0, esp_result,
		  NULL) != NULL);
	spin(20);
	CHECK(result_code == OPEN_OK);
	CHECK(esp_ch != NULL && server_end != NULL);
	if (esp_ch == NULL || server_end == NULL)
		return;

	bufferevent_write(client_end, data, total);
	spin(200);
	/* The isp holds at most one channel window for the stalled server. */
	held = evbuffer_get_length(
	    bufferevent_get_output(bufferevent_get_underlying(server_end)
		    ? bufferevent_get_underlying(server_end)
		    : server_end));
	n = evbuffer_get_length(bufferevent_get_input(server_end));
	CHECK(n == 0);
	CHECK(esp_ch->ch_tx.wt_avail == 0); /* the sender ran out of credit */
	CHECK(esp_ch->ch_bytes_out == params.sp_chan_window);
	(void)held;

	/* Start reading: everything arrives, in order, intact. */
	got = evbuffer_new();
	bufferevent_enable(server_end, EV_READ);
	for (i = 0; i < 400 && evbuffer_get_length(got) < total; i++) {
		spin(5);
		evbuffer_add_buffer(got, bufferevent_get_input(server_end));
	}
	CHECK(evbuffer_get_length(got) == total);
	if (evbuffer_get_length(got) == total) {
		p = evbuffer_pullup(got, -1);
		ok = memcmp(p, data, total) == 0;
	}
	CHECK(ok);
	CHECK(esp_ch->ch_bytes_out == total);
	evbuffer_free(got);
	free(data);
	session_close(se, "test over");
	session_close(si, "test over");
	bufferevent_free(client_end);
	bufferevent_free(server_end);
	spin(10);
}

/* The esp's relay: an agent's channel joined to a channel to the isp. */
static struct session *relay_up;

/* The isp answered the relayed open: join the two channels. */
static void
relay_result(struct channel *b, uint8_t code, const struct endpoint *bound,
    void *arg)
{
	struct channel *a = arg;

	if (code != OPEN_OK) {
		channel_refuse(a, code);
		return;
	}
	channel_answer(a, OPEN_OK, bound);
	end_link(a, b);
}

/* An open from the agent: open the same on the isp's session. */
static void
relay_open(struct session *s, struct channel *a, const struct frame_open *o,
    void *arg)
{
	(void)s;
	(void)arg;
	session_open_channel(relay_up, &o->fo_dst, &o->fo_client, NULL, NULL, 0,
	    relay_result, a);
}

/* How the server's end and the agent's channel ended. */
static int server_eof;
static char agent_closed[64];

/* The server's pair end saw EOF. */
static void
server_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)arg;
	if (what & BEV_EVENT_EOF)
		server_eof = 1;
}

/* The agent's channel closed: keep the reason from the audit path. */
static void
agent_channel_closed(struct channel *ch, void *arg)
{
	(void)arg;
	snprintf(agent_closed, sizeof agent_closed, "%s",
	    ch->ch_peer_fin ? "fin" : "reset");
}

/* The sessions of a relayed path (and relay_up, the esp toward the isp). */
struct relay_path {
	struct session *rp_agent, *rp_door, *rp_isp;
};

/* Agent -> door (the esp's relay) -> relay_up -> isp, all up. */
static void
relay_path_up(struct relay_path *rp, const struct session_cb *icb)
{
	static const struct session_cb dcb = { .sc_open = relay_open };
	static const struct session_cb ecb = { 0 };
	struct bufferevent *p1[2], *p2[2];

	bufferevent_pair_new(base, 0, p1);
	bufferevent_pair_new(base, 0, p2);
	rp->rp_agent = session_new(base, p1[0], FRAME_ROLE_AGENT,
	    FRAME_ROLE_ESP, "agent", &params, &ecb, NULL);
	rp->rp_door = session_new(base, p1[1], FRAME_ROLE_ESP, FRAME_ROLE_AGENT,
	    "door", &params, &dcb, NULL);
	relay_up = session_new(base, p2[0], FRAME_ROLE_ESP, FRAME_ROLE_ISP,
	    "esp", &params, &ecb, NULL);
	rp->rp_isp = session_new(base, p2[1], FRAME_ROLE_ISP, FRAME_ROLE_ESP,
	    "isp", &params, icb, NULL);
	session_start(rp->rp_agent);
	session_start(rp->rp_door);
	session_start(relay_up);
	session_start(rp->rp_isp);
	session_connected(rp->rp_agent);
	session_connected(rp->rp_door);
	session_connected(relay_up);
	session_connected(rp->rp_isp);
	spin(20);
}

/* Close the four sessions. */
static void
relay_path_down(struct relay_path *rp)
{
	session_close(rp->rp_agent, "test over");
	session_close(rp->rp_door, "test over");
	session_close(relay_up, "test over");
	session_close(rp->rp_isp, "test over");
}

/* A stalled server behind two relayed sessions: credit holds end to end. */
static void
test_link(void)
{
	static const struct session_cb icb = { .sc_open = isp_open };
	struct relay_path rp;
	struct endpoint dst = { .ep_atyp = ATYP_IPV4, .ep_len = 4 };
	struct endpoint cl = { .ep_atyp = ATYP_IPV4, .ep_len = 4 };
	struct evbuffer *got;
	size_t total = 4 << 20, i, w = params.sp_chan_window;
	uint8_t *data = malloc(total);
	int ok = 0;

	for (i = 0; i < total; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 10));
	esp_ch = NULL;
	server_end = client_end = NULL;
	result_code = -1;
	relay_path_up(&rp, &icb);
	CHECK(session_open_channel(rp.rp_agent, &dst, &cl, NULL, NULL, 0,
		  esp_result, NULL) != NULL);
	spin(40);
	CHECK(result_code == OPEN_OK);
	if (esp_ch == NULL || server_end == NULL)
		return;

	bufferevent_write(client_end, data, total);
	spin(300);
	/*
	 * One window is at the stalled server, one waits in the link: the
	 * agent got credit for two at most (less what the receiver keeps
	 * to return in one WINDOW), and is out of it.
	 */
	CHECK(esp_ch->ch_tx.wt_avail == 0);
	CHECK(esp_ch->ch_bytes_out <= 2 * w && esp_ch->ch_bytes_out > w);
	if (esp_ch->ch_bytes_out > 2 * w || esp_ch->ch_bytes_out <= w)
		fprintf(stderr, "agent sent %llu, window %zu\n",
		    (unsigned long long)esp_ch->ch_bytes_out, w);

	got = evbuffer_new();
	bufferevent_enable(server_end, EV_READ);
	for (i = 0; i < 800 && evbuffer_get_length(got) < total; i++) {
		spin(5);
		evbuffer_add_buffer(got, bufferevent_get_input(server_end));
	}
	CHECK(evbuffer_get_length(got) == total);
	if (evbuffer_get_length(got) == total)
		ok = memcmp(evbuffer_pullup(got, -1), data, total) == 0;
	CHECK(ok);

	/* FIN goes through the link: the server sees EOF. */
	bufferevent_setcb(server_end, NULL, NULL, server_event, NULL);
	bufferevent_flush(client_end, EV_WRITE, BEV_FINISHED);
	for (i = 0; i < 100 && !server_eof; i++)
		spin(5);
	CHECK(server_eof);
	/* A reset at the isp resets the agent's channel, through the link. */
	esp_ch->ch_closed = agent_channel_closed;
	channel_close(isp_ch, CHANNEL_RESET, "test reset");
	for (i = 0; i < 100 && agent_closed[0] == '\0'; i++)
		spin(5);
	CHECK_STR_EQ(agent_closed, "reset");

	evbuffer_free(got);
	free(data);
	relay_path_down(&rp);
	bufferevent_free(client_end);
	bufferevent_free(server_end);
	spin(10);
}

/* The isp accepts a little later: an open still pending at the esp. */
static void
isp_accept_now(evutil_socket_t fd, short what, void *arg)
{
	struct bufferevent *p[2];
	struct endpoint bound = { 0 };

	(void)fd;
	(void)what;
	bufferevent_pair_new(base, 0, p);
	server_end = p[1];
	bufferevent_setcb(server_end, NULL, NULL, server_event, NULL);
	bufferevent_enable(server_end, EV_READ);
	isp_ch = arg;
	channel_accept(isp_ch, p[0], &bound);
}

/* isp side: answer the open 50 ms from now. */
static void
isp_open_later(struct session *s, struct channel *ch,
    const struct frame_open *o, void *arg)
{
	struct timeval tv = { 0, 50000 };

	(void)s;
	(void)o;
	(void)arg;
	event_base_once(base, -1, EV_TIMEOUT, isp_accept_now, ch, &tv);
}

/*
 * An agent's FIN that arrives before its channel is joined to the isp's
 * still reaches the server once joined; and when the server then closes,
 * both channels of the link go, on both sessions.
 */
static void
test_link_early_fin(void)
{
	static const struct session_cb icb = { .sc_open = isp_open_later };
	struct relay_path rp;
	struct endpoint dst = { .ep_atyp = ATYP_IPV4, .ep_len = 4 };
	struct endpoint cl = { .ep_atyp = ATYP_IPV4, .ep_len = 4 };
	struct channel *ch;
	int i;

	server_end = client_end = NULL;
	server_eof = 0;
	result_code = -1;
	relay_path_up(&rp, &icb);
	ch = session_open_channel(rp.rp_agent, &dst, &cl, NULL, NULL, 0,
	    esp_result, NULL);
	CHECK(ch != NULL);
	if (ch == NULL)
		return;
	session_send(rp.rp_agent, FRAME_FIN, ch->ch_id, NULL, 0);
	for (i = 0; i < 100 && !server_eof; i++)
		spin(5);
	CHECK(result_code == OPEN_OK);
	CHECK(server_eof);
	/* The server closes too: nothing is left on the esp's sessions. */
	if (server_end != NULL)
		bufferevent_flush(server_end, EV_WRITE, BEV_FINISHED);
	for (i = 0; i < 100 &&
	     (session_channels(relay_up) > 0 ||
		 session_channels(rp.rp_door) > 0);
	     i++)
		spin(5);
	CHECK(session_channels(relay_up) == 0);
	CHECK(session_channels(rp.rp_door) == 0);

	relay_path_down(&rp);
	if (client_end != NULL)
		bufferevent_free(client_end);
	if (server_end != NULL)
		bufferevent_free(server_end);
	spin(10);
}

static struct bufferevent *small_ends[32];
static int small_nends;

/* isp side for the small-stall test: accept onto pairs nobody reads. */
static void
small_open(struct session *s, struct channel *ch, const struct frame_open *o,
    void *arg)
{
	struct bufferevent *p[2];
	struct endpoint bound = { 0 };

	(void)s;
	(void)o;
	(void)arg;
	bufferevent_pair_new(base, 0, p);
	if (small_nends < 32)
		small_ends[small_nends++] = p[1];
	channel_accept(ch, p[0], &bound);
}

static uint64_t session_credit; /* session WINDOWs seen by rst_frames */

/* The ids of the channels the session reset (RST frames it wrote). */
static int
rst_frames(struct bufferevent *raw, uint32_t *ids, int max)
{
	struct evbuffer *in = bufferevent_get_input(raw);
	struct frame_hdr h;
	const char *why;
	uint8_t *p;
	int n = 0;

	while (evbuffer_get_length(in) >= FRAME_HDR_LEN) {
		p = evbuffer_pullup(in, FRAME_HDR_LEN);
		if (frame_hdr_decode(p, FRAME_HDR_LEN, &h, &why) != FRAME_OK ||
		    evbuffer_get_length(in) < FRAME_HDR_LEN + h.fh_len)
			break;
		if (h.fh_type == FRAME_RST && n < max)
			ids[n++] = h.fh_chan;
		if (h.fh_type == FRAME_WINDOW && h.fh_chan == 0 &&
		    h.fh_len == 4) {
			p = evbuffer_pullup(in, FRAME_HDR_LEN + 4);
			session_credit += (uint32_t)p[FRAME_HDR_LEN] << 24 |
			    (uint32_t)p[FRAME_HDR_LEN + 1] << 16 |
			    (uint32_t)p[FRAME_HDR_LEN + 2] << 8 |
			    p[FRAME_HDR_LEN + 3];
		}
		evbuffer_drain(in, FRAME_HDR_LEN + h.fh_len);
	}
	return n;
}

/*
 * Many channels whose readers stopped, each holding less than the 64 KiB
 * that makes one count as a stall, together fill the session: as many
 * are reset, the biggest first, as bring it back under three quarters of
 * its window and free a quarter, so that the credit goes back in one
 * WINDOW (52 + 5 x 48 KiB); the rest are left alone.
 */
static void
test_stall_small(void)
{
	static const struct session_cb cb = { .sc_open = small_open };
	static uint8_t junk[FRAME_DATA_MAX];
	struct session_params pr = params;
	struct bufferevent *pair[2];
	struct frame_open o;
	struct session *s;
	uint32_t ids[64], id;
	uint8_t b[128];
	size_t n, i, size;
	int nrst = 0, k, big_reset = 0;

	pr.sp_window = 1 << 20;
	pr.sp_chan_window = 64 << 10;
	pr.sp_stall_ms = 300;
	small_nends = 0;
	session_credit = 0;
	bufferevent_pair_new(base, 0, pair);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	s = session_new(base, pair[0], FRAME_ROLE_ISP, FRAME_ROLE_ESP, "small",
	    &pr, &cb, NULL);
	session_start(s);
	session_connected(s);
	raw_hello(pair[1], FRAME_ROLE_ESP);
	memset(&o, 0, sizeof o);
	o.fo_window = 1 << 20;
	o.fo_command = 1;
	o.fo_dst.ep_atyp = ATYP_IPV4;
	o.fo_dst.ep_len = 4;
	n = frame_open_encode(b, sizeof b, &o);
	/* 20 channels of 48 KiB (channel 1 a little more): 960 KiB held. */
	for (id = 1; id <= 39; id += 2) {
		raw_frame(pair[1], FRAME_OPEN, id, b, (uint32_t)n, (uint32_t)n);
		size = id == 1 ? (52 << 10) : (48 << 10);
		for (i = 0; i < size; i += 4096)
			raw_frame(pair[1], FRAME_DATA, id, junk, 4096, 4096);
	}
	for (k = 0; k < 12 && nrst < 6; k++) {
		spin(100);
		nrst += rst_frames(pair[1], ids + nrst, 64 - nrst);
	}
	spin(700); /* a period more: no further resets once under */
	nrst += rst_frames(pair[1], ids + nrst, 64 - nrst);
	for (k = 0; k < nrst; k++)
		big_reset |= ids[k] == 1;
	CHECK(small_nends == 20);
	CHECK(nrst == 6);
	CHECK(session_credit >= 292 << 10); /* the credit went back */
	CHECK(big_reset); /* the one holding the most went first */
	if (nrst != 6)
		fprintf(stderr, "%d channels reset\n", nrst);
	CHECK(session_channels(s) == 20 - (size_t)nrst);
	session_close(s, "test over");
	bufferevent_free(pair[1]);
	for (k = 0; k < small_nends; k++)
		bufferevent_free(small_ends[k]);
	spin(10);
}

static struct bufferevent *flood_ends[4000];
static int flood_nends;

/* isp side for the WINDOW flood test: each server has 4 KiB to send. */
static void
flood_open(struct session *s, struct channel *ch, const struct frame_open *o,
    void *arg)
{
	static const uint8_t kib[4 << 10];
	struct bufferevent *p[2];
	struct endpoint bound = { 0 };

	(void)s;
	(void)o;
	(void)arg;
	bufferevent_pair_new(base, 0, p);
	bufferevent_enable(p[1], EV_READ | EV_WRITE);
	if (flood_nends < 4000)
		flood_ends[flood_nends++] = p[1];
	bufferevent_write(p[1], kib, sizeof kib);
	channel_accept(ch, p[0], &bound);
}

/* Count the DATA bytes a raw peer got, and drop everything. */
static size_t
data_bytes(struct bufferevent *raw)
{
	struct evbuffer *in = bufferevent_get_input(raw);
	struct frame_hdr h;
	const char *why;
	size_t n = 0;
	uint8_t *p;

	while (evbuffer_get_length(in) >= FRAME_HDR_LEN) {
		p = evbuffer_pullup(in, FRAME_HDR_LEN);
		if (frame_hdr_decode(p, FRAME_HDR_LEN, &h, &why) != FRAME_OK ||
		    evbuffer_get_length(in) < FRAME_HDR_LEN + h.fh_len)
			break;
		if (h.fh_type == FRAME_DATA)
			n += h.fh_len;
		evbuffer_drain(in, FRAME_HDR_LEN + h.fh_len);
	}
	return n;
}

/*
 * CPU seconds an isp session spends on `grants` session WINDOWs of one
 * byte each, with `nchan` channels waiting for session credit.
 */
static double
window_flood_cpu(int nchan, int grants)
{
	static const struct session_cb cb = { .sc_open = flood_open };
	struct frame_hello hl = { FRAME_VERSION, FRAME_VERSION, FRAME_ROLE_ESP,
		0, "raw", 0 };
	struct bufferevent *pair[2];
	struct frame_open o;
	struct session *s;
	struct timespec t0, t1;
	uint8_t b[128], one[4] = { 0, 0, 0, 1 };
	size_t n, got = 0;
	uint32_t id;
	int k;

	flood_nends = 0;
	bufferevent_pair_new(base, 0, pair);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	s = session_new(base, pair[0], FRAME_ROLE_ISP, FRAME_ROLE_ESP, "flood",
	    &params, &cb, NULL);
	session_start(s);
	session_connected(s);
	hl.fhl_window = 1024; /* one channel's worth of session credit */
	n = frame_hello_encode(b, sizeof b, &hl);
	raw_frame(pair[1], FRAME_HELLO, 0, b, (uint32_t)n, (uint32_t)n);
	memset(&o, 0, sizeof o);
	o.fo_window = 1 << 20;
	o.fo_command = 1;
	o.fo_dst.ep_atyp = ATYP_IPV4;
	o.fo_dst.ep_len = 4;
	n = frame_open_encode(b, sizeof b, &o);
	for (id = 1; id <= (uint32_t)nchan * 2; id += 2)
		raw_frame(pair[1], FRAME_OPEN, id, b, (uint32_t)n, (uint32_t)n);
	for (k = 0; k < 50 && got < 1; k++) {
		spin(20);
		got += data_bytes(pair[1]);
	}
	spin(50);
	data_bytes(pair[1]);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (k = 0; k < grants; k++)
		raw_frame(pair[1], FRAME_WINDOW, 0, one, 4, 4);
	for (got = 0, k = 0; k < 500 && got < (size_t)grants; k++) {
		spin(10);
		got += data_bytes(pair[1]);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	if (got != (size_t)grants)
		fprintf(stderr, "%zu bytes of DATA for %d granted\n", got,
		    grants);
	CHECK(got == (size_t)grants); /* each byte of credit was used */
	CHECK(session_channels(s) == (size_t)nchan);
	session_close(s, "test over");
	bufferevent_free(pair[1]);
	for (k = 0; k < flood_nends; k++)
		bufferevent_free(flood_ends[k]);
	spin(10);
	return (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/*
 * A peer that grants session credit a byte at a time costs the session
 * the same whether 10 or 4000 channels wait for it: each WINDOW moves one
 * channel on, it does not walk them all.
 */
static void
test_window_flood(void)
{
	double few, many;

	few = window_flood_cpu(10, 20000);
	many = window_flood_cpu(4000, 20000);
	fprintf(stderr,
	    "20000 one-byte WINDOWs: %.3f s CPU with 10 channels "
	    "waiting, %.3f s with 4000\n",
	    few, many);
	CHECK(many < 5 * few + 0.05);
}

static int wrap_results;
static int wrap_results;

/* Count the answers to the wrap test's opens. */
static void
wrap_result(struct channel *ch, uint8_t code, const struct endpoint *b,
    void *arg)
{
	(void)ch;
	(void)code;
	(void)b;
	(void)arg;
	wrap_results++;
}

/*
 * Channel ids wrap round after 2^31 opens: never onto an id in use, and
 * never 0; the peer takes every one, with no GOAWAY.
 */
static void
test_id_wrap(void)
{
	static const struct session_cb icb = { .sc_open = small_open,
		.sc_closed = on_closed };
	static const struct session_cb ecb = { .sc_closed = on_closed };
	struct session *se, *si;
	struct endpoint dst = { .ep_atyp = ATYP_IPV4, .ep_len = 4 };
	struct endpoint cl = { .ep_atyp = ATYP_IPV4, .ep_len = 4 };
	struct frame_open o;
	struct channel *a, *b, *c, *d, *e;
	int k;

	small_nends = 0;
	closed_count = 0;
	wrap_results = 0;
	pair_up(&ecb, &icb, &se, &si);
	a = session_open_channel(se, &dst, &cl, NULL, NULL, 0, wrap_result,
	    NULL);
	session_set_next_id(se, 0xfffffffdu);
	b = session_open_channel(se, &dst, &cl, NULL, NULL, 0, wrap_result,
	    NULL);
	c = session_open_channel(se, &dst, &cl, NULL, NULL, 0, wrap_result,
	    NULL);
	d = session_open_channel(se, &dst, &cl, NULL, NULL, 0, wrap_result,
	    NULL);
	CHECK(a != NULL && a->ch_id == 1);
	CHECK(b != NULL && b->ch_id == 0xfffffffdu);
	CHECK(c != NULL && c->ch_id == 0xffffffffu);
	CHECK(d != NULL && d->ch_id == 3); /* 1 is in use */
	/* The other side's ids are even: 0 is skipped. */
	memset(&o, 0, sizeof o);
	o.fo_dst = dst;
	o.fo_client = cl;
	session_set_next_id(si, 0xfffffffeu);
	CHECK(session_open(si, FRAME_OUTSIDE_OPEN, &o, wrap_result, NULL) !=
	    NULL);
	e = session_open(si, FRAME_OUTSIDE_OPEN, &o, wrap_result, NULL);
	CHECK(e != NULL && e->ch_id == 2);
	for (k = 0; k < 20 && wrap_results < 6; k++)
		spin(10);
	CHECK(wrap_results == 6);
	CHECK(closed_count == 0 && session_is_up(se) && session_is_up(si));
	session_close(se, "test over");
	session_close(si, "test over");
	for (k = 0; k < small_nends; k++)
		bufferevent_free(small_ends[k]);
	spin(10);
}

static int pending_cancels;

/* isp side: a connect under way; the result callback cancels it. */
static void
pending_cancel(struct channel *ch, uint8_t code, const struct endpoint *b,
    void *arg)
{
	(void)ch;
	(void)code;
	(void)b;
	(void)arg;
	pending_cancels++;
}

static void
pending_open(struct session *s, struct channel *ch, const struct frame_open *o,
    void *arg)
{
	(void)s;
	(void)o;
	(void)arg;
	ch->ch_result = pending_cancel;
}

/*
 * The peer's own channel is not for it to answer: an esp that sends
 * OPEN_RESULT for the OPEN it sent ends the session, and the isp's
 * connect is never taken for done. After GOAWAY an OPEN is refused as a
 * failure (1), not as an unknown command.
 */
static void
test_result_direction(void)
{
	static const struct session_cb cb = { .sc_closed = on_closed,
		.sc_open = pending_open };
	struct bufferevent *pair[2];
	struct frame_open_result r;
	struct frame_open o;
	struct session *s;
	uint8_t b[128];
	char text[256] = "";
	size_t n, rn;
	int ok, failed;

	memset(&o, 0, sizeof o);
	o.fo_window = 1 << 16;
	o.fo_command = 1;
	o.fo_dst.ep_atyp = ATYP_IPV4;
	o.fo_dst.ep_len = 4;
	n = frame_open_encode(b, sizeof b, &o);
	memset(&r, 0, sizeof r);
	r.for_code = OPEN_OK;
	r.for_window = 1 << 16;
	r.for_bound.ep_atyp = ATYP_IPV4;
	r.for_bound.ep_len = 4;

	bufferevent_pair_new(base, 0, pair);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	s = session_new(base, pair[0], FRAME_ROLE_ISP, FRAME_ROLE_ESP, "result",
	    &params, &cb, NULL);
	session_start(s);
	session_connected(s);
	raw_hello(pair[1], FRAME_ROLE_ESP);
	closed_count = 0;
	pending_cancels = 0;
	raw_frame(pair[1], FRAME_OPEN, 1, b, (uint32_t)n, (uint32_t)n);
	spin(20);
	rn = frame_open_result_encode(b + 64, 64, &r);
	raw_frame(pair[1], FRAME_OPEN_RESULT, 1, b + 64, (uint32_t)rn,
	    (uint32_t)rn);
	spin(50);
	CHECK(goaway_code(pair[1], text, sizeof text) == GOAWAY_PROTOCOL);
	CHECK_STR_CONTAINS(text, "OPEN_RESULT from the wrong side");
	CHECK(closed_count == 1);
	CHECK(pending_cancels <= 1); /* the session's end, never an OK */
	bufferevent_free(pair[1]);
	spin(10);

	/* After GOAWAY: OPEN refused with code 1. */
	bufferevent_pair_new(base, 0, pair);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	s = session_new(base, pair[0], FRAME_ROLE_ISP, FRAME_ROLE_ESP, "drain",
	    &params, &cb, NULL);
	session_start(s);
	session_connected(s);
	raw_hello(pair[1], FRAME_ROLE_ESP);
	spin(20);
	session_goaway(s, GOAWAY_NORMAL, "draining");
	raw_frame(pair[1], FRAME_OPEN, 1, b, (uint32_t)n, (uint32_t)n);
	spin(50);
	open_results(pair[1], &ok, &failed);
	CHECK(ok == 0 && failed == 1);
	session_close(s, "test over");
	bufferevent_free(pair[1]);
	spin(10);
}

int
main(void)
{
	log_init("test_session", 0, 0);
	base = event_base_new();
	test_bad_input();
	test_window_violation();
	test_max_channels();
	test_result_direction();
	test_flow_control();
	test_link();
	test_link_early_fin();
	test_stall_small();
	test_window_flood();
	test_id_wrap();
	event_base_free(base);
	return unit_done("session");
}
