/*
 * Announcements on scanned control channels, on the isp. Every channel to
 * a rule's service port is scanned, whoever the user; the user's policy
 * only decides whether an announcement is honoured. Whatever is refused
 * is neutralised (rewritten to port 0) and logged, never passed on.
 *
 * Server announcements (FTP 227/229) admit one expected connection from
 * the same client, as the same user, on the same session, to the server
 * itself (another host only where the rule says other_hosts = yes).
 * Client announcements (PORT, EPRT, DCC, rsh) open a reverse connection,
 * following the original design:
 *   1. the announcement is held in the stream;
 *   2. it must name the client itself (else: FTP bounce, refused);
 *   3. the esp connects to the announced endpoint (OUTSIDE_OPEN);
 *   4. the isp opens a single-use listener on its inside address;
 *   5. the announcement is rewritten to that listener and forwarded;
 *   6. when the peer the rule names connects (the server, or for DCC any
 *      address the user may reach), the two legs are joined.
 * Reverse openings are capped per control channel, per user and per
 * session ([isp] reverse_per_*).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

#include "addr.h"
#include "audit.h"
#include "isp.h"
#include "log.h"
#include "optag.h"
#include "scan.h"
#include "xmalloc.h"

#define REVERSE_KEY_MAX (FRAME_USER_MAX + INET6_ADDRSTRLEN + 24)

/* One scanned control channel. */
struct ctl {
	struct isp *c_isp;
	struct channel *c_ch;
	int c_honour;                     /* the user may use this rule file */
	uint64_t c_serial;                /* the session it came on */
	uint64_t c_owner;                 /* whose openings it announces */
	uint32_t c_login;                 /* an agent login's number, or 0 */
	uint64_t c_counter;               /* the control channel's OPEN's */
	struct sockaddr_storage c_server; /* the server, as connected */
	struct sockaddr_storage c_local;  /* our end toward the server */
	struct sockaddr_storage c_client; /* the client, as the esp saw it */
	unsigned c_npending;              /* reverse openings not yet joined */
	TAILQ_HEAD(, reverse) c_pending;  /* announcements held for them */
	TAILQ_HEAD(, reverse) c_owned;    /* all, until joined or freed */
};

/* One reverse connection being set up. */
struct reverse {
	struct isp *r_isp;
	struct ctl *r_ctl;   /* while the announcement is held; else NULL */
	struct ctl *r_owner; /* the control channel counting it, or NULL */
	struct sockaddr_storage r_server; /* the control connection's server */
	int r_accept;                     /* RULE_ACCEPT_* */
	char r_user[FRAME_USER_MAX + 1];
	char r_ukey[REVERSE_KEY_MAX]; /* whose reverse_per_user count */
	uint64_t r_serial;
	struct channel *r_data;
	struct evconnlistener *r_lis;
	struct event *r_timer;
	char r_desc[ADDR_STRLEN * 2];
	TAILQ_ENTRY(reverse) r_entry;     /* in r_ctl's c_pending */
	TAILQ_ENTRY(reverse) r_own_entry; /* in r_owner's c_owned */
};

/* How many reverse openings a user or a session has pending. */
struct reverse_count {
	char rc_key[REVERSE_KEY_MAX];
	unsigned rc_n;
	TAILQ_ENTRY(reverse_count) rc_entry;
};

static TAILQ_HEAD(, reverse_count) reverse_counts = TAILQ_HEAD_INITIALIZER(
    reverse_counts);

static void reverse_free(struct reverse *);

/* Add delta to the count of key; returns the count before. */
static unsigned
reverse_count(const char *key, int delta)
{
	struct reverse_count *rc;
	unsigned before;

	TAILQ_FOREACH(rc, &reverse_counts, rc_entry)
	if (strcmp(rc->rc_key, key) == 0)
		break;
	if (rc == NULL) {
		if (delta <= 0)
			return 0;
		rc = xcalloc(1, sizeof *rc);
		snprintf(rc->rc_key, sizeof rc->rc_key, "%s", key);
		TAILQ_INSERT_TAIL(&reverse_counts, rc, rc_entry);
	}
	before = rc->rc_n;
	rc->rc_n += (unsigned)delta;
	if (rc->rc_n == 0) {
		TAILQ_REMOVE(&reverse_counts, rc, rc_entry);
		free(rc);
	}
	return before;
}

