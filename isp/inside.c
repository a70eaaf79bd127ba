/*
 * Inside connections for the esp's OPEN requests: resolve names without
 * blocking (evdns), check every address against the allow list, connect,
 * and answer with the SOCKS code that matches the outcome.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>

#include <openssl/crypto.h>

#include "addr.h"
#include "connector.h"
#include "escape.h"
#include "isp.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

struct inside {
	struct isp *in_isp;
	struct channel *in_ch;
	struct frame_open in_open;
	struct evdns_getaddrinfo_request *in_req;
	struct connector *in_conn;
	struct login_req *in_login;
	struct sockaddr_storage *in_addrs; /* allowed candidates, in order */
	socklen_t *in_lens;
	size_t in_naddrs, in_next;
	uint8_t in_code;     /* the worst failure so far */
	uint32_t in_agent;   /* an agent login's number, or 0 */
	uint64_t in_counter; /* its OPEN's counter */
	uint64_t in_owner;   /* whose expectations this open may take */
	int in_name_ok;      /* the name itself is allowed: every address is */
	int in_quiet;        /* refused past the log budget: -1 not decided */
	char in_dst[ADDR_STRLEN];
	char in_client[ADDR_STRLEN];
};

static void inside_try_next(struct inside *);
static void inside_route(struct inside *);

/* The one teardown path for a pending inside open. */
static void
inside_free(struct inside *in)
{
	if (in->in_req != NULL)
		evdns_getaddrinfo_cancel(in->in_req);
	if (in->in_conn != NULL)
		connector_cancel(in->in_conn);
	login_cancel(in->in_login);
	free(in->in_addrs);
	free(in->in_lens);
	free(in);
}

/* The channel died while we were still connecting (client gone). */
static void
inside_cancelcb(struct channel *ch, uint8_t code, const struct endpoint *b,
    void *arg)
{
	struct inside *in = arg;

	(void)ch;
	(void)code;
	(void)b;
	isp_lock();
	log_debug("open %s -> %s cancelled", in->in_client, in->in_dst);
	inside_free(in);
	isp_unlock();
}

/*
 * Is this refusal past the log budget? An esp may send refused OPENs as
 * fast as it likes: INSIDE_REFUSALS_LOGGED a second are logged and
 * audited, the rest counted in the metrics and in one line a second.
 * Decided once per open, under the isp's lock.
 */
#define INSIDE_REFUSALS_LOGGED 50
static int
inside_quiet(struct inside *in)
{
	static struct log_budget refusals;

	if (in->in_quiet != -1)
		return in->in_quiet;
	in->in_quiet = !log_budget_spend(&refusals, INSIDE_REFUSALS_LOGGED,
	    "more than %d opens refused a second: the rest are counted "
	    "(dynpass_refusals_total), not logged or audited",
	    INSIDE_REFUSALS_LOGGED);
	return in->in_quiet;
}

/* Refuse the open and free. */
static void
inside_fail(struct inside *in, uint8_t code)
{
	struct channel *ch = in->in_ch;

	if (!inside_quiet(in))
		log_info("open %s -> %s refused: %s", in->in_client, in->in_dst,
		    frame_open_code_str(code));
	else
		ch->ch_unaudited = 1;
	metrics_add(M_REFUSALS, metrics_reason(code), 1);
	ch->ch_result = NULL;
	inside_free(in);
	channel_refuse(ch, code);
}

static void inside_connected(evutil_socket_t, int, struct inside *);

/* An inside connect finished: on to inside_connected, under the lock. */
static void
inside_connectedcb(evutil_socket_t fd, int err, void *arg)
{
	isp_lock();
	inside_connected(fd, err, arg);
	isp_unlock();
}

