/*
 * A taken-over esp, for tests: it accepts the isp's session like an esp
 * but ignores every policy, and asks the isp for destinations given on the
 * command line, as any user, with or without a password. Prints each
 * OPEN_RESULT code and exits.
 *
 *   rogue_esp CONF PORT USER[:PASSWORD] HOST:PORT [...]   (USER - anonymous)
 *
 * With ROGUE_NOTICES=N it first sends N NOTICEs at once (refusals it
 * says it made), more than an isp writes in a second. With
 * ROGUE_PARALLEL=1 it sends every OPEN at once, answers in any order.
 * With ROGUE_SEND=TEXT it writes TEXT on the first channel opened, as its
 * client, and never answers an OUTSIDE_OPEN the isp then asks for (it
 * prints each); it exits ROGUE_HOLD seconds (default 5) later. With
 * ROGUE_SEND_FIN=1 it ends its side right after the text (FIN).
 */
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "optag.h"
#include "session.h"
#include "tls.h"

static struct event_base *base;
static SSL_CTX *ctx;
static struct tls_conf tc;
static struct session_params sp;
static char **asks;
static int nasks, next_ask, answered, parallel;
static struct session *sess;

static void rogue_ask(void);

/* ROGUE_SEND: write the text on the channel as its client; hold on. */
static void
rogue_send(struct channel *ch)
{
	const char *text = getenv("ROGUE_SEND");
	struct timeval tv = { 5, 0 };
	int sv[2];

	if (getenv("ROGUE_HOLD") != NULL)
		tv.tv_sec = atoi(getenv("ROGUE_HOLD"));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		perror("rogue: socketpair");
		exit(2);
	}
	evutil_make_socket_nonblocking(sv[0]);
	channel_attach(ch,
	    bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE));
	if (write(sv[1], text, strlen(text)) != (ssize_t)strlen(text)) {
		perror("rogue: write");
		exit(2);
	}
	if (getenv("ROGUE_SEND_FIN") != NULL)
		shutdown(sv[1], SHUT_WR);
	printf("sent\n");
	fflush(stdout);
	event_base_loopexit(base, &tv);
}

/* OUTSIDE_OPEN: print it, and never answer. */
static void
rogue_outsidecb(struct session *s, struct channel *ch,
    const struct frame_open *fo, void *arg)
{
	char dst[ADDR_STRLEN];

	(void)s;
	(void)ch;
	(void)arg;
	printf("outside open asked for %s\n",
	    endpoint_str(&fo->fo_dst, dst, sizeof dst));
	fflush(stdout);
}

/* One result: print it and ask the next (or, all at once, end). */
static void
rogue_resultcb(struct channel *ch, uint8_t code, const struct endpoint *b,
    void *arg)
{
	int at = (int)(intptr_t)arg;

	(void)b;
	printf("%s %s: %u\n", asks[at], asks[at + 1], code);
	fflush(stdout);
	if (code == OPEN_OK && getenv("ROGUE_SEND") != NULL) {
		rogue_send(ch);
		return;
	}
	if (code == OPEN_OK)
		channel_close(ch, CHANNEL_RESET, "rogue done");
	answered += 2;
	if (!parallel)
		rogue_ask();
	else if (answered >= nasks)
		event_base_loopexit(base, NULL);
}

/* Ask for the next destination, ignoring every policy. */
static void
rogue_ask(void)
{
	struct endpoint dst, client;
	struct frame_open o;
	struct sockaddr_storage ss;
	socklen_t sl;
	char *host, *port, user[200];
	const char *pw;
	int at;

	if (next_ask >= nasks) {
		event_base_loopexit(base, NULL);
		return;
	}
	if (addr_split_hostport(asks[next_ask + 1], &host, &port) != 0 ||
	    addr_parse_numeric(host, port, &ss, &sl) != 0) {
		fprintf(stderr, "rogue: bad destination %s\n",
		    asks[next_ask + 1]);
		exit(2);
	}
	free(host);
	free(port);
	addr_to_endpoint((struct sockaddr *)&ss, &dst);
	memset(&client, 0, sizeof client);
	client.ep_atyp = ATYP_IPV4;
	client.ep_len = 4;
	client.ep_addr[0] = 127;
	client.ep_addr[3] = 1;
	client.ep_port = 4242;
	snprintf(user, sizeof user, "%s",
	    strcmp(asks[next_ask], "-") == 0 ? "" : asks[next_ask]);
	pw = "";
	if ((host = strchr(user, ':')) != NULL) {
		*host = '\0';
		pw = host + 1;
	}
	at = next_ask;
	next_ask += 2;
	memset(&o, 0, sizeof o);
	o.fo_dst = dst;
	o.fo_client = client;
	snprintf(o.fo_user, sizeof o.fo_user, "%.64s", user);
	if (*user != '\0' && *pw != '\0') {
		o.fo_auth = OPEN_AUTH_PASSWORD;
		o.fo_secret_len = (uint8_t)strlen(pw);
		memcpy(o.fo_secret, pw, o.fo_secret_len);
	} else if (*user != '\0') {
		/* No password: claim an agent login it never saw. */
		o.fo_auth = OPEN_AUTH_TAG;
		o.fo_secret_len = OPTAG_ISP_LEN;
		memset(o.fo_secret, 0x41, OPTAG_ISP_LEN);
	}
	if (session_open(sess, FRAME_OPEN, &o, rogue_resultcb,
		(void *)(intptr_t)at) == NULL) {
		fprintf(stderr, "rogue: session not usable\n");
		exit(2);
	}
}