/*
 * The key of a control channel's reverse_per_user count: the user, or
 * for a client without a login its address, so that anonymous clients
 * do not share one count.
 */
static void
reverse_user_key(const struct ctl *c, char *u, size_t ul)
{
	const struct sockaddr *sa = (const struct sockaddr *)&c->c_client;
	char host[INET6_ADDRSTRLEN] = "?";

	if (c->c_ch->ch_user[0] != '\0') {
		snprintf(u, ul, "user %s", c->c_ch->ch_user);
		return;
	}
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    host, sizeof host);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, host,
		    sizeof host);
	snprintf(u, ul, "anonymous %s", host);
}

/* The count key of a session. */
static void
reverse_session_key(uint64_t serial, char *s, size_t sl)
{
	snprintf(s, sl, "session %llu", (unsigned long long)serial);
}

/* Count a reverse opening in (1) or out (-1). */
static void
reverse_tally(struct reverse *r, int delta)
{
	char s[40];

	reverse_session_key(r->r_serial, s, sizeof s);
	reverse_count(r->r_ukey, delta);
	reverse_count(s, delta);
	if (r->r_owner == NULL)
		return;
	r->r_owner->c_npending += (unsigned)delta;
	if (delta > 0)
		TAILQ_INSERT_TAIL(&r->r_owner->c_owned, r, r_own_entry);
	else {
		TAILQ_REMOVE(&r->r_owner->c_owned, r, r_own_entry);
		r->r_owner = NULL;
	}
}

/* The control channel went away: orphan what is still being set up. */
static void
reverse_ctl_closed_body(struct channel *ch, void *arg)
{
	struct ctl *c = arg;
	struct reverse *r;

	(void)ch;
	while ((r = TAILQ_FIRST(&c->c_pending)) != NULL) {
		TAILQ_REMOVE(&c->c_pending, r, r_entry);
		r->r_ctl = NULL;
	}
	/* Openings still listening keep their user and session counts. */
	while ((r = TAILQ_FIRST(&c->c_owned)) != NULL) {
		TAILQ_REMOVE(&c->c_owned, r, r_own_entry);
		r->r_owner = NULL;
	}
	free(c);
}

/* reverse_ctl_closed_body, under the isp lock (it runs on the session's worker). */
static void
reverse_ctl_closed(struct channel *ch, void *arg)
{
	isp_lock();
	reverse_ctl_closed_body(ch, arg);
	isp_unlock();
}

/*
 * Neutralise the held announcement of a direction: rewritten to port 0,
 * so whoever acts on it fails. rx (the client's): our address toward the
 * server; else (the server's): the server's own address.
 */
static void
reverse_neutral(struct ctl *c, int rx)
{
	struct sockaddr_storage ss = rx ? c->c_local : c->c_server;

	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
	channel_announce_done(c->c_ch, rx, (struct sockaddr *)&ss);
}

/* Refuse an announcement: log why, and neutralise it. */
static void
reverse_refuse(struct ctl *c, int rx, const struct announce *an,
    const char *why)
{
	if (!channel_announce_quiet(c->c_ch))
		log_warnx("%s: refused announcement \"%s\": %s",
		    c->c_ch->ch_desc, an->an_text, why);
	audit_announce(c->c_ch, 0, an->an_text, "refused", why);
	reverse_neutral(c, rx);
}

/* Who the opening waits for, for logs. */
static const char *
reverse_who(const struct reverse *r)
{
	return r->r_accept == RULE_ACCEPT_SERVER ? "server" : "peer";
}

/* The one teardown path for a reverse setup. */
static void
reverse_free(struct reverse *r)
{
	if (r->r_ctl != NULL)
		TAILQ_REMOVE(&r->r_ctl->c_pending, r, r_entry);
	if (r->r_data != NULL)
		r->r_data->ch_closed = NULL;
	if (r->r_lis != NULL)
		evconnlistener_free(r->r_lis);
	if (r->r_timer != NULL)
		event_free(r->r_timer);
	reverse_tally(r, -1);
	free(r);
}

/* The data channel died before the peer connected. */
static void
reverse_data_closed_body(struct channel *ch, void *arg)
{
	struct reverse *r = arg;

	(void)ch;
	log_info("reverse %s: outside leg closed before the %s connected",
	    r->r_desc, reverse_who(r));
	r->r_data = NULL;
	reverse_free(r);
}

