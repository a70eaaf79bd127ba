/*
 * The esp's part in rule-driven connections.
 *
 * outside_scan: the esp runs the isp's rules over both directions of
 * every control channel to a rule's port. From the client's side it
 * learns which ports the client announced (PORT, EPRT, DCC, rsh), and
 * lets the bytes go on for the isp to judge; from the server's side, the
 * openings servers announce (FTP 227/229), so its own allow check lets
 * that one expected connection through. A server's announcement that does
 * not decode, or names another host than it may, is neutralised here too.
 *
 * outside_open: the isp asks the esp to connect to an endpoint a client
 * announced (OUTSIDE_OPEN). The esp connects only to the control
 * channel's own client, only to a port that client announced (once, in
 * time), below 1024 only where the rule allows it, and never to the esp
 * host's own addresses unless [esp] outside_own_addresses says so: a
 * taken-over isp cannot aim it anywhere else. A client behind an agent
 * is not connected to from here: the request goes on to its agent
 * (esp/relay.c), with the isp's tag, and the agent connects on its host.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "addr.h"
#include "audit.h"
#include "connector.h"
#include "esp.h"
#include "log.h"
#include "monotime.h"
#include "scan.h"
#include "xmalloc.h"

#define OUTSIDE_MAX_ANNOUNCED 16 /* ports remembered per control channel */

struct outside {
	struct event_base *o_base;
	struct channel *o_ch;
	struct connector *o_conn;
	char o_desc[ADDR_STRLEN * 2];
};

/* A port the client announced on a control channel. */
struct outside_port {
	uint16_t op_port;
	uint64_t op_until; /* monotonic ms */
};

struct outside_ctl {
	struct esp_link *oc_link;
	int oc_honour; /* the user may use this rule file */
	struct sockaddr_storage oc_client;
	struct sockaddr_storage oc_server; /* family 0 when it was a name */
	struct outside_port oc_ports[OUTSIDE_MAX_ANNOUNCED];
	size_t oc_nports;
	uint64_t oc_agent;      /* the agent's serial, 0 for a SOCKS client */
	uint32_t oc_agent_chan; /* its channel on the agent's session */
};

static void outside_ctl_closed(struct channel *, void *);

/* The channel died while we were connecting. */
static void
outside_cancelcb(struct channel *ch, uint8_t code, const struct endpoint *b,
    void *arg)
{
	struct outside *o = arg;

	(void)ch;
	(void)code;
	(void)b;
	if (o->o_conn != NULL)
		connector_cancel(o->o_conn);
	free(o);
}

/* The connect to the client finished. */
static void
outside_connectedcb(evutil_socket_t fd, int err, void *arg)
{
	struct outside *o = arg;
	struct channel *ch = o->o_ch;
	struct bufferevent *bev;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	struct endpoint bound;

	o->o_conn = NULL;
	ch->ch_result = NULL;
	if (fd < 0) {
		log_info("outside connect %s: %s", o->o_desc, strerror(err));
		free(o);
		channel_refuse(ch, connector_code(err));
		return;
	}
	memset(&bound, 0, sizeof bound);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_to_endpoint((struct sockaddr *)&ss, &bound);
	bev = bufferevent_socket_new(o->o_base, fd, BEV_OPT_CLOSE_ON_FREE);
	channel_describe(ch, "channel %u outside %s", ch->ch_id, o->o_desc);
	log_debug("%s opened", ch->ch_desc);
	free(o);
	channel_accept(ch, bev, &bound);
}

/* Did the control channel's client announce this port, in time? Used up. */
static int
outside_take_port(struct outside_ctl *oc, uint16_t port)
{
	uint64_t now = monotime_ms();
	size_t i;

	for (i = 0; i < oc->oc_nports; i++) {
		if (oc->oc_ports[i].op_port != port ||
		    oc->oc_ports[i].op_until <= now)
			continue;
		oc->oc_ports[i] = oc->oc_ports[--oc->oc_nports];
		return 1;
	}
	return 0;
}

