/*
 * The agent's local door: programs under sockhook connect here, on
 * loopback, and speak SOCKS5 with the agent's token as their password
 * (from the state file only the user can read). Each request becomes an
 * OPEN on the session to the esp, tagged under the login, and the answer
 * is the isp's. The door also serves the isp's reverse connections
 * (OUTSIDE_OPEN): only to the program that announced, on this host, and
 * only with a tag from an isp the user logged in to.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/crypto.h>

#include "addr.h"
#include "agent.h"
#include "connector.h"
#include "log.h"
#include "procnet.h"
#include "sockdiag.h"
#include "socks5.h"
#include "xmalloc.h"

#define LOCAL_MAX_HANDSHAKES 256
#define LOCAL_HANDSHAKE_MS   10000
#define LOCAL_MAX_INPUT      1024
#define LOCAL_CONNECT_MS     10000
#define LOCAL_MAX_REVERSE    16 /* reverse tags kept per control channel */

enum local_state {
	LOCAL_GREETING,
	LOCAL_LOGIN,
	LOCAL_REQUEST,
	LOCAL_WAIT,
	LOCAL_CLOSING
};

/* A program on the local door, until its channel is open. */
struct local {
	struct agent *l_agent;
	struct bufferevent *l_bev;
	struct event *l_timer;
	struct event *l_gone; /* waiting for the answer: the program closed */
	enum local_state l_state;
	struct channel *l_ch;
	struct endpoint l_client; /* the program, as it connected */
	char l_addr[ADDR_STRLEN];
	TAILQ_ENTRY(local) l_entry;
};

/* What the agent keeps of an open channel: for reverse connections. */
struct local_chan {
	uint64_t lc_counter;     /* its OPEN's */
	struct endpoint lc_door; /* the door, as the program connected to it */
	uint8_t lc_used[LOCAL_MAX_REVERSE][OPTAG_LEN];
	size_t lc_nused;
};

/* A reverse connection being made. */
struct local_rev {
	struct agent *lr_agent;
	struct channel *lr_ch;
	struct connector *lr_conn;
	char lr_desc[ADDR_STRLEN + 32];
};

static void local_readcb(struct bufferevent *, void *);
static void local_eventcb(struct bufferevent *, short, void *);

/* The one teardown path for a program still in its handshake. */
static void
local_free(struct local *l)
{
	struct channel *ch = l->l_ch;

	if (ch != NULL) {
		l->l_ch = NULL;
		ch->ch_result = NULL;
		channel_close(ch, CHANNEL_RESET, "the program left");
	}
	TAILQ_REMOVE(&l->l_agent->a_locals, l, l_entry);
	l->l_agent->a_nlocals--;
	if (l->l_gone != NULL)
		event_free(l->l_gone);
	if (l->l_bev != NULL)
		bufferevent_free(l->l_bev);
	event_free(l->l_timer);
	free(l);
}

/* Every program still in its handshake goes (at exit). */
void
local_free_all(struct agent *a)
{
	struct local *l;

	while ((l = TAILQ_FIRST(&a->a_locals)) != NULL)
		local_free(l);
}

/* The reply is out: close. */
static void
local_closing_writecb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	local_free(arg);
}

/* Write bytes and close once they are written. */
static void
local_close_after(struct local *l, const void *p, size_t n)
{
	bufferevent_write(l->l_bev, p, n);
	l->l_state = LOCAL_CLOSING;
	bufferevent_disable(l->l_bev, EV_READ);
	bufferevent_setcb(l->l_bev, NULL, local_closing_writecb, local_eventcb,
	    l);
}

/* A failure reply, then close. */
static void
local_refuse(struct local *l, uint8_t code)
{
	uint8_t buf[SOCKS5_REPLY_MAX];

	local_close_after(l, buf, socks5_reply(buf, code, NULL));
}

/* An open channel of ours goes: its reverse state with it. */
static void
local_chan_closed(struct channel *ch, void *arg)
{
	(void)ch;
	OPENSSL_cleanse(arg, sizeof(struct local_chan));
	free(arg);
}