/* reverse_data_closed_body, under the isp lock (it runs on the session's worker). */
static void
reverse_data_closed(struct channel *ch, void *arg)
{
	isp_lock();
	reverse_data_closed_body(ch, arg);
	isp_unlock();
}

/* Nobody connected to the listener in time. */
static void
reverse_timeoutcb_body(evutil_socket_t fd, short what, void *arg)
{
	struct reverse *r = arg;
	struct channel *data = r->r_data;

	(void)fd;
	(void)what;
	log_info("reverse %s: no connection from the %s in time; closing",
	    r->r_desc, reverse_who(r));
	reverse_free(r);
	if (data != NULL)
		channel_close(data, CHANNEL_RESET, "nobody connected in time");
}

/* reverse_timeoutcb_body, under the isp lock (it runs on the session's worker). */
static void
reverse_timeoutcb(evutil_socket_t fd, short what, void *arg)
{
	isp_lock();
	reverse_timeoutcb_body(fd, what, arg);
	isp_unlock();
}

/*
 * The esp did not answer the OUTSIDE_OPEN within listen_timeout: give up
 * on it as on a refusal, so that a silent esp holds neither the client's
 * announcement nor a place under reverse_per_*.
 */
static void
reverse_asktimeoutcb_body(evutil_socket_t fd, short what, void *arg)
{
	struct reverse *r = arg;
	struct channel *data = r->r_data;
	struct ctl *c = r->r_ctl;

	(void)fd;
	(void)what;
	log_warnx("reverse %s: the esp did not answer within %d ms; the "
		  "peer's connection will fail",
	    r->r_desc, r->r_isp->i_listen_ms);
	r->r_data = NULL;
	reverse_free(r);
	if (data != NULL) {
		data->ch_result = NULL;
		channel_close(data, CHANNEL_RESET, "the esp did not answer");
	}
	if (c != NULL)
		reverse_neutral(c, 1);
}

/* reverse_asktimeoutcb_body, under the isp lock (on the session's worker). */
static void
reverse_asktimeoutcb(evutil_socket_t fd, short what, void *arg)
{
	isp_lock();
	reverse_asktimeoutcb_body(fd, what, arg);
	isp_unlock();
}

/* Do two addresses name the same host? (IPv4-mapped as IPv4.) */
static int
reverse_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	uint8_t x[16] = { 0 }, y[16] = { 0 };
	const struct sockaddr *sa[2] = { a, b };
	uint8_t *out[2] = { x, y };
	int i;

	for (i = 0; i < 2; i++) {
		if (sa[i]->sa_family == AF_INET) {
			out[i][10] = out[i][11] = 0xff;
			memcpy(out[i] + 12,
			    &((const struct sockaddr_in *)sa[i])->sin_addr, 4);
		} else if (sa[i]->sa_family == AF_INET6)
			memcpy(out[i],
			    &((const struct sockaddr_in6 *)sa[i])->sin6_addr,
			    16);
		else
			return 0;
	}
	return memcmp(x, y, 16) == 0;
}

/* May this peer take the opening? The rule says who: server, inside. */
static int
reverse_may_accept(struct reverse *r, const struct sockaddr *peer)
{
	const struct allow *al;

	if ((r->r_accept & RULE_ACCEPT_SERVER) &&
	    reverse_same_host(peer, (struct sockaddr *)&r->r_server))
		return 1;
	return (r->r_accept & RULE_ACCEPT_INSIDE) &&
	    (al = policy_allow(&r->r_isp->i_policy, r->r_user)) != NULL &&
	    allow_match_host(al, peer);
}

