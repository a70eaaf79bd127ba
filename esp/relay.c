/*
 * Relaying a client agent's channels. An agent's OPEN is checked against
 * the policy and routed like a SOCKS request (esp_route), then opened on
 * the isp's session with the agent's tag for that isp, and, once the isp
 * answers, the two channels are joined back to back (end_link): flow
 * control holds end to end and nothing between them grows past a window.
 * A reverse connection the isp asks for (OUTSIDE_OPEN) on an agent's
 * control channel goes on to that agent, with the isp's tag, and its
 * channel is joined to the isp's the same way.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "audit.h"
#include "end.h"
#include "escape.h"
#include "esp.h"
#include "log.h"
#include "metrics.h"
#include "srccount.h"
#include "xmalloc.h"

/* One relay being opened: the channel that asked, the one asked. */
struct relay {
	struct channel *r_from; /* the OPEN (or OUTSIDE_OPEN) we answer */
	struct channel *r_to;   /* the one we opened on the other session */
	struct esp_link *r_link;
	struct esp_agent *r_agent;
	char r_desc[ADDR_STRLEN * 2];
};

/* The channel that asked went away first: the other one goes too. */
static void
relay_cancelcb(struct channel *ch, uint8_t code, const struct endpoint *b,
    void *arg)
{
	struct relay *r = arg;
	struct channel *to = r->r_to;

	(void)ch;
	(void)code;
	(void)b;
	free(r);
	if (to != NULL) {
		to->ch_result = NULL;
		channel_close(to, CHANNEL_RESET, "the client left");
	}
}

/* The isp answered an agent's OPEN: answer the agent and join them. */
static void
relay_resultcb(struct channel *to, uint8_t code, const struct endpoint *bound,
    void *arg)
{
	struct relay *r = arg;
	struct channel *from = r->r_from;

	from->ch_result = NULL;
	if (code != OPEN_OK) {
		log_info("agent %s: %s: %s", r->r_agent->a_peer, r->r_desc,
		    frame_open_code_str(code));
		free(r);
		channel_refuse(from, code);
		return;
	}
	channel_describe(from, "channel %u agent %s: %s", from->ch_id,
	    r->r_agent->a_peer, r->r_desc);
	channel_describe(to, "channel %u %s (agent %s)", to->ch_id, r->r_desc,
	    r->r_agent->a_peer);
	log_debug("%s opened", from->ch_desc);
	channel_answer(from, OPEN_OK, bound);
	outside_scan(r->r_link, to, r->r_agent, from->ch_id);
	free(r);
	end_link(from, to);
}

/*
 * Refuse an agent's OPEN, in the audit too. An OPEN costs an agent one
 * frame, logged in or not: RELAY_LOGGED refusals a second are logged and
 * audited, the rest only counted (as the isp does with an esp's).
 */
#define RELAY_LOGGED 50
static void
relay_refuse(struct esp_agent *a, struct channel *ch,
    const struct frame_open *o, uint8_t code, const char *why)
{
	static struct log_budget lines;
	char dst[ADDR_STRLEN];

	if (log_budget_spend(&lines, RELAY_LOGGED,
		"more than %d agent connections refused a second: the rest "
		"are counted (dynpass_refusals_total), not logged or audited",
		RELAY_LOGGED)) {
		log_info("agent %s -> %s: %s", a->a_peer,
		    endpoint_str(&o->fo_dst, dst, sizeof dst), why);
		audit_refusal(1, metrics_reason(code), o->fo_user,
		    &o->fo_client, &o->fo_dst, why);
	} else
		metrics_add(M_REFUSALS, metrics_reason(code), 1);
	channel_refuse(ch, code);
}

/* The isp's channel linked to ch was reset for holding its session up,
 * since the agent did not take what it was sent. */
static void
relay_blamecb(struct channel *ch, void *arg)
{
	(void)ch;
	door_stalled(arg);
}

/* A channel's place among its address's connections. */
struct relay_place {
	struct esp *rp_esp;
	uint8_t rp_key[16];
};

