/*
 * Agents' logins, relayed. An agent's LOGIN goes to every isp whose
 * policy names the user (a name none knows goes to one isp, so the
 * timing does not tell), each exchange a "leg" of the login; each isp's
 * answers go back to the agent with the leg's number. The esp sees the
 * messages but none of them lets it log in or act as the user: SCRAM's
 * proof is bound to the isp's nonce, a certificate login's signature to
 * the isp's key share, and the key each leg ends with is the agent's and
 * the isp's alone. Logins count against [esp] login_* limits.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "audit.h"
#include "certlogin.h"
#include "escape.h"
#include "esp.h"
#include "log.h"
#include "metrics.h"
#include "scram.h"
#include "xmalloc.h"

static const struct endpoint agentlogin_nowhere; /* audit: no destination */

/* Send the agent a LOGIN_REPLY for one leg. */
static void
agentlogin_to_agent(struct esp_agent *a, size_t leg, uint8_t code,
    uint32_t login, const uint8_t *msg, size_t len)
{
	struct frame_login_reply r;
	uint8_t buf[FRAME_LOGIN_MSG_MAX + 16];
	size_t n;

	memset(&r, 0, sizeof r);
	r.flr_ref = a->a_ref;
	r.flr_leg = (uint8_t)leg;
	r.flr_legs = (uint8_t)(a->a_nlegs > 0 ? a->a_nlegs : 1);
	r.flr_code = code;
	r.flr_login = login;
	r.flr_msg = msg;
	r.flr_msglen = len;
	if ((n = frame_login_reply_encode(buf, sizeof buf, &r)) > 0)
		session_send_message(a->a_sess, FRAME_LOGIN_REPLY, buf, n);
}

/* Send one step to a leg's isp. */
static void
agentlogin_to_isp(struct esp_agent *a, struct agent_leg *leg, uint8_t step,
    const uint8_t *msg, size_t len)
{
	struct frame_login fl;
	uint8_t buf[FRAME_LOGIN_MSG_MAX + 300];
	size_t n;

	memset(&fl, 0, sizeof fl);
	fl.fl_ref = leg->ag_ref;
	fl.fl_method = a->a_method;
	fl.fl_step = step;
	fl.fl_client = a->a_client;
	fl.fl_msg = msg;
	fl.fl_msglen = len;
	if ((n = frame_login_encode(buf, sizeof buf, &fl)) > 0)
		session_send_message(leg->ag_link->el_sess, FRAME_LOGIN, buf,
		    n);
	OPENSSL_cleanse(buf, sizeof buf);
}

/* Stop waiting for a leg's isp. */
static void
agentlogin_unwait(struct agent_leg *leg)
{
	if (leg->ag_link != NULL &&
	    (leg->ag_state == LEG_WAIT1 || leg->ag_state == LEG_WAIT2))
		TAILQ_REMOVE(&leg->ag_link->el_legs, leg, ag_entry);
}

/*
 * May this refusal be logged and audited? An agent needs no credential
 * to send LOGINs: AGENTLOGIN_LOGGED a second are, the rest only counted.
 */
#define AGENTLOGIN_LOGGED 50
static int
agentlogin_loud(void)
{
	static struct log_budget lines;

	return log_budget_spend(&lines, AGENTLOGIN_LOGGED,
	    "more than %d agent logins refused a second: the rest are counted "
	    "(dynpass_logins_total), not logged or audited",
	    AGENTLOGIN_LOGGED);
}

/*
 * One more refused or failed login on the agent's session: past
 * AGENTLOGIN_MAX_REFUSED the session ends (from the login timer, once
 * the caller is done with the agent), so that each further try costs a
 * TLS handshake, as at the SOCKS door.
 */