/* A connection on the single-use listener: only the peer the rule names. */
static void
reverse_acceptcb_body(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct reverse *r = arg;
	struct channel *data = r->r_data;
	struct bufferevent *bev;
	static struct log_limit refused;
	char who[ADDR_STRLEN];
	struct linger l = { 1, 0 };

	(void)lis;
	(void)salen;
	addr_str(sa, who, sizeof who);
	if (!reverse_may_accept(r, sa)) {
		/* Anyone may connect, again and again: a line a second. */
		log_warnx_limited(&refused,
		    "reverse %s: refused a connection from %s: %s", r->r_desc,
		    who,
		    r->r_accept & RULE_ACCEPT_INSIDE
			? "not an address the user may reach"
			: "not the server of the control connection");
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
		close(fd);
		return;
	}
	bev = bufferevent_socket_new(evconnlistener_get_base(lis), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	channel_describe(data, "channel %u reverse %s <- %s", data->ch_id,
	    r->r_desc, who);
	log_debug("%s joined", data->ch_desc);
	reverse_free(r);
	channel_grant(data);
	channel_attach(data, bev);
}

/* reverse_acceptcb_body, under the isp lock (it runs on the session's worker). */
static void
reverse_acceptcb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	isp_lock();
	reverse_acceptcb_body(lis, fd, sa, salen, arg);
	isp_unlock();
}

/* Open the listener on our inside address; 0 or -1. */
static int
reverse_listen(struct reverse *r, struct sockaddr_storage *ss)
{
	struct isp *i = r->r_isp;
	socklen_t len;
	struct timeval tv;

	*ss =
	    i->i_data_addr.ss_family != 0 ? i->i_data_addr : r->r_ctl->c_local;
	if (ss->ss_family == AF_INET) {
		((struct sockaddr_in *)ss)->sin_port = 0;
		len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)ss)->sin6_port = 0;
		len = sizeof(struct sockaddr_in6);
	}
	r->r_lis = evconnlistener_new_bind(session_base(
					       r->r_ctl->c_ch->ch_sess),
	    reverse_acceptcb, r, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    4, (struct sockaddr *)ss, (int)len);
	if (r->r_lis == NULL) {
		log_warn("reverse %s: cannot listen", r->r_desc);
		return -1;
	}
	if (getsockname(evconnlistener_get_fd(r->r_lis), (struct sockaddr *)ss,
		&len) != 0)
		return -1;
	r->r_timer = evtimer_new(evconnlistener_get_base(r->r_lis),
	    reverse_timeoutcb, r);
	tv.tv_sec = i->i_listen_ms / 1000;
	tv.tv_usec = (i->i_listen_ms % 1000) * 1000;
	evtimer_add(r->r_timer, &tv);
	return 0;
}

/* The esp reached (or did not reach) the client's announced endpoint. */
static void
reverse_resultcb_body(struct channel *data, uint8_t code,
    const struct endpoint *bound, void *arg)
{
	struct reverse *r = arg;
	struct ctl *c = r->r_ctl;
	struct sockaddr_storage ss;
	char at[ADDR_STRLEN];

	(void)bound;
	if (r->r_timer != NULL) { /* the wait for this answer */
		event_free(r->r_timer);
		r->r_timer = NULL;
	}
	if (c == NULL) {
		/* The control channel is gone; nothing to rewrite. */
		r->r_data = NULL;
		reverse_free(r);
		if (code == OPEN_OK)
			channel_close(data, CHANNEL_RESET, "control closed");
		return;
	}
	if (code != OPEN_OK) {
		log_info("reverse %s: the esp could not connect: %s; the "
			 "peer's connection will fail",
		    r->r_desc, frame_open_code_str(code));
		r->r_data = NULL;
		reverse_free(r);
		reverse_neutral(c, 1);
		return;
	}
	if (reverse_listen(r, &ss) != 0) {
		r->r_data = NULL;
		reverse_free(r);
		channel_close(data, CHANNEL_RESET, "no listener");
		reverse_neutral(c, 1);
		return;
	}
	data->ch_closed = reverse_data_closed;
	data->ch_closed_arg = r;
	TAILQ_REMOVE(&c->c_pending, r, r_entry);
	r->r_ctl = NULL;
	log_info("reverse %s: listening on %s for the %s", r->r_desc,
	    addr_str((struct sockaddr *)&ss, at, sizeof at), reverse_who(r));
	channel_announce_done(c->c_ch, 1, (struct sockaddr *)&ss);
}

/* reverse_resultcb_body, under the isp lock (it runs on the session's worker). */
static void
reverse_resultcb(struct channel *data, uint8_t code,
    const struct endpoint *bound, void *arg)
{
	isp_lock();
	reverse_resultcb_body(data, code, bound, arg);
	isp_unlock();
}

