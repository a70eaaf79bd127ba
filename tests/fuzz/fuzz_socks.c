/*
 * libFuzzer: the esp's SOCKS5 door (esp/socks.c), fed the input as a
 * client's bytes over a socketpair. esp.c has main(), so what socks.c
 * needs from it and from login.c and outside.c is stubbed here: one fake
 * link whose session runs over a bufferevent pair to a fake isp, logins
 * answered from the first byte, routes from it too.
 *
 * Input: two control bytes, then the client's bytes.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf.h"
#include "esp.h"
#include "frame.h"
#include "log.h"
#include "session.h"
#include "socks.h"
#include "xmalloc.h"

#define FUZZ_TURNS     64 /* loop turns to become idle, at most */
#define FUZZ_MIN_TURNS 3  /* and at least */

/* The first control byte. */
#define FUZZ_USERS   0x01 /* the isps have users: offer RFC 1929 */
#define FUZZ_ANON    0x02 /* and serve anonymous clients */
#define FUZZ_LOGIN   0x0c /* login: ok, refused, limited, ok later */
#define FUZZ_NOROUTE 0x10 /* esp_route finds no link */
#define FUZZ_ANSWER  0xe0 /* the isp's code; 7: no answer */

/* The second. */
#define FUZZ_CLIENT_EOF 0x01 /* the client shuts its side after its bytes */
#define FUZZ_DOWN       0x02 /* the session never gets HELLO */
#define FUZZ_DATA       0x04 /* after success the isp sends DATA */
#define FUZZ_FIN        0x08 /* and FIN */
#define FUZZ_RST        0x10 /* or RST */
#define FUZZ_BOUND6     0x20 /* the bound address is IPv6 */
#define FUZZ_SESS_FIRST 0x40 /* at the end the session goes first */
#define FUZZ_PIECES     0x80 /* the client's bytes arrive in two pieces */

/* A login answered on a later loop turn. */
struct login {
	login_done_cb lg_cb;
	void *lg_arg;
	struct event *lg_ev;
};

static struct {
	struct esp f_esp;
	struct esp_link f_link;
	struct bufferevent *f_isp; /* the fake isp's end of the session */
	uint8_t f_ctl[2];
	int f_sess_closed;
} fz;

