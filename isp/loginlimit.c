/*
 * Failed logins per user, at the isp ([isp] login_failures within
 * login_failure_window): the one bound on password guessing that holds
 * against a taken-over esp, which limits at the esp cannot stop. Shared
 * by password checks (isp/login.c) and agents' SCRAM logins
 * (isp/agentauth.c).
 */
#include "isp.h"
#include "log.h"
#include "monotime.h"

/*
 * Is the user's password refused for now? After [isp] login_failures
 * failed checks within login_failure_window, every login of the user,
 * by password or SCRAM, is refused until the window is over: checked
 * against the dummy hash, so that it costs and looks like any refusal,
 * and the right password is refused too. An esp that guesses on (a
 * taken-over one) gets login_failures guesses a window, in all.
 */
int
loginlimit_locked(struct isp *i, struct policy_user *u)
{
	if (u == NULL || u->pu_fails == 0)
		return 0;
	if (monotime_ms() - u->pu_fail_since >= (uint64_t)i->i_login_fail_ms) {
		u->pu_fails = 0;
		return 0;
	}
	return u->pu_fails >= i->i_login_fail_max;
}

/*
 * May one more check of the user's password start? Checks under way
 * count as failures until they end, so that a burst of guesses at once
 * (a taken-over esp needs no answer to send the next) gets no more than
 * login_failures checks either; the rest are answered busy, unchecked.
 */
int
loginlimit_room(struct isp *i, struct policy_user *u)
{
	static struct log_limit full;

	if (u == NULL || u->pu_fails + u->pu_checking < i->i_login_fail_max)
		return 1;
	log_warnx_limited(&full,
	    "user %s: %u password checks under way and %u failed: not "
	    "checking more at once ([isp] login_failures)",
	    u->pu_name, u->pu_checking, u->pu_fails);
	return 0;
}

/* A failed check of the user's password (how: "password", "SCRAM"). */
void
loginlimit_failed(struct isp *i, struct policy_user *u, const char *how)
{
	if (u == NULL || u->pu_hash == NULL)
		return;
	(void)loginlimit_locked(i, u); /* a window that is over starts again */
	if (u->pu_fails++ == 0)
		u->pu_fail_since = monotime_ms();
	if (u->pu_fails == i->i_login_fail_max)
		log_warnx("user %s: %u failed logins (the last by %s) within "
			  "%d.%03d s: the user's logins are refused until that "
			  "time is over ([isp] login_failures)",
		    u->pu_name, u->pu_fails, how, i->i_login_fail_ms / 1000,
		    i->i_login_fail_ms % 1000);
}

/*
 * May one more password check (scrypt) start for this esp session? At
 * most [isp] session_login_rate a minute, whatever the user: the per-user
 * limit above bounds guesses at one user, this bounds the CPU one esp
 * can spend, over users the policy does not know, locked ones and many
 * names. An honest esp stays under it (its own login_rate, 600 a minute
 * by default, bounds what it sends on).
 */
int
loginlimit_session(struct isp *i, struct uplink *u)
{
	static struct log_limit full;
	uint64_t now = monotime_ms();

	if (u == NULL)
		return 1;
	if (u->u_checks == 0 || now - u->u_checks_since >= 60000) {
		u->u_checks = 0;
		u->u_checks_since = now;
	}
	if (u->u_checks < i->i_session_checks) {
		u->u_checks++;
		return 1;
	}
	log_warnx_limited(&full,
	    "session with esp %s: %u password or certificate checks "
	    "within a minute: answering busy ([isp] session_login_rate)",
	    u->u_name, u->u_checks);
	return 0;
}
