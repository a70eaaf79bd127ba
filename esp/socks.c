/*
 * The esp's SOCKS5 front door (RFC 1928, CONNECT only). A client's request
 * becomes an OPEN on the session; the reply waits for the isp's result so
 * the client sees the real outcome of the inside connect. Then the client
 * socket is handed to the channel and relayed.
 */
#include "socks.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/time.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include <openssl/crypto.h>

#include "addr.h"
#include "audit.h"
#include "escape.h"
#include "esp.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

#define SOCKS_VERSION   5
#define SOCKS_MAX_INPUT 1024 /* no handshake message is longer */

enum socks_state {
	SOCKS_GREETING, /* waiting for the method list */
	SOCKS_AUTH,     /* waiting for the RFC 1929 login */
	SOCKS_LOGIN,    /* the isps are checking it */
	SOCKS_REQUEST,  /* waiting for the CONNECT request */
	SOCKS_WAIT,     /* OPEN sent, waiting for the isp */
	SOCKS_CLOSING   /* failure reply queued; close once flushed */
};

struct socks_client {
	struct esp *sc_esp;
	struct bufferevent *sc_bev;
	struct event *sc_timer;
	enum socks_state sc_state;
	struct channel *sc_ch;
	struct esp_link *sc_link; /* the isp asked, while waiting */
	struct endpoint sc_client;
	struct login *sc_login;
	char sc_user[FRAME_USER_MAX + 1];  /* "" anonymous */
	uint8_t sc_pass[FRAME_SECRET_MAX]; /* until the request is sent */
	size_t sc_passlen;
	struct sockaddr_storage sc_sa;
	uint8_t sc_key[16]; /* its source, as e_conns counts it */
	int sc_placed;      /* holds a place there */
	struct endpoint sc_dst;
	char sc_addr[ADDR_STRLEN];
	TAILQ_ENTRY(socks_client) sc_entry;
};

static void socks_readcb(struct bufferevent *, void *);
static void socks_eventcb(struct bufferevent *, short, void *);
static void socks_timercb(evutil_socket_t, short, void *);
static void socks_close_after_reply(struct socks_client *);

/* The key a client's source is counted by, from its address. */
static void
socks_key(const struct endpoint *ep, uint8_t key[16])
{
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(key, 0, 16);
	if (addr_from_endpoint(ep, &ss, &sl) == 0)
		ratelimit_key((struct sockaddr *)&ss, key);
}

/* A client's channel ended: its source's place is free again. */
static void
socks_release(struct channel *ch, void *arg)
{
	struct esp *e = arg;
	uint8_t key[16];

	socks_key(&ch->ch_client, key);
	srccount_release(e->e_conns, key);
}