static struct session_params fuzz_params;

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The defaults of [session], read from an empty file: every field set. */
static void
fuzz_params_load(void)
{
	const char *tmp = getenv("TMPDIR");
	struct conf *c;
	char path[300], *cause = NULL;
	int fd;

	snprintf(path, sizeof path, "%s/fuzz-socks.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if ((fd = mkstemp(path)) == -1)
		abort();
	close(fd);
	c = conf_load(path, &cause);
	unlink(path);
	if (c == NULL || session_conf_load(c, &fuzz_params, &cause) != 0)
		abort();
	conf_free(c);
}

/* As the daemons do: no SIGPIPE; quiet logs; the esp's fixed parts. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	log_init("fuzz_socks", 0, 0);
	fuzz_params_load();
	TAILQ_INIT(&fz.f_esp.e_links);
	TAILQ_INIT(&fz.f_esp.e_clients);
	fz.f_esp.e_max_clients = 16;
	fz.f_esp.e_max_conns_per_source = 1024;
	fz.f_esp.e_conns = srccount_new();
	fz.f_esp.e_socks_timeout_ms = 10000;
	fz.f_esp.e_open_timeout.tv_sec = 10;
	fz.f_link.el_esp = &fz.f_esp;
	return 0;
}

/* Stub: the one link, unless the input says there is no route. */
struct esp_link *
esp_route(struct esp *e, const struct endpoint *dst,
    const struct endpoint *client, const char *user, const void *password,
    size_t passlen, const struct esp_agent *a, uint8_t *code)
{
	(void)a;
	(void)e;
	(void)dst;
	(void)client;
	(void)user;
	(void)password;
	(void)passlen;
	if (fz.f_ctl[0] & FUZZ_NOROUTE) {
		*code = (fz.f_ctl[0] & FUZZ_ANSWER) ? OPEN_NOT_ALLOWED
						    : OPEN_NET_UNREACH;
		return NULL;
	}
	*code = OPEN_OK;
	return &fz.f_link;
}

/* Stub: which methods the isps' policies call for. */
void
esp_auth_modes(struct esp *e, int *users, int *anonymous)
{
	(void)e;
	*users = (fz.f_ctl[0] & FUZZ_USERS) != 0;
	*anonymous = (fz.f_ctl[0] & FUZZ_ANON) != 0;
}

/* The later answer of a login. */
static void
fuzz_login_laterev(evutil_socket_t fd, short what, void *arg)
{
	struct login *lg = arg;
	login_done_cb cb = lg->lg_cb;
	void *cbarg = lg->lg_arg;

	(void)fd;
	(void)what;
	event_free(lg->lg_ev);
	free(lg);
	cb(LOGIN_OK, NULL, cbarg);
}

/* Stub: answer at once from the input (NULL), or on a later turn. */
struct login *
login_start(struct esp *e, const struct sockaddr *sa, const char *user,
    const void *pw, size_t len, login_done_cb cb, void *arg)
{
	struct login *lg;

	(void)sa;
	(void)user;
	(void)pw;
	(void)len;
	switch ((fz.f_ctl[0] & FUZZ_LOGIN) >> 2) {
	case 0:
		cb(LOGIN_OK, NULL, arg);
		return NULL;
	case 1:
		cb(LOGIN_REFUSED, NULL, arg);
		return NULL;
	case 2:
		cb(LOGIN_LIMITED, "rate limit (fuzz)", arg);
		return NULL;
	}
	lg = xcalloc(1, sizeof *lg);
	lg->lg_cb = cb;
	lg->lg_arg = arg;
	lg->lg_ev = event_new(e->e_base, -1, 0, fuzz_login_laterev, lg);
	event_active(lg->lg_ev, EV_TIMEOUT, 0);
	return lg;
}

/* Stub: the client left before its login was answered. */
void
login_cancel(struct login *lg)
{
	if (lg == NULL)
		return;
	event_free(lg->lg_ev);
	free(lg);
}

/* Stub: no rules at this esp. */
void
outside_scan(struct esp_link *l, struct channel *ch, const struct esp_agent *a,
    uint32_t agent_channel)
{
	(void)a;
	(void)agent_channel;
	(void)l;
	(void)ch;
}

/* Send a frame from the fake isp. */
static void
fuzz_isp_send(uint8_t type, uint32_t chan, const void *p, size_t len)
{
	uint8_t h[FRAME_HDR_LEN];

	frame_hdr_encode(h, type, chan, (uint32_t)len);
	bufferevent_write(fz.f_isp, h, sizeof h);
	if (len > 0)
		bufferevent_write(fz.f_isp, p, len);
}

/* The fake isp answers an OPEN as the input says. */
static void
fuzz_isp_open(uint32_t chan)
{
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	struct frame_open_result r;
	uint8_t b[64], ctl = fz.f_ctl[1];
	size_t n;

	memset(&r, 0, sizeof r);
	r.for_code = (fz.f_ctl[0] & FUZZ_ANSWER) >> 5;
	if (r.for_code == 7)
		return;
	r.for_window = 64 << 10;
	if (ctl & FUZZ_BOUND6) {
		r.for_bound.ep_atyp = ATYP_IPV6;
		r.for_bound.ep_len = 16;
		memcpy(r.for_bound.ep_addr, v6, 16);
	} else {
		r.for_bound.ep_atyp = ATYP_IPV4;
		r.for_bound.ep_len = 4;
		memcpy(r.for_bound.ep_addr, "\xc0\x00\x02\x02", 4);
	}
	r.for_bound.ep_port = 40000;
	n = frame_open_result_encode(b, sizeof b, &r);
	fuzz_isp_send(FRAME_OPEN_RESULT, chan, b, n);
	if (r.for_code != OPEN_OK)
		return;
	if (ctl & FUZZ_DATA)
		fuzz_isp_send(FRAME_DATA, chan, "220 fuzz\r\n", 10);
	if (ctl & FUZZ_RST)
		fuzz_isp_send(FRAME_RST, chan, NULL, 0);
	else if (ctl & FUZZ_FIN)
		fuzz_isp_send(FRAME_FIN, chan, NULL, 0);
}

/* The fake isp reads the esp's frames and answers OPENs. */
static void
fuzz_isp_readcb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct frame_hdr h;
	const char *why;
	uint8_t *p;

	(void)arg;
	while (evbuffer_get_length(in) >= FRAME_HDR_LEN) {
		p = evbuffer_pullup(in, FRAME_HDR_LEN);
		if (frame_hdr_decode(p, FRAME_HDR_LEN, &h, &why) != FRAME_OK) {
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		if (evbuffer_get_length(in) < FRAME_HDR_LEN + (size_t)h.fh_len)
			return;
		evbuffer_drain(in, FRAME_HDR_LEN + (size_t)h.fh_len);
		if (h.fh_type == FRAME_OPEN)
			fuzz_isp_open(h.fh_chan);
	}
}

/* The fake isp's HELLO. */
static void
fuzz_isp_hello(void)
{
	struct frame_hello h = { FRAME_VERSION, FRAME_VERSION, FRAME_ROLE_ISP,
		1 << 20, "fuzz", 0 };
	uint8_t b[64];
	size_t n = frame_hello_encode(b, sizeof b, &h);

	fuzz_isp_send(FRAME_HELLO, 0, b, n);
}

/* The link's session ended. */
static void
fuzz_sess_closedcb(struct session *s, const char *reason, void *arg)
{
	(void)s;
	(void)reason;
	(void)arg;
	fz.f_sess_closed = 1;
}

static const struct session_cb fuzz_sess_cb = { .sc_closed =
						    fuzz_sess_closedcb };

/*
 * Run the loop a bounded number of turns, reading what the client gets.
 * A socket that became writable is active only after the next poll, so
 * a few turns run even when nothing is active.
 */
static void
fuzz_spin(struct event_base *base, int cfd)
{
	char buf[4096];
	int i;

	for (i = 0; i < FUZZ_TURNS; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		while (read(cfd, buf, sizeof buf) > 0)
			;
		if (i >= FUZZ_MIN_TURNS &&
		    event_base_get_num_events(base, EVENT_BASE_COUNT_ACTIVE) ==
			0)
			break;
	}
}

/* Free every client still in its handshake. */
static void
fuzz_free_clients(void)
{
	struct socks_client *c;

	while ((c = TAILQ_FIRST(&fz.f_esp.e_clients)) != NULL)
		socks_client_free(c);
}

/* Close the link's session, if it is still there. */
static void
fuzz_close_session(void)
{
	if (!fz.f_sess_closed)
		session_close(fz.f_link.el_sess, "fuzz input done");
}

/* One client, one link, fed the input, then everything freed. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_base *base;
	struct bufferevent *pair[2];
	struct sockaddr_in sin;
	int fds[2];
	size_t half;

	if (size < 2)
		return 0;
	memcpy(fz.f_ctl, data, 2);
	data += 2;
	size -= 2;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
		abort();
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	base = event_base_new();
	fz.f_esp.e_base = base;
	fz.f_sess_closed = 0;

	bufferevent_pair_new(base, 0, pair);
	fz.f_isp = pair[1];
	bufferevent_setcb(fz.f_isp, fuzz_isp_readcb, NULL, NULL, NULL);
	bufferevent_enable(fz.f_isp, EV_READ | EV_WRITE);
	fz.f_link.el_sess = session_new(base, pair[0], FRAME_ROLE_ESP,
	    FRAME_ROLE_ISP, "isp", &fuzz_params, &fuzz_sess_cb, NULL);
	session_start(fz.f_link.el_sess);
	session_connected(fz.f_link.el_sess);
	if (!(fz.f_ctl[1] & FUZZ_DOWN))
		fuzz_isp_hello();
	fuzz_spin(base, fds[1]);

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(40000);
	inet_pton(AF_INET, "198.51.100.3", &sin.sin_addr);
	socks_accept(&fz.f_esp, fds[0], (struct sockaddr *)&sin, sizeof sin);
	half = (fz.f_ctl[1] & FUZZ_PIECES) ? size / 2 : size;
	/* The esp may have closed already: then the rest is lost. */
	if (half > 0)
		(void)send(fds[1], data, half, MSG_NOSIGNAL);
	fuzz_spin(base, fds[1]);
	if (size > half)
		(void)send(fds[1], data + half, size - half, MSG_NOSIGNAL);
	if (fz.f_ctl[1] & FUZZ_CLIENT_EOF)
		shutdown(fds[1], SHUT_WR);
	fuzz_spin(base, fds[1]);

	if (fz.f_ctl[1] & FUZZ_SESS_FIRST) {
		fuzz_close_session();
		fuzz_spin(base, fds[1]);
		fuzz_free_clients();
	} else {
		fuzz_free_clients();
		fuzz_spin(base, fds[1]);
		fuzz_close_session();
	}
	fuzz_spin(base, fds[1]);
	fuzz_free_clients();

	bufferevent_free(fz.f_isp);
	close(fds[1]);
	event_base_free(base);
	return 0;
}