/* The agent's channel ended: its address's place is free again (as a
 * SOCKS client's, socks_release). */
static void
relay_place_closed(struct channel *ch, void *arg)
{
	struct relay_place *rp = arg;

	(void)ch;
	srccount_release(rp->rp_esp->e_conns, rp->rp_key);
	free(rp);
}

/*
 * Take a place for ch among the connections from its agent's address,
 * which SOCKS clients there take too ([esp] max_connections_per_source);
 * it is given back when ch goes, however it goes. 0 when there is none.
 */
static int
relay_place(struct esp_agent *a, struct channel *ch)
{
	struct esp *e = a->a_esp;
	struct relay_place *rp;
	unsigned held;

	if (srccount_take(e->e_conns, a->a_rlkey, e->e_max_conns_per_source,
		&held) != 0)
		return 0;
	rp = xcalloc(1, sizeof *rp);
	rp->rp_esp = e;
	memcpy(rp->rp_key, a->a_rlkey, sizeof rp->rp_key);
	ch->ch_release = relay_place_closed;
	ch->ch_release_arg = rp;
	return 1;
}

/*
 * OPEN from an agent. A logged-in agent's OPEN carries its user and a tag
 * for each isp it logged in to; the isp chosen gets its own tag, which
 * only the agent could make. An agent that did not log in is anonymous.
 */
void
relay_open(struct session *s, struct channel *ch, const struct frame_open *o,
    void *arg)
{
	struct esp_agent *a = arg;
	struct optag_legs legs;
	struct frame_open io;
	struct esp_link *l;
	struct agent_leg *leg;
	struct relay *r;
	const uint8_t *tag;
	const char *user = a->a_login == 2 ? a->a_user : "";
	char dst[ADDR_STRLEN];
	uint8_t code;

	(void)s;
	if (a->a_login == 2 ? o->fo_auth != OPEN_AUTH_TAG ||
		    strcmp(o->fo_user, a->a_user) != 0 ||
		    optag_legs_decode(o->fo_secret, o->fo_secret_len, &legs) !=
			0
			    : o->fo_auth != OPEN_AUTH_NONE) {
		relay_refuse(a, ch, o, OPEN_NOT_ALLOWED,
		    "not the agent's login");
		return;
	}
	if (o->fo_dst.ep_atyp == ATYP_NAME && !endpoint_name_ok(&o->fo_dst)) {
		relay_refuse(a, ch, o, OPEN_BAD_ADDRTYPE, "not a host name");
		return;
	}
	/* One agent does not take every channel of an isp's session. */
	if (session_channels(a->a_sess) > a->a_esp->e_max_agent_channels) {
		relay_refuse(a, ch, o, OPEN_FAILURE,
		    "too many connections from this agent ([esp] "
		    "max_channels_per_agent)");
		return;
	}
	/* Nor do several from one address, with SOCKS clients there. */
	if (!relay_place(a, ch)) {
		relay_refuse(a, ch, o, OPEN_FAILURE,
		    "too many connections from this address ([esp] "
		    "max_connections_per_source)");
		return;
	}
	ch->ch_blame = relay_blamecb;
	ch->ch_blame_arg = a;
	l = esp_route(a->a_esp, &o->fo_dst, &o->fo_client, user, NULL, 0, a,
	    &code);
	if (l == NULL) {
		relay_refuse(a, ch, o, code,
		    code == OPEN_NOT_ALLOWED ? "not allowed by policy"
					     : "no session to an isp");
		return;
	}
	memset(&io, 0, sizeof io);
	io.fo_dst = o->fo_dst;
	io.fo_client = o->fo_client;
	if (*user != '\0') {
		leg = agentlogin_leg(a, l);
		if ((tag = optag_legs_find(&legs,
			 (uint8_t)(leg - a->a_legs))) == NULL) {
			relay_refuse(a, ch, o, OPEN_NOT_ALLOWED,
			    "no tag for the isp that serves it");
			return;
		}
		snprintf(io.fo_user, sizeof io.fo_user, "%s", user);
		io.fo_auth = OPEN_AUTH_TAG;
		optag_isp_encode(leg->ag_login, legs.ol_counter, tag,
		    io.fo_secret);
		io.fo_secret_len = OPTAG_ISP_LEN;
	}
	r = xcalloc(1, sizeof *r);
	r->r_from = ch;
	r->r_link = l;
	r->r_agent = a;
	snprintf(r->r_desc, sizeof r->r_desc, "%s -> %s",
	    endpoint_str(&o->fo_client, dst, sizeof dst), "");
	endpoint_str(&o->fo_dst, dst, sizeof dst);
	strncat(r->r_desc, dst, sizeof r->r_desc - strlen(r->r_desc) - 1);
	r->r_to = session_open(l->el_sess, FRAME_OPEN, &io, relay_resultcb, r);
	OPENSSL_cleanse(&io, sizeof io);
	if (r->r_to == NULL) {
		free(r);
		relay_refuse(a, ch, o, OPEN_NET_UNREACH,
		    "no session to an isp");
		return;
	}
	r->r_to->ch_parent = a->a_esp->e_parent;
	ch->ch_result = relay_cancelcb;
	ch->ch_result_arg = r;
}