/* Accept a client on the SOCKS door. */
void
socks_accept(struct esp *e, evutil_socket_t fd, const struct sockaddr *sa,
    int salen)
{
	static struct log_limit full;
	struct socks_client *c;
	struct endpoint src;
	struct timeval tv;
	uint8_t key[16];
	char peer[ADDR_STRLEN];
	unsigned held;
	int one = 1;

	(void)salen;
	if (e->e_nclients >= e->e_max_clients) {
		log_warnx("socks: too many clients in handshake (%zu); "
			  "refusing one",
		    e->e_nclients);
		evutil_closesocket(fd);
		return;
	}
	addr_to_endpoint(sa, &src);
	socks_key(&src, key);
	if (srccount_take(e->e_conns, key, e->e_max_conns_per_source, &held) !=
	    0) {
		addr_str(sa, peer, sizeof peer);
		log_warnx_limited(&full,
		    "socks: client %s refused: %u connections from that "
		    "address ([esp] max_connections_per_source)",
		    peer, held);
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c = xcalloc(1, sizeof *c);
	c->sc_esp = e;
	addr_str(sa, c->sc_addr, sizeof c->sc_addr);
	c->sc_client = src;
	memcpy(c->sc_key, key, sizeof c->sc_key);
	c->sc_placed = 1;
	memcpy(&c->sc_sa, sa,
	    sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
				      : sizeof(struct sockaddr_in));
	c->sc_bev =
	    bufferevent_socket_new(e->e_base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->sc_timer = evtimer_new(e->e_base, socks_timercb, c);
	tv.tv_sec = e->e_socks_timeout_ms / 1000;
	tv.tv_usec = (e->e_socks_timeout_ms % 1000) * 1000;
	evtimer_add(c->sc_timer, &tv);
	bufferevent_setcb(c->sc_bev, socks_readcb, NULL, socks_eventcb, c);
	bufferevent_setwatermark(c->sc_bev, EV_READ, 0, SOCKS_MAX_INPUT);
	/* Answers go out by socks_flush; EV_WRITE only for what is left. */
	bufferevent_disable(c->sc_bev, EV_WRITE);
	bufferevent_enable(c->sc_bev, EV_READ);
	TAILQ_INSERT_TAIL(&e->e_clients, c, sc_entry);
	e->e_nclients++;
	log_debug("socks: client %s connected", c->sc_addr);
}

/* The one teardown path for a client still in its handshake. */
void
socks_client_free(struct socks_client *c)
{
	struct channel *ch = c->sc_ch;

	OPENSSL_cleanse(c->sc_pass, sizeof c->sc_pass);
	login_cancel(c->sc_login);
	c->sc_login = NULL;
	if (ch != NULL) {
		c->sc_ch = NULL;
		ch->ch_result = NULL;
		channel_close(ch, CHANNEL_RESET,
		    "client left before the reply");
	}
	TAILQ_REMOVE(&c->sc_esp->e_clients, c, sc_entry);
	c->sc_esp->e_nclients--;
	if (c->sc_placed)
		srccount_release(c->sc_esp->e_conns, c->sc_key);
	if (c->sc_bev != NULL)
		bufferevent_free(c->sc_bev);
	event_free(c->sc_timer);
	free(c);
}

/* Output flushed after a failure reply: now close. */
static void
socks_closing_writecb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	socks_client_free(arg);
}

/*
 * Write the answers queued, now: no write event to arm and disarm for a
 * few bytes. What the socket does not take waits for EV_WRITE. Returns
 * the bytes left.
 */
static size_t
socks_flush(struct socks_client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->sc_bev);

	/* A socket bufferevent keeps its output frozen for anyone else. */
	if (evbuffer_get_length(out) > 0) {
		evbuffer_unfreeze(out, 1);
		evbuffer_write(out, bufferevent_getfd(c->sc_bev));
		evbuffer_freeze(out, 1);
	}
	if (evbuffer_get_length(out) == 0)
		return 0;
	bufferevent_enable(c->sc_bev, EV_WRITE);
	return evbuffer_get_length(out);
}

/*
 * A client that sent its next step already (pipelining, RFC 1928) does
 * not wait for this answer: hold it back, to go out in one write with
 * the next (at the latest the request's reply).
 */
static void
socks_hold(struct socks_client *c, struct evbuffer *in)
{
	if (evbuffer_get_length(in) == 0)
		socks_flush(c);
}

/* Send a reply; on failure, close once it is written. */
static void
socks_reply(struct socks_client *c, uint8_t code, const struct endpoint *bound)
{
	uint8_t buf[4 + 16 + 2] = { SOCKS_VERSION, code, 0, ATYP_IPV4 };
	size_t n = 4;

	if (bound != NULL && bound->ep_atyp == ATYP_IPV6) {
		buf[3] = ATYP_IPV6;
		memcpy(buf + 4, bound->ep_addr, 16);
		n += 16;
	} else {
		if (bound != NULL && bound->ep_atyp == ATYP_IPV4)
			memcpy(buf + 4, bound->ep_addr, 4);
		n += 4;
	}
	buf[n++] = bound != NULL ? bound->ep_port >> 8 : 0;
	buf[n++] = bound != NULL ? bound->ep_port & 0xff : 0;
	bufferevent_write(c->sc_bev, buf, n);
	if (code == OPEN_OK)
		socks_flush(c);
	else
		socks_close_after_reply(c);
}

/* The isp answered our OPEN (or the channel died first). */
static void
socks_resultcb(struct channel *ch, uint8_t code, const struct endpoint *bound,
    void *arg)
{
	struct socks_client *c = arg;
	char dst[ADDR_STRLEN];
	struct bufferevent *bev;

	c->sc_ch = NULL;
	endpoint_str(&c->sc_dst, dst, sizeof dst);
	if (code != OPEN_OK) {
		log_info("socks: %s -> %s: %s", c->sc_addr, dst,
		    frame_open_code_str(code));
		socks_reply(c, code, NULL);
		return;
	}
	channel_describe(ch, "channel %u %s -> %s", ch->ch_id, c->sc_addr, dst);
	log_debug("%s opened", ch->ch_desc);
	socks_reply(c, OPEN_OK, bound);
	outside_scan(c->sc_link, ch, NULL, 0);
	/* The source's place goes with the connection to the channel. */
	ch->ch_release = socks_release;
	ch->ch_release_arg = c->sc_esp;
	c->sc_placed = 0;
	bev = c->sc_bev;
	c->sc_bev = NULL;
	socks_client_free(c);
	channel_attach(ch, bev);
}