#define AGENTLOGIN_MAX_REFUSED 8
static void agentlogin_timeoutcb(evutil_socket_t, short, void *);
static void
agentlogin_count_refusal(struct esp_agent *a)
{
	struct timeval now = { 0, 0 };

	if (++a->a_refused < AGENTLOGIN_MAX_REFUSED)
		return;
	if (a->a_login_timer == NULL)
		a->a_login_timer =
		    evtimer_new(a->a_esp->e_base, agentlogin_timeoutcb, a);
	evtimer_add(a->a_login_timer, &now);
}

/* Every leg has its answer: the login is done, either way. */
static void
agentlogin_finish(struct esp_agent *a)
{
	size_t i, ok = 0;

	for (i = 0; i < a->a_nlegs; i++) {
		if (a->a_legs[i].ag_state != LEG_OK &&
		    a->a_legs[i].ag_state != LEG_DENIED)
			return;
		ok += a->a_legs[i].ag_state == LEG_OK;
	}
	if (a->a_limited)
		ratelimit_release(a->a_esp->e_logins, a->a_rlkey);
	a->a_limited = 0;
	if (a->a_login_timer != NULL)
		evtimer_del(a->a_login_timer);
	metrics_add2(M_LOGINS,
	    a->a_method == AUTH_SCRAM ? "agent_password" : "agent_certificate",
	    ok > 0 ? "ok" : "refused", 1);
	if (ok > 0) {
		a->a_login = 2;
		log_info("agent %s: user %s logged in by %s at %zu isp%s",
		    a->a_peer, a->a_user,
		    a->a_method == AUTH_SCRAM ? "password" : "certificate", ok,
		    ok == 1 ? "" : "s");
		return;
	}
	if (agentlogin_loud()) {
		log_warnx("agent %s: login failed for user \"%s\"", a->a_peer,
		    a->a_user);
		audit_refusal(1, "login_failed", a->a_user, &a->a_client,
		    &agentlogin_nowhere, "agent login failed");
	}
	a->a_login = 0;
	a->a_nlegs = 0;
	a->a_user[0] = '\0';
	agentlogin_count_refusal(a);
}

/* Refuse a login outright (one leg, as far as the agent knows). */
static void
agentlogin_refuse(struct esp_agent *a, uint8_t code, const char *why)
{
	char name[300];

	metrics_add2(M_LOGINS,
	    a->a_method == AUTH_CERT ? "agent_certificate" : "agent_password",
	    "refused", 1);
	if (agentlogin_loud()) {
		log_warnx("agent %s: login for user \"%s\" refused: %s",
		    a->a_peer, esc_str(name, sizeof name, a->a_user), why);
		audit_refusal(1, "login_refused", a->a_user, &a->a_client,
		    &agentlogin_nowhere, why);
	}
	a->a_nlegs = 0;
	agentlogin_to_agent(a, 0, code, 0, NULL, 0);
	a->a_user[0] = '\0';
	a->a_login = 0;
	agentlogin_count_refusal(a);
}

/*
 * A login under way for [esp] agent_login_timeout: the agent (or an isp)
 * stopped answering. End the session, which frees its login slot.
 */
static void
agentlogin_timeoutcb(evutil_socket_t fd, short what, void *arg)
{
	struct esp_agent *a = arg;
	char why[128];

	(void)fd;
	(void)what;
	if (a->a_refused >= AGENTLOGIN_MAX_REFUSED) {
		snprintf(why, sizeof why, "%u logins refused on one session",
		    a->a_refused);
		session_fail(a->a_sess, GOAWAY_REFUSED, why);
		return;
	}
	if (a->a_login != 1)
		return;
	snprintf(why, sizeof why,
	    "the login took longer than %d.%03d s ([esp] agent_login_timeout)",
	    a->a_esp->e_agent_login_ms / 1000,
	    a->a_esp->e_agent_login_ms % 1000);
	session_fail(a->a_sess, GOAWAY_TIMEOUT, why);
}