/* An inside connect finished. */
static void
inside_connected(evutil_socket_t fd, int err, struct inside *in)
{
	struct channel *ch = in->in_ch;
	struct bufferevent *bev;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	struct endpoint bound;
	const struct rule_app *app;
	char to[ADDR_STRLEN];

	in->in_conn = NULL;
	addr_str((struct sockaddr *)&in->in_addrs[in->in_next - 1], to,
	    sizeof to);
	if (fd < 0) {
		log_debug("connect %s (for %s): %s", to, in->in_dst,
		    strerror(err));
		in->in_code = connector_code(err);
		inside_try_next(in);
		return;
	}
	memset(&bound, 0, sizeof bound);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_to_endpoint((struct sockaddr *)&ss, &bound);
	bev = bufferevent_socket_new(session_base(ch->ch_sess), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	/* On a rule's port every byte is scanned; the user's rules decide
	 * only whether announcements are honoured. */
	if (in->in_isp->i_ruleset != NULL &&
	    (app = ruleset_for_port(in->in_isp->i_ruleset,
		 in->in_open.fo_dst.ep_port)) != NULL)
		reverse_attach(in->in_isp, ch, app, fd,
		    policy_rule_ok(&in->in_isp->i_policy, in->in_open.fo_user,
			rule_app_name(app)),
		    in->in_agent, in->in_counter);
	channel_describe(ch, "channel %u %s -> %s (%s)", ch->ch_id,
	    in->in_client, in->in_dst, to);
	log_debug("%s opened", ch->ch_desc);
	ch->ch_result = NULL;
	inside_free(in);
	channel_accept(ch, bev, &bound);
}

/* Try the next allowed address, or give up with the last failure. */
static void
inside_try_next(struct inside *in)
{
	struct sockaddr_storage *ss;
	struct connector *cn;

	if (in->in_next >= in->in_naddrs) {
		inside_fail(in, in->in_code);
		return;
	}
	ss = &in->in_addrs[in->in_next];
	/* On an immediate failure the callback has run and in may be gone. */
	cn = connector_start(session_base(in->in_ch->ch_sess),
	    (struct sockaddr *)ss, in->in_lens[in->in_next++],
	    in->in_isp->i_connect_timeout_ms, inside_connectedcb, in);
	if (cn != NULL)
		in->in_conn = cn;
}

/* Add one candidate address if the allow list lets it through. */
static void
inside_add(struct inside *in, const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_storage client;
	socklen_t cl;

	const struct allow *al =
	    policy_allow(&in->in_isp->i_policy, in->in_open.fo_user);

	if (!in->in_name_ok && (al == NULL || !allow_match(al, sa))) {
		if (addr_from_endpoint(&in->in_open.fo_client, &client, &cl) !=
			0 ||
		    !expect_take_from(&in->in_isp->i_expect,
			(struct sockaddr *)&client, sa, in->in_open.fo_user,
			in->in_owner, &in->in_ch->ch_parent))
			return;
		log_info("open %s -> %s: expected after a server "
			 "announcement",
		    in->in_client, in->in_dst);
	}
	in->in_addrs =
	    xrealloc(in->in_addrs, (in->in_naddrs + 1) * sizeof *in->in_addrs);
	in->in_lens =
	    xrealloc(in->in_lens, (in->in_naddrs + 1) * sizeof *in->in_lens);
	memcpy(&in->in_addrs[in->in_naddrs], sa, len);
	in->in_lens[in->in_naddrs++] = len;
}

static void inside_resolved(int, struct evutil_addrinfo *, struct inside *);

/* A name resolved (or did not): on to inside_resolved, under the lock. */
static void
inside_resolvedcb(int err, struct evutil_addrinfo *res, void *arg)
{
	if (err == EVUTIL_EAI_CANCEL) {
		/* libevent 2.1 still calls back after a cancel: in is gone. */
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	isp_lock();
	inside_resolved(err, res, arg);
	isp_unlock();
}

/* A name resolved (or did not). */
static void
inside_resolved(int err, struct evutil_addrinfo *res, struct inside *in)
{
	struct evutil_addrinfo *ai;
	size_t total = 0;

	in->in_req = NULL;
	if (err != 0) {
		if (!inside_quiet(in))
			log_info("open %s -> %s: cannot resolve: %s",
			    in->in_client, in->in_dst,
			    evutil_gai_strerror(err));
		inside_fail(in, OPEN_HOST_UNREACH);
		return;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		total++;
		inside_add(in, ai->ai_addr, (socklen_t)ai->ai_addrlen);
	}
	evutil_freeaddrinfo(res);
	if (in->in_naddrs == 0) {
		inside_fail(in, total ? OPEN_NOT_ALLOWED : OPEN_HOST_UNREACH);
		return;
	}
	in->in_code = OPEN_FAILURE;
	inside_try_next(in);
}

/* The login of the OPEN was checked: go on, or refuse. */
static void
inside_logincb(uint8_t code, void *arg)
{
	struct inside *in = arg;
	char name[300];

	in->in_login = NULL;
	if (code != AUTH_OK && inside_quiet(in)) {
		inside_fail(in,
		    code == AUTH_BUSY ? OPEN_FAILURE : OPEN_NOT_ALLOWED);
		return;
	}
	if (code != AUTH_OK) {
		log_warnx("open %s -> %s: login for user \"%s\" %s",
		    in->in_client, in->in_dst,
		    esc_str(name, sizeof name, in->in_open.fo_user),
		    code == AUTH_BUSY ? "not checked: too many logins at once"
				      : "refused");
		inside_fail(in,
		    code == AUTH_BUSY ? OPEN_FAILURE : OPEN_NOT_ALLOWED);
		return;
	}
	inside_route(in);
}

/*
 * Handle an OPEN from the esp. A user is taken only on the isp's own
 * check of the password the OPEN carries, never on the esp's word.
 */
void
inside_open(struct isp *i, struct uplink *up, struct channel *ch,
    const struct frame_open *o)
{
	struct inside *in = xcalloc(1, sizeof *in);
	struct login_req *r;
	const char *why;
	char name[300];

	in->in_isp = i;
	in->in_ch = ch;
	in->in_quiet = -1;
	in->in_open = *o;
	OPENSSL_cleanse(in->in_open.fo_secret, sizeof in->in_open.fo_secret);
	endpoint_str(&o->fo_dst, in->in_dst, sizeof in->in_dst);
	endpoint_str(&o->fo_client, in->in_client, sizeof in->in_client);
	ch->ch_result = inside_cancelcb;
	ch->ch_result_arg = in;
	in->in_owner = session_serial(ch->ch_sess);
	if (o->fo_auth == OPEN_AUTH_NONE) {
		inside_route(in);
		return;
	}
	if (o->fo_auth == OPEN_AUTH_TAG) {
		/* An agent's request: its tag, not the esp's word. */
		if (agentauth_open_check(i, ch->ch_sess, o, &in->in_agent,
			&in->in_counter, &why) != 0) {
			if (!inside_quiet(in))
				log_warnx("open %s -> %s for user \"%s\" "
					  "through an "
					  "agent refused: %s",
				    in->in_client, in->in_dst,
				    esc_str(name, sizeof name, o->fo_user),
				    why);
			inside_fail(in, OPEN_NOT_ALLOWED);
			return;
		}
		in->in_owner ^= (uint64_t)in->in_agent << 32;
		inside_route(in);
		return;
	}
	/* NULL means the answer came at once: in may be gone. */
	r = login_check(i, up, o->fo_user, o->fo_secret, o->fo_secret_len,
	    &o->fo_client, inside_logincb, in);
	if (r != NULL)
		in->in_login = r;
}

/* Check the policy, then resolve and connect. */
static void
inside_route(struct inside *in)
{
	struct isp *i = in->in_isp;
	const struct frame_open *o = &in->in_open;
	struct sockaddr_storage ss;
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *req;
	const struct allow *al;
	char name[256], port[8];
	socklen_t sl;

	if (o->fo_user[0] != '\0' &&
	    policy_find(&i->i_policy, o->fo_user) == NULL) {
		if (!inside_quiet(in))
			log_warnx("open %s -> %s: unknown user", in->in_client,
			    in->in_dst);
		inside_fail(in, OPEN_NOT_ALLOWED);
		return;
	}
	if (o->fo_user[0] == '\0' && !i->i_policy.p_anonymous) {
		if (!inside_quiet(in))
			log_warnx("open %s -> %s: anonymous access is off",
			    in->in_client, in->in_dst);
		inside_fail(in, OPEN_NOT_ALLOWED);
		return;
	}
	if (addr_from_endpoint(&o->fo_dst, &ss, &sl) == 0) {
		inside_add(in, (struct sockaddr *)&ss, sl);
		if (in->in_naddrs == 0) {
			inside_fail(in, OPEN_NOT_ALLOWED);
			return;
		}
		in->in_code = OPEN_FAILURE;
		inside_try_next(in);
		return;
	}
	if (!endpoint_name_ok(&o->fo_dst)) {
		if (!inside_quiet(in))
			log_warnx("open %s -> %s: not a host name",
			    in->in_client, in->in_dst);
		inside_fail(in, OPEN_BAD_ADDRTYPE);
		return;
	}
	memcpy(name, o->fo_dst.ep_addr, o->fo_dst.ep_len);
	name[o->fo_dst.ep_len] = '\0';
	al = policy_allow(&i->i_policy, o->fo_user);
	in->in_name_ok =
	    al != NULL && allow_match_name(al, name, o->fo_dst.ep_port);
	snprintf(port, sizeof port, "%u", o->fo_dst.ep_port);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* NULL means the callback already ran (hosts file): in may be gone. */
	req = evdns_getaddrinfo(isp_dns(i), name, port, &hints,
	    inside_resolvedcb, in);
	if (req != NULL)
		in->in_req = req;
}
