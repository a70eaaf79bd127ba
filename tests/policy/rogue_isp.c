/*
 * A hostile isp, for tests: it holds valid session credentials (its own
 * isp.conf) but sends whatever CONFIG frames it is given, one a second,
 * then stays until the esp closes the session or 5 s pass. Prints the
 * esp's GOAWAY, if any.
 *
 *   rogue_isp CONF HOST:PORT ARG [ARG ...]
 *
 * Each ARG is a CONFIG text ("\n" stands for a newline; @FILE for a
 * file's contents), or:
 *   pingflood=MIB  write MIB MiB of PING frames and read nothing;
 *   outside=P,...  accept the esp's OPENs; when the client sends a line,
 *                  ask the esp to connect to each port P of that client
 *                  (OUTSIDE_OPEN), printing "outside P: CODE"; an entry
 *                  ADDR/P asks for port P of another IPv4 host instead,
 *                  printing "outside ADDR/P: CODE".
 *   answer=TEXT    accept the esp's OPENs; whenever a client writes,
 *                  write TEXT back ("\r" and "\n" as escapes), as a
 *                  server would, without the isp's own checks;
 *   tick=MS        send the CONFIGs MS milliseconds apart (default 1000);
 *   loginreply=CODE:LOGIN  in its turn among the CONFIGs, a LOGIN_REPLY
 *                  that answers no LOGIN (reference 0) with that code and
 *                  login number.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
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
static struct bufferevent *sess_bev;
static struct event *tick, *flood_ev;
static size_t flood_left;
static int outside_ports[16], noutside, outside_asked;
static int tick_ms = 1000;
static char *outside_text[16]; /* each entry as given */
static char *answer;           /* answer=, unescaped */

/* Write PING frames straight to TLS, past our own session's limits. */
static void
rogue_floodcb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 0, 10000 };
	static uint8_t block[3276 * (FRAME_HDR_LEN + 8)]; /* 64 KiB of PINGs */
	size_t i, n;

	(void)fd;
	(void)what;
	(void)arg;
	if (sess == NULL)
		return;
	for (i = 0; i < sizeof block; i += FRAME_HDR_LEN + 8)
		frame_hdr_encode(block + i, FRAME_PING, 0, 8);
	while (flood_left > 0 &&
	    evbuffer_get_length(bufferevent_get_output(sess_bev)) < (1 << 20)) {
		n = flood_left < sizeof block ? flood_left : sizeof block;
		n -= n % (FRAME_HDR_LEN + 8);
		if (n == 0)
			n = FRAME_HDR_LEN + 8;
		bufferevent_write(sess_bev, block, n);
		flood_left -= flood_left < n ? flood_left : n;
	}
	if (flood_left == 0) {
		printf("flood written\n");
		fflush(stdout);
		return;
	}
	evtimer_add(flood_ev, &tv);
}

/* The esp connected (or refused to connect) to the client's port. */
static void
rogue_outsidecb(struct channel *ch, uint8_t code, const struct endpoint *b,
    void *arg)
{
	(void)b;
	printf("outside %s: %u\n", outside_text[(intptr_t)arg], code);
	fflush(stdout);
	if (code == OPEN_OK)
		channel_close(ch, CHANNEL_RESET, "rogue done");
}

/* The client wrote on the accepted channel: ask for the outside legs. */
static void
rogue_datacb(struct bufferevent *bev, void *arg)
{
	struct channel *ch = arg;
	struct endpoint ep;
	char host[64], *slash;
	int i;

	evbuffer_drain(bufferevent_get_input(bev), (size_t)-1);
	if (answer != NULL) {
		bufferevent_write(bev, answer, strlen(answer));
		printf("answered\n");
		fflush(stdout);
	}
	if (outside_asked++ || sess == NULL)
		return;
	for (i = 0; i < noutside; i++) {
		ep = ch->ch_client;
		ep.ep_port = (uint16_t)outside_ports[i];
		if ((slash = strchr(outside_text[i], '/')) != NULL) {
			/* Another host than the client: a bounce. */
			snprintf(host, sizeof host, "%.*s",
			    (int)(slash - outside_text[i]), outside_text[i]);
			ep.ep_atyp = ATYP_IPV4;
			ep.ep_len = 4;
			if (inet_pton(AF_INET, host, ep.ep_addr) != 1)
				ep.ep_len = 0;
		}
		if (session_outside_open(sess, &ep, &ch->ch_client, ch->ch_id,
			rogue_outsidecb, (void *)(intptr_t)i) == NULL)
			printf("outside %s: not sent\n", outside_text[i]);
	}
}

/* The esp asks for a connection: join it to a pair we read. */
static void
rogue_opencb(struct session *s, struct channel *ch, const struct frame_open *o,
    void *arg)
{
	struct bufferevent *p[2];
	struct endpoint bound;

	(void)s;
	(void)o;
	(void)arg;
	memset(&bound, 0, sizeof bound);
	bufferevent_pair_new(base, 0, p);
	bufferevent_setcb(p[1], rogue_datacb, NULL, NULL, ch);
	bufferevent_enable(p[1], EV_READ | EV_WRITE);
	channel_accept(ch, p[0], &bound);
}