/* Step 1: pick the isps, one leg each, and pass the message on. */
static void
agentlogin_start(struct esp_agent *a, const struct frame_login *fl)
{
	struct esp *e = a->a_esp;
	struct esp_link *l, *decoy = NULL;
	struct agent_leg *leg;
	struct timeval tv;
	char text[SCRAM_MSG_MAX];
	const char *why;
	size_t i;
	int rc;

	a->a_ref = fl->fl_ref;
	a->a_method = fl->fl_method;
	if (fl->fl_method == AUTH_SCRAM) {
		rc = -1;
		if (fl->fl_msglen < sizeof text &&
		    memchr(fl->fl_msg, '\0', fl->fl_msglen) == NULL) {
			memcpy(text, fl->fl_msg, fl->fl_msglen);
			text[fl->fl_msglen] = '\0';
			rc = scram_server_user(text, a->a_user,
			    sizeof a->a_user);
		}
	} else
		rc = certlogin_peek_user(fl->fl_msg, fl->fl_msglen, a->a_user,
		    sizeof a->a_user);
	if (rc != 0) {
		a->a_user[0] = '\0';
		agentlogin_refuse(a, LOGIN_DENIED, "malformed login");
		return;
	}
	if ((why = ratelimit_take(e->e_logins, a->a_rlkey)) != NULL) {
		agentlogin_refuse(a, LOGIN_BUSY, why);
		return;
	}
	a->a_limited = 1;
	a->a_login = 1;
	a->a_nlegs = 0;
	TAILQ_FOREACH_REVERSE(l, &e->e_links, esp_links, el_entry)
	{
		/* One session of each isp: its least busy one. */
		if (!login_link_askable(l, NULL) ||
		    esp_lane_pick(e, l, login_link_askable, NULL) != l)
			continue;
		if (decoy == NULL)
			decoy = l;
		if (policy_find(&l->el_policy, a->a_user) != NULL &&
		    a->a_nlegs < OPTAG_MAX_LEGS)
			a->a_legs[a->a_nlegs++].ag_link = l;
	}
	/* Nobody knows the name: ask one isp anyway, for equal timing. */
	if (a->a_nlegs == 0 && decoy != NULL)
		a->a_legs[a->a_nlegs++].ag_link = decoy;
	if (a->a_nlegs == 0) {
		ratelimit_release(e->e_logins, a->a_rlkey);
		a->a_limited = 0;
		agentlogin_refuse(a, LOGIN_BUSY, "no session to an isp");
		return;
	}
	if (a->a_login_timer == NULL)
		a->a_login_timer =
		    evtimer_new(e->e_base, agentlogin_timeoutcb, a);
	tv.tv_sec = e->e_agent_login_ms / 1000;
	tv.tv_usec = (e->e_agent_login_ms % 1000) * 1000;
	evtimer_add(a->a_login_timer, &tv);
	for (i = 0; i < a->a_nlegs; i++) {
		leg = &a->a_legs[i];
		leg->ag_agent = a;
		if (++e->e_next_ref == 0) /* 0: the isp ended a login */
			++e->e_next_ref;
		leg->ag_ref = e->e_next_ref;
		leg->ag_login = 0;
		leg->ag_state = LEG_WAIT1;
		TAILQ_INSERT_TAIL(&leg->ag_link->el_legs, leg, ag_entry);
		agentlogin_to_isp(a, leg, 1, fl->fl_msg, fl->fl_msglen);
	}
}

/* Step 2 for one leg: the agent's proof goes to that leg's isp. */
static void
agentlogin_prove(struct esp_agent *a, const struct frame_login *fl)
{
	struct agent_leg *leg;

	if (fl->fl_leg >= a->a_nlegs || fl->fl_ref != a->a_ref ||
	    fl->fl_method != a->a_method ||
	    a->a_legs[fl->fl_leg].ag_state != LEG_ASKED) {
		session_fail(a->a_sess, GOAWAY_PROTOCOL,
		    "LOGIN step 2 out of turn");
		return;
	}
	leg = &a->a_legs[fl->fl_leg];
	if (leg->ag_link == NULL) {
		leg->ag_state = LEG_DENIED;
		agentlogin_to_agent(a, fl->fl_leg, LOGIN_DENIED, 0, NULL, 0);
		agentlogin_finish(a);
		return;
	}
	leg->ag_state = LEG_WAIT2;
	TAILQ_INSERT_TAIL(&leg->ag_link->el_legs, leg, ag_entry);
	agentlogin_to_isp(a, leg, 2, fl->fl_msg, fl->fl_msglen);
}