/* Close once the answers queued have been written (maybe now: c goes). */
static void
socks_close_after_reply(struct socks_client *c)
{
	c->sc_state = SOCKS_CLOSING;
	bufferevent_disable(c->sc_bev, EV_READ);
	if (socks_flush(c) == 0) {
		socks_client_free(c);
		return;
	}
	bufferevent_setcb(c->sc_bev, NULL, socks_closing_writecb, socks_eventcb,
	    c);
}

/*
 * Parse the method list and choose: username/password (RFC 1929) when
 * the isps have users and the client offers it, else no-auth when
 * anonymous clients are served. Returns 1 when consumed.
 */
static int
socks_greeting(struct socks_client *c, struct evbuffer *in)
{
	uint8_t *p, reply[2] = { SOCKS_VERSION, 0xff };
	size_t len = evbuffer_get_length(in);
	int users, anon;

	if (len < 2)
		return 0;
	p = evbuffer_pullup(in, 2);
	if (p[0] != SOCKS_VERSION) {
		log_info("socks: %s: not SOCKS5 (first byte 0x%02x); closing",
		    c->sc_addr, p[0]);
		socks_client_free(c);
		return -1;
	}
	if (len < 2 + (size_t)p[1])
		return 0;
	p = evbuffer_pullup(in, 2 + p[1]);
	esp_auth_modes(c->sc_esp, &users, &anon);
	if (users && memchr(p + 2, 0x02, p[1]) != NULL)
		reply[1] = 0x02;
	else if (anon && memchr(p + 2, 0x00, p[1]) != NULL)
		reply[1] = 0x00;
	evbuffer_drain(in, 2 + (size_t)p[1]);
	bufferevent_write(c->sc_bev, reply, 2);
	if (reply[1] == 0xff) {
		log_info("socks: %s: no acceptable authentication method%s",
		    c->sc_addr, users ? " (a login is required)" : "");
		audit_refusal(1, "no_auth_method", NULL, &c->sc_client,
		    &c->sc_dst, "no acceptable authentication method");
		socks_close_after_reply(c);
		return -1;
	}
	c->sc_state = reply[1] == 0x02 ? SOCKS_AUTH : SOCKS_REQUEST;
	socks_hold(c, in);
	return 1;
}

/*
 * Log a login refused by the limits: at most one line a second, with how
 * many there were, so a flood cannot flood the log too (the audit keeps
 * every one).
 */
static void
socks_log_limited(struct socks_client *c, const char *why)
{
	static struct log_limit limited;
	char name[300];

	log_warnx_limited(&limited,
	    "socks: %s: login failed for user \"%s\": %s", c->sc_addr,
	    esc_str(name, sizeof name, c->sc_user), why);
}

/* The isps answered the login. */
static void
socks_logincb(enum login_result r, const char *why, void *arg)
{
	struct socks_client *c = arg;
	uint8_t reply[2] = { 1, r == LOGIN_OK ? 0 : 1 };
	char name[300];

	c->sc_login = NULL;
	metrics_add2(M_LOGINS, "socks",
	    r == LOGIN_OK            ? "ok"
		: r == LOGIN_LIMITED ? "rate_limited"
				     : "refused",
	    1);
	bufferevent_write(c->sc_bev, reply, 2);
	if (r == LOGIN_LIMITED)
		socks_log_limited(c, why);
	else if (r != LOGIN_OK)
		log_warnx("socks: %s: login failed for user \"%s\"", c->sc_addr,
		    esc_str(name, sizeof name, c->sc_user));
	if (r != LOGIN_OK) {
		audit_refusal(1,
		    r == LOGIN_LIMITED ? "login_rate_limited" : "login_failed",
		    c->sc_user, &c->sc_client, &c->sc_dst,
		    r == LOGIN_LIMITED ? "login refused: rate limit"
				       : "login failed");
		OPENSSL_cleanse(c->sc_pass, sizeof c->sc_pass);
		socks_close_after_reply(c);
		return;
	}
	log_debug("socks: %s: user %s logged in", c->sc_addr,
	    esc_str(name, sizeof name, c->sc_user));
	c->sc_state = SOCKS_REQUEST;
	socks_hold(c, bufferevent_get_input(c->sc_bev));
	bufferevent_enable(c->sc_bev, EV_READ);
	/* A request may already wait in the buffer (sent ahead). */
	socks_readcb(c->sc_bev, c);
}