/* The agent answered a reverse connection: answer the isp, join them. */
static void
relay_outside_resultcb(struct channel *to, uint8_t code,
    const struct endpoint *bound, void *arg)
{
	struct relay *r = arg;
	struct channel *from = r->r_from;

	from->ch_result = NULL;
	if (code != OPEN_OK) {
		log_info("reverse %s through agent %s: %s", r->r_desc,
		    r->r_agent->a_peer, frame_open_code_str(code));
		free(r);
		channel_refuse(from, code);
		return;
	}
	channel_describe(from, "channel %u outside %s (agent %s)", from->ch_id,
	    r->r_desc, r->r_agent->a_peer);
	channel_describe(to, "channel %u agent %s: outside %s", to->ch_id,
	    r->r_agent->a_peer, r->r_desc);
	log_debug("%s opened", from->ch_desc);
	channel_answer(from, OPEN_OK, bound);
	free(r);
	end_link(from, to);
	/* What the agent sends waits in the link until the isp grants. */
	channel_grant(to);
}

/*
 * The isp asks for a reverse connection to a client behind an agent: ask
 * the agent, on its control channel, with the isp's tag. -1 if the
 * agent or its channel is gone.
 */
int
relay_outside(struct esp_link *l, struct channel *ch, struct channel *ctl,
    const struct frame_open *fo, uint64_t agent, uint32_t agent_channel)
{
	struct esp_agent *a = door_find(l->el_esp, agent);
	struct frame_open ao;
	struct relay *r;
	char dst[ADDR_STRLEN];

	(void)ctl;
	if (a == NULL || session_channel(a->a_sess, agent_channel) == NULL)
		return -1;
	memset(&ao, 0, sizeof ao);
	ao.fo_dst = fo->fo_dst;
	ao.fo_client = fo->fo_client;
	ao.fo_ref = agent_channel;
	ao.fo_auth = OPEN_AUTH_TAG;
	memcpy(ao.fo_secret, fo->fo_secret, fo->fo_secret_len);
	ao.fo_secret_len = fo->fo_secret_len;
	r = xcalloc(1, sizeof *r);
	r->r_from = ch;
	r->r_link = l;
	r->r_agent = a;
	snprintf(r->r_desc, sizeof r->r_desc, "%s for channel %u",
	    endpoint_str(&fo->fo_dst, dst, sizeof dst), agent_channel);
	r->r_to = session_open(a->a_sess, FRAME_OUTSIDE_OPEN, &ao,
	    relay_outside_resultcb, r);
	if (r->r_to == NULL) {
		free(r);
		return -1;
	}
	ch->ch_result = relay_cancelcb;
	ch->ch_result_arg = r;
	log_info("reverse %s: asking agent %s to connect", r->r_desc,
	    a->a_peer);
	return 0;
}
