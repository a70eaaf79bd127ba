/*
 * Agent logins at the isp. A client agent logs its user in through the
 * esp, which only relays the messages (LOGIN, LOGIN_REPLY): by SCRAM
 * (lib/scram.c), checked against the user's stored secret, or by a
 * certificate under [policy] user_ca (lib/certlogin.c). Either way both
 * ends derive a key the esp cannot compute, and every OPEN the agent asks
 * for carries a tag under it (lib/optag.h): the isp takes the channel's
 * user only from a tag that checks, on the session the login was made
 * on, with a counter never seen before.
 *
 * Logins live as long as their session, or until a reload changes what
 * they rest on (the user's password, the CA set, the user): then the isp
 * ends them, and the esp asks their agents to log in again. What waits
 * and what is kept is bounded per session.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "addr.h"
#include "certlogin.h"
#include "conf.h"
#include "escape.h"
#include "isp.h"
#include "log.h"
#include "monotime.h"
#include "metrics.h"
#include "optag.h"
#include "scram.h"
#include "tls.h"
#include "xmalloc.h"

#define AGENTAUTH_EXCHANGES       64    /* waiting for step 2, per session */
#define AGENTAUTH_LOGINS          4096  /* accepted, per session */
#define AGENTAUTH_TTL_MS          30000 /* step 2 must come within this */
#define AGENTAUTH_REFUSALS_LOGGED 50    /* refusal lines a second, at most */

/* A login between its two steps. */
struct agentauth_exchange {
	uint64_t ax_serial;
	uint32_t ax_ref;
	uint8_t ax_method;
	int ax_known; /* the user exists (else a dummy secret answers) */
	char ax_user[FRAME_USER_MAX + 1];
	uint64_t ax_start_ms;
	unsigned char ax_basis[32]; /* what it rests on, at step 1 */
	struct scram_server ax_scram;
	struct certlogin_server ax_cert;
	TAILQ_ENTRY(agentauth_exchange) ax_entry;
};

/* An accepted login. */
struct agentauth_login {
	uint64_t al_serial;
	uint32_t al_id;
	uint8_t al_method;
	unsigned char al_basis[32];
	char al_user[FRAME_USER_MAX + 1];
	unsigned char al_key[OPTAG_KEY_LEN];
	struct optag_replay al_replay;
	TAILQ_ENTRY(agentauth_login) al_entry;
};

/* Set up the lists. */
void
agentauth_init(struct isp *i)
{
	TAILQ_INIT(&i->i_exchanges);
	TAILQ_INIT(&i->i_logins);
}

/* Forget an exchange. */
static void
agentauth_exchange_free(struct isp *i, struct agentauth_exchange *x)
{
	TAILQ_REMOVE(&i->i_exchanges, x, ax_entry);
	scram_server_clear(&x->ax_scram);
	certlogin_server_clear(&x->ax_cert);
	OPENSSL_cleanse(x, sizeof *x);
	free(x);
}

/* Forget a login. */
static void
agentauth_login_free(struct isp *i, struct agentauth_login *l)
{
	TAILQ_REMOVE(&i->i_logins, l, al_entry);
	OPENSSL_cleanse(l, sizeof *l);
	free(l);
}

/* A session ended: its exchanges and logins go with it. */
void
agentauth_session_gone(struct isp *i, uint64_t serial)
{
	struct agentauth_exchange *x, *xn;
	struct agentauth_login *l, *ln;

	for (x = TAILQ_FIRST(&i->i_exchanges); x != NULL; x = xn) {
		xn = TAILQ_NEXT(x, ax_entry);
		if (x->ax_serial == serial)
			agentauth_exchange_free(i, x);
	}
	for (l = TAILQ_FIRST(&i->i_logins); l != NULL; l = ln) {
		ln = TAILQ_NEXT(l, al_entry);
		if (l->al_serial == serial)
			agentauth_login_free(i, l);
	}
}

/* Free everything (at exit). */
void
agentauth_free_all(struct isp *i)
{
	while (!TAILQ_EMPTY(&i->i_exchanges))
		agentauth_exchange_free(i, TAILQ_FIRST(&i->i_exchanges));
	while (!TAILQ_EMPTY(&i->i_logins))
		agentauth_login_free(i, TAILQ_FIRST(&i->i_logins));
}

