/*
 * A hostile isp, for tests: it holds valid session credentials (its own
 * isp.conf) but sends whatever CONFIG frames it is given, one a second,
 * then stays until the esp closes the session or 5 s pass. Prints the
 * esp's GOAWAY, if any.
 *
 *   rogue_isp CONF HOST:PORT CONFIG-TEXT [CONFIG-TEXT ...]
 *
 * In CONFIG-TEXT, "\n" stands for a newline.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>

#include "addr.h"
#include "conf.h"
#include "connector.h"
#include "log.h"
#include "session.h"
#include "tls.h"
#include "tlswire.h"

static struct event_base *base;
static SSL_CTX *ctx;
static struct tls_conf tc;
static struct session_params sp;
static char **configs;
static int nconfigs, next_config;
static struct session *sess;
static struct event *tick;

/* Send the next CONFIG, with "\n" turned into newlines. */
static void
rogue_tickcb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 1, 0 };
	char *text, *p, *q;

	(void)fd;
	(void)what;
	(void)arg;
	if (sess == NULL)
		return;
	if (next_config >= nconfigs) {
		printf("done\n");
		fflush(stdout);
		event_base_loopexit(base, &(struct timeval){ 5, 0 });
		return;
	}
	text = strdup(configs[next_config++]);
	for (p = q = text; *p != '\0'; p++) {
		if (p[0] == '\\' && p[1] == 'n') {
			*q++ = '\n';
			p++;
		} else
			*q++ = *p;
	}
	*q = '\0';
	session_send_config(sess, text, strlen(text));
	printf("sent config %d\n", next_config);
	fflush(stdout);
	free(text);
	evtimer_add(tick, &tv);
}

/* Up: start sending. */
static void
rogue_upcb(struct session *s, void *arg)
{
	(void)s;
	(void)arg;
	rogue_tickcb(-1, 0, NULL);
}

/* The esp ended the session. */
static void
rogue_closedcb(struct session *s, const char *why, void *arg)
{
	(void)arg;
	printf("closed: %s; goaway %d\n", why, session_peer_goaway(s));
	fflush(stdout);
	sess = NULL;
	event_base_loopexit(base, NULL);
}

static const struct session_cb rogue_cb = { .sc_up = rogue_upcb,
	.sc_closed = rogue_closedcb };

/* TCP is up: TLS and the session. */
static void
rogue_connectedcb(evutil_socket_t fd, int err, void *arg)
{
	struct bufferevent *bev;
	struct tlswire *wire;

	(void)arg;
	if (fd < 0) {
		fprintf(stderr, "rogue: connect: %s\n", strerror(err));
		exit(2);
	}
	bev = tlswire_new(base, fd, SSL_new(ctx), BUFFEREVENT_SSL_CONNECTING,
	    sp.sp_dead_ms, &wire);
	sess =
	    session_new(base, bev, FRAME_ROLE_ISP, "esp", &sp, &rogue_cb, NULL);
	session_set_wire(sess, wire);
	session_start(sess);
}

int
main(int argc, char **argv)
{
	struct conf *c;
	char *cause = NULL, *host, *port;
	struct sockaddr_storage ss;
	socklen_t sl;

	if (argc < 4) {
		fprintf(stderr, "usage: rogue_isp CONF HOST:PORT CONFIG ...\n");
		return 2;
	}
	log_init("rogue-isp", 0, 1);
	if ((c = conf_load(argv[1], &cause)) == NULL ||
	    tls_conf_load(c, &tc, TLS_ROLE_ISP, &cause) != 0 ||
	    tls_conf_set_identity(c, &tc, conf_str(c, "isp:id", NULL),
		&cause) != 0 ||
	    session_conf_load(c, &sp, &cause) != 0 ||
	    (ctx = tls_ctx_new(&tc, &cause)) == NULL) {
		fprintf(stderr, "rogue: %s\n", cause);
		return 2;
	}
	conf_free(c);
	if (addr_split_hostport(argv[2], &host, &port) != 0 ||
	    addr_parse_numeric(host, port, &ss, &sl) != 0) {
		fprintf(stderr, "rogue: bad address %s\n", argv[2]);
		return 2;
	}
	configs = argv + 3;
	nconfigs = argc - 3;
	base = event_base_new();
	tick = evtimer_new(base, rogue_tickcb, NULL);
	connector_start(base, (struct sockaddr *)&ss, sl, 5000,
	    rogue_connectedcb, NULL);
	event_base_dispatch(base);
	if (sess != NULL)
		session_close(sess, "done");
	event_free(tick);
	event_base_free(base);
	SSL_CTX_free(ctx);
	tls_conf_clear(&tc);
	return 0;
}