/* The isp answered (or the channel died first). */
static void
local_resultcb(struct channel *ch, uint8_t code, const struct endpoint *bound,
    void *arg)
{
	struct local *l = arg;
	struct bufferevent *bev;
	uint8_t buf[SOCKS5_REPLY_MAX];
	char dst[ADDR_STRLEN];

	l->l_ch = NULL;
	if (l->l_gone != NULL) {
		event_free(l->l_gone);
		l->l_gone = NULL;
	}
	endpoint_str(&ch->ch_dst, dst, sizeof dst);
	if (code != OPEN_OK) {
		log_info("%s -> %s: %s", l->l_addr, dst,
		    frame_open_code_str(code));
		local_refuse(l, code);
		return;
	}
	channel_describe(ch, "channel %u %s -> %s", ch->ch_id, l->l_addr, dst);
	log_debug("%s opened", ch->ch_desc);
	bufferevent_write(l->l_bev, buf, socks5_reply(buf, OPEN_OK, bound));
	bev = l->l_bev;
	l->l_bev = NULL;
	local_free(l);
	channel_attach(ch, bev);
}

/* The program left while its OPEN waited for an answer. */
static void
local_gonecb(evutil_socket_t fd, short what, void *arg)
{
	struct local *l = arg;

	(void)fd;
	(void)what;
	log_debug("local %s: left before the answer", l->l_addr);
	local_free(l);
}

/* The request: OPEN on the session, tagged under the login. */
static void
local_open(struct local *l, const struct socks5_request *r)
{
	struct agent *a = l->l_agent;
	struct frame_open o;
	struct local_chan *lc;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	uint64_t counter = 0;
	struct timeval tv;
	size_t n = 0;
	char dst[ADDR_STRLEN];

	endpoint_str(&r->sr_dst, dst, sizeof dst);
	if (r->sr_cmd != 1) {
		log_info("%s -> %s: command %u not supported", l->l_addr, dst,
		    r->sr_cmd);
		local_refuse(l, OPEN_BAD_COMMAND);
		return;
	}
	if (!agent_usable(a)) {
		log_info("%s -> %s: no session to the esp", l->l_addr, dst);
		local_refuse(l, OPEN_NET_UNREACH);
		return;
	}
	memset(&o, 0, sizeof o);
	o.fo_dst = r->sr_dst;
	o.fo_client = l->l_client;
	if (agent_login_tags(a, &o.fo_dst, &o.fo_client, o.fo_secret, &n,
		&counter) == 0) {
		o.fo_auth = OPEN_AUTH_TAG;
		o.fo_secret_len = (uint8_t)n;
		snprintf(o.fo_user, sizeof o.fo_user, "%s", a->a_user);
	}
	l->l_ch = session_open(a->a_sess, FRAME_OPEN, &o, local_resultcb, l);
	OPENSSL_cleanse(&o, sizeof o);
	if (l->l_ch == NULL) {
		local_refuse(l, OPEN_NET_UNREACH);
		return;
	}
	lc = xcalloc(1, sizeof *lc);
	lc->lc_counter = counter;
	if (getsockname(bufferevent_getfd(l->l_bev), (struct sockaddr *)&ss,
		&sl) == 0)
		addr_to_endpoint((struct sockaddr *)&ss, &lc->lc_door);
	l->l_ch->ch_closed = local_chan_closed;
	l->l_ch->ch_closed_arg = lc;
	l->l_state = LOCAL_WAIT;
	/*
	 * The answer may take as long as a connect may ([sockhook] timeout);
	 * a program that gives up first is let go at once.
	 */
	tv.tv_sec = a->a_conf.timeout_ms / 1000;
	tv.tv_usec = (a->a_conf.timeout_ms % 1000) * 1000;
	evtimer_add(l->l_timer, &tv);
	l->l_gone = event_new(a->a_base, bufferevent_getfd(l->l_bev), EV_CLOSED,
	    local_gonecb, l);
	if (l->l_gone != NULL)
		event_add(l->l_gone, NULL);
	bufferevent_disable(l->l_bev, EV_READ); /* data waits for the channel */
	log_debug("%s -> %s: open sent as channel %u", l->l_addr, dst,
	    l->l_ch->ch_id);
}