/* LOGIN from an agent. */
void
agentlogin_step(struct esp_agent *a, const uint8_t *p, size_t len)
{
	struct frame_login fl;

	if (frame_login_decode(p, len, &fl) != FRAME_OK) {
		session_fail(a->a_sess, GOAWAY_PROTOCOL, "malformed LOGIN");
		return;
	}
	if (a->a_refused >= AGENTLOGIN_MAX_REFUSED)
		return; /* the session is ending */
	if (fl.fl_step == 1 && a->a_login == 0 && fl.fl_leg == 0)
		agentlogin_start(a, &fl);
	else if (fl.fl_step == 2 && a->a_login == 1)
		agentlogin_prove(a, &fl);
	else
		session_fail(a->a_sess, GOAWAY_PROTOCOL,
		    a->a_login == 2 ? "a second login on one session"
				    : "LOGIN out of turn");
}

/*
 * Agents logged in at l (with login, or any login when 0) are asked to
 * start a new session and log in again: the isp "what" (is gone, ended
 * the login). Their channels through other isps finish first.
 */
void
agentlogin_relogin(struct esp_link *l, uint32_t login, const char *what,
    const char *goaway)
{
	struct esp *e = l->el_esp;
	struct esp_agent *a, *next;
	struct agent_leg *leg;

	for (a = TAILQ_FIRST(&e->e_agents); a != NULL; a = next) {
		next = TAILQ_NEXT(a, a_entry);
		if ((leg = agentlogin_leg(a, l)) == NULL ||
		    leg->ag_state != LEG_OK ||
		    (login != 0 && leg->ag_login != login))
			continue;
		leg->ag_state = LEG_DENIED;
		log_info("agent %s (user %s): isp \"%s\" %s; asking it to log "
			 "in again",
		    a->a_peer, a->a_user, l->el_id, what);
		session_goaway(a->a_sess, GOAWAY_NORMAL, goaway);
	}
}

#define AGENTLOGIN_DRAINING \
	"an isp this agent logged in to is draining its session; log in again"

/*
 * The isp drains this session (a reload): it takes no new channels, so
 * agents logged in through it log in again, through its other sessions.
 */
void
agentlogin_link_draining(struct esp_link *l)
{
	agentlogin_relogin(l, 0, "is draining its session",
	    AGENTLOGIN_DRAINING);
}

/*
 * A login just done with a leg accepted on a session that began to drain
 * meanwhile: no channel could use that leg, so log in again.
 */
static void
agentlogin_drained_legs(struct esp_agent *a)
{
	struct agent_leg *leg;
	size_t i;

	if (a->a_login != 2)
		return;
	for (i = 0; i < a->a_nlegs; i++) {
		leg = &a->a_legs[i];
		if (leg->ag_state == LEG_OK && leg->ag_link != NULL &&
		    !session_is_up(leg->ag_link->el_sess)) {
			agentlogin_relogin(leg->ag_link, leg->ag_login,
			    "is draining its session", AGENTLOGIN_DRAINING);
			return;
		}
	}
}