/* Send a LOGIN_REPLY with reference 0, from "CODE:LOGIN". */
static void
rogue_loginreply(const char *arg)
{
	struct frame_login_reply r;
	uint8_t buf[64];
	size_t n;

	memset(&r, 0, sizeof r);
	r.flr_legs = 1;
	r.flr_code = (uint8_t)atoi(arg);
	r.flr_login = (uint32_t)strtoul(strchr(arg, ':') + 1, NULL, 10);
	if ((n = frame_login_reply_encode(buf, sizeof buf, &r)) > 0)
		session_send_message(sess, FRAME_LOGIN_REPLY, buf, n);
	printf("sent loginreply %s\n", arg);
	fflush(stdout);
}

/* Send the next CONFIG, with "\n" turned into newlines. */
static void
rogue_tickcb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { tick_ms / 1000, (tick_ms % 1000) * 1000 };
	char *text, *p, *q;

	(void)fd;
	(void)what;
	(void)arg;
	if (sess == NULL)
		return;
	if (next_config >= nconfigs) {
		printf("done\n");
		fflush(stdout);
		event_base_loopexit(base,
		    &(struct timeval){
			flood_left || noutside || answer ? 20 : 5, 0 });
		return;
	}
	if (strncmp(configs[next_config], "loginreply=", 11) == 0) {
		rogue_loginreply(configs[next_config++] + 11);
		evtimer_add(tick, &tv);
		return;
	}
	if (configs[next_config][0] == '@') {
		FILE *f = fopen(configs[next_config] + 1, "r");
		size_t n;

		text = calloc(1, 1 << 17);
		n = f != NULL ? fread(text, 1, (1 << 17) - 1, f) : 0;
		if (f != NULL)
			fclose(f);
		session_send_config(sess, text, n);
		printf("sent config %d\n", ++next_config);
		fflush(stdout);
		free(text);
		evtimer_add(tick, &tv);
		return;
	}
	text = strdup(configs[next_config++]);
	for (p = q = text; *p != '\0'; p++) {
		if (p[0] == '\\' && (p[1] == 'n' || p[1] == 't')) {
			*q++ = p[1] == 'n' ? '\n' : '\t';
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
	if (flood_left > 0) {
		/* Read nothing from now on: the esp's PONGs pile up. */
		bufferevent_disable(sess_bev, EV_READ);
		rogue_floodcb(-1, 0, NULL);
	}
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
	.sc_closed = rogue_closedcb,
	.sc_open = rogue_opencb };

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
	sess_bev = bev;
	sess = session_new(base, bev, FRAME_ROLE_ISP, FRAME_ROLE_ESP, "esp",
	    &sp, &rogue_cb, NULL);
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
	configs = calloc((size_t)argc, sizeof *configs);
	for (int a = 3; a < argc; a++) {
		if (strncmp(argv[a], "tick=", 5) == 0)
			tick_ms = atoi(argv[a] + 5);
		else if (strncmp(argv[a], "pingflood=", 10) == 0)
			flood_left = (size_t)atoi(argv[a] + 10) << 20;
		else if (strncmp(argv[a], "answer=", 7) == 0) {
			char *p, *q;

			answer = strdup(argv[a] + 7);
			for (p = q = answer; *p != '\0'; p++) {
				if (p[0] == '\\' &&
				    (p[1] == 'r' || p[1] == 'n')) {
					*q++ = p[1] == 'n' ? '\n' : '\r';
					p++;
				} else
					*q++ = *p;
			}
			*q = '\0';
		} else if (strncmp(argv[a], "outside=", 8) == 0) {
			char *p = argv[a] + 8;

			while (*p != '\0' && noutside < 16) {
				size_t n = strcspn(p, ",");
				char *slash;

				outside_text[noutside] = strndup(p, n);
				slash = strchr(outside_text[noutside], '/');
				outside_ports[noutside++] =
				    atoi(slash != NULL ? slash + 1 : p);
				p += n;
				p += *p == ',';
			}
		} else
			configs[nconfigs++] = argv[a];
	}
	base = event_base_new();
	tick = evtimer_new(base, rogue_tickcb, NULL);
	flood_ev = evtimer_new(base, rogue_floodcb, NULL);
	connector_start(base, (struct sockaddr *)&ss, sl, 5000,
	    rogue_connectedcb, NULL);
	event_base_dispatch(base);
	if (sess != NULL)
		session_close(sess, "done");
	event_free(tick);
	event_free(flood_ev);
	free(configs);
	event_base_free(base);
	SSL_CTX_free(ctx);
	tls_conf_clear(&tc);
	return 0;
}