/* Why no more reverse openings may start here, or NULL. */
static const char *
reverse_over_limit(struct ctl *c)
{
	struct isp *i = c->c_isp;
	char u[REVERSE_KEY_MAX], s[40];

	reverse_user_key(c, u, sizeof u);
	reverse_session_key(c->c_serial, s, sizeof s);
	if (c->c_npending >= i->i_rev_per_channel)
		return "too many reverse openings on this control connection "
		       "([isp] reverse_per_channel)";
	if (reverse_count(u, 0) >= i->i_rev_per_user)
		return "too many reverse openings for this user ([isp] "
		       "reverse_per_user)";
	if (reverse_count(s, 0) >= i->i_rev_per_session)
		return "too many reverse openings on this session ([isp] "
		       "reverse_per_session)";
	return NULL;
}

/*
 * Send OUTSIDE_OPEN for the control channel's client. For a client
 * behind an agent it carries a tag under the agent's login, so the agent
 * connects only where this isp has approved.
 */
static struct channel *
reverse_ask(struct ctl *c, const struct endpoint *ep, struct reverse *r)
{
	struct frame_open o;

	memset(&o, 0, sizeof o);
	o.fo_dst = *ep;
	o.fo_client = c->c_ch->ch_client;
	o.fo_ref = c->c_ch->ch_id;
	if (c->c_login != 0) {
		if (agentauth_outside_tag(c->c_isp, c->c_serial, c->c_login,
			c->c_counter, ep, o.fo_secret) != 0)
			return NULL;
		o.fo_auth = OPEN_AUTH_TAG;
		o.fo_secret_len = OPTAG_LEN;
	}
	return session_open(c->c_ch->ch_sess, FRAME_OUTSIDE_OPEN, &o,
	    reverse_resultcb, r);
}

/* A client announced an endpoint: check it, then have the esp connect. */
static void
reverse_start(struct ctl *c, const struct announce *an)
{
	struct reverse *r;
	struct sockaddr_storage dst;
	struct endpoint ep;
	struct timeval tv;
	const char *why = NULL;
	char at[ADDR_STRLEN];

	announce_endpoint(an, &c->c_client, &dst);
	addr_str((struct sockaddr *)&dst, at, sizeof at);
	if (!policy_reverse_ok(&c->c_isp->i_policy, c->c_ch->ch_user)) {
		reverse_refuse(c, 1, an,
		    "reverse connections are not allowed for this user");
		return;
	}
	if (announce_check_origin(an, (struct sockaddr *)&c->c_client, &why) !=
	    0) {
		reverse_refuse(c, 1, an, why);
		return;
	}
	if ((why = reverse_over_limit(c)) != NULL) {
		reverse_refuse(c, 1, an, why);
		return;
	}
	r = xcalloc(1, sizeof *r);
	r->r_isp = c->c_isp;
	r->r_ctl = c;
	r->r_owner = c;
	r->r_server = c->c_server;
	r->r_accept = rule_kind_accept(an->an_kind);
	snprintf(r->r_user, sizeof r->r_user, "%s", c->c_ch->ch_user);
	reverse_user_key(c, r->r_ukey, sizeof r->r_ukey);
	r->r_serial = c->c_serial;
	reverse_tally(r, 1);
	snprintf(r->r_desc, sizeof r->r_desc, "%s for channel %u", at,
	    c->c_ch->ch_id);
	TAILQ_INSERT_TAIL(&c->c_pending, r, r_entry);
	addr_to_endpoint((struct sockaddr *)&dst, &ep);
	r->r_data = reverse_ask(c, &ep, r);
	if (r->r_data == NULL) {
		reverse_free(r);
		reverse_neutral(c, 1);
		return;
	}
	r->r_timer = evtimer_new(session_base(c->c_ch->ch_sess),
	    reverse_asktimeoutcb, r);
	tv.tv_sec = c->c_isp->i_listen_ms / 1000;
	tv.tv_usec = (c->c_isp->i_listen_ms % 1000) * 1000;
	evtimer_add(r->r_timer, &tv);
	log_info("reverse %s: asking the esp to connect", r->r_desc);
	audit_announce(c->c_ch, 0, an->an_text, "honoured",
	    "reverse connection asked");
}