/* The isp's session is up: the NOTICEs, if asked for; start asking. */
static void
rogue_upcb(struct session *s, void *arg)
{
	struct frame_notice n;
	uint8_t buf[600];
	size_t len;
	int i, count;

	(void)arg;
	count =
	    getenv("ROGUE_NOTICES") != NULL ? atoi(getenv("ROGUE_NOTICES")) : 0;
	memset(&n, 0, sizeof n);
	n.fn_client.ep_atyp = ATYP_IPV4;
	n.fn_client.ep_len = 4;
	n.fn_client.ep_addr[0] = 127;
	n.fn_client.ep_addr[3] = 1;
	n.fn_dst = n.fn_client;
	n.fn_dst.ep_port = 9;
	snprintf(n.fn_why, sizeof n.fn_why, "rogue says so");
	for (i = 0; i < count; i++) {
		n.fn_client.ep_port = (uint16_t)(10000 + i);
		if ((len = frame_notice_encode(buf, sizeof buf, &n)) > 0)
			session_send_message(s, FRAME_NOTICE, buf, len);
	}
	parallel = getenv("ROGUE_PARALLEL") != NULL;
	do
		rogue_ask();
	while (parallel && next_ask < nasks);
}

/* The session ended early. */
static void
rogue_closedcb(struct session *s, const char *why, void *arg)
{
	(void)s;
	(void)arg;
	fprintf(stderr, "rogue: session closed: %s\n", why);
	sess = NULL;
	event_base_loopexit(base, NULL);
}

static const struct session_cb rogue_cb = { .sc_up = rogue_upcb,
	.sc_closed = rogue_closedcb };
static const struct session_cb rogue_send_cb = { .sc_up = rogue_upcb,
	.sc_closed = rogue_closedcb,
	.sc_outside_open = rogue_outsidecb };

/* The isp connected. */
static void
rogue_acceptcb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct bufferevent *bev;

	(void)lis;
	(void)sa;
	(void)len;
	(void)arg;
	if (sess != NULL) {
		evutil_closesocket(fd);
		return;
	}
	bev = bufferevent_openssl_socket_new(base, fd, SSL_new(ctx),
	    BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	sess = session_new(base, bev, FRAME_ROLE_ESP, FRAME_ROLE_ISP, "isp",
	    &sp, getenv("ROGUE_SEND") != NULL ? &rogue_send_cb : &rogue_cb,
	    NULL);
	session_start(sess);
}

int
main(int argc, char **argv)
{
	struct conf *c;
	char *cause = NULL;
	struct sockaddr_in sin;
	struct evconnlistener *lis;

	if (argc < 5 || (argc - 3) % 2 != 0) {
		fprintf(stderr,
		    "usage: rogue_esp CONF PORT USER HOST:PORT ...\n");
		return 2;
	}
	log_init("rogue", 0, 0);
	if ((c = conf_load(argv[1], &cause)) == NULL ||
	    tls_conf_load(c, &tc, TLS_ROLE_ESP, &cause) != 0 ||
	    session_conf_load(c, &sp, &cause) != 0 ||
	    (ctx = tls_ctx_new(&tc, &cause)) == NULL) {
		fprintf(stderr, "rogue: %s\n", cause);
		return 2;
	}
	conf_free(c);
	asks = argv + 3;
	nasks = argc - 3;
	base = event_base_new();
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)atoi(argv[2]));
	lis = evconnlistener_new_bind(base, rogue_acceptcb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof sin);
	if (lis == NULL) {
		perror("rogue: listen");
		return 2;
	}
	printf("listening\n");
	fflush(stdout);
	event_base_dispatch(base);
	if (sess != NULL)
		session_close(sess, "done");
	evconnlistener_free(lis);
	event_base_free(base);
	SSL_CTX_free(ctx);
	tls_conf_clear(&tc);
	return 0;
}
