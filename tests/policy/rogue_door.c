/*
 * A rogue esp for client agents (tests/policy/t-rogue-door.sh). It
 * relays one agent's password login to the isp and the agent's first
 * OPEN, as a real esp would, then tries to reuse what it saw: the same
 * OPEN again, its tag for another destination, and, once the isp has
 * dialled again, the OPEN and the whole login exchange on the new
 * session. It also asks the agent for reverse connections (OUTSIDE_OPEN)
 * no isp approved: without a tag, with a forged one, to another host,
 * and for a channel that is not there. One line per attempt:
 * "NAME: RESULT".
 *
 * usage: rogue_door CONF SESSION_PORT CLIENT_PORT CERT KEY OTHER_PORT
 *
 * With ROGUE_FLOOD=N in the environment it only floods the isp with N
 * first login steps at once, prints "flood: C continue, B busy" when all
 * are answered, and exits. ROGUE_FLOOD_KIND says which steps: scram
 * (default; SCRAM first messages for alice), garbage (N malformed SCRAM
 * first steps and N second steps without a first) or cert (N malformed
 * certificate first steps); then ", D denied" follows.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/rand.h>

#include "conf.h"
#include "end.h"
#include "log.h"
#include "optag.h"
#include "session.h"
#include "tls.h"

static struct event_base *base;
static SSL_CTX *isp_ctx, *door_ctx;
static struct tls_conf tc;
static struct session_params sp;
static struct session *isp, *agent;
static int isp_sessions;
static uint16_t other_port;
static uint8_t step1[FRAME_LOGIN_MSG_MAX], step2[FRAME_LOGIN_MSG_MAX];
static size_t step1_len, step2_len;
static uint32_t login_id;
static struct frame_open saved; /* the first OPEN as the isp got it */
static int have_saved, replaying;
static int flood, flood_cont, flood_busy, flood_denied, flood_want;
static const char *flood_kind = "scram";
static uint8_t login_method = AUTH_SCRAM;

/* Print one result. */
static void
say(const char *what, const char *result)
{
	printf("%s: %s\n", what, result);
	fflush(stdout);
}

/* Send a LOGIN step to the isp. */
static void
to_isp(uint32_t ref, uint8_t step, const uint8_t *msg, size_t len)
{
	struct frame_login fl;
	uint8_t buf[FRAME_LOGIN_MSG_MAX + 64];
	size_t n;

	memset(&fl, 0, sizeof fl);
	fl.fl_ref = ref;
	fl.fl_method = login_method;
	fl.fl_step = step;
	fl.fl_client.ep_atyp = ATYP_IPV4;
	fl.fl_client.ep_len = 4;
	fl.fl_client.ep_addr[0] = 127;
	fl.fl_client.ep_addr[3] = 1;
	fl.fl_msg = msg;
	fl.fl_msglen = len;
	n = frame_login_encode(buf, sizeof buf, &fl);
	session_send_message(isp, FRAME_LOGIN, buf, n);
}

/* The result of an OPEN or OUTSIDE_OPEN we made up. */
static void
replay_resultcb(struct channel *ch, uint8_t code, const struct endpoint *b,
    void *arg)
{
	char buf[16];

	(void)b;
	snprintf(buf, sizeof buf, "%u", code);
	say(arg, buf);
	if (code == OPEN_OK)
		channel_close(ch, CHANNEL_RESET, "rogue done");
}

/* Ask the isp for the saved OPEN again, maybe to another port. */
static void
replay_open(const char *name, uint16_t port)
{
	struct frame_open o = saved;

	if (port != 0)
		o.fo_dst.ep_port = port;
	if (session_open(isp, FRAME_OPEN, &o, replay_resultcb, (void *)name) ==
	    NULL)
		say(name, "not sent");
}

/* Later: drop the isp's session, so it dials again. */
static void
reconnectcb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	session_close(isp, "rogue wants a new session");
}

/* Ask the agent to connect to ip:other_port for its channel ref. */
static void
try_outside(const char *name, uint32_t ref, const char *ip, int tag)
{
	struct frame_open ao;

	memset(&ao, 0, sizeof ao);
	ao.fo_dst.ep_atyp = ATYP_IPV4;
	ao.fo_dst.ep_len = 4;
	inet_pton(AF_INET, ip, ao.fo_dst.ep_addr);
	ao.fo_dst.ep_port = other_port;
	ao.fo_client = ao.fo_dst;
	ao.fo_ref = ref;
	if (tag) {
		ao.fo_auth = OPEN_AUTH_TAG;
		ao.fo_secret_len = OPTAG_LEN;
		RAND_bytes(ao.fo_secret, OPTAG_LEN);
	}
	if (session_open(agent, FRAME_OUTSIDE_OPEN, &ao, replay_resultcb,
		(void *)name) == NULL)
		say(name, "not sent");
}