/*
 * What a login by method for user rests on, as a digest: the user's
 * stored password secret, or the CA set of [policy] user_ca. -1 with why
 * when the policy does not let such a login stand.
 */
static int
agentauth_basis(const struct isp *i, uint8_t method, const char *user,
    unsigned char out[32], const char **why)
{
	const struct policy_user *u = policy_find(&i->i_policy, user);
	EVP_MD_CTX *md;
	int rc;

	*why = "the user is gone from the policy";
	if (u == NULL)
		return -1;
	*why = method == AUTH_SCRAM ? "the user has no password now"
				    : "certificate logins are off";
	if ((method == AUTH_SCRAM && u->pu_hash == NULL) ||
	    (method != AUTH_SCRAM && i->i_user_ca == NULL))
		return -1;
	*why = "out of memory";
	if ((md = EVP_MD_CTX_new()) == NULL)
		return -1;
	rc = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		EVP_DigestUpdate(md, &method, 1) == 1 &&
		EVP_DigestUpdate(md, user, strlen(user) + 1) == 1 &&
		(method == AUTH_SCRAM
			? EVP_DigestUpdate(md, u->pu_hash, strlen(u->pu_hash))
			: EVP_DigestUpdate(md, i->i_user_ca_sum,
			      sizeof i->i_user_ca_sum)) == 1 &&
		EVP_DigestFinal_ex(md, out, NULL) == 1
	    ? 0
	    : -1;
	EVP_MD_CTX_free(md);
	return rc;
}

/* Send LOGIN_REPLY for the esp's ref. */
static void
agentauth_reply(struct session *s, uint32_t ref, uint8_t code, uint32_t login,
    const void *msg, size_t len)
{
	struct frame_login_reply r;
	uint8_t buf[FRAME_LOGIN_MSG_MAX + 16];
	size_t n;

	memset(&r, 0, sizeof r);
	r.flr_ref = ref;
	r.flr_legs = 1;
	r.flr_code = code;
	r.flr_login = login;
	r.flr_msg = msg;
	r.flr_msglen = len;
	if ((n = frame_login_reply_encode(buf, sizeof buf, &r)) > 0)
		session_send_message(s, FRAME_LOGIN_REPLY, buf, n);
	OPENSSL_cleanse(buf, sizeof buf);
}

/* Counts of one session's exchanges and logins; expired exchanges go. */
static void
agentauth_count(struct isp *i, uint64_t serial, size_t *nx, size_t *nl)
{
	struct agentauth_exchange *x, *xn;
	struct agentauth_login *l;
	uint64_t now = monotime_ms();

	*nx = *nl = 0;
	for (x = TAILQ_FIRST(&i->i_exchanges); x != NULL; x = xn) {
		xn = TAILQ_NEXT(x, ax_entry);
		if (now - x->ax_start_ms >= AGENTAUTH_TTL_MS)
			agentauth_exchange_free(i, x);
		else if (x->ax_serial == serial)
			(*nx)++;
	}
	TAILQ_FOREACH(l, &i->i_logins, al_entry)
	*nl += l->al_serial == serial;
}

/* The exchange of a session's ref, or NULL. */
static struct agentauth_exchange *
agentauth_exchange_find(struct isp *i, uint64_t serial, uint32_t ref)
{
	struct agentauth_exchange *x;

	TAILQ_FOREACH(x, &i->i_exchanges, ax_entry)
	if (x->ax_serial == serial && x->ax_ref == ref)
		return x;
	return NULL;
}

/* A message as a C string: no NUL inside, shorter than max. */
static int
agentauth_text(const struct frame_login *fl, char *out, size_t max)
{
	if (fl->fl_msglen >= max || memchr(fl->fl_msg, '\0', fl->fl_msglen))
		return -1;
	memcpy(out, fl->fl_msg, fl->fl_msglen);
	out[fl->fl_msglen] = '\0';
	return 0;
}