/* RFC 1929 username/password: the isps check it. Returns 1 when consumed. */
static int
socks_auth(struct socks_client *c, struct evbuffer *in)
{
	uint8_t *p, ulen, plen;
	size_t len = evbuffer_get_length(in);
	struct login *lg;

	if (len < 2)
		return 0;
	p = evbuffer_pullup(in, 2);
	if (p[0] != 1) {
		log_info("socks: %s: bad login version; closing", c->sc_addr);
		socks_client_free(c);
		return -1;
	}
	ulen = p[1];
	if (len < 2 + (size_t)ulen + 1)
		return 0;
	p = evbuffer_pullup(in, 2 + ulen + 1);
	plen = p[2 + ulen];
	if (len < 3 + (size_t)ulen + plen)
		return 0;
	p = evbuffer_pullup(in, 3 + ulen + plen);
	c->sc_state = SOCKS_LOGIN;
	bufferevent_disable(c->sc_bev, EV_READ);
	if (ulen == 0 || ulen > FRAME_USER_MAX || plen == 0 ||
	    memchr(p + 2, '\0', ulen) != NULL) {
		memcpy(c->sc_user, p + 2, ulen > FRAME_USER_MAX ? 0 : ulen);
		evbuffer_drain(in, 3 + (size_t)ulen + plen);
		socks_logincb(LOGIN_REFUSED, NULL, c);
		return -1;
	}
	memcpy(c->sc_user, p + 2, ulen);
	c->sc_user[ulen] = '\0';
	memcpy(c->sc_pass, p + 3 + ulen, plen);
	c->sc_passlen = plen;
	OPENSSL_cleanse(p + 3 + ulen, plen);
	evbuffer_drain(in, 3 + (size_t)ulen + plen);
	/* NULL means the answer came at once: c may be gone. */
	lg = login_start(c->sc_esp, (struct sockaddr *)&c->sc_sa, c->sc_user,
	    c->sc_pass, c->sc_passlen, socks_logincb, c);
	if (lg == NULL)
		return -1;
	c->sc_login = lg;
	return -1; /* socks_logincb goes on */
}