/* The login: the token, compared in constant time. */
static int
local_login(struct local *l, const uint8_t *p, size_t len, size_t *used)
{
	static struct log_limit wrong;
	char user[256];
	uint8_t pass[256], ok[2] = { 1, 0 };
	size_t plen = 0;
	int rc;

	rc = socks5_login(p, len, used, user, sizeof user, pass, &plen);
	if (rc != SOCKS5_DONE)
		return rc;
	if (plen != AGENTSTATE_TOKEN_LEN ||
	    CRYPTO_memcmp(pass, l->l_agent->a_state.as_token, plen) != 0) {
		OPENSSL_cleanse(pass, sizeof pass);
		log_warnx_limited(&wrong,
		    "local %s: wrong token (another user, or a stale agent "
		    "file); refused",
		    l->l_addr);
		ok[1] = 1;
		local_close_after(l, ok, 2);
		return SOCKS5_BAD;
	}
	OPENSSL_cleanse(pass, sizeof pass);
	bufferevent_write(l->l_bev, ok, 2);
	return SOCKS5_DONE;
}

/* Drive the handshake: greeting, token, request (sent in one go or not). */
static void
local_readcb(struct bufferevent *bev, void *arg)
{
	struct local *l = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct socks5_request r;
	uint8_t *p, no[2] = { SOCKS5_VERSION, 0xff }, yes[2] = { 5, 0x02 };
	size_t len, used = 0;
	int none, login, rc = SOCKS5_DONE;

	while (rc == SOCKS5_DONE && l->l_state < LOCAL_WAIT) {
		len = evbuffer_get_length(in);
		p = evbuffer_pullup(in, -1);
		switch (l->l_state) {
		case LOCAL_GREETING:
			rc = socks5_greeting(p, len, &used, &none, &login);
			if (rc == SOCKS5_DONE && !login) {
				log_warnx("local %s: no token offered; "
					  "refused",
				    l->l_addr);
				evbuffer_drain(in, used);
				local_close_after(l, no, 2);
				return;
			}
			if (rc == SOCKS5_DONE) {
				bufferevent_write(bev, yes, 2);
				l->l_state = LOCAL_LOGIN;
			}
			break;
		case LOCAL_LOGIN:
			rc = local_login(l, p, len, &used);
			if (rc == SOCKS5_DONE)
				l->l_state = LOCAL_REQUEST;
			break;
		default:
			rc = socks5_request(p, len, &used, &r);
			if (rc == SOCKS5_BAD && r.sr_code != 0) {
				evbuffer_drain(in, len);
				local_refuse(l, r.sr_code);
				return;
			}
			if (rc == SOCKS5_DONE) {
				evbuffer_drain(in, used);
				local_open(l, &r);
				return;
			}
			break;
		}
		if (rc == SOCKS5_DONE)
			evbuffer_drain(in, used);
	}
	if (rc == SOCKS5_BAD) {
		if (l->l_state != LOCAL_CLOSING)
			local_free(l);
		return;
	}
	if (evbuffer_get_length(in) >= LOCAL_MAX_INPUT)
		local_free(l);
}

/* EOF or error before the channel opened. */
static void
local_eventcb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	local_free(arg);
}

/* The handshake, or the answer to the OPEN, took too long. */
static void
local_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct local *l = arg;
	struct channel *ch;

	(void)fd;
	(void)what;
	if (l->l_state != LOCAL_WAIT) {
		log_info("local %s: handshake timed out", l->l_addr);
		local_free(l);
		return;
	}
	log_info("local %s: no answer from the esp in %d s; giving up",
	    l->l_addr, l->l_agent->a_conf.timeout_ms / 1000);
	ch = l->l_ch;
	l->l_ch = NULL;
	ch->ch_result = NULL;
	channel_close(ch, CHANNEL_RESET, "no answer in time");
	if (l->l_gone != NULL) {
		event_free(l->l_gone);
		l->l_gone = NULL;
	}
	local_refuse(l, OPEN_TIMEOUT);
}