/* SCRAM step 1: answer with the user's salt and cost, or a dummy's. */
static int
agentauth_scram_first(struct isp *i, struct agentauth_exchange *x,
    const struct frame_login *fl, char *out, size_t outlen)
{
	const struct policy_user *u;
	struct scram_secret ss;
	char cfirst[SCRAM_MSG_MAX];
	int old, rc;

	if (agentauth_text(fl, cfirst, sizeof cfirst) != 0 ||
	    scram_server_user(cfirst, x->ax_user, sizeof x->ax_user) != 0)
		return -1;
	u = policy_find(&i->i_policy, x->ax_user);
	/*
	 * A user refused for now ([isp] login_failures) still gets its own
	 * salt (a changed one would tell the esp the user exists); step 2
	 * refuses it.
	 */
	x->ax_known = u != NULL && u->pu_hash != NULL &&
	    scram_secret_parse(u->pu_hash, &ss, &old) == 0;
	if (!x->ax_known)
		scram_secret_dummy(x->ax_user, i->i_login_key,
		    sizeof i->i_login_key, &ss);
	rc = scram_server_first(&x->ax_scram, cfirst, &ss, out, outlen);
	OPENSSL_cleanse(&ss, sizeof ss);
	return rc;
}

/*
 * [isp] login_cert and login_key: what message 2 of a certificate login
 * is signed with, instead of the session certificate (an isp with a
 * pre-shared key has none). Both or neither; 0, or -1 with *cause.
 */
int
agentauth_conf_load(struct isp *i, const struct conf *c, char **cause)
{
	char *cert = NULL, *key = NULL, *why = NULL;
	int rc = -1;

	conf_path_key(c, "isp:login_cert", &cert, cause);
	conf_path_key(c, "isp:login_key", &key, cause);
	if (cert == NULL && key == NULL)
		return 0;
	if (cert == NULL || key == NULL)
		conf_error(cause, c,
		    cert == NULL ? "isp:login_cert" : "isp:login_key",
		    "missing: login_cert and login_key go together");
	else if (tls_check_secret_file(c, "isp:login_key", key, cause) == 0) {
		if (certlogin_signer_load(cert, key, &i->i_sign_cert,
			&i->i_sign_key, &why) != 0) {
			conf_error(cause, c, "isp:login_cert", "%s", why);
			free(why);
		} else
			rc = 0;
	}
	free(cert);
	free(key);
	return rc;
}

/*
 * Sign message 2 of a certificate login with [isp] login_cert's key, or
 * the session certificate's, so that an agent can tell us from a relay.
 * With neither (a pre-shared key and no login_cert) there is nothing to
 * sign with: agents that ask for a signature refuse.
 */
static void
agentauth_sign_share(struct isp *i, struct agentauth_exchange *x, uint8_t *out,
    size_t outlen, size_t *n)
{
	static struct log_limit failed;
	X509 *cert = i->i_sign_cert;
	EVP_PKEY *key = i->i_sign_key;
	const char *why;
	char name[300];

	if (cert == NULL || key == NULL) {
		cert = SSL_CTX_get0_certificate(i->i_ssl);
		key = SSL_CTX_get0_privatekey(i->i_ssl);
	}
	if (cert == NULL || key == NULL)
		return;
	if (certlogin_server_sign(&x->ax_cert, cert, key, out, outlen, n,
		&why) != 0)
		log_warnx_limited(&failed,
		    "agent login for user \"%s\": cannot sign message 2: %s",
		    esc_str(name, sizeof name, x->ax_user), why);
}

/*
 * A refused login's line, within the log budget: an esp may send refused
 * steps as fast as it likes. The rest are counted in the metrics.
 */
static void __attribute__((format(printf, 1, 2)))
agentauth_refused(const char *fmt, ...)
{
	static struct log_budget lines;
	char msg[1024];
	va_list ap;

	if (!log_budget_spend(&lines, AGENTAUTH_REFUSALS_LOGGED,
		"more than %d agent login steps refused a second: the rest "
		"are counted (dynpass_logins_total), not logged",
		AGENTAUTH_REFUSALS_LOGGED))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warnx("%s", msg);
}