/* The isp answered the agent's own OPEN: relay it, then try the rest. */
static void
first_resultcb(struct channel *to, uint8_t code, const struct endpoint *b,
    void *arg)
{
	struct channel *from = arg;
	struct timeval tv = { 1, 0 };
	char buf[16];

	snprintf(buf, sizeof buf, "%u", code);
	say("relayed open", buf);
	from->ch_result = NULL;
	if (code != OPEN_OK) {
		channel_refuse(from, code);
		return;
	}
	channel_answer(from, OPEN_OK, b);
	end_link(from, to);
	replay_open("replayed open", 0);
	replay_open("changed destination", other_port);
	try_outside("outside without a tag", from->ch_id, "127.0.0.1", 0);
	try_outside("outside with a forged tag", from->ch_id, "127.0.0.1", 1);
	try_outside("outside to another host", from->ch_id, "127.0.0.2", 1);
	try_outside("outside for no channel", from->ch_id + 1000, "127.0.0.1",
	    1);
	event_base_once(base, -1, EV_TIMEOUT, reconnectcb, NULL, &tv);
}

/* The agent's OPEN: to the isp with the tag of leg 0, as an esp does. */
static void
agent_open(struct session *s, struct channel *ch, const struct frame_open *o,
    void *arg)
{
	struct optag_legs legs;
	struct frame_open io;
	const uint8_t *tag;

	(void)s;
	(void)arg;
	if (have_saved || o->fo_auth != OPEN_AUTH_TAG ||
	    optag_legs_decode(o->fo_secret, o->fo_secret_len, &legs) != 0 ||
	    (tag = optag_legs_find(&legs, 0)) == NULL) {
		channel_refuse(ch, OPEN_FAILURE);
		return;
	}
	memset(&io, 0, sizeof io);
	io.fo_dst = o->fo_dst;
	io.fo_client = o->fo_client;
	snprintf(io.fo_user, sizeof io.fo_user, "%s", o->fo_user);
	io.fo_auth = OPEN_AUTH_TAG;
	optag_isp_encode(login_id, legs.ol_counter, tag, io.fo_secret);
	io.fo_secret_len = OPTAG_ISP_LEN;
	saved = io;
	have_saved = 1;
	if (session_open(isp, FRAME_OPEN, &io, first_resultcb, ch) == NULL)
		channel_refuse(ch, OPEN_NET_UNREACH);
}

/* The agent's LOGIN: record it and pass it on. */
static void
agent_message(struct session *s, uint8_t type, const uint8_t *p, size_t len,
    void *arg)
{
	struct frame_login fl;

	(void)s;
	(void)arg;
	if (type != FRAME_LOGIN || frame_login_decode(p, len, &fl) != FRAME_OK)
		return;
	if (fl.fl_step == 1) {
		memcpy(step1, fl.fl_msg, fl.fl_msglen);
		step1_len = fl.fl_msglen;
	} else {
		memcpy(step2, fl.fl_msg, fl.fl_msglen);
		step2_len = fl.fl_msglen;
	}
	to_isp(100, fl.fl_step, fl.fl_msg, fl.fl_msglen);
}

static const struct session_cb agent_cb = { .sc_open = agent_open,
	.sc_message = agent_message };

/* The isp's LOGIN_REPLY: to the agent, or the end of the replay. */
static void
isp_message(struct session *s, uint8_t type, const uint8_t *p, size_t len,
    void *arg)
{
	struct frame_login_reply r;
	uint8_t buf[FRAME_LOGIN_MSG_MAX + 64];
	size_t n;

	(void)s;
	(void)arg;
	if (type != FRAME_LOGIN_REPLY ||
	    frame_login_reply_decode(p, len, &r) != FRAME_OK)
		return;
	if (flood > 0) {
		flood_cont += r.flr_code == LOGIN_CONTINUE;
		flood_busy += r.flr_code == LOGIN_BUSY;
		flood_denied += r.flr_code == LOGIN_DENIED;
		if (flood_cont + flood_busy + flood_denied < flood_want)
			return;
		if (strcmp(flood_kind, "scram") == 0)
			printf("flood: %d continue, %d busy\n", flood_cont,
			    flood_busy);
		else
			printf("flood: %d continue, %d busy, %d denied\n",
			    flood_cont, flood_busy, flood_denied);
		fflush(stdout);
		event_base_loopexit(base, NULL);
		return;
	}
	if (replaying) {
		if (r.flr_code == LOGIN_CONTINUE) {
			to_isp(200, 2, step2, step2_len);
			return;
		}
		say("replayed login",
		    r.flr_code == LOGIN_ACCEPTED ? "accepted" : "denied");
		event_base_loopexit(base, NULL);
		return;
	}
	if (r.flr_code == LOGIN_ACCEPTED)
		login_id = r.flr_login;
	r.flr_ref = 1; /* the agent's */
	n = frame_login_reply_encode(buf, sizeof buf, &r);
	session_send_message(agent, FRAME_LOGIN_REPLY, buf, n);
}