/*
 * A server announced where the client is to connect: only the server
 * itself (unless the rule allows other hosts), at a port the rule
 * allows; the opening is for this client, user and session only.
 */
static void
reverse_expect(struct ctl *c, const struct announce *an)
{
	struct sockaddr_storage ep;
	const char *why = NULL;

	announce_endpoint(an, &c->c_server, &ep);
	if (!an->an_implied && !rule_kind_other_hosts(an->an_kind) &&
	    !reverse_same_host((struct sockaddr *)&ep,
		(struct sockaddr *)&c->c_server)) {
		reverse_refuse(c, 0, an,
		    "it names another host than the server");
		return;
	}
	if (announce_check_port(an, &why) != 0) {
		reverse_refuse(c, 0, an, why);
		return;
	}
	expect_add_from(&c->c_isp->i_expect, (struct sockaddr *)&c->c_client,
	    (struct sockaddr *)&ep, c->c_ch->ch_user, c->c_owner,
	    c->c_ch->ch_id);
	audit_announce(c->c_ch, 0, an->an_text, "honoured",
	    "one opening for the client");
	/* Written out as decoded: the client reads what was checked. */
	channel_announce_done(c->c_ch, 0, (struct sockaddr *)&ep);
}

/* A rule found an announcement on a control channel. */
static void
reverse_announcecb_body(struct channel *ch, int rx, const struct announce *an,
    void *arg)
{
	struct ctl *c = arg;

	(void)ch;
	if (an->an_suspect) {
		reverse_refuse(c, rx, an, an->an_why);
		return;
	}
	if (!c->c_honour) {
		reverse_refuse(c, rx, an,
		    "this rule file is not allowed for the user");
		return;
	}
	/* The rule loader pairs server-connects with client-to-server. */
	if (rule_kind_action(an->an_kind) == RULE_SERVER_CONNECTS && rx)
		reverse_start(c, an);
	else if (rule_kind_action(an->an_kind) == RULE_CLIENT_CONNECTS && !rx)
		reverse_expect(c, an);
	else
		reverse_refuse(c, rx, an, "announced in the wrong direction");
}

/* reverse_announcecb_body, under the isp lock (it runs on the session's worker). */
static void
reverse_announcecb(struct channel *ch, int rx, const struct announce *an,
    void *arg)
{
	isp_lock();
	reverse_announcecb_body(ch, rx, an, arg);
	isp_unlock();
}

/*
 * Put the application's rules on a channel to a server (before it starts
 * relaying). fd is the connected server socket. honour: the user may use
 * these rules; if not, every announcement is refused.
 */
void
reverse_attach(struct isp *i, struct channel *ch, const struct rule_app *app,
    evutil_socket_t fd, int honour, uint32_t login, uint64_t counter)
{
	struct ctl *c = xcalloc(1, sizeof *c);
	socklen_t len;
	struct scan *rx = NULL, *tx = NULL;

	c->c_isp = i;
	c->c_ch = ch;
	c->c_honour = honour;
	c->c_serial = session_serial(ch->ch_sess);
	c->c_owner = c->c_serial ^ (uint64_t)login << 32;
	c->c_login = login;
	c->c_counter = counter;
	TAILQ_INIT(&c->c_pending);
	TAILQ_INIT(&c->c_owned);
	len = sizeof c->c_server;
	getpeername(fd, (struct sockaddr *)&c->c_server, &len);
	len = sizeof c->c_local;
	getsockname(fd, (struct sockaddr *)&c->c_local, &len);
	if (addr_from_endpoint(&ch->ch_client, &c->c_client, &len) != 0)
		c->c_client.ss_family = AF_UNSPEC;
	if (rule_app_scans(app, RULE_C2S))
		rx = scan_new(app, RULE_C2S, i->i_holdback);
	if (rule_app_scans(app, RULE_S2C))
		tx = scan_new(app, RULE_S2C, i->i_holdback);
	channel_set_scan(ch, rx, tx, reverse_announcecb, c);
	snprintf(ch->ch_rule, sizeof ch->ch_rule, "%s", rule_app_name(app));
	ch->ch_closed = reverse_ctl_closed;
	ch->ch_closed_arg = c;
	log_debug("channel %u: scanned by rules \"%s\"%s", ch->ch_id,
	    rule_app_name(app), honour ? "" : " (none honoured for this user)");
}