/* LOGIN_REPLY from an isp: pass it to the agent whose leg it answers. */
void
agentlogin_reply(struct esp_link *l, const uint8_t *p, size_t len)
{
	struct frame_login_reply r;
	struct agent_leg *leg;
	struct esp_agent *a;
	size_t i;

	if (frame_login_reply_decode(p, len, &r) != FRAME_OK ||
	    r.flr_legs != 1) {
		session_fail(l->el_sess, GOAWAY_PROTOCOL,
		    "malformed LOGIN_REPLY");
		return;
	}
	if (r.flr_ref == 0) {
		/* Not an answer: the isp ended an accepted login. */
		if (r.flr_code != LOGIN_DENIED || r.flr_login == 0) {
			session_fail(l->el_sess, GOAWAY_PROTOCOL,
			    "LOGIN_REPLY without a LOGIN");
			return;
		}
		/* A reload changed what the login rested on. */
		agentlogin_relogin(l, r.flr_login, "ended its login",
		    "the isp ended this login; log in again");
		return;
	}
	TAILQ_FOREACH(leg, &l->el_legs, ag_entry)
	if (leg->ag_ref == r.flr_ref)
		break;
	if (leg == NULL)
		return; /* the agent left */
	a = leg->ag_agent;
	i = (size_t)(leg - a->a_legs);
	TAILQ_REMOVE(&l->el_legs, leg, ag_entry);
	if (leg->ag_state == LEG_WAIT1 && r.flr_code == LOGIN_CONTINUE)
		leg->ag_state = LEG_ASKED;
	else if (leg->ag_state == LEG_WAIT2 && r.flr_code == LOGIN_ACCEPTED) {
		leg->ag_state = LEG_OK;
		leg->ag_login = r.flr_login;
	} else {
		leg->ag_state = LEG_DENIED;
		if (r.flr_code == LOGIN_CONTINUE ||
		    r.flr_code == LOGIN_ACCEPTED)
			r.flr_code = LOGIN_DENIED;
		r.flr_msglen = 0;
	}
	agentlogin_to_agent(a, i, r.flr_code, r.flr_login, r.flr_msg,
	    r.flr_msglen);
	agentlogin_finish(a);
	agentlogin_drained_legs(a);
}

/* The agent's leg at this link, or NULL. */
struct agent_leg *
agentlogin_leg(const struct esp_agent *a, const struct esp_link *l)
{
	size_t i;

	for (i = 0; i < a->a_nlegs; i++)
		if (a->a_legs[i].ag_link == l)
			return (struct agent_leg *)&a->a_legs[i];
	return NULL;
}

/* An isp's session is gone: its legs still waiting are refused. */
void
agentlogin_link_gone(struct esp_link *l)
{
	struct agent_leg *leg;
	struct esp_agent *a;

	while ((leg = TAILQ_FIRST(&l->el_legs)) != NULL) {
		TAILQ_REMOVE(&l->el_legs, leg, ag_entry);
		a = leg->ag_agent;
		leg->ag_state = LEG_DENIED;
		leg->ag_link = NULL;
		agentlogin_to_agent(a, (size_t)(leg - a->a_legs), LOGIN_DENIED,
		    0, NULL, 0);
		agentlogin_finish(a);
	}
}

/* The agent is gone: stop waiting for its legs. */
void
agentlogin_forget(struct esp_agent *a)
{
	struct agent_leg *leg;
	uint8_t id[4];
	size_t i;

	for (i = 0; i < a->a_nlegs; i++) {
		leg = &a->a_legs[i];
		agentlogin_unwait(leg);
		/*
		 * The isp keeps an accepted login until told it is over (an
		 * isp from before step 3 would take it for a protocol error).
		 */
		if (leg->ag_state == LEG_OK && leg->ag_link != NULL &&
		    leg->ag_login != 0 && leg->ag_link->el_login_left) {
			id[0] = (uint8_t)(leg->ag_login >> 24);
			id[1] = (uint8_t)(leg->ag_login >> 16);
			id[2] = (uint8_t)(leg->ag_login >> 8);
			id[3] = (uint8_t)leg->ag_login;
			agentlogin_to_isp(a, leg, FRAME_LOGIN_LEFT, id,
			    sizeof id);
		}
	}
	if (a->a_limited)
		ratelimit_release(a->a_esp->e_logins, a->a_rlkey);
	a->a_limited = 0;
	if (a->a_login_timer != NULL)
		event_free(a->a_login_timer);
	a->a_login_timer = NULL;
}