/* The isp's session is up: the second time, replay. */
static void
isp_up(struct session *s, void *arg)
{
	char first[64];
	int i;

	(void)s;
	(void)arg;
	flood_want = flood;
	if (strcmp(flood_kind, "cert") == 0)
		login_method = AUTH_CERT;
	for (i = 0; i < flood; i++) {
		if (strcmp(flood_kind, "scram") == 0)
			snprintf(first, sizeof first,
			    "n,,n=alice,r=floodfloodflood%05d", i);
		else
			snprintf(first, sizeof first, "garbage %05d", i);
		to_isp(1000 + (uint32_t)i, 1, (const uint8_t *)first,
		    strlen(first));
		if (strcmp(flood_kind, "garbage") == 0) {
			to_isp(100000 + (uint32_t)i, 2, (const uint8_t *)first,
			    strlen(first));
			flood_want++;
		}
	}
	if (flood > 0 || ++isp_sessions < 2)
		return;
	replay_open("second session open", 0);
	replaying = 1;
	to_isp(200, 1, step1, step1_len);
}

/* The isp's session ended. */
static void
isp_closed(struct session *s, const char *why, void *arg)
{
	(void)arg;
	(void)why;
	if (s == isp)
		isp = NULL;
}

static const struct session_cb isp_cb = { .sc_up = isp_up,
	.sc_closed = isp_closed,
	.sc_message = isp_message };

/* A connection on either door. */
static void
acceptcb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
    int len, void *arg)
{
	struct bufferevent *bev;
	int door = arg != NULL;

	(void)lis;
	(void)sa;
	(void)len;
	bev = bufferevent_openssl_socket_new(base, fd,
	    SSL_new(door ? door_ctx : isp_ctx), BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (door) {
		agent = session_new(base, bev, FRAME_ROLE_ESP, FRAME_ROLE_AGENT,
		    "agent", &sp, &agent_cb, NULL);
		session_start(agent);
	} else {
		isp = session_new(base, bev, FRAME_ROLE_ESP, FRAME_ROLE_ISP,
		    "isp", &sp, &isp_cb, NULL);
		session_start(isp);
	}
}

/* A listener on a loopback port. */
static struct evconnlistener *
listen_on(const char *port, void *door)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)atoi(port));
	return evconnlistener_new_bind(base, acceptcb, door,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof sin);
}

int
main(int argc, char **argv)
{
	struct conf *c;
	char *cause = NULL;

	if (argc != 7) {
		fprintf(stderr,
		    "usage: rogue_door CONF SESSION_PORT "
		    "CLIENT_PORT CERT KEY OTHER_PORT\n");
		return 2;
	}
	log_init("rogue", 0, 0);
	if ((c = conf_load(argv[1], &cause)) == NULL ||
	    tls_conf_load(c, &tc, TLS_ROLE_ESP, &cause) != 0 ||
	    session_conf_load(c, &sp, &cause) != 0 ||
	    (isp_ctx = tls_ctx_new(&tc, &cause)) == NULL ||
	    (door_ctx = tls_door_ctx_new(argv[4], argv[5], &cause)) == NULL) {
		fprintf(stderr, "rogue: %s\n", cause);
		return 2;
	}
	conf_free(c);
	other_port = (uint16_t)atoi(argv[6]);
	if (getenv("ROGUE_FLOOD") != NULL)
		flood = atoi(getenv("ROGUE_FLOOD"));
	if (getenv("ROGUE_FLOOD_KIND") != NULL)
		flood_kind = getenv("ROGUE_FLOOD_KIND");
	base = event_base_new();
	if (listen_on(argv[2], NULL) == NULL ||
	    listen_on(argv[3], (void *)1) == NULL) {
		perror("rogue: listen");
		return 2;
	}
	printf("listening\n");
	fflush(stdout);
	event_base_dispatch(base);
	return 0;
}
