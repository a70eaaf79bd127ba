/*
 * The esp's part in rule-driven connections.
 *
 * outside_open: the isp asks the esp to connect to an endpoint a client
 * announced (OUTSIDE_OPEN). The esp refuses unless the endpoint is the
 * client of the control channel the request names: a taken-over isp cannot
 * make the esp connect anywhere else.
 *
 * outside_scan: the esp runs the isp's rules over what servers send on
 * control channels, to learn the openings they announce (FTP 227/229), so
 * its own allow check lets that one expected connection through.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "addr.h"
#include "connector.h"
#include "esp.h"
#include "log.h"
#include "scan.h"
#include "xmalloc.h"

struct outside {
	struct event_base *o_base;
	struct channel *o_ch;
	struct connector *o_conn;
	char o_desc[ADDR_STRLEN * 2];
};

struct outside_ctl {
	struct esp_link *oc_link;
	struct sockaddr_storage oc_client;
	struct sockaddr_storage oc_server; /* family 0 when it was a name */
};

/* Same host, comparing IPv4-mapped IPv6 as IPv4. */
static int
outside_same_host(const struct endpoint *a, const struct endpoint *b)
{
	const uint8_t *pa = a->ep_addr, *pb = b->ep_addr;
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
		0xff };

	if (a->ep_atyp == ATYP_IPV6 && memcmp(pa, mapped, 12) == 0 &&
	    b->ep_atyp == ATYP_IPV4)
		return memcmp(pa + 12, pb, 4) == 0;
	if (b->ep_atyp == ATYP_IPV6 && memcmp(pb, mapped, 12) == 0 &&
	    a->ep_atyp == ATYP_IPV4)
		return memcmp(pb + 12, pa, 4) == 0;
	return a->ep_atyp == b->ep_atyp && a->ep_atyp != ATYP_NAME &&
	    a->ep_len == b->ep_len && memcmp(pa, pb, a->ep_len) == 0;
}

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
	struct connector *cn;
	char dst[ADDR_STRLEN], cl[ADDR_STRLEN];

	endpoint_str(&fo->fo_dst, dst, sizeof dst);
	if (ctl == NULL || ctl->ch_outside || ctl->ch_state != CHANNEL_OPEN ||
	    !outside_same_host(&fo->fo_dst, &ctl->ch_client) ||
	    fo->fo_dst.ep_port == 0 ||
	    addr_from_endpoint(&fo->fo_dst, &ss, &sl) != 0) {
		log_warnx("isp \"%s\" asked to connect to %s for channel %u: "
			  "refused, not that channel's client",
		    l->el_id, dst, fo->fo_ref);
		channel_refuse(ch, OPEN_NOT_ALLOWED);
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

/* A server announced an opening: expect the client there, once. */
static void
outside_announcecb(struct channel *ch, int rx, const struct announce *an,
    void *arg)
{
	struct outside_ctl *oc = arg;
	struct sockaddr_storage ep;

	if (rx && rule_kind_action(an->an_kind) == RULE_CLIENT_CONNECTS) {
		memset(&ep, 0, sizeof ep);
		if (an->an_implied || an->an_family == 0)
			ep = oc->oc_server;
		else if (an->an_family == AF_INET) {
			ep.ss_family = AF_INET;
			memcpy(&((struct sockaddr_in *)&ep)->sin_addr,
			    an->an_addr, 4);
		} else {
			ep.ss_family = AF_INET6;
			memcpy(&((struct sockaddr_in6 *)&ep)->sin6_addr,
			    an->an_addr, 16);
		}
		if (ep.ss_family == AF_INET)
			((struct sockaddr_in *)&ep)->sin_port =
			    htons(an->an_port);
		else if (ep.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&ep)->sin6_port =
			    htons(an->an_port);
		if (ep.ss_family != 0)
			expect_add(&oc->oc_link->el_expect,
			    (struct sockaddr *)&oc->oc_client,
			    (struct sockaddr *)&ep);
	}
	channel_announce_done(ch, rx, NULL);
}

/* Scan a new client channel's server side if a rule covers its port. */
void
outside_scan(struct esp_link *l, struct channel *ch)
{
	const struct rule_app *app;
	struct outside_ctl *oc;
	socklen_t sl;

	if (l->el_rules == NULL ||
	    (app = ruleset_for_port(l->el_rules, ch->ch_dst.ep_port)) == NULL ||
	    !rule_app_scans(app, RULE_S2C) ||
	    (l->el_have_policy &&
		!policy_rule_ok(&l->el_policy, ch->ch_user,
		    rule_app_name(app))))
		return;
	oc = xcalloc(1, sizeof *oc);
	oc->oc_link = l;
	if (addr_from_endpoint(&ch->ch_client, &oc->oc_client, &sl) != 0 ||
	    addr_from_endpoint(&ch->ch_dst, &oc->oc_server, &sl) != 0)
		oc->oc_server.ss_family = 0;
	channel_set_scan(ch, scan_new(app, RULE_S2C, 0), NULL,
	    outside_announcecb, oc);
	snprintf(ch->ch_rule, sizeof ch->ch_rule, "%s", rule_app_name(app));
	ch->ch_closed = outside_ctl_closed;
	ch->ch_closed_arg = oc;
}