/*
 * Is the program that connected one of this user's? Why not, or NULL.
 * The kernel says whose its socket is (sock_diag): another user's
 * process is closed at once, before it can hold a handshake's place.
 */
static const char *
local_foreign(evutil_socket_t fd, const struct sockaddr *sa)
{
	static char why[96];
	struct sockaddr_in me, peer;
	socklen_t sl = sizeof me;
	uid_t uid;

	if (sockdiag_v4(sa, &peer) != 0 ||
	    getsockname(fd, (struct sockaddr *)&me, &sl) != 0 ||
	    sockdiag_uid(&peer, &me, &uid) != 0) {
		snprintf(why, sizeof why,
		    "cannot tell whose process it is (%s)", strerror(errno));
		return why;
	}
	if (uid == getuid())
		return NULL;
	snprintf(why, sizeof why, "a process of uid %u, not this user's",
	    (unsigned)uid);
	return why;
}

/* A program connected to the local door. */
static void
local_acceptcb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	static struct log_limit busy, foreign;
	struct agent *a = arg;
	struct local *l;
	struct timeval tv = { LOCAL_HANDSHAKE_MS / 1000, 0 };
	const char *why;
	char peer[ADDR_STRLEN];
	int one = 1;

	(void)lis;
	(void)salen;
	if ((why = local_foreign(fd, sa)) != NULL) {
		log_warnx_limited(&foreign, "local %s: %s; refused",
		    addr_str(sa, peer, sizeof peer), why);
		evutil_closesocket(fd);
		return;
	}
	if (a->a_nlocals >= LOCAL_MAX_HANDSHAKES) {
		log_warnx_limited(&busy,
		    "local: %zu programs in their handshake; refusing one",
		    a->a_nlocals);
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	l = xcalloc(1, sizeof *l);
	l->l_agent = a;
	addr_str(sa, l->l_addr, sizeof l->l_addr);
	addr_to_endpoint(sa, &l->l_client);
	l->l_bev = bufferevent_socket_new(a->a_base, fd, BEV_OPT_CLOSE_ON_FREE);
	l->l_timer = evtimer_new(a->a_base, local_timercb, l);
	evtimer_add(l->l_timer, &tv);
	bufferevent_setcb(l->l_bev, local_readcb, NULL, local_eventcb, l);
	bufferevent_setwatermark(l->l_bev, EV_READ, 0, LOCAL_MAX_INPUT);
	bufferevent_enable(l->l_bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&a->a_locals, l, l_entry);
	a->a_nlocals++;
}

/* Listen on loopback, on a port the kernel picks; it goes in the state. */
int
local_listen(struct agent *a, char **cause)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->a_lis = evconnlistener_new_bind(a->a_base, local_acceptcb, a,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128,
	    (struct sockaddr *)&sin, sizeof sin);
	if (a->a_lis == NULL ||
	    getsockname(evconnlistener_get_fd(a->a_lis),
		(struct sockaddr *)&sin, &len) != 0) {
		xasprintf(cause, "cannot listen on loopback: %s",
		    strerror(errno));
		return -1;
	}
	a->a_state.as_addr = sin;
	return 0;
}

/* The reverse connection died while connecting. */
static void
local_rev_cancelcb(struct channel *ch, uint8_t code, const struct endpoint *b,
    void *arg)
{
	struct local_rev *r = arg;

	(void)ch;
	(void)code;
	(void)b;
	if (r->lr_conn != NULL)
		connector_cancel(r->lr_conn);
	free(r);
}

