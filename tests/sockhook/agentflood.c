/*
 * Agents that take a place at the esp's client door and hold it, for
 * tests/sockhook/agent/t-door-bounds.sh. Opens N sessions from SOURCE
 * (TLS, checked against CA, then HELLO); with USER each sends the first
 * step of a password login and never the second. Holds them for SECONDS,
 * then exits. One line per event, as it happens:
 *
 *   up              a session finished TLS and HELLO
 *   refused         the esp closed it before that
 *   continue|busy|denied   the answer to the first login step
 *   closed: WHY     the esp ended a session that was up
 *   opens: R refused, K other    (AGENTFLOOD_OPENS, below)
 *
 * With AGENTFLOOD_OPENS=K (and no USER) each session, once up, asks for K
 * connections to a name the esp refuses ("bad name", port 80), at most
 * 500 at a time, and reports when all K are answered.
 *
 * With AGENTFLOOD_LOGINS=K (and no USER) each session, once up, sends K
 * malformed first login steps at once.
 *
 * usage: agentflood CA PORT SOURCE N SECONDS [USER]
 */
#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>

#include "log.h"
#include "scram.h"
#include "session.h"
#include "tls.h"

struct flooder {
	struct session *f_sess;
	int f_up;
	int f_sent, f_refused, f_other;
};

static const char *user;
static int opens;

static void flood_open(struct flooder *);
static void say(const char *);

/* The answer to one of the OPENs: count it, and send the next. */
static void
flood_resultcb(struct channel *ch, uint8_t code, const struct endpoint *b,
    void *arg)
{
	struct flooder *f = arg;
	char line[64];

	(void)b;
	if (code == OPEN_BAD_ADDRTYPE)
		f->f_refused++;
	else {
		f->f_other++;
		if (code == OPEN_OK)
			channel_close(ch, CHANNEL_RESET, "flood");
	}
	if (f->f_refused + f->f_other == opens) {
		snprintf(line, sizeof line, "opens: %d refused, %d other",
		    f->f_refused, f->f_other);
		say(line);
	} else if (f->f_sent < opens)
		flood_open(f);
}

/* One OPEN for a name no esp takes. */
static void
flood_open(struct flooder *f)
{
	struct frame_open o;

	memset(&o, 0, sizeof o);
	o.fo_command = 1;
	o.fo_window = 1 << 16;
	o.fo_dst.ep_atyp = ATYP_NAME;
	o.fo_dst.ep_len = 8;
	memcpy(o.fo_dst.ep_addr, "bad name", 8);
	o.fo_dst.ep_port = 80;
	o.fo_client.ep_atyp = ATYP_IPV4;
	o.fo_client.ep_len = 4;
	o.fo_client.ep_addr[0] = 127;
	o.fo_client.ep_addr[3] = 1;
	o.fo_client.ep_port = 4000;
	if (session_open(f->f_sess, FRAME_OPEN, &o, flood_resultcb, f) != NULL)
		f->f_sent++;
}

/* Print one event. */
static void
say(const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
}

/* TLS is up: the CA checked the esp. */
static int
flood_handshake(struct session *s, SSL *ssl, char *why, size_t len, void *arg)
{
	(void)ssl;
	(void)why;
	(void)len;
	(void)arg;
	session_set_identity(s, "esp");
	return 0;
}

/* HELLO done: the first login step, if asked to. */
static void
flood_up(struct session *s, void *arg)
{
	struct flooder *f = arg;
	struct scram_client sc;
	struct frame_login fl;
	char msg[SCRAM_MSG_MAX];
	uint8_t buf[FRAME_LOGIN_MSG_MAX + 64];
	size_t n;

	f->f_up = 1;
	say("up");
	while (user == NULL && f->f_sent < opens && f->f_sent < 500)
		flood_open(f);
	if (user == NULL && getenv("AGENTFLOOD_LOGINS") != NULL) {
		int i, k = atoi(getenv("AGENTFLOOD_LOGINS"));

		memset(&fl, 0, sizeof fl);
		fl.fl_method = AUTH_SCRAM;
		fl.fl_step = 1;
		fl.fl_msg = (const uint8_t *)"garbage";
		fl.fl_msglen = 7;
		for (i = 0; i < k; i++) {
			fl.fl_ref = (uint32_t)i + 1;
			if ((n = frame_login_encode(buf, sizeof buf, &fl)) > 0)
				session_send_message(s, FRAME_LOGIN, buf, n);
		}
	}
	if (user == NULL)
		return;
	if (scram_client_start(&sc, user, "not-the-password", 16, msg,
		sizeof msg) != 0) {
		say("cannot start a login");
		return;
	}
	memset(&fl, 0, sizeof fl);
	fl.fl_ref = 1;
	fl.fl_method = AUTH_SCRAM;
	fl.fl_step = 1;
	fl.fl_msg = (const uint8_t *)msg;
	fl.fl_msglen = strlen(msg);
	if ((n = frame_login_encode(buf, sizeof buf, &fl)) > 0)
		session_send_message(s, FRAME_LOGIN, buf, n);
}