/* Step 1 of a login: remember the exchange, send the challenge. */
static void
agentauth_step1(struct isp *i, struct uplink *u, struct session *s,
    const struct frame_login *fl)
{
	static struct log_limit busy;
	struct agentauth_exchange *x;
	uint8_t out[FRAME_LOGIN_MSG_MAX];
	const char *why = "malformed first message";
	char who[ADDR_STRLEN], name[300];
	size_t nx, nl, n = 0;
	int rc;

	agentauth_count(i, session_serial(s), &nx, &nl);
	if (nx >= AGENTAUTH_EXCHANGES || nl >= AGENTAUTH_LOGINS ||
	    agentauth_exchange_find(i, session_serial(s), fl->fl_ref)) {
		log_warnx_limited(&busy,
		    "agent login from %s: too many "
		    "logins on the session with %s; refused",
		    endpoint_str(&fl->fl_client, who, sizeof who),
		    session_peer(s));
		agentauth_reply(s, fl->fl_ref, LOGIN_BUSY, 0, NULL, 0);
		return;
	}
	x = xcalloc(1, sizeof *x);
	x->ax_serial = session_serial(s);
	x->ax_ref = fl->fl_ref;
	x->ax_method = fl->fl_method;
	x->ax_start_ms = monotime_ms();
	TAILQ_INSERT_TAIL(&i->i_exchanges, x, ax_entry);
	if (fl->fl_method == AUTH_SCRAM) {
		rc = agentauth_scram_first(i, x, fl, (char *)out, sizeof out);
		n = rc == 0 ? strlen((char *)out) : 0;
	} else if (i->i_user_ca == NULL) {
		why = "certificate logins are off ([policy] user_ca)";
		rc = -1;
	} else if (!loginlimit_session(i, u)) {
		/* A chain to verify and a share to sign: counted as a check. */
		agentauth_exchange_free(i, x);
		agentauth_reply(s, fl->fl_ref, LOGIN_BUSY, 0, NULL, 0);
		return;
	} else {
		rc = certlogin_server_start(&x->ax_cert, fl->fl_msg,
		    fl->fl_msglen, i->i_user_ca, x->ax_user, sizeof x->ax_user,
		    out, sizeof out, &n, &why);
		x->ax_known =
		    rc == 0 && policy_find(&i->i_policy, x->ax_user) != NULL;
		if (rc == 0 && !x->ax_known) {
			why = "no such user";
			rc = -1;
		}
		if (rc == 0)
			agentauth_sign_share(i, x, out, sizeof out, &n);
	}
	if (rc != 0) {
		metrics_add2(M_LOGINS,
		    fl->fl_method == AUTH_SCRAM ? "agent_password"
						: "agent_certificate",
		    "refused", 1);
		if (x->ax_user[0] == '\0' && fl->fl_method == AUTH_CERT)
			certlogin_peek_user(fl->fl_msg, fl->fl_msglen,
			    x->ax_user, sizeof x->ax_user);
		agentauth_refused("agent login from %s for user \"%s\" "
				  "refused: "
				  "%s",
		    endpoint_str(&fl->fl_client, who, sizeof who),
		    esc_str(name, sizeof name, x->ax_user), why);
		agentauth_exchange_free(i, x);
		agentauth_reply(s, fl->fl_ref, LOGIN_DENIED, 0, NULL, 0);
		return;
	}
	if (x->ax_known &&
	    agentauth_basis(i, x->ax_method, x->ax_user, x->ax_basis, &why) !=
		0)
		x->ax_known = 0; /* answered all the same, refused at step 2 */
	agentauth_reply(s, fl->fl_ref, LOGIN_CONTINUE, 0, out, n);
}

/* A new login number: random, not 0, not in use on the session. */
static uint32_t
agentauth_new_id(struct isp *i, uint64_t serial)
{
	struct agentauth_login *l;
	uint32_t id;

	for (;;) {
		if (RAND_bytes((unsigned char *)&id, sizeof id) != 1)
			return 0;
		if (id == 0)
			continue;
		TAILQ_FOREACH(l, &i->i_logins, al_entry)
		if (l->al_serial == serial && l->al_id == id)
			break;
		if (l == NULL)
			return id;
	}
}