/* The connect to the program finished. */
static void
local_rev_connectedcb(evutil_socket_t fd, int err, void *arg)
{
	struct local_rev *r = arg;
	struct channel *ch = r->lr_ch;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	struct endpoint bound;

	r->lr_conn = NULL;
	ch->ch_result = NULL;
	if (fd < 0) {
		log_info("reverse %s: %s", r->lr_desc, strerror(err));
		free(r);
		channel_refuse(ch, connector_code(err));
		return;
	}
	memset(&bound, 0, sizeof bound);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_to_endpoint((struct sockaddr *)&ss, &bound);
	channel_describe(ch, "channel %u reverse %s", ch->ch_id, r->lr_desc);
	log_debug("%s opened", ch->ch_desc);
	free(r);
	channel_accept(ch,
	    bufferevent_socket_new(ch->ch_base, fd, BEV_OPT_CLOSE_ON_FREE),
	    &bound);
}

/* Why a reverse connection may not be made, or NULL. */
static const char *
local_rev_refusal(struct agent *a, struct channel *ctl,
    const struct frame_open *fo)
{
	struct local_chan *lc;
	const char *why;
	size_t i;

	if (ctl == NULL || ctl->ch_outside || ctl->ch_state != CHANNEL_OPEN ||
	    ctl->ch_closed != local_chan_closed)
		return "not a channel of a program here";
	lc = ctl->ch_closed_arg;
	if (!endpoint_same_host(&fo->fo_dst, &ctl->ch_client))
		return "not the program that announced";
	switch (endpoint_is_local(&fo->fo_dst)) {
	case 0:
		return "not an address of this host";
	case -1:
		return "this host's addresses cannot be read";
	}
	if (!agent_login_proven(a))
		return "no isp of this login proved itself (a certificate "
		       "login without [sockhook] isp_ca)";
	if (fo->fo_auth != OPEN_AUTH_TAG || fo->fo_secret_len != OPTAG_LEN ||
	    !agent_login_outside_ok(a, lc->lc_counter, &fo->fo_dst,
		fo->fo_secret))
		return "no approval from an isp of this login";
	for (i = 0; i < lc->lc_nused; i++)
		if (optag_equal(lc->lc_used[i], fo->fo_secret))
			return "that approval was used already";
	if (lc->lc_nused == LOCAL_MAX_REVERSE)
		return "too many reverse connections on one channel";
	/* Approved for what went by on the channel: the program's own? */
	if (!procnet_owner_listens(&ctl->ch_client, &lc->lc_door, &fo->fo_dst,
		&why))
		return why;
	memcpy(lc->lc_used[lc->lc_nused++], fo->fo_secret, OPTAG_LEN);
	return NULL;
}

/* OUTSIDE_OPEN from the esp: the isp approved a reverse connection. */
void
local_outside_open(struct session *s, struct channel *ch,
    const struct frame_open *fo, void *arg)
{
	static struct log_budget refused;
	struct agent *a = arg;
	struct channel *ctl = session_channel(s, fo->fo_ref);
	struct sockaddr_storage ss;
	socklen_t sl;
	struct local_rev *r;
	struct connector *cn;
	const char *why;
	char dst[ADDR_STRLEN];

	endpoint_str(&fo->fo_dst, dst, sizeof dst);
	if ((why = local_rev_refusal(a, ctl, fo)) != NULL ||
	    addr_from_endpoint(&fo->fo_dst, &ss, &sl) != 0) {
		/* The esp may ask again and again: 20 lines a second. */
		if (log_budget_spend(&refused, 20,
			"more than 20 reverse connections refused a second; "
			"not all are logged"))
			log_warnx("reverse connection to %s for channel %u "
				  "refused: %s",
			    dst, fo->fo_ref,
			    why != NULL ? why : "not an address");
		channel_refuse(ch, OPEN_NOT_ALLOWED);
		return;
	}
	r = xcalloc(1, sizeof *r);
	r->lr_agent = a;
	r->lr_ch = ch;
	snprintf(r->lr_desc, sizeof r->lr_desc, "%s for channel %u", dst,
	    fo->fo_ref);
	ch->ch_result = local_rev_cancelcb;
	ch->ch_result_arg = r;
	log_info("reverse %s: connecting", r->lr_desc);
	cn = connector_start(a->a_base, (struct sockaddr *)&ss, sl,
	    LOCAL_CONNECT_MS, local_rev_connectedcb, r);
	if (cn != NULL)
		r->lr_conn = cn;
}