/* The answer to the first step; the second never comes. */
static void
flood_message(struct session *s, uint8_t type, const uint8_t *p, size_t len,
    void *arg)
{
	struct frame_login_reply r;

	(void)s;
	(void)arg;
	if (type != FRAME_LOGIN_REPLY ||
	    frame_login_reply_decode(p, len, &r) != FRAME_OK)
		return;
	say(r.flr_code == LOGIN_CONTINUE   ? "continue"
		: r.flr_code == LOGIN_BUSY ? "busy"
					   : "denied");
}

/* The esp ended a session. */
static void
flood_closed(struct session *s, const char *why, void *arg)
{
	struct flooder *f = arg;
	char line[400];

	(void)s;
	if (!f->f_up)
		say("refused");
	else {
		snprintf(line, sizeof line, "closed: %s", why);
		say(line);
	}
	f->f_sess = NULL;
}

static const struct session_cb flood_cb = {
	.sc_handshake = flood_handshake,
	.sc_up = flood_up,
	.sc_closed = flood_closed,
	.sc_message = flood_message,
};

/* The end of the hold. */
static void
donecb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct session_params sp;
	struct sockaddr_in src, dst;
	struct timeval tv = { 0, 0 };
	struct bufferevent *bev;
	struct flooder *f;
	SSL_CTX *ctx;
	SSL *ssl;
	char *cause = NULL;
	int i, n, fd;

	if (argc != 6 && argc != 7) {
		fprintf(stderr,
		    "usage: agentflood CA PORT SOURCE N SECONDS [USER]\n");
		return 2;
	}
	log_init("agentflood", 0, 0);
	signal(SIGPIPE, SIG_IGN); /* the esp closes the refused at once */
	if ((ctx = tls_agent_ctx_new(argv[1], &cause)) == NULL) {
		fprintf(stderr, "agentflood: %s\n", cause);
		return 2;
	}
	n = atoi(argv[4]);
	tv.tv_sec = atoi(argv[5]);
	user = argc == 7 ? argv[6] : NULL;
	if (getenv("AGENTFLOOD_OPENS") != NULL)
		opens = atoi(getenv("AGENTFLOOD_OPENS"));
	memset(&src, 0, sizeof src);
	src.sin_family = AF_INET;
	memset(&dst, 0, sizeof dst);
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[3], &src.sin_addr) != 1 ||
	    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr) != 1 || n < 1 ||
	    n > 1000) {
		fprintf(stderr, "agentflood: bad SOURCE or N\n");
		return 2;
	}
	session_params_default(&sp);
	base = event_base_new();
	f = calloc((size_t)n, sizeof *f);
	for (i = 0; i < n; i++) {
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
		    bind(fd, (struct sockaddr *)&src, sizeof src) != 0 ||
		    connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
			perror("agentflood: connect");
			return 2;
		}
		evutil_make_socket_nonblocking(fd);
		ssl = SSL_new(ctx);
		tls_set_peer_host(ssl, "127.0.0.1");
		bev = bufferevent_openssl_socket_new(base, fd, ssl,
		    BUFFEREVENT_SSL_CONNECTING,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		f[i].f_sess = session_new(base, bev, FRAME_ROLE_AGENT,
		    FRAME_ROLE_ESP, "esp", &sp, &flood_cb, &f[i]);
		session_start(f[i].f_sess);
	}
	event_base_once(base, -1, EV_TIMEOUT, donecb, base, &tv);
	event_base_dispatch(base);
	return 0;
}