/* Why an OUTSIDE_OPEN may not be served, or NULL. */
static const char *
outside_refusal(struct esp_link *l, struct channel *ctl,
    const struct frame_open *fo)
{
	struct outside_ctl *oc;

	if (ctl == NULL || ctl->ch_outside || ctl->ch_state != CHANNEL_OPEN ||
	    ctl->ch_closed != outside_ctl_closed)
		return "not a scanned control channel";
	oc = ctl->ch_closed_arg;
	if (!endpoint_same_host(&fo->fo_dst, &ctl->ch_client))
		return "not that channel's client";
	if ((oc->oc_agent != 0) != (fo->fo_auth == OPEN_AUTH_TAG))
		return oc->oc_agent != 0
		    ? "no tag for the client's agent"
		    : "a tag for a client without an agent";
	if (!outside_take_port(oc, fo->fo_dst.ep_port))
		return "the client did not announce that port";
	if (oc->oc_agent != 0 || l->el_esp->e_outside_own)
		return NULL;
	switch (endpoint_is_local(&fo->fo_dst)) {
	case 0:
		return NULL;
	case 1:
		return "one of this host's own addresses ([esp] "
		       "outside_own_addresses = no)";
	default:
		return "this host's addresses cannot be read, so it cannot "
		       "tell whether that is one (a sandbox without "
		       "AF_NETLINK?)";
	}
}

/* OUTSIDE_OPEN from the isp. */
void
outside_open(struct session *s, struct channel *ch, const struct frame_open *fo,
    void *arg)
{
	struct esp_link *l = arg;
	struct channel *ctl = session_channel(s, fo->fo_ref);
	struct sockaddr_storage ss;
	socklen_t sl;
	struct outside *o;
	struct outside_ctl *oc;
	struct connector *cn;
	const char *why;
	char dst[ADDR_STRLEN], cl[ADDR_STRLEN];

	endpoint_str(&fo->fo_dst, dst, sizeof dst);
	if ((why = outside_refusal(l, ctl, fo)) != NULL ||
	    addr_from_endpoint(&fo->fo_dst, &ss, &sl) != 0) {
		log_warnx("isp \"%s\" asked to connect to %s for channel %u: "
			  "refused, %s",
		    l->el_id, dst, fo->fo_ref, why ? why : "not an address");
		channel_refuse(ch, OPEN_NOT_ALLOWED);
		return;
	}
	oc = ctl->ch_closed_arg;
	if (oc->oc_agent != 0) {
		if (relay_outside(l, ch, ctl, fo, oc->oc_agent,
			oc->oc_agent_chan) != 0)
			channel_refuse(ch, OPEN_NET_UNREACH);
		return;
	}
	o = xcalloc(1, sizeof *o);
	o->o_base = l->el_esp->e_base;
	o->o_ch = ch;
	snprintf(o->o_desc, sizeof o->o_desc, "%s (client %s of channel %u)",
	    dst, endpoint_str(&ctl->ch_client, cl, sizeof cl), fo->fo_ref);
	ch->ch_result = outside_cancelcb;
	ch->ch_result_arg = o;
	cn = connector_start(l->el_esp->e_base, (struct sockaddr *)&ss, sl,
	    l->el_esp->e_connect_timeout_ms, outside_connectedcb, o);
	if (cn != NULL)
		o->o_conn = cn;
}

/* The control channel closed: free its scan context. */
static void
outside_ctl_closed(struct channel *ch, void *arg)
{
	(void)ch;
	free(arg);
}

/*
 * Rewrite a refused announcement to port 0 on this address; on 0.0.0.0
 * when there is none (a server reached by name: only the isp knows its
 * address). Never passed on as it came.
 */
static void
outside_neutral(struct channel *ch, int rx, const struct announce *an,
    const struct sockaddr_storage *at, const char *why)
{
	struct sockaddr_storage ss = *at;

	if (!channel_announce_quiet(ch))
		log_warnx("%s: refused announcement \"%s\": %s", ch->ch_desc,
		    an->an_text, why);
	audit_announce(ch, 1, an->an_text, "refused", why);
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
	else if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = 0;
	else {
		memset(&ss, 0, sizeof ss);
		ss.ss_family = AF_INET;
	}
	channel_announce_done(ch, rx, (struct sockaddr *)&ss);
}

/* A server announced an opening: expect the client there, once. */
static void
outside_expect(struct channel *ch, struct outside_ctl *oc,
    const struct announce *an)
{
	struct sockaddr_storage ep;
	struct endpoint a, b;
	const char *why = NULL;

	announce_endpoint(an, &oc->oc_server, &ep);
	if (ep.ss_family == 0) {
		/* Implied, to a server known by name: the name is allowed. */
		channel_announce_done(ch, 1, NULL);
		return;
	}
	addr_to_endpoint((struct sockaddr *)&ep, &a);
	addr_to_endpoint((struct sockaddr *)&oc->oc_server, &b);
	/*
	 * A server reached by name: only the isp knows its address, and it
	 * has checked (and would have neutralised another host).
	 */
	if (oc->oc_server.ss_family != 0 &&
	    !rule_kind_other_hosts(an->an_kind) &&
	    !endpoint_same_host(&a, &b)) {
		outside_neutral(ch, 1, an, &oc->oc_server,
		    "it names another host than the server");
		return;
	}
	if (announce_check_port(an, &why) != 0) {
		outside_neutral(ch, 1, an, &oc->oc_server, why);
		return;
	}
	expect_add_from(&oc->oc_link->el_expect,
	    (struct sockaddr *)&oc->oc_client, (struct sockaddr *)&ep,
	    ch->ch_user, oc->oc_agent, ch->ch_id);
	audit_announce(ch, 1, an->an_text, "honoured",
	    "one opening for the client");
	/* Written out as decoded: the client reads what was checked. */
	channel_announce_done(ch, 1, (struct sockaddr *)&ep);
}