/* Step 2: check the proof; accepted, the login is kept with its key. */
static void
agentauth_step2(struct isp *i, struct session *s, const struct frame_login *fl)
{
	struct agentauth_exchange *x;
	struct agentauth_login *l;
	struct policy_user *u;
	unsigned char key[OPTAG_KEY_LEN], basis[32];
	uint8_t out[FRAME_LOGIN_MSG_MAX];
	char cfinal[SCRAM_MSG_MAX], who[ADDR_STRLEN], name[300];
	const char *why = "wrong password";
	size_t n = 0;
	int rc = -1;

	endpoint_str(&fl->fl_client, who, sizeof who);
	x = agentauth_exchange_find(i, session_serial(s), fl->fl_ref);
	if (x != NULL && monotime_ms() - x->ax_start_ms >= AGENTAUTH_TTL_MS) {
		metrics_add2(M_LOGINS,
		    x->ax_method == AUTH_SCRAM ? "agent_password"
					       : "agent_certificate",
		    "refused", 1);
		agentauth_refused("agent login from %s: the second step came "
				  "%d s or more after the first; refused",
		    who, AGENTAUTH_TTL_MS / 1000);
		agentauth_exchange_free(i, x);
		agentauth_reply(s, fl->fl_ref, LOGIN_DENIED, 0, NULL, 0);
		return;
	}
	if (x == NULL || x->ax_method != fl->fl_method) {
		agentauth_refused("agent login from %s: a second step without "
				  "a first; refused",
		    who);
		metrics_add(M_REFUSALS, "protocol", 1);
		agentauth_reply(s, fl->fl_ref, LOGIN_DENIED, 0, NULL, 0);
		return;
	}
	if (x->ax_method == AUTH_SCRAM) {
		u = (struct policy_user *)policy_find(&i->i_policy, x->ax_user);
		if (agentauth_text(fl, cfinal, sizeof cfinal) == 0 &&
		    scram_server_final(&x->ax_scram, cfinal, (char *)out,
			sizeof out, key) == 0 &&
		    x->ax_known && !loginlimit_locked(i, u)) {
			rc = 0;
			n = strlen((char *)out);
		} else if (x->ax_known)
			loginlimit_failed(i, u, "SCRAM");
	} else
		rc = certlogin_server_finish(&x->ax_cert, fl->fl_msg,
		    fl->fl_msglen, out, sizeof out, &n, key, &why);
	if (rc == 0 &&
	    (agentauth_basis(i, x->ax_method, x->ax_user, basis, &why) != 0 ||
		CRYPTO_memcmp(basis, x->ax_basis, sizeof basis) != 0)) {
		why = "the policy changed during the login";
		rc = -1;
	}
	esc_str(name, sizeof name, x->ax_user);
	metrics_add2(M_LOGINS,
	    x->ax_method == AUTH_SCRAM ? "agent_password" : "agent_certificate",
	    rc == 0 ? "ok" : "refused", 1);
	if (rc != 0) {
		agentauth_refused("agent login from %s for user \"%s\" "
				  "refused: %s",
		    who, name, why);
		agentauth_exchange_free(i, x);
		agentauth_reply(s, fl->fl_ref, LOGIN_DENIED, 0, NULL, 0);
		return;
	}
	l = xcalloc(1, sizeof *l);
	l->al_serial = x->ax_serial;
	l->al_id = agentauth_new_id(i, x->ax_serial);
	l->al_method = x->ax_method;
	memcpy(l->al_basis, x->ax_basis, sizeof l->al_basis);
	snprintf(l->al_user, sizeof l->al_user, "%s", x->ax_user);
	memcpy(l->al_key, key, sizeof key);
	OPENSSL_cleanse(key, sizeof key);
	TAILQ_INSERT_TAIL(&i->i_logins, l, al_entry);
	log_info("agent login from %s: user \"%s\" logged in by %s", who, name,
	    x->ax_method == AUTH_SCRAM ? "password" : "certificate");
	log_debug("agent login from %s: user \"%s\" is login %u", who, name,
	    l->al_id);
	agentauth_exchange_free(i, x);
	agentauth_reply(s, fl->fl_ref, LOGIN_ACCEPTED, l->al_id, out, n);
}

/*
 * The agent of an accepted login left the esp: the login goes, so that
 * logins do not pile up on a long session (AGENTAUTH_LOGINS). The esp
 * could end it anyway, by closing the session.
 */