/* Parse the CONNECT request and send OPEN. Returns 1 when consumed. */
static int
socks_request(struct socks_client *c, struct evbuffer *in)
{
	struct esp *e = c->sc_esp;
	struct esp_link *l;
	size_t len = evbuffer_get_length(in), need;
	uint8_t *p, code, cmd;
	char dst[ADDR_STRLEN];

	if (len < 5)
		return 0;
	p = evbuffer_pullup(in, 5);
	if (p[0] != SOCKS_VERSION) {
		log_info("socks: %s: bad request version; closing", c->sc_addr);
		socks_client_free(c);
		return -1;
	}
	switch (p[3]) {
	case ATYP_IPV4:
		need = 4 + 4 + 2;
		break;
	case ATYP_IPV6:
		need = 4 + 16 + 2;
		break;
	case ATYP_NAME:
		need = 4 + 1 + (size_t)p[4] + 2;
		if (p[4] == 0) {
			socks_reply(c, OPEN_BAD_ADDRTYPE, NULL);
			return -1;
		}
		break;
	default:
		log_info("socks: %s: address type %u not supported", c->sc_addr,
		    p[3]);
		socks_reply(c, OPEN_BAD_ADDRTYPE, NULL);
		return -1;
	}
	if (len < need)
		return 0;
	p = evbuffer_pullup(in, (ssize_t)need);
	memset(&c->sc_dst, 0, sizeof c->sc_dst);
	c->sc_dst.ep_atyp = p[3];
	if (p[3] == ATYP_NAME) {
		c->sc_dst.ep_len = p[4];
		memcpy(c->sc_dst.ep_addr, p + 5, p[4]);
	} else {
		c->sc_dst.ep_len = p[3] == ATYP_IPV4 ? 4 : 16;
		memcpy(c->sc_dst.ep_addr, p + 4, c->sc_dst.ep_len);
	}
	c->sc_dst.ep_port = (uint16_t)(p[need - 2] << 8 | p[need - 1]);
	cmd = p[1];
	evbuffer_drain(in, need); /* p is invalid from here on */
	if (cmd != 1) {
		log_info("socks: %s: command %u not supported", c->sc_addr,
		    cmd);
		socks_reply(c, OPEN_BAD_COMMAND, NULL);
		return -1;
	}
	endpoint_str(&c->sc_dst, dst, sizeof dst);
	if (c->sc_dst.ep_atyp == ATYP_NAME && !endpoint_name_ok(&c->sc_dst)) {
		log_info("socks: %s -> %s: not a host name", c->sc_addr, dst);
		audit_refusal(1, "bad_host_name", c->sc_user, &c->sc_client,
		    &c->sc_dst, "not a host name");
		socks_reply(c, OPEN_BAD_ADDRTYPE, NULL);
		return -1;
	}
	l = esp_route(e, &c->sc_dst, &c->sc_client, c->sc_user, c->sc_pass,
	    c->sc_passlen, NULL, &code);
	if (l == NULL) {
		OPENSSL_cleanse(c->sc_pass, sizeof c->sc_pass);
		audit_refusal(1,
		    code == OPEN_NOT_ALLOWED ? "not_allowed" : "no_session",
		    c->sc_user, &c->sc_client, &c->sc_dst,
		    code == OPEN_NOT_ALLOWED ? "not allowed by policy"
					     : "no session to an isp");
		log_info("socks: %s -> %s: %s", c->sc_addr, dst,
		    code == OPEN_NOT_ALLOWED ? "not allowed by policy"
					     : "no session to an isp");
		socks_reply(c, code, NULL);
		return -1;
	}
	c->sc_link = l;
	/* The isp checks the password again: it never takes our word. */
	c->sc_ch = session_open_channel(l->el_sess, &c->sc_dst, &c->sc_client,
	    c->sc_user, c->sc_pass, c->sc_passlen, socks_resultcb, c);
	OPENSSL_cleanse(c->sc_pass, sizeof c->sc_pass);
	if (c->sc_ch == NULL) {
		socks_reply(c, OPEN_NET_UNREACH, NULL);
		return -1;
	}
	c->sc_ch->ch_parent = e->e_parent;
	c->sc_state = SOCKS_WAIT;
	evtimer_add(c->sc_timer, &e->e_open_timeout);
	/* Bytes sent ahead of the reply wait in the buffer for the channel. */
	bufferevent_disable(c->sc_bev, EV_READ);
	log_debug("socks: %s -> %s: open sent as channel %u", c->sc_addr, dst,
	    c->sc_ch->ch_id);
	return 1;
}

/* Drive the handshake as bytes arrive. */
static void
socks_readcb(struct bufferevent *bev, void *arg)
{
	struct socks_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	int r = 1;

	while (r == 1) {
		if (c->sc_state == SOCKS_GREETING)
			r = socks_greeting(c, in);
		else if (c->sc_state == SOCKS_AUTH)
			r = socks_auth(c, in);
		else if (c->sc_state == SOCKS_REQUEST)
			r = socks_request(c, in);
		else
			return;
	}
	if (r == 0 && evbuffer_get_length(in) >= SOCKS_MAX_INPUT) {
		log_info("socks: %s: oversized handshake; closing", c->sc_addr);
		socks_client_free(c);
	}
}

/* EOF or error during the handshake. */
static void
socks_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct socks_client *c = arg;

	(void)bev;
	(void)what;
	log_debug("socks: %s: closed during handshake", c->sc_addr);
	socks_client_free(c);
}

/* The handshake took too long. */
static void
socks_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct socks_client *c = arg;

	(void)fd;
	(void)what;
	if (c->sc_state == SOCKS_WAIT) {
		/* The isp has its own connect timeout; report it as ours. */
		log_info("socks: %s: no answer from the isp in time",
		    c->sc_addr);
		if (c->sc_ch != NULL) {
			struct channel *ch = c->sc_ch;

			c->sc_ch = NULL;
			ch->ch_result = NULL;
			channel_close(ch, CHANNEL_RESET, "open timed out");
		}
		socks_reply(c, OPEN_TIMEOUT, NULL);
		return;
	}
	log_info("socks: %s: handshake timed out; closing", c->sc_addr);
	socks_client_free(c);
}