/*
 * The client announced a port the server is to connect to: remember it,
 * if it may be honoured. The bytes go on as they are either way: the isp
 * scans them again and neutralises what it refuses.
 */
static void
outside_remember(struct channel *ch, struct outside_ctl *oc,
    const struct announce *an)
{
	const char *why = NULL;

	if (an->an_suspect || !oc->oc_honour ||
	    announce_check_origin(an, (struct sockaddr *)&oc->oc_client,
		&why) != 0) {
		channel_announce_done(ch, 0, NULL);
		return;
	}
	if (oc->oc_nports == OUTSIDE_MAX_ANNOUNCED) /* the oldest goes */
		memmove(oc->oc_ports, oc->oc_ports + 1,
		    (OUTSIDE_MAX_ANNOUNCED - 1) * sizeof oc->oc_ports[0]);
	else
		oc->oc_nports++;
	oc->oc_ports[oc->oc_nports - 1].op_port = an->an_port;
	oc->oc_ports[oc->oc_nports - 1].op_until =
	    monotime_ms() + (uint64_t)oc->oc_link->el_expect.et_ttl_ms;
	audit_announce(ch, 1, an->an_text, "honoured",
	    "noted: the isp may ask to connect there");
	channel_announce_done(ch, 0, NULL);
}

/* A rule found something on a control channel (rx: from the server). */
static void
outside_announcecb(struct channel *ch, int rx, const struct announce *an,
    void *arg)
{
	struct outside_ctl *oc = arg;
	const struct sockaddr_storage *at =
	    rx ? &oc->oc_server : &oc->oc_client;

	if (!rx && rule_kind_action(an->an_kind) == RULE_SERVER_CONNECTS)
		outside_remember(ch, oc, an);
	else if (an->an_suspect)
		outside_neutral(ch, rx, an, at, an->an_why);
	else if (!oc->oc_honour)
		outside_neutral(ch, rx, an, at,
		    "this rule file is not allowed for the user");
	else if (rx && rule_kind_action(an->an_kind) == RULE_CLIENT_CONNECTS)
		outside_expect(ch, oc, an);
	else
		outside_neutral(ch, rx, an, at,
		    "announced in the wrong direction");
}

/*
 * Scan a new client channel if a rule covers its port: every byte, both
 * ways, whoever the user; the user's rules decide what is honoured. a:
 * the client's agent and its channel there, if it came through one.
 */
void
outside_scan(struct esp_link *l, struct channel *ch, const struct esp_agent *a,
    uint32_t agent_channel)
{
	const struct rule_app *app;
	struct outside_ctl *oc;
	struct scan *rx = NULL, *tx = NULL;
	socklen_t sl;

	if (l->el_rules == NULL ||
	    (app = ruleset_for_port(l->el_rules, ch->ch_dst.ep_port)) == NULL)
		return;
	oc = xcalloc(1, sizeof *oc);
	oc->oc_link = l;
	oc->oc_agent = a != NULL ? a->a_serial : 0;
	oc->oc_agent_chan = agent_channel;
	oc->oc_honour = !l->el_have_policy ||
	    policy_rule_ok(&l->el_policy, ch->ch_user, rule_app_name(app));
	if (addr_from_endpoint(&ch->ch_client, &oc->oc_client, &sl) != 0)
		oc->oc_client.ss_family = 0;
	if (addr_from_endpoint(&ch->ch_dst, &oc->oc_server, &sl) != 0)
		oc->oc_server.ss_family = 0;
	if (rule_app_scans(app, RULE_S2C))
		rx = scan_new(app, RULE_S2C, 0);
	if (rule_app_scans(app, RULE_C2S)) {
		tx = scan_new(app, RULE_C2S, 0);
		scan_set_observer(tx);
	}
	channel_set_scan(ch, rx, tx, outside_announcecb, oc);
	snprintf(ch->ch_rule, sizeof ch->ch_rule, "%s", rule_app_name(app));
	ch->ch_closed = outside_ctl_closed;
	ch->ch_closed_arg = oc;
}