static void
agentauth_left(struct isp *i, struct session *s, const struct frame_login *fl)
{
	struct agentauth_login *l;
	uint32_t id = (uint32_t)fl->fl_msg[0] << 24 |
	    (uint32_t)fl->fl_msg[1] << 16 | (uint32_t)fl->fl_msg[2] << 8 |
	    fl->fl_msg[3];
	char name[300];

	TAILQ_FOREACH(l, &i->i_logins, al_entry)
	if (l->al_serial == session_serial(s) && l->al_id == id)
		break;
	if (l == NULL)
		return;
	log_debug("agent login %u of user \"%s\" over: the agent left", id,
	    esc_str(name, sizeof name, l->al_user));
	agentauth_login_free(i, l);
}

/* LOGIN from the esp: one step of an agent's login. */
void
agentauth_message(struct isp *i, struct uplink *u, struct session *s,
    const uint8_t *p, size_t len)
{
	struct frame_login fl;

	if (frame_login_decode(p, len, &fl) != FRAME_OK || fl.fl_leg != 0) {
		session_fail(s, GOAWAY_PROTOCOL, "malformed LOGIN");
		return;
	}
	if (fl.fl_step == 1)
		agentauth_step1(i, u, s, &fl);
	else if (fl.fl_step == FRAME_LOGIN_LEFT)
		agentauth_left(i, s, &fl);
	else
		agentauth_step2(i, s, &fl);
}

/* The login of a session, or NULL. */
static struct agentauth_login *
agentauth_find(struct isp *i, uint64_t serial, uint32_t id)
{
	struct agentauth_login *l;

	TAILQ_FOREACH(l, &i->i_logins, al_entry)
	if (l->al_serial == serial && l->al_id == id)
		return l;
	return NULL;
}

/*
 * Check an OPEN's tag: it names a login of this session, for this user,
 * with a counter not seen before, over this destination and client.
 * 0 with the login and counter, or -1 with why.
 */
int
agentauth_open_check(struct isp *i, struct session *s,
    const struct frame_open *o, uint32_t *login, uint64_t *counter,
    const char **why)
{
	struct agentauth_login *l;
	uint8_t tag[OPTAG_LEN], want[OPTAG_LEN];

	*why = "malformed tag";
	if (optag_isp_decode(o->fo_secret, o->fo_secret_len, login, counter,
		tag) != 0)
		return -1;
	*why = "no such login on this session";
	if ((l = agentauth_find(i, session_serial(s), *login)) == NULL ||
	    strcmp(l->al_user, o->fo_user) != 0)
		return -1;
	optag_open(l->al_key, *login, *counter, &o->fo_dst, &o->fo_client,
	    want);
	*why = "the tag does not match (not asked for by the agent)";
	if (!optag_equal(tag, want))
		return -1;
	*why = "the tag was used before (a replay)";
	if (optag_replay_check(&l->al_replay, *counter) != 0)
		return -1;
	return 0;
}

/* The tag that lets the agent connect to dst for an OPEN's counter. */
int
agentauth_outside_tag(struct isp *i, uint64_t serial, uint32_t login,
    uint64_t counter, const struct endpoint *dst, uint8_t *tag)
{
	struct agentauth_login *l = agentauth_find(i, serial, login);

	if (l == NULL)
		return -1;
	optag_outside(l->al_key, login, counter, dst, tag);
	return 0;
}

/*
 * After a reload: end each login whose user, password or CA set changed,
 * and tell the esp (LOGIN_REPLY with reference 0, refused, and the
 * login's number), which asks the agent to log in again. Channels open
 * under it finish; new ones need the new login.
 */
void
agentauth_reload(struct isp *i)
{
	struct agentauth_login *l, *ln;
	struct session *s;
	unsigned char basis[32];
	const char *why;
	char name[300];

	for (l = TAILQ_FIRST(&i->i_logins); l != NULL; l = ln) {
		ln = TAILQ_NEXT(l, al_entry);
		if (agentauth_basis(i, l->al_method, l->al_user, basis, &why) ==
		    0) {
			if (CRYPTO_memcmp(basis, l->al_basis, sizeof basis) ==
			    0)
				continue;
			why = l->al_method == AUTH_SCRAM
			    ? "the password changed"
			    : "[policy] user_ca changed";
		}
		log_info("agent login of user \"%s\" ended: %s",
		    esc_str(name, sizeof name, l->al_user), why);
		if ((s = dial_session(i, l->al_serial)) != NULL)
			agentauth_reply(s, 0, LOGIN_DENIED, l->al_id, NULL, 0);
		agentauth_login_free(i, l);
	}
}
